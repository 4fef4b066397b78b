//! Which nodes the lab has, their addresses and roles, and the lab's persistent state
//! (`DIR/lab.json`), which every other lab command reads.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::LabError;

/// Default first three octets of the lab's /24. Chosen to be unlikely on real networks;
/// `lab up` checks that nothing on the host uses it (override with `PGCHAOS_LAB_SUBNET`).
pub(crate) const DEFAULT_SUBNET: [u8; 3] = [10, 213, 47];
/// Default prefix of every network namespace, link and bridge the lab creates.
pub(crate) const DEFAULT_PREFIX: &str = "pgc-";

/// Prefix of every network namespace, link and bridge the lab creates:
/// `PGCHAOS_LAB_PREFIX` (2 to 5 lowercase letters or digits ending in `-`, so that
/// several labs can stand side by side on one host, each with its own `--dir` and
/// subnet) or [`DEFAULT_PREFIX`].
pub(crate) fn prefix() -> &'static str {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PREFIX.get_or_init(|| match std::env::var("PGCHAOS_LAB_PREFIX") {
        Ok(p) if valid_prefix(&p) => p,
        _ => DEFAULT_PREFIX.to_owned(),
    })
}

/// A prefix keeps interface names within Linux's 15 bytes (`PREFIX` + `etcd3`/`br0`).
fn valid_prefix(p: &str) -> bool {
    (2..=5).contains(&p.len())
        && p.ends_with('-')
        && p[..p.len() - 1]
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// The host bridge every node is attached to.
pub(crate) fn bridge() -> String {
    format!("{}br0", prefix())
}
/// Most Patroni nodes a lab may have (addresses and the machine's cores both run out).
pub(crate) const MAX_NODES: usize = 7;
/// Patroni's cluster name in the lab.
pub(crate) const SCOPE: &str = "pgchaos-lab";

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
    pub(crate) fn boot_service(self) -> Option<&'static str> {
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
    pub(crate) fn netns(&self) -> String {
        format!("{}{}", prefix(), self.name)
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
    /// Every Patroni node has a watchdog device (Patroni `watchdog.mode: required`).
    /// Labs written before it existed had none.
    #[serde(default)]
    pub watchdog: bool,
    /// Whether the service shim restarts a service that died, as its unit says.
    #[serde(default = "RestartPolicy::legacy")]
    pub restart: RestartPolicy,
    /// Size in MiB of the filesystem holding each Patroni node's PostgreSQL data (0: the
    /// host's root filesystem, unlimited).
    #[serde(default)]
    pub data_size_mib: u64,
    /// etcd runs on the Patroni members themselves (no etcd nodes), as clusters whose DCS
    /// shares their hosts do: a partition then cuts Patroni and its etcd member together.
    #[serde(default)]
    pub etcd_colocated: bool,
}

/// Where the lab's etcd members run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EtcdPlacement {
    /// Three etcd nodes of their own (`etcd1..3`).
    #[default]
    Separate,
    /// One etcd member on each Patroni member (`pg1..pgN`).
    Colocated,
}

/// What the lab's `systemctl` does when a service dies by itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RestartPolicy {
    /// As Debian 12's units say: `patroni.service` `Restart=on-failure`, `etcd.service`
    /// `Restart=on-abnormal`, `haproxy.service` `Restart=always`.
    #[default]
    Debian,
    /// `Restart=no` for every service: a killed service stays dead until started.
    No,
}

impl RestartPolicy {
    /// Labs written before the policy existed never restarted services.
    fn legacy() -> Self {
        RestartPolicy::No
    }

    /// The `Restart=` value of `service`'s unit under this policy.
    pub(crate) fn of(self, service: &str) -> &'static str {
        match (self, service) {
            (RestartPolicy::No, _) => "no",
            (RestartPolicy::Debian, "patroni") => "on-failure",
            (RestartPolicy::Debian, "etcd") => "on-abnormal",
            (RestartPolicy::Debian, "haproxy") => "always",
            (RestartPolicy::Debian, _) => "no",
        }
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

impl LabState {
    /// Builds the topology for `patroni_nodes` Patroni members on `subnet`.
    pub(crate) fn plan(
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
            watchdog: false,
            restart: RestartPolicy::No,
            data_size_mib: 0,
            etcd_colocated: false,
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
    pub(crate) fn save(&self) -> Result<(), LabError> {
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

    /// Moves etcd onto the Patroni members: the etcd nodes go away.
    pub(crate) fn colocate_etcd(&mut self) {
        self.nodes.retain(|n| n.kind != NodeKind::Etcd);
        self.etcd_colocated = true;
    }

    /// The nodes running an etcd member.
    pub(crate) fn etcd_members(&self) -> impl Iterator<Item = &LabNode> {
        let kind = if self.etcd_colocated {
            NodeKind::Patroni
        } else {
            NodeKind::Etcd
        };
        self.nodes_of(kind)
    }

    /// Whether `node` runs an etcd member.
    pub(crate) fn runs_etcd(&self, node: &LabNode) -> bool {
        self.etcd_members().any(|n| n.name == node.name)
    }

    /// Services enabled at boot on `node`, etcd first (Patroni needs its DCS).
    pub(crate) fn boot_services(&self, node: &LabNode) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.runs_etcd(node) {
            out.push("etcd");
        }
        out.extend(node.kind.boot_service().filter(|s| *s != "etcd"));
        if node.kind == NodeKind::Haproxy {
            // PgBouncer beside HAProxy, in front of its write port (see config.rs).
            out.push("pgbouncer");
        }
        out
    }

    /// Nodes of one kind.
    pub fn nodes_of(&self, kind: NodeKind) -> impl Iterator<Item = &LabNode> {
        self.nodes.iter().filter(move |n| n.kind == kind)
    }

    /// The host's address on the bridge.
    pub(crate) fn host_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.subnet[0], self.subnet[1], self.subnet[2], 1)
    }

    /// The lab subnet in CIDR notation.
    pub(crate) fn cidr(&self) -> String {
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
pub(crate) fn parse_subnet(text: &str) -> Result<[u8; 3], LabError> {
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
    fn prefixes() {
        assert!(valid_prefix("pgc-"));
        assert!(valid_prefix("p2-"));
        assert!(!valid_prefix("pgc"));
        assert!(!valid_prefix("toolong-"));
        assert!(!valid_prefix("a b-"));
        assert!(prefix().ends_with('-'));
    }

    #[test]
    fn subnet_parsing() {
        assert_eq!(parse_subnet("10.1.2").unwrap(), [10, 1, 2]);
        assert_eq!(parse_subnet("10.1.2.0/24").unwrap(), [10, 1, 2]);
        assert!(parse_subnet("10.1").is_err());
        assert!(parse_subnet("10.1.300").is_err());
    }
}
