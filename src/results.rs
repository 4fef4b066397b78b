//! The results of a run: everything a reporter needs, written as `results.json`.
//!
//! The runner produces these; reporters only read them. The format is versioned by
//! [`SCHEMA_VERSION`]; a change that removes or renames a field bumps it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version of the `results.json` format.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// A whole run.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
pub(crate) struct RunResults {
    /// Format version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Unique id of this run (also tags iptables rules and dead man's switches).
    pub run_id: String,
    /// pgchaos version.
    pub pgchaos_version: String,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When it ended (or was interrupted).
    pub finished_at: DateTime<Utc>,
    /// `user@host` that ran it.
    pub invoked_by: String,
    /// The command line, secrets excluded.
    pub command_line: Vec<String>,
    /// The cluster.
    pub cluster: ClusterInfo,
    /// How the run as a whole ended.
    pub outcome: RunOutcome,
    /// One entry per scenario attempt, in run order.
    pub scenarios: Vec<ScenarioResult>,
    /// What was run, for an auditor: the SHA-256 of every file and pgchaos's build.
    #[serde(default)]
    pub provenance: Provenance,
    /// Cluster resets done between scenarios (the inventory's `operations.reset_cluster`).
    #[serde(default)]
    pub resets: Vec<ClusterReset>,
}

/// The evidence of what ran: files as they were read, and the program that read them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub(crate) struct Provenance {
    /// pgchaos's version (`Cargo.toml`).
    pub pgchaos_version: String,
    /// The git commit pgchaos was built from (`unknown` when built outside a git clone).
    pub build_commit: String,
    /// The inventory file as run.
    pub inventory: Option<FileDigest>,
    /// Every scenario file as run, in run order.
    pub scenarios: Vec<FileDigest>,
}

/// One file and the SHA-256 of its bytes as read for the run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub(crate) struct FileDigest {
    /// The path as given on the command line (relative paths are relative to where
    /// pgchaos ran).
    pub path: String,
    /// Lowercase hex SHA-256 of the raw file bytes.
    pub sha256: String,
}

/// A cluster rebuilt between scenarios because it did not return to steady state.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
pub(crate) struct ClusterReset {
    /// When the reset started.
    pub at: DateTime<Utc>,
    /// The scenario after which the cluster was reset.
    pub after_scenario: String,
    /// Its attempt number.
    pub attempt: u32,
    /// Why: what the steady-state check saw.
    pub reason: String,
    /// The command run on the machine running pgchaos.
    pub command: CommandRecord,
    /// Whether the command succeeded and the cluster was in steady state afterwards.
    pub succeeded: bool,
    /// Seconds from the start of the reset to steady state (or to giving up).
    pub seconds: f64,
}

/// What pgchaos saw of the cluster.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub(crate) struct ClusterInfo {
    /// Patroni scope.
    pub scope: String,
    /// Whether the inventory marks it as a lab.
    pub lab: bool,
    /// Path of the inventory.
    pub inventory: String,
    /// The nodes.
    pub nodes: Vec<NodeInfo>,
    /// Versions observed (Patroni, PostgreSQL, etcd), as reported by the components.
    pub versions: Versions,
}

/// A node of the inventory.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub(crate) struct NodeInfo {
    /// Name.
    pub name: String,
    /// Address.
    pub host: String,
    /// Roles (`patroni`, `etcd`, `haproxy`, `spare`).
    pub roles: Vec<String>,
}

/// Component versions observed.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub(crate) struct Versions {
    /// Patroni's version from `GET /patroni`.
    pub patroni: Option<String>,
    /// PostgreSQL's `server_version`.
    pub postgres: Option<String>,
    /// etcd's version.
    pub etcd: Option<String>,
    /// Patroni's version on each Patroni node (`GET /patroni`), by node name.
    #[serde(default)]
    pub patroni_by_node: BTreeMap<String, String>,
    /// Patroni's watchdog mode as verified before the first fault (the inventory's
    /// `cluster.watchdog`, confirmed from each node's configuration), or `unknown`.
    #[serde(default)]
    pub watchdog: Option<String>,
}

/// How the run ended.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub(crate) enum RunOutcome {
    /// Still running when this file was written (reports are rewritten after every
    /// scenario); a file left in this state belongs to a run that was killed.
    Running,
    /// Every scenario passed.
    Passed,
    /// At least one scenario failed.
    Failed,
    /// The run stopped early: the cluster did not recover, preflight failed, ...
    Aborted {
        /// Why.
        reason: String,
    },
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

