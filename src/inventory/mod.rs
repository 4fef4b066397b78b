//! The inventory: which cluster pgchaos is pointed at, its nodes, how to reach them over
//! SSH and how operations are done on them.
//!
//! The same format describes a production cluster and the local lab (`pgchaos lab
//! inventory` prints one). Defaults fit a Debian or RHEL host managed by systemd.

mod load;
mod ops;
pub(crate) mod watchdog;

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;
use crate::secret::SecretRef;

pub use load::{InventoryError, LoadedInventory, load, parse};
pub(crate) use ops::Ops;

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
    /// Patroni's `namespace`: the DCS path under which the cluster's keys live (Patroni's
    /// default `/service`; the leader key is `<namespace>/<scope>/leader`).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// A disposable lab cluster: runs do not ask for confirmation.
    #[serde(default)]
    pub lab: bool,
    /// Patroni's REST API.
    #[serde(default)]
    pub patroni: PatroniApi,
    /// PostgreSQL connections.
    #[serde(default)]
    pub postgres: Postgres,
    /// Patroni's watchdog mode on every Patroni node (`watchdog.mode` in Patroni's
    /// configuration), as the cluster's owner knows it. Verified before the first fault
    /// where it can be read from the nodes.
    #[serde(default)]
    pub watchdog: WatchdogMode,
    /// Risks the cluster's owner accepts. An accepted risk that shows up in a run is a
    /// visible finding in every report, never a plain pass.
    #[serde(default)]
    pub accepted_risks: AcceptedRisks,
}

fn default_namespace() -> String {
    "/service".into()
}

/// Patroni's `watchdog.mode` (Patroni docs, "Watchdog support"): `required` refuses to
/// lead without a working watchdog, `automatic` uses one when present, `off` uses none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WatchdogMode {
    /// Not declared: pgchaos reads it from the nodes where it can and assumes none.
    #[default]
    Unknown,
    /// No watchdog.
    Off,
    /// A watchdog is used when the device is there.
    Automatic,
    /// Patroni does not lead without a working watchdog.
    Required,
}

/// Risks the cluster's owner accepts, each with a bound and a reason.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptedRisks {
    /// The longest window in which two nodes may accept writes (for example a cluster
    /// without a watchdog, whose old primary stays writable until Patroni demotes it).
    #[serde(default)]
    pub split_brain: Option<AcceptedRisk>,
}

/// One accepted risk.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptedRisk {
    /// The largest accepted extent (for split brain: the longest dual-primary window).
    pub max: HumanDuration,
    /// Why the owner accepts it; shown in every report beside the finding.
    pub reason: String,
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
    /// libpq `sslmode` (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`), with
    /// libpq's meanings, for every connection pgchaos opens.
    pub sslmode: SslMode,
    /// Root certificate file (PEM) the server certificate must chain to: needed by
    /// `verify-ca` and `verify-full`; with `require` it makes the chain checked, as libpq
    /// does. Default: `~/.postgresql/root.crt` when it exists.
    pub sslrootcert: Option<PathBuf>,
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
            sslrootcert: None,
            timeout: HumanDuration(std::time::Duration::from_secs(2)),
        }
    }
}

/// libpq `sslmode` values pgchaos supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it, certificate not checked.
    Prefer,
    /// TLS required; the certificate is checked only against a given root certificate.
    Require,
    /// TLS required, the certificate must chain to the root certificate.
    VerifyCa,
    /// As `verify-ca`, and the certificate must name the host.
    VerifyFull,
}

