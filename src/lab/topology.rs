//! Which nodes the lab has, their addresses and roles, and the lab's persistent state
//! (`DIR/lab.json`), which every other lab command reads.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::LabError;

/// Default first three octets of the lab's /24. Chosen to be unlikely on real networks;
/// `lab up` checks that nothing on the host uses it (override with `PGCHAOS_LAB_SUBNET`).
pub const DEFAULT_SUBNET: [u8; 3] = [10, 213, 47];
/// Prefix of every network namespace, link and bridge the lab creates.
pub const PREFIX: &str = "pgc-";
/// The host bridge every node is attached to.
pub const BRIDGE: &str = "pgc-br0";
/// Most Patroni nodes a lab may have (addresses and the machine's cores both run out).
pub const MAX_NODES: usize = 7;
/// Patroni's cluster name in the lab.
pub const SCOPE: &str = "pgchaos-lab";

/// What a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// Patroni + PostgreSQL, member of the cluster.
    Patroni,
    /// Patroni + PostgreSQL configured but not started nor enabled.
    Spare,
    /// An etcd member.
    Etcd,
    /// HAProxy.
    Haproxy,
}

impl NodeKind {
    /// The service enabled at boot on such a node.
    pub fn boot_service(self) -> Option<&'static str> {
        match self {
            NodeKind::Patroni => Some("patroni"),
            NodeKind::Spare => None,
            NodeKind::Etcd => Some("etcd"),
            NodeKind::Haproxy => Some("haproxy"),
        }
    }
}

/// One node of the lab.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabNode {
    /// Node name: hostname, Patroni member name, namespace suffix.
    pub name: String,
    /// Its address on the lab bridge.
    pub ip: Ipv4Addr,
    /// What it runs.
    pub kind: NodeKind,
}

impl LabNode {
    /// The node's network namespace (and the host side of its veth pair).
    pub fn netns(&self) -> String {
        format!("{PREFIX}{}", self.name)
    }
}

/// Patroni's DCS timings (`loop_wait + 2 * retry_timeout <= ttl` must hold).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DcsTimings {
    /// Leader key TTL, seconds.
    pub ttl: u32,
    /// Seconds between HA loops.
    pub loop_wait: u32,
    /// Seconds before a DCS or PostgreSQL operation is retried.
    pub retry_timeout: u32,
}

impl Default for DcsTimings {
    fn default() -> Self {
        Self {
            ttl: 20,
            loop_wait: 2,
            retry_timeout: 5,
        }
    }
}

/// Everything about a lab that outlives the command that built it (`DIR/lab.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LabState {
    /// Format version of this file.
    pub version: u32,
    /// The lab directory (absolute).
    pub dir: PathBuf,
    /// The pgchaos executable keepers use to boot nodes.
    pub exe: PathBuf,
    /// First three octets of the lab's /24.
    pub subnet: [u8; 3],
    /// Every node.
    pub nodes: Vec<LabNode>,
    /// Number of Patroni members (not counting the spare).
    pub patroni_nodes: usize,
    /// Patroni 4.x from PyPI instead of Debian's.
    pub patroni4: bool,
    /// Time a rebooted node stays down before booting again.
    #[serde(with = "millis")]
    pub boot_delay: Duration,
    /// DCS timings.
    pub timings: DcsTimings,
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

impl LabState {
    /// Builds the topology for `patroni_nodes` Patroni members on `subnet`.
    pub fn plan(
        dir: &Path,
        exe: &Path,
        subnet: [u8; 3],
        patroni_nodes: usize,
        patroni4: bool,
    ) -> Result<Self, LabError> {
        if patroni_nodes == 0 || patroni_nodes > MAX_NODES {
            return Err(LabError::BadOption(format!(
                "--nodes must be between 1 and {MAX_NODES} (got {patroni_nodes})"
            )));
        }
        let ip = |last: u8| Ipv4Addr::new(subnet[0], subnet[1], subnet[2], last);
        let mut nodes = Vec::new();
        // Patroni members .11.., the spare right after them, etcd .21-.23, HAProxy .30.
        for i in 1..=patroni_nodes + 1 {
            nodes.push(LabNode {
                name: format!("pg{i}"),
                ip: ip(10 + i as u8),
                kind: if i <= patroni_nodes {
                    NodeKind::Patroni
                } else {
                    NodeKind::Spare
                },
            });
        }
        for i in 1..=3u8 {
            nodes.push(LabNode {
                name: format!("etcd{i}"),
                ip: ip(20 + i),
                kind: NodeKind::Etcd,
            });
        }
        nodes.push(LabNode {
            name: "haproxy".into(),
            ip: ip(30),
            kind: NodeKind::Haproxy,
        });
        Ok(Self {
            version: 1,
            dir: dir.to_owned(),
            exe: exe.to_owned(),
            subnet,
            nodes,
            patroni_nodes,
            patroni4,
            boot_delay: super::DEFAULT_BOOT_DELAY,
            timings: DcsTimings::default(),
        })
    }