/// The verdict on one scenario attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Verdict {
    /// Every check passed.
    Passed,
    /// A check failed.
    Failed,
    /// pgchaos could not carry the scenario out (unreachable node, command failed, ...).
    Error,
    /// Interrupted before it completed.
    Interrupted,
    /// Not run (the run was aborted before it).
    Skipped,
}

/// An accepted risk that showed up: what the inventory accepts, why, and what happened.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
pub(crate) struct AcceptedRiskFinding {
    /// Which risk (`split_brain`).
    pub risk: String,
    /// The bound the inventory accepts.
    pub bound: String,
    /// The owner's reason, from the inventory.
    pub reason: String,
    /// What was observed.
    pub observed: String,
}

impl ScenarioResult {
    /// Passed, but only because the inventory accepts a risk that showed up.
    pub(crate) fn passed_with_accepted_risk(&self) -> bool {
        self.verdict == Verdict::Passed && !self.accepted_risks.is_empty()
    }
}

/// One scenario attempt.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
pub(crate) struct ScenarioResult {
    /// Scenario id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Group (JUnit classname).
    pub group: String,
    /// File it came from.
    pub file: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Seed case IDs covered.
    pub covers: Vec<String>,
    /// The runbook's documented observation.
    pub documented: String,
    /// What pgchaos observed, in one paragraph (generated from the checks and metrics).
    pub observed: String,
    /// 1-based attempt number (`--repeat` / `--retries`).
    pub attempt: u32,
    /// Verdict.
    pub verdict: Verdict,
    /// A one-line reason when not passed.
    pub reason: Option<String>,
    /// Start time.
    pub started_at: DateTime<Utc>,
    /// End time (after recovery).
    pub finished_at: DateTime<Utc>,
    /// Target name to node name(s), as bound at start.
    pub targets: BTreeMap<String, Vec<String>>,
    /// Leader and timeline before the first step.
    pub before: ClusterState,
    /// Leader and timeline after recovery.
    pub after: ClusterState,
    /// Every step, with the commands it ran.
    pub steps: Vec<StepRecord>,
    /// Every check with its verdict and evidence; failed ones first in reports.
    pub checks: Vec<CheckResult>,
    /// Faults and undos, with times (markers on the timeline chart).
    pub events: Vec<Event>,
    /// The observation timeline.
    pub observations: Vec<Observation>,
    /// `/cluster` snapshots: before the first fault, at the worst moment, after recovery.
    pub snapshots: Snapshots,
    /// Measurements (failover time, write unavailability, ...).
    pub metrics: Metrics,
    /// The workload's outcome, when one ran.
    pub workload: Option<WorkloadResult>,
    /// Patroni log excerpt of each node for the scenario's window.
    pub logs: BTreeMap<String, String>,
    /// Risks the inventory accepts that showed up in this attempt (for example a bounded
    /// split-brain window): the verdict may be `passed`, but never a plain pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted_risks: Vec<AcceptedRiskFinding>,
}

/// Leader and timeline at one moment.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub(crate) struct ClusterState {
    /// Leader's name.
    pub leader: Option<String>,
    /// Leader's timeline.
    pub timeline: Option<u64>,
}

/// One step as it ran.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
pub(crate) struct StepRecord {
    /// 0-based index in the scenario.
    pub index: usize,
    /// Step kind (`signal`, `block`, `expect`, ...).
    pub kind: String,
    /// Human description (`SIGKILL postgres on pg1`).
    pub description: String,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: DateTime<Utc>,
    /// Outcome.
    pub outcome: StepOutcome,
    /// Commands run on nodes (or locally) for this step.
    pub commands: Vec<CommandRecord>,
    /// Free-form detail (REST response, SQL result, what an expect waited for).
    pub detail: Option<String>,
}

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StepOutcome {
    /// Done.
    Ok,
    /// Its check failed.
    Failed,
    /// It could not be carried out.
    Error,
    /// Not run because an earlier step failed.
    Skipped,
}