impl SslMode {
    /// The mode as written in the inventory.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
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
    /// Command that stops the service manager from restarting `{service}` when it dies
    /// (`signal: {keep_down: true}`). Default: a runtime systemd drop-in
    /// `/run/systemd/system/{service}.service.d/pgchaos-keep-down.conf` with `Restart=no`,
    /// then `systemctl daemon-reload` (gone at the next boot in any case).
    pub service_keep_down: Option<String>,
    /// Command that undoes `service_keep_down` (default: remove the drop-in, daemon-reload).
    pub service_keep_down_undo: Option<String>,
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
    /// Patroni's configuration file on the node (default `/etc/patroni/config.yml`, the
    /// path Debian's `patroni.service` passes). Read before the first fault to verify
    /// `cluster.watchdog`; only `watchdog.mode` is kept from it.
    pub patroni_config: Option<String>,
    /// Command printing Patroni's log for a time window; `{since}` and `{until}` are
    /// substituted with UTC times `YYYY-MM-DD HH:MM:SS`, `{service}` with the quoted
    /// Patroni service (default: `journalctl -u {service} --since '{since} UTC' ...`).
    pub patroni_log: Option<String>,
    /// Command printing the resets the node's watchdog caused, one per line, each starting
    /// with its time (RFC 3339). No default: without it, watchdog resets are not reported.
    pub watchdog_log: Option<String>,
    /// Command run on the machine where pgchaos runs to rebuild the whole cluster when it
    /// did not return to steady state after a scenario (`{scope}` and `{inventory}` are
    /// substituted). The failed scenario keeps its verdict, the reset is recorded in every
    /// report and the run goes on. No default: without it such a run stops. Inventory-wide
    /// only (refused on a node).
    pub reset_cluster: Option<String>,
    /// Whether `clock_step` may step this node's wall clock. Never by default: a step moves
    /// every time-based decision on the host (TLS validity, cron, logs, leases); set it
    /// only on hosts where that is acceptable. Refused in the lab whatever it says (its
    /// nodes share this machine's clock).
    pub allow_clock_step: Option<bool>,
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
    /// PgBouncer in front of the cluster (usually of HAProxy's write port).
    pub pgbouncer: Option<Pgbouncer>,
}

/// PgBouncer: where applications connect, and where its admin console is reached.
///
/// Applications (the writer with `via: pgbouncer`) connect to `host:port` with the
/// inventory's `postgres` user, password and database, which PgBouncer passes on. The
/// console commands (`PAUSE`, `RESUME`) run on `node` over SSH, with psql on PgBouncer's
/// Unix socket as the operating-system user `admin_user`: PgBouncer authenticates that
/// socket with `peer` (or a `.pgpass` of that user), so no console password ever appears
/// in a command, an undo record or a report.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pgbouncer {
    /// Address applications connect to.
    pub host: String,
    /// Its port (PgBouncer's `listen_port`, 6432 by default).
    #[serde(default = "default_pgbouncer_port")]
    pub port: u16,
    /// The inventory node PgBouncer runs on: console commands run there over SSH.
    pub node: String,
    /// A user listed in PgBouncer's `admin_users`, also the OS user psql runs as on `node`.
    #[serde(default = "default_pgbouncer_admin")]
    pub admin_user: String,
    /// PgBouncer's `unix_socket_dir` on `node` (Debian's default `/var/run/postgresql`).
    #[serde(default = "default_pgbouncer_socket_dir")]
    pub socket_dir: String,
}

fn default_pgbouncer_port() -> u16 {
    6432
}

fn default_pgbouncer_admin() -> String {
    "postgres".into()
}

fn default_pgbouncer_socket_dir() -> String {
    "/var/run/postgresql".into()
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
    /// Port of the stats page (`listen stats` ... `bind`): pgchaos reads each backend
    /// server's status and UP→DOWN count there (`haproxy_flaps_max`, the report's lanes).
    pub stats_port: Option<u16>,
    /// The page's `stats uri` (default `/`).
    #[serde(default)]
    pub stats_path: Option<String>,
    /// `stats auth` credentials, when the page asks for them.
    #[serde(default)]
    pub stats_auth: Option<BasicAuth>,
}

impl Inventory {
    /// The node called `name`.
    pub(crate) fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Nodes that have `role`.
    pub fn nodes_with(&self, role: Role) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(move |n| n.roles.contains(&role))
    }
}
