//! Undos that failed, remembered on the machine pgchaos runs on, until `pgchaos cleanup`
//! runs them.
//!
//! Why a local record besides the node-side one (`/run/pgchaos/STEM.undo`): the node-side
//! record is on a tmpfs, and the node whose undo failed is often the one that went down
//! (powered off, rebooted). What its boot does not heal by itself (a service that was
//! stopped and is not enabled, a configuration change in the DCS) would then have no
//! record anywhere. One JSON file per node and fault, in [`dir`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One undo that is still owed to a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pending {
    /// The cluster's scope (cleanup only runs records of the inventory's scope).
    pub scope: String,
    /// The node's name and host when the fault ran (both must match the inventory).
    pub node: String,
    /// The node's host.
    pub host: String,
    /// The run and fault.
    pub run_id: String,
    /// What the fault was, in words.
    pub fault: String,
    /// The undo script (idempotent), run with `sh -c` as root on the node.
    pub script: String,
    /// Why it failed last.
    pub error: String,
}

/// Where pending undos are kept: `$PGCHAOS_STATE_DIR/pending`, else
/// `$XDG_STATE_HOME/pgchaos/pending`, else `~/.local/state/pgchaos/pending`.
pub(crate) fn dir() -> PathBuf {
    let base = std::env::var_os("PGCHAOS_STATE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_STATE_HOME").map(|d| PathBuf::from(d).join("pgchaos")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state/pgchaos")))
        .unwrap_or_else(|| PathBuf::from("/var/tmp/pgchaos"));
    base.join("pending")
}

fn file_name(p: &Pending) -> String {
    let key = |s: &str| super::sh::node_key(s);
    format!(
        "{}.{}.{:016x}.json",
        key(&p.run_id),
        key(&p.node),
        fnv(&p.script)
    )
}

/// A stable hash (FNV-1a) naming the record of one script.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Saves `p` under `dir` (private: the script may name hosts and paths).
pub(crate) fn save(dir: &Path, p: &Pending) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let path = dir.join(file_name(p));
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    std::io::Write::write_all(&mut f, serde_json::to_string_pretty(p)?.as_bytes())?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Every record under `dir` for `scope`, with its file.
pub(crate) fn list(dir: &Path, scope: &str) -> Vec<(PathBuf, Pending)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(PathBuf, Pending)> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            let rec: Pending = serde_json::from_str(&text).ok()?;
            Some((p, rec))
        })
        .filter(|(_, r)| r.scope == scope)
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(node: &str, scope: &str) -> Pending {
        Pending {
            scope: scope.into(),
            node: node.into(),
            host: "10.0.0.1".into(),
            run_id: "r1".into(),
            fault: "stop etcd".into(),
            script: format!("systemctl start etcd # {node}"),
            error: "No route to host".into(),
        }
    }

    #[test]
    fn saved_records_are_listed_by_scope_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("pending");
        let a = save(&dir, &rec("e1", "prod")).unwrap();
        save(&dir, &rec("e2", "prod")).unwrap();
        save(&dir, &rec("e1", "other")).unwrap();
        // Saving the same record again replaces it.
        assert_eq!(save(&dir, &rec("e1", "prod")).unwrap(), a);
        let l = list(&dir, "prod");
        assert_eq!(
            l.iter().map(|(_, r)| r.node.as_str()).collect::<Vec<_>>(),
            vec!["e1", "e2"]
        );
        let mode = std::fs::metadata(&a).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(list(&d.path().join("none"), "prod").is_empty());
    }
}