/// One command pgchaos ran.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
pub(crate) struct CommandRecord {
    /// Node name, or `local` for the machine pgchaos runs on.
    pub node: String,
    /// The exact command line (secrets redacted).
    pub command: String,
    /// Exit status; none when it timed out or the connection failed.
    pub exit_status: Option<i32>,
    /// Standard output (truncated, redacted).
    pub stdout: String,
    /// Standard error (truncated, redacted).
    pub stderr: String,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// Why there is no exit status (timeout, connection lost).
    pub error: Option<String>,
}

/// A check's verdict with its evidence.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
pub(crate) struct CheckResult {
    /// Short name (`leader is pg1`, `no split brain`, `lost writes`).
    pub name: String,
    /// Index of the step that made the check, if any.
    pub step: Option<usize>,
    /// Passed or not.
    pub passed: bool,
    /// What was expected.
    pub expected: String,
    /// What was observed.
    pub observed: String,
    /// When it was decided (or when it was violated).
    pub at: Option<DateTime<Utc>>,
}

/// A marker on the timeline.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
pub(crate) struct Event {
    /// When.
    pub at: DateTime<Utc>,
    /// Kind.
    pub kind: EventKind,
    /// Node concerned, if any.
    pub node: Option<String>,
    /// Description.
    pub description: String,
}

/// Kinds of timeline markers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EventKind {
    /// A fault was injected.
    Fault,
    /// A fault was undone.
    Undo,
    /// An operation (switchover, restart, ...).
    Operation,
    /// A new leader was observed.
    NewLeader,
    /// A step started.
    Step,
    /// Recovery to steady state observed.
    Recovered,
    /// The cluster was reset after the scenario (`operations.reset_cluster`).
    Reset,
    /// A node's watchdog reset it (from `operations.watchdog_log`).
    WatchdogReset,
    /// A dead man's switch undid a fault by itself before pgchaos undid it: from then on
    /// the fault was no longer in place, whatever the steps assumed.
    DeadmanFired,
}

/// One sample of one node.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub struct Observation {
    /// When the sample was taken.
    pub at: DateTime<Utc>,
    /// Node name.
    pub node: String,
    /// Where it came from.
    pub source: ObservationSource,
    /// Whether the source answered.
    pub reachable: bool,
    /// Role, normalised (`leader`, `replica`, `sync_standby`, `standby_leader`), from Patroni.
    pub role: Option<String>,
    /// State as Patroni reports it (raw: `running`, `streaming`, `stopped`, ...).
    pub state: Option<String>,
    /// Timeline.
    pub timeline: Option<u64>,
    /// `pg_is_in_recovery()` (SQL sources).
    pub in_recovery: Option<bool>,
    /// Current WAL LSN (SQL sources), as bytes.
    pub lsn: Option<u64>,
    /// Replication lag in bytes as reported by `/cluster` (for replicas).
    pub lag_bytes: Option<u64>,
    /// Leader named by this node's `/cluster` view.
    pub cluster_leader: Option<String>,
    /// Error text when not reachable.
    pub error: Option<String>,
    /// HAProxy's count of this backend server's UP→DOWN transitions (`chkdown`), HAProxy
    /// samples only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chkdown: Option<u64>,
}

/// What produced an observation.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Deserialize,
    Serialize,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ObservationSource {
    /// `GET /patroni` on the node.
    #[default]
    Rest,
    /// SQL over TCP.
    Sql,
    /// SQL over SSH through the node's local socket.
    SqlSsh,
    /// The leader key in the DCS (etcd), watched; `cluster_leader` is the key's holder.
    Dcs,
    /// An etcd member's own status (`/v3/maintenance/status`): `role` is `leader`,
    /// `follower` (of the leader most members follow) or absent (it follows no leader
    /// that answers); `cluster_leader` is that leader.
    Etcd,
    /// A backend server on HAProxy's stats page: `node` is `proxy/server`, `state` its
    /// status (`UP`, `DOWN`, `UP 1/2`, `MAINT`, ...), `chkdown` its UP→DOWN count.
    Haproxy,
}

/// `/cluster` snapshots.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub(crate) struct Snapshots {
    /// Before the first fault.
    pub before: Option<serde_json::Value>,
    /// At the worst moment (fewest healthy members).
    pub worst: Option<serde_json::Value>,
    /// After recovery.
    pub after: Option<serde_json::Value>,
}

