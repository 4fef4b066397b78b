//! One run per cluster at a time from this machine, and `cleanup` knows when one is
//! in progress (cleaning then would undo a running scenario's faults under it).
//!
//! An exclusive `flock` on `STATE/locks/SCOPE-HASH.lock` (STATE as in
//! [`super::pending::dir`], HASH of the inventory's node hosts: two clusters may share a
//! scope name), held by `pgchaos run` for its whole life and released by the kernel when
//! it dies.

use std::path::PathBuf;

/// A held lock; released when dropped (or when the process dies).
pub(crate) struct RunLock {
    _file: std::fs::File,
}

fn path(inv: &crate::inventory::Inventory) -> PathBuf {
    let base = super::pending::dir();
    let base = base.parent().map(PathBuf::from).unwrap_or(base);
    let mut hosts: Vec<&str> = inv.nodes.iter().map(|n| n.host.as_str()).collect();
    hosts.sort_unstable();
    let hash = hosts
        .join(",")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    base.join("locks").join(format!(
        "{}-{hash:016x}.lock",
        super::sh::node_key(&inv.cluster.scope)
    ))
}

/// Takes the lock of the cluster `inv` describes; `Ok(None)` when another process holds it.
pub(crate) fn try_lock(inv: &crate::inventory::Inventory) -> std::io::Result<Option<RunLock>> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::DirBuilderExt;
    let p = path(inv);
    if let Some(dir) = p.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)?;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(Some(RunLock { _file: f }));
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(None)
    } else {
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_held_lock_is_seen_and_released_on_drop() {
        // A scope no other test uses (the state directory is shared within the process).
        let inv = |host: &str| -> crate::inventory::Inventory {
            serde_json::from_value(serde_json::json!({
                "cluster": { "scope": format!("runlock-test-{}", std::process::id()) },
                "nodes": [ { "name": "n1", "host": host, "roles": ["patroni"] } ]
            }))
            .unwrap()
        };
        let (a, b) = (inv("10.9.9.1"), inv("10.9.9.2"));
        let held = super::try_lock(&a).unwrap().expect("free at first");
        assert!(super::try_lock(&a).unwrap().is_none(), "held: refused");
        // Same scope name, other hosts: another cluster.
        assert!(super::try_lock(&b).unwrap().is_some());
        drop(held);
        assert!(super::try_lock(&a).unwrap().is_some(), "free again");
    }
}
