//! `pgchaos lab reset`: rebuilds the lab's cluster in place, as a fresh `lab up` would
//! leave it, without touching what outlives a cluster (network, SSH keys, passwords,
//! inventory): every node loses power at once, PostgreSQL's and etcd's data are wiped
//! (a Patroni node's data filesystem image is made anew),
//! the services enabled at boot are those `lab up` enables, and every node boots again;
//! Patroni bootstraps a new cluster. This is the lab's `operations.reset_cluster`.
//!
//! Rebuilding in place rather than `down` + `up` keeps the passwords and host keys a
//! running pgchaos already holds, and takes the time of a bootstrap (~20-40 s here).

use std::path::Path;
use std::time::{Duration, Instant};

use super::node::{files, power_off, power_on};
use super::topology::LabState;
use super::{LabError, Readiness, UpOptions};

/// Rebuilds the cluster of the lab in `dir` and waits until it is ready (a leader,
/// streaming replicas, HAProxy routing writes), for at most `timeout`.
pub(crate) fn reset(dir: &Path, timeout: Duration, progress: bool) -> Result<Readiness, LabError> {
    super::check_platform()?;
    let dir = super::absolute(dir);
    let _lock = super::lock()?;
    if !super::is_up(&dir) {
        return Err(LabError::NotUp(dir));
    }
    let state = LabState::load(&dir)?;
    let opts = UpOptions {
        dir: dir.clone(),
        timeout,
        progress,
        ..Default::default()
    };
    super::say(&opts, "reset: powering every node off");
    for n in &state.nodes {
        power_off(&dir, &n.name)?;
    }
    // The kernel kills a node's processes when its init dies; wait until none is left
    // before its data is deleted under it.
    let deadline = Instant::now() + Duration::from_secs(30);
    for n in &state.nodes {
        loop {
            let left = super::net::namespace_pids(&n.netns());
            if left.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                return Err(LabError::Timeout {
                    what: format!("the processes of {} to exit", n.name),
                    last: format!("still running: {left:?}"),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    super::say(&opts, "reset: wiping PostgreSQL and etcd data");
    for n in &state.nodes {
        let nd = state.node_dir(&n.name);
        empty_dir(&nd.join("fs/postgresql/15"))?;
        // Where PostgreSQL's data lives on the node's own filesystem image, that image is
        // what the node mounts: a fresh one (a new file, not the old one truncated, in
        // case a loop device still holds the old inode).
        let image = nd.join(files::DATA_IMAGE);
        if image.exists() {
            std::fs::remove_file(&image)
                .map_err(|e| LabError::io(format!("remove {}", image.display()), e))?;
            super::make_data_image(&image, state.data_size_mib)?;
        }
        empty_dir(&nd.join("fs/etcd"))?;
        // Services enabled or disabled by a scenario are back to what `lab up` enables.
        let enabled = nd.join("enabled");
        empty_dir(&enabled)?;
        // The same list `lab up` enables: etcd on a colocated Patroni node, PgBouncer
        // beside HAProxy.
        for svc in state.boot_services(n) {
            std::fs::write(enabled.join(svc), "")
                .map_err(|e| LabError::io(format!("enable {svc} on {}", n.name), e))?;
        }
        let _ = std::fs::remove_file(nd.join(files::REQUEST));
    }
    super::say(&opts, "reset: booting every node");
    for n in &state.nodes {
        power_on(&dir, &n.name)?;
    }
    super::wait_ready(&state, &opts)
}

/// Deletes everything inside `dir`, keeping `dir` itself (its owner and mode).
fn empty_dir(dir: &Path) -> Result<(), LabError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(LabError::io(format!("read {}", dir.display()), e)),
    };
    for e in entries {
        let e = e.map_err(|e| LabError::io(format!("read {}", dir.display()), e))?;
        let p = e.path();
        let r = if e.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        r.map_err(|e| LabError::io(format!("remove {}", p.display()), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_dir_keeps_the_directory_and_removes_its_contents() {
        let d = tempfile::tempdir().unwrap();
        let main = d.path().join("15");
        std::fs::create_dir_all(main.join("main/base")).unwrap();
        std::fs::write(main.join("main/PG_VERSION"), "15").unwrap();
        std::fs::write(main.join("stray"), "").unwrap();
        empty_dir(&main).unwrap();
        assert!(main.is_dir());
        assert_eq!(std::fs::read_dir(&main).unwrap().count(), 0);
        empty_dir(&d.path().join("absent")).unwrap();
    }
}