/// Measurements of one scenario.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub(crate) struct Metrics {
    /// Seconds from the first fault to the first observation of a new leader.
    pub failover_seconds: Option<f64>,
    /// Seconds from the first fault to steady state.
    pub recovery_seconds: Option<f64>,
    /// Longest window without an acknowledged write (workload).
    pub write_unavailable_seconds: Option<f64>,
    /// Number of leader changes observed.
    pub leader_changes: u32,
    /// Observations per second per node achieved.
    pub samples_per_second: Option<f64>,
    /// Each HAProxy backend server's UP→DOWN transitions during the scenario, from the
    /// stats page (empty when HAProxy's stats were not read).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub haproxy: Vec<HaproxyFlaps>,
}

/// How often one HAProxy backend server was taken out of its pool during a scenario.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
pub(crate) struct HaproxyFlaps {
    /// `proxy/server` as the stats page names it.
    pub server: String,
    /// UP→DOWN transitions HAProxy counted (`chkdown` increases, a restart of HAProxy
    /// counted from zero).
    pub went_down: u64,
    /// When the samples saw it turn DOWN (a transition shorter than a sample interval is
    /// counted by HAProxy but may have no time here).
    pub down_at: Vec<DateTime<Utc>>,
    /// Its status in the first and the last sample.
    pub first_status: String,
    /// See `first_status`.
    pub last_status: String,
}

/// The workload's outcome.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub struct WorkloadResult {
    /// Writes attempted.
    pub attempted: u64,
    /// Writes acknowledged by a commit.
    pub acknowledged: u64,
    /// Writes that failed before commit.
    pub failed: u64,
    /// Writes whose commit outcome is unknown (connection lost during commit).
    pub unknown: u64,
    /// Acknowledged but missing after recovery (data loss).
    pub lost: Vec<i64>,
    /// Not acknowledged yet present.
    pub unexpected: Vec<i64>,
    /// Present more than once.
    pub duplicated: Vec<i64>,
    /// Time span between the first and last lost write, seconds (RPO).
    pub lost_span_seconds: Option<f64>,
    /// Longest gap between consecutive acknowledged writes, seconds.
    pub max_gap_seconds: Option<f64>,
    /// Start and end of that gap.
    pub max_gap: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Seconds from the first fault to the first write acknowledged after the outage it
    /// caused, whichever server took it; 0 when writes never stopped (RTO).
    pub rto_seconds: Option<f64>,
    /// Rows acknowledged by two servers in overlapping windows (split brain evidence).
    pub split_brain: Option<String>,
    /// Which server took writes, with its timeline and time window.
    pub servers: Vec<ServerWindow>,
    /// Reader statistics.
    pub reads: Option<ReadStats>,
    /// Ids whose insert definitely failed (the server answered with an error) yet are
    /// present: a real anomaly, unlike an unknown outcome that turned out committed. A subset
    /// of `unexpected`.
    #[serde(default)]
    pub failed_present: Vec<i64>,
    /// The node whose table was the reference (the leader after recovery).
    #[serde(default)]
    pub reference_node: Option<String>,
    /// Acknowledgement times of the first and last lost write.
    #[serde(default)]
    pub lost_window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// When the first write after the outage was acknowledged (the end of the RTO window).
    #[serde(default)]
    pub rto_at: Option<DateTime<Utc>>,
    /// When the outage began: the first write after the fault that failed, was left
    /// unknown, or stalled (acknowledged more than a second after it was sent).
    #[serde(default)]
    pub rto_outage_start: Option<DateTime<Utc>>,
    /// The server that acknowledged that write.
    #[serde(default)]
    pub rto_server: Option<String>,
    /// Each replica compared with the reference node.
    #[serde(default)]
    pub replicas: Vec<ReplicaCheck>,
    /// Writes acknowledged by a server that did not hold the leader key when they were
    /// sent, per server: `None` when the leader key was not observed (nothing judged),
    /// empty when every acknowledged write went to the key's holder.
    #[serde(default)]
    pub without_leader_key: Option<Vec<KeylessWrites>>,
}

/// Acknowledged writes one server took while the leader key in the DCS named another
/// member or nobody, as pgchaos observed the key (a lower bound: the key is seen to move
/// a little after it moved).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct KeylessWrites {
    /// The server that acknowledged them.
    pub server: String,
    /// How many.
    pub rows: u64,
    /// When the first of them was sent, and who held the key then (`None`: nobody).
    pub first_sent: DateTime<Utc>,
    /// See `first_sent`.
    pub holder_then: Option<String>,
    /// When the last of them was acknowledged.
    pub last_acknowledged: DateTime<Utc>,
}