    /// Reads `DIR/lab.json`.
    pub fn load(dir: &Path) -> Result<Self, LabError> {
        let path = dir.join("lab.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                LabError::NotUp(dir.to_owned())
            } else {
                LabError::io(format!("read {}", path.display()), e)
            }
        })?;
        serde_json::from_str(&text).map_err(|e| LabError::State {
            path,
            message: e.to_string(),
        })
    }

    /// Writes `DIR/lab.json`.
    pub fn save(&self) -> Result<(), LabError> {
        let path = self.dir.join("lab.json");
        let text = serde_json::to_string_pretty(self).map_err(|e| LabError::State {
            path: path.clone(),
            message: e.to_string(),
        })?;
        std::fs::write(&path, text)
            .map_err(|e| LabError::io(format!("write {}", path.display()), e))
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Result<&LabNode, LabError> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| LabError::UnknownNode {
                node: name.to_owned(),
                known: self.nodes.iter().map(|n| n.name.clone()).collect(),
            })
    }

    /// Nodes of one kind.
    pub fn nodes_of(&self, kind: NodeKind) -> impl Iterator<Item = &LabNode> {
        self.nodes.iter().filter(move |n| n.kind == kind)
    }

    /// The host's address on the bridge.
    pub fn host_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.subnet[0], self.subnet[1], self.subnet[2], 1)
    }

    /// The lab subnet in CIDR notation.
    pub fn cidr(&self) -> String {
        format!(
            "{}.{}.{}.0/24",
            self.subnet[0], self.subnet[1], self.subnet[2]
        )
    }

    /// The directory of one node's state.
    pub fn node_dir(&self, name: &str) -> PathBuf {
        self.dir.join("nodes").join(name)
    }
}

/// Parses `PGCHAOS_LAB_SUBNET` (`a.b.c` or `a.b.c.0/24`).
pub fn parse_subnet(text: &str) -> Result<[u8; 3], LabError> {
    let t = text.trim().trim_end_matches("/24");
    let t = t.strip_suffix(".0").unwrap_or(t);
    let parts: Vec<&str> = t.split('.').collect();
    let bad = || {
        LabError::BadOption(format!(
            "PGCHAOS_LAB_SUBNET={text:?} is not a /24 like 10.213.47.0/24"
        ))
    };
    if parts.len() != 3 {
        return Err(bad());
    }
    let mut out = [0u8; 3];
    for (o, p) in out.iter_mut().zip(parts) {
        *o = p.parse().map_err(|_| bad())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_topology() {
        let s = LabState::plan(
            Path::new("/x"),
            Path::new("/bin/pgchaos"),
            DEFAULT_SUBNET,
            3,
            false,
        )
        .unwrap();
        let names: Vec<_> = s.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "pg1", "pg2", "pg3", "pg4", "etcd1", "etcd2", "etcd3", "haproxy"
            ]
        );
        assert_eq!(s.node("pg4").unwrap().kind, NodeKind::Spare);
        assert_eq!(s.node("pg1").unwrap().ip, Ipv4Addr::new(10, 213, 47, 11));
        assert_eq!(
            s.node("haproxy").unwrap().ip,
            Ipv4Addr::new(10, 213, 47, 30)
        );
        // Interface names are limited to 15 characters.
        assert!(s.nodes.iter().all(|n| n.netns().len() <= 15));
        let t = s.timings;
        assert!(t.loop_wait + 2 * t.retry_timeout <= t.ttl);
    }

    #[test]
    fn node_count_is_bounded() {
        assert!(
            LabState::plan(Path::new("/x"), Path::new("/p"), DEFAULT_SUBNET, 0, false).is_err()
        );
        assert!(
            LabState::plan(Path::new("/x"), Path::new("/p"), DEFAULT_SUBNET, 8, false).is_err()
        );
    }

    #[test]
    fn subnet_parsing() {
        assert_eq!(parse_subnet("10.1.2").unwrap(), [10, 1, 2]);
        assert_eq!(parse_subnet("10.1.2.0/24").unwrap(), [10, 1, 2]);
        assert!(parse_subnet("10.1").is_err());
        assert!(parse_subnet("10.1.300").is_err());
    }
}
