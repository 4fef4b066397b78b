//! The inventory: which cluster pgchaos is pointed at, its nodes, how to reach them over
//! SSH and how operations are done on them.
//!
//! The same format describes a production cluster and the local lab (`pgchaos lab
//! inventory` prints one). Defaults fit a Debian or RHEL host managed by systemd.

mod load;
mod ops;

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;
use crate::secret::SecretRef;

pub use load::{InventoryError, LoadedInventory, load, parse};
pub use ops::{Ops, render};

/// A whole inventory file.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// The cluster as Patroni and PostgreSQL see it.
    pub cluster: Cluster,
    /// SSH defaults for every node (a node may override them).
    #[serde(default)]
    pub ssh: SshOptions,
    /// How operations are done on the hosts (a node may override any of them).
    #[serde(default)]
    pub operations: Operations,
    /// The hosts.
    pub nodes: Vec<Node>,
    /// Entry points in front of the cluster: HAProxy ports and etcd endpoints.
    #[serde(default)]
    pub entrypoints: Entrypoints,
}

/// The cluster: Patroni scope and how to reach its REST API and PostgreSQL.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Patroni's `scope` (the cluster name). Checked against what Patroni reports before
    /// the first fault.
    pub scope: String,
    /// A disposable lab cluster: runs do not ask for confirmation.
    #[serde(default)]
    pub lab: bool,
    /// Patroni's REST API.
    #[serde(default)]
    pub patroni: PatroniApi,
    /// PostgreSQL connections.
    #[serde(default)]
    pub postgres: Postgres,
}

/// How to reach Patroni's REST API on each node.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PatroniApi {
    /// TCP port of the REST API.
    pub port: u16,
    /// `http` or `https`.
    pub scheme: Scheme,
    /// Basic authentication, needed for POST/PATCH calls when Patroni has `restapi.authentication`.
    pub auth: Option<BasicAuth>,
    /// TLS options for `https`.
    pub tls: TlsOptions,
    /// Timeout of one REST call.
    pub timeout: HumanDuration,
}

impl Default for PatroniApi {
    fn default() -> Self {
        Self {
            port: 8008,
            scheme: Scheme::Http,
            auth: None,
            tls: TlsOptions::default(),
            timeout: HumanDuration(std::time::Duration::from_secs(2)),
        }
    }
}

/// URL scheme of the REST API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTPS.
    Https,
}

/// HTTP basic authentication; the password is a reference, never inline.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// Where the password is read from.
    pub password: SecretRef,
}

/// TLS options for the REST API.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TlsOptions {
    /// A CA bundle (PEM) to verify the server with, in addition to the system roots.
    pub ca_file: Option<PathBuf>,
    /// Verify the server certificate. Only disable against a lab.
    pub verify: bool,
    /// Client certificate (PEM), when Patroni requires one.
    pub client_cert: Option<PathBuf>,
    /// Client key (PEM).
    pub client_key: Option<PathBuf>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        Self {
            ca_file: None,
            verify: true,
            client_cert: None,
            client_key: None,
        }
    }
}

/// PostgreSQL connection settings used by observers, SQL steps and the workload.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Postgres {
    /// TCP port on each node.
    pub port: u16,
    /// Database to connect to.
    pub database: String,
    /// User name.
    pub user: String,
    /// Where the password is read from (none: trust/peer or ~/.pgpass).
    pub password: Option<SecretRef>,
    /// libpq `sslmode` (`disable`, `prefer`, `require`).
    pub sslmode: SslMode,
    /// Connect and statement timeout for one observation query.
    pub timeout: HumanDuration,
}

impl Default for Postgres {
    fn default() -> Self {
        Self {
            port: 5432,
            database: "postgres".into(),
            user: "postgres".into(),
            password: None,
            sslmode: SslMode::Prefer,
            timeout: HumanDuration(std::time::Duration::from_secs(2)),
        }
    }
}

/// libpq `sslmode` values pgchaos supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it.
    Prefer,
    /// TLS required.
    Require,
}

/// SSH options; every field can be overridden per node.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SshOptions {
    /// Remote user (default: from ~/.ssh/config, else the local user).
    pub user: Option<String>,
    /// Remote port (default: from ~/.ssh/config, else 22).
    pub port: Option<u16>,
    /// Private key file.
    pub key: Option<PathBuf>,
    /// Run commands through `sudo -n` (the remote user must have passwordless sudo).
    pub sudo: Option<bool>,
    /// Host key policy: `strict` (default, known_hosts must match) or `accept-new`.
    pub host_key_checking: Option<HostKeyChecking>,
    /// A known_hosts file to use instead of ~/.ssh/known_hosts.
    pub known_hosts: Option<PathBuf>,
    /// Time allowed to open the master connection.
    pub connect_timeout: Option<HumanDuration>,
    /// Time allowed for one remote command (default 60s).
    pub command_timeout: Option<HumanDuration>,
    /// An ssh_config file to use instead of ~/.ssh/config.
    pub config_file: Option<PathBuf>,
}