/// One replica's copy of the workload table compared with the reference node's.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub struct ReplicaCheck {
    /// Node name.
    pub node: String,
    /// Rows of this run and scenario it holds.
    pub rows: u64,
    /// Ids present on the reference node but missing here (divergence, or not caught up).
    pub missing: Vec<i64>,
    /// Ids present here but not on the reference node (divergence: this node took or kept
    /// writes the leader does not have).
    pub extra: Vec<i64>,
    /// Whether it had replayed the reference node's WAL position when read; none when it
    /// is not a replica or could not be asked.
    pub caught_up: Option<bool>,
    /// Why it could not be read, when it could not.
    pub error: Option<String>,
}

/// Writes taken by one server on one timeline.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
pub struct ServerWindow {
    /// Server (Patroni name or address).
    pub server: String,
    /// Timeline.
    pub timeline: u64,
    /// First acknowledged write.
    pub first: DateTime<Utc>,
    /// Last acknowledged write.
    pub last: DateTime<Utc>,
    /// Count.
    pub rows: u64,
}

/// Reader statistics of one entry point: HAProxy's read port at the top level, each
/// Patroni node's PostgreSQL port in `direct`.
///
/// A read is *stale* (a read-your-writes violation) when it misses a write the writer had
/// already seen acknowledged when the read's query was sent: the highest id of this run it
/// sees is below that write's id. Its staleness is the read's start minus the
/// acknowledgement time of the oldest such write: how long the application had been
/// promised data the read did not show. A read answered by a primary
/// (`pg_is_in_recovery()` false) is counted in `primary_reads` and is fresh by definition.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub struct ReadStats {
    /// Reads attempted.
    pub attempted: u64,
    /// Reads that failed.
    pub errors: u64,
    /// Reads served, by server.
    pub served_by: BTreeMap<String, u64>,
    /// Reads that missed an acknowledged write (read-your-writes violations).
    #[serde(default)]
    pub stale: u64,
    /// Reads answered by a primary.
    #[serde(default)]
    pub primary_reads: u64,
    /// Per server (`address:port` as the server sees itself): reads, stale reads, largest
    /// staleness.
    #[serde(default)]
    pub servers: BTreeMap<String, ServerReads>,
    /// The stalest read.
    #[serde(default)]
    pub max_stale: Option<StaleRead>,
    /// What Patroni's `/replica?lag=` health check said of the node when a read was stale
    /// (direct readers with `lag_check` only).
    #[serde(default)]
    pub lag_check: Option<LagCheckStats>,
    /// A reader on each Patroni node's PostgreSQL port directly (`reader: {replicas:
    /// true}`), by node name.
    #[serde(default)]
    pub direct: BTreeMap<String, ReadStats>,
}

/// Reads answered by one server through one entry point.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub struct ServerReads {
    /// Reads it answered.
    pub reads: u64,
    /// Of which stale.
    pub stale: u64,
    /// Largest staleness of its reads, milliseconds.
    pub max_staleness_ms: Option<u64>,
}

/// One stale read.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
pub struct StaleRead {
    /// When its query was sent (client clock, the ledger's clock).
    pub at: DateTime<Utc>,
    /// The server that answered.
    pub server: String,
    /// Read start minus the acknowledgement of the oldest write it missed, milliseconds.
    pub staleness_ms: u64,
    /// Acknowledged writes it missed.
    pub missed: u64,
}

/// Patroni's `GET /replica?lag=MAX` asked of a node each time a direct read there was
/// stale. Patroni compares the replica's WAL position with the leader's last operation in
/// the DCS, in bytes: a replica that has received the WAL but not applied it is healthy
/// by that measure however old its data.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub struct LagCheckStats {
    /// The `lag` asked for (`1MB`, `1048576`).
    pub max_lag: String,
    /// Stale reads for which the check answered 200: the node would have stayed in a pool
    /// built on that check.
    pub stale_but_healthy: u64,
    /// Stale reads for which it answered anything else (503: lagging, or not a replica).
    pub stale_and_unhealthy: u64,
    /// Stale reads for which the REST API gave no answer.
    pub errors: u64,
}