/// SSH host key verification policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyChecking {
    /// known_hosts must already hold the host's key.
    Strict,
    /// Unknown hosts are added; changed keys are refused. For labs.
    AcceptNew,
}

/// How operations are done on a host. Every field has a default fitting a systemd host;
/// `{service}`, `{data_dir}`, `{bin_dir}`, `{node}`, `{host}` are substituted.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Operations {
    /// Service name of Patroni (default `patroni`).
    pub patroni_service: Option<String>,
    /// Service name of etcd (default `etcd`).
    pub etcd_service: Option<String>,
    /// Service name of HAProxy (default `haproxy`).
    pub haproxy_service: Option<String>,
    /// Command that starts a service (default `systemctl start {service}`).
    pub service_start: Option<String>,
    /// Command that stops a service (default `systemctl stop {service}`).
    pub service_stop: Option<String>,
    /// Command that restarts a service (default `systemctl restart {service}`).
    pub service_restart: Option<String>,
    /// Command that enables a service at boot (default `systemctl enable {service}`).
    pub service_enable: Option<String>,
    /// Command that tells whether a service runs (default `systemctl is-active {service}`).
    pub service_is_active: Option<String>,
    /// PostgreSQL's process name (default `postgres`).
    pub postgres_process: Option<String>,
    /// Patroni's process name as `pgrep -f` sees it (default `bin/patroni`).
    pub patroni_process: Option<String>,
    /// etcd's process name (default `etcd`).
    pub etcd_process: Option<String>,
    /// The OS user running PostgreSQL (default `postgres`).
    pub postgres_user: Option<String>,
    /// PostgreSQL data directory (default `/var/lib/postgresql/15/main`).
    pub data_dir: Option<String>,
    /// PostgreSQL bin directory holding pg_ctl (default `/usr/lib/postgresql/15/bin`).
    pub bin_dir: Option<String>,
    /// PostgreSQL's unix socket directory (default `/var/run/postgresql`).
    pub socket_dir: Option<String>,
    /// Reboot command (default `systemctl reboot`).
    pub reboot: Option<String>,
    /// Power-off command (default `systemctl poweroff`).
    pub poweroff: Option<String>,
    /// Command run on the machine where pgchaos runs to power a node on again (an IPMI or
    /// cloud CLI). No default: poweroff scenarios need it.
    pub power_on: Option<String>,
    /// The patronictl invocation (default `patronictl -c /etc/patroni/config.yml`).
    pub patronictl: Option<String>,
    /// Command printing Patroni's log for a time window; `{since}` and `{until}` are
    /// substituted (default: `journalctl -u {service} --since ... --until ...`).
    pub patroni_log: Option<String>,
}

/// One host.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Name used in scenarios and reports; for Patroni nodes, Patroni's member `name`.
    pub name: String,
    /// Address pgchaos uses for the REST API and PostgreSQL (and SSH unless `ssh.host` is set).
    pub host: String,
    /// What runs on this host.
    pub roles: Vec<Role>,
    /// SSH overrides; `host` may be an alias from ~/.ssh/config.
    #[serde(default)]
    pub ssh: NodeSsh,
    /// Operation overrides for this host.
    #[serde(default)]
    pub operations: Operations,
}

/// What a host runs.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Patroni and PostgreSQL, member of the cluster.
    Patroni,
    /// PostgreSQL and Patroni installed but not (yet) a member: target of add-node cases.
    Spare,
    /// An etcd member of the DCS.
    Etcd,
    /// HAProxy in front of the cluster.
    Haproxy,
}

/// Per-node SSH settings.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSsh {
    /// SSH destination host or ~/.ssh/config alias (default: the node's `host`).
    pub host: Option<String>,
    /// Everything else as in the inventory-wide `ssh` section.
    #[serde(flatten)]
    pub options: SshOptions,
}

/// Entry points in front of the cluster.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Entrypoints {
    /// HAProxy ports.
    pub haproxy: Option<Haproxy>,
    /// etcd client URLs (`http://host:2379`).
    pub etcd: Vec<String>,
}

/// HAProxy's listeners.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Haproxy {
    /// Address of HAProxy.
    pub host: String,
    /// Port routed to the node answering `/primary`.
    pub write_port: u16,
    /// Port balanced over nodes answering `/replica`.
    pub read_port: Option<u16>,
    /// Port of the stats page.
    pub stats_port: Option<u16>,
}

/// Extra facts keyed by node name, unused by the engine (kept for forward compatibility).
pub type NodeMap<T> = BTreeMap<String, T>;

impl Inventory {
    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Nodes that have `role`.
    pub fn nodes_with(&self, role: Role) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(move |n| n.roles.contains(&role))
    }
}
