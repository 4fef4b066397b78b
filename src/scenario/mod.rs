//! The scenario model: what a YAML scenario file says, before it is bound to nodes.
//!
//! A scenario names its targets abstractly (`leader`, `replica not victim`, ...), lists
//! steps (faults, operations, SQL, expectations with deadlines, holds) and the verdicts
//! about data it wants checked. [`crate::plan`] binds targets to the inventory's nodes.

mod against;
mod check;
mod load;
mod refs;
pub mod seeds;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;

pub use crate::diag::Diagnostic;
pub use against::check_against;
pub use load::{
    LoadedScenario, ScenarioError, load_dir, load_file, load_paths, load_paths_collecting, parse,
};
pub use refs::{CONDITION_KINDS, STEP_KINDS, TargetRef};

/// A scenario file.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Unique identifier (`[a-z0-9-]+`), used by `--id` and in reports.
    pub id: String,
    /// One line saying what is tested.
    pub title: String,
    /// Longer explanation.
    #[serde(default)]
    pub description: String,
    /// Free-form tags, selected with `--tag`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Seed case IDs (from seed-cases.md) this scenario encodes.
    #[serde(default)]
    pub covers: Vec<String>,
    /// What the runbook's author observed, shown beside what pgchaos observed.
    #[serde(default)]
    pub documented: String,
    /// Group name for reports (JUnit classname); defaults to the file's directory.
    #[serde(default)]
    pub group: Option<String>,
    /// Named targets, bound to nodes when the scenario starts.
    #[serde(default)]
    pub targets: BTreeMap<String, TargetSpec>,
    /// A write (and optionally read) workload running for the whole scenario.
    #[serde(default)]
    pub workload: Option<WorkloadSpec>,
    /// What must hold at the start (default: steady state within 60s).
    #[serde(default)]
    pub requires: Requires,
    /// The steps, run in order.
    pub steps: Vec<Step>,
    /// Verdicts about data, evaluated after recovery.
    #[serde(default)]
    pub verdicts: Verdicts,
    /// Recovery after the scenario: undo, then steady state within this deadline.
    #[serde(default)]
    pub recovery: Recovery,
    /// Upper bound of the scenario's run time; node-side dead man's switches fire after it.
    #[serde(default = "default_max_duration")]
    pub max_duration: HumanDuration,
    /// A split brain this failure mode is known to cause (e.g. Patroni dead on the primary:
    /// nothing demotes its PostgreSQL). The continuous check then bounds it instead of
    /// forbidding it, and reports every window with this reason.
    #[serde(default)]
    pub expected_split_brain: Option<ExpectedSplitBrain>,
}

/// A split brain the scenario documents as expected, and its bound.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedSplitBrain {
    /// Why this failure mode leaves two nodes accepting writes, in words (shown in reports).
    pub reason: String,
    /// The longest window of two writable nodes that still passes.
    pub max: HumanDuration,
}

fn default_max_duration() -> HumanDuration {
    HumanDuration::from_secs(600)
}

/// Which node a target name stands for. Written either as a bare selector
/// (`victim: leader`) or as a map (`other: { select: replica, not: [victim] }`).
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// How the node is chosen.
    pub select: Selector,
    /// For `select: node` / `etcd_member` / `spare`: the inventory node name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Other target names this one must differ from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not: Vec<String>,
}

/// How a target is chosen among the inventory's nodes at the start of a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Selector {
    /// The member holding the leader lock when the scenario starts.
    Leader,
    /// A streaming replica (the first by name that is not excluded).
    Replica,
    /// The synchronous standby (needs synchronous_mode).
    SyncStandby,
    /// A node named by `node:`.
    Node,
    /// An etcd member (named by `node:`, or the first not excluded).
    EtcdMember,
    /// Every etcd member.
    AllEtcd,
    /// Every Patroni member.
    AllMembers,
    /// Every replica at start.
    AllReplicas,
    /// The HAProxy node.
    Haproxy,
    /// A node prepared for Patroni but not yet a member (add-node cases).
    Spare,
}

impl<'de> Deserialize<'de> for TargetSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            select: Selector,
            #[serde(default)]
            node: Option<String>,
            #[serde(default)]
            not: Vec<String>,
        }
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = TargetSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a selector (leader, replica, sync_standby, node, etcd_member, all_etcd, all_members, all_replicas, haproxy, spare) or a map { select, node, not }",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TargetSpec, E> {
                let select = Selector::deserialize(serde::de::value::StrDeserializer::<E>::new(v))?;
                Ok(TargetSpec {
                    select,
                    node: None,
                    not: vec![],
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<TargetSpec, A::Error> {
                let f = Full::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(TargetSpec {
                    select: f.select,
                    node: f.node,
                    not: f.not,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Preconditions checked before the first step.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Requires {
    /// The cluster must reach steady state within this deadline before the scenario starts.
    pub steady_within: HumanDuration,
    /// Minimum number of Patroni members.
    pub min_members: usize,
}

impl Default for Requires {
    fn default() -> Self {
        Self {
            steady_within: HumanDuration::from_secs(60),
            min_members: 2,
        }
    }
}

/// What happens after the steps.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Recovery {
    /// After undo, the cluster must be back to steady state within this deadline, or the
    /// run stops (no more faults on a broken cluster).
    pub within: HumanDuration,
}

impl Default for Recovery {
    fn default() -> Self {
        Self {
            within: HumanDuration::from_secs(120),
        }
    }
}

/// A write workload (and optional reader) running during the scenario.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// The writer.
    #[serde(default)]
    pub writer: Option<WriterSpec>,
    /// The reader.
    #[serde(default)]
    pub reader: Option<ReaderSpec>,
}

/// The writer: unique increasing ids, a ledger of what was acknowledged.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriterSpec {
    /// Inserts per second.
    #[serde(default = "default_rate")]
    pub rate: u32,
    /// Through which entry point writes go.
    #[serde(default)]
    pub via: WriteVia,
}

fn default_rate() -> u32 {
    20
}

/// Entry point the writer uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WriteVia {
    /// HAProxy's write port.
    #[default]
    WritePort,
    /// A libpq multi-host connection string with `target_session_attrs=read-write`.
    MultiHost,
}

/// The reader on HAProxy's read port.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReaderSpec {
    /// Reads per second.
    #[serde(default = "default_rate")]
    pub rate: u32,
}

/// Verdicts about data, computed from the workload's ledger and the final read.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Verdicts {
    /// Maximum number of acknowledged writes allowed to be missing after recovery.
    pub lost_writes: Option<u64>,
    /// Maximum allowed write-unavailability window.
    pub write_unavailable_max: Option<HumanDuration>,
    /// `never`: rows taken by two primaries in overlapping windows fail the scenario.
    pub split_brain: Option<Never>,
}

/// The only accepted value: `never`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Never {
    /// Never.
    Never,
}

/// One step. Written as a single-key map: `- kill: { target: victim, process: postgres }`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Send a signal to a process (fault; STOP is undone by CONT).
    Signal(SignalStep),
    /// Stop, start or restart a service (stop is a fault undone by start).
    Service(ServiceStep),
    /// `pg_ctl stop` in the given mode (Patroni is expected to restart PostgreSQL).
    PgCtl(PgCtlStep),
    /// Reboot the node with its own reboot command.
    Reboot(NodeStep),
    /// Power the node off (fault undone by power-on).
    Poweroff(NodeStep),
    /// Power the node on with the inventory's out-of-band `power_on` command.
    PowerOn(NodeStep),
    /// Block a TCP port with iptables (fault undone by removing exactly that rule).
    Block(BlockStep),
    /// Cut a node off the network, except SSH (fault).
    Isolate(NodeStep),
    /// Undo an earlier fault now (by its `id`), instead of at the end.
    Undo(UndoStep),
    /// Switchover through the REST API or patronictl.
    Switchover(SwitchoverStep),
    /// Failover to a candidate through the REST API or patronictl.
    Failover(FailoverStep),
    /// Restart a member's PostgreSQL through Patroni (`POST /restart`).
    Restart(ApiNodeStep),
    /// Reinitialize a replica (`POST /reinitialize`).
    Reinitialize(ApiNodeStep),
    /// Reload Patroni's configuration (`POST /reload`).
    Reload(ApiNodeStep),
    /// Change the DCS configuration (`PATCH /config`); undone by restoring the old values.
    PatchConfig(PatchConfigStep),
    /// Start Patroni on a spare node and enable it at boot.
    StartPatroni(NodeStep),
    /// Run SQL and optionally compare the result.
    Sql(SqlStep),
    /// Run pgbench through an entry point for a fixed time.
    Pgbench(PgbenchStep),
    /// Run an arbitrary shell command on a node (with an optional undo command).
    Shell(ShellStep),
    /// Wait until every condition holds; fail at the deadline.
    Expect(ExpectStep),
    /// Every condition must hold for the whole duration.
    Hold(HoldStep),
}

/// Fields shared by fault steps.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultId {
    /// A name for this fault, to `undo` it early or refer to it in conditions.
    #[serde(default)]
    pub id: Option<String>,
}

/// A step acting on one target.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeStep {
    /// The target name.
    pub target: String,
    /// A name for the step.
    #[serde(default)]
    pub id: Option<String>,
}

/// Send a signal.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalStep {
    /// The target name.
    pub target: String,
    /// Which process.
    pub process: Process,
    /// Which signal.
    pub signal: Signal,
    /// A name for the fault.
    #[serde(default)]
    pub id: Option<String>,
}

/// Processes pgchaos knows how to find.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Process {
    /// Every postgres process (postmaster and backends).
    Postgres,
    /// Only the postmaster (the PID in postmaster.pid).
    Postmaster,
    /// The Patroni daemon.
    Patroni,
    /// etcd.
    Etcd,
    /// HAProxy.
    Haproxy,
}

/// Signals a scenario may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Signal {
    /// SIGKILL.
    Kill,
    /// SIGTERM.
    Term,
    /// SIGINT.
    Int,
    /// SIGQUIT.
    Quit,
    /// SIGHUP.
    Hup,
    /// SIGSTOP (a fault: undone with SIGCONT).
    Stop,
    /// SIGCONT.
    Cont,
}

/// Service control.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceStep {
    /// The target name.
    pub target: String,
    /// Which service.
    pub service: Service,
    /// What to do.
    pub action: ServiceAction,
    /// A name for the fault.
    #[serde(default)]
    pub id: Option<String>,
}

/// Services pgchaos controls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// Patroni.
    Patroni,
    /// etcd.
    Etcd,
    /// HAProxy.
    Haproxy,
}

/// Service actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceAction {
    /// Stop (a fault, undone by start).
    Stop,
    /// Start.
    Start,
    /// Restart.
    Restart,
}

/// `pg_ctl stop`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PgCtlStep {
    /// The target name.
    pub target: String,
    /// Shutdown mode.
    #[serde(default)]
    pub mode: PgCtlMode,
    /// A name for the step.
    #[serde(default)]
    pub id: Option<String>,
}

/// `pg_ctl stop -m` modes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PgCtlMode {
    /// Smart.
    Smart,
    /// Fast (default).
    #[default]
    Fast,
    /// Immediate.
    Immediate,
}

/// iptables port block.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockStep {
    /// The node whose firewall gets the rule.
    pub target: String,
    /// TCP port.
    pub port: u16,
    /// DROP or REJECT.
    #[serde(default)]
    pub action: BlockAction,
    /// Inbound (INPUT, by destination port) or outbound (OUTPUT, by destination port).
    #[serde(default)]
    pub direction: Direction,
    /// Only traffic from (inbound) or to (outbound) these targets.
    #[serde(default)]
    pub peers: Vec<String>,
    /// Whether `port` is the packets' destination port (default: connections to a service,
    /// as the runbooks block them) or their source port (a service's own outgoing stream,
    /// e.g. a walsender's WAL leaving the primary: `direction: outbound, port_is: source`).
    #[serde(default)]
    pub port_is: PortSide,
    /// A name for the fault.
    #[serde(default)]
    pub id: Option<String>,
}

/// iptables target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum BlockAction {
    /// Silently drop.
    #[default]
    Drop,
    /// Reject with a TCP reset.
    Reject,
}

/// Which port of a packet a block matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PortSide {
    /// `--dport`.
    #[default]
    Destination,
    /// `--sport`.
    Source,
}

/// Traffic direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Packets arriving at the node.
    #[default]
    Inbound,
    /// Packets leaving the node.
    Outbound,
}

/// Undo a fault early.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UndoStep {
    /// The `id` of the fault.
    pub fault: String,
}

/// How an operation is performed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// Patroni's REST API, called from where pgchaos runs.
    #[default]
    Rest,
    /// `patronictl` on a node, over SSH.
    Patronictl,
}

/// Switchover.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchoverStep {
    /// The current leader (default: the leader now).
    #[serde(default)]
    pub leader: Option<String>,
    /// The candidate (default: Patroni chooses).
    #[serde(default)]
    pub candidate: Option<String>,
    /// REST or patronictl.
    #[serde(default)]
    pub via: Via,
    /// Which node's API (or shell, for patronictl) receives the request (default: the leader).
    #[serde(default)]
    pub on: Option<String>,
    /// Expected HTTP status (default 200); a refusal may be what is tested.
    #[serde(default)]
    pub expect_status: Option<u16>,
    /// A name, to refer to the response in `rest` conditions.
    #[serde(default)]
    pub id: Option<String>,
}

/// Failover.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailoverStep {
    /// The candidate.
    pub candidate: String,
    /// REST or patronictl.
    #[serde(default)]
    pub via: Via,
    /// Which node receives the request (default: the candidate).
    #[serde(default)]
    pub on: Option<String>,
    /// Expected HTTP status (default 200).
    #[serde(default)]
    pub expect_status: Option<u16>,
    /// A name for the step.
    #[serde(default)]
    pub id: Option<String>,
}

/// A REST call on one member.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiNodeStep {
    /// The target name.
    pub target: String,
    /// Expected HTTP status (default 200).
    #[serde(default)]
    pub expect_status: Option<u16>,
    /// A name for the step.
    #[serde(default)]
    pub id: Option<String>,
}

/// PATCH /config.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchConfigStep {
    /// The JSON merge patch sent to Patroni.
    pub patch: serde_json::Value,
    /// Restore the previous values at the end of the scenario (default true).
    #[serde(default = "yes")]
    pub restore: bool,
    /// A name for the step.
    #[serde(default)]
    pub id: Option<String>,
}

fn yes() -> bool {
    true
}

/// Where SQL runs.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SqlEndpoint {
    /// The current leader, found through the REST API.
    Leader,
    /// HAProxy's write port.
    WritePort,
    /// HAProxy's read port.
    ReadPort,
    /// Every member.
    AllMembers,
    /// A target, by name.
    #[serde(untagged)]
    Target(String),
}

/// Run SQL.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlStep {
    /// Where.
    pub on: SqlEndpoint,
    /// The statement(s).
    pub query: String,
    /// Expected first column of the first row, as text.
    #[serde(default)]
    pub expect: Option<String>,
    /// Retry until this deadline while the query fails or differs.
    #[serde(default)]
    pub within: Option<HumanDuration>,
    /// A name for the step.
    #[serde(default)]
    pub id: Option<String>,
}

/// pgbench load.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PgbenchStep {
    /// How long the load runs.
    pub duration: HumanDuration,
    /// Client connections.
    #[serde(default = "default_clients")]
    pub clients: u32,
    /// pgbench scale factor used to initialise.
    #[serde(default = "default_scale")]
    pub scale: u32,
    /// Maximum failed transactions tolerated.
    #[serde(default)]
    pub max_errors: u64,
    /// Maximum replica lag (bytes) tolerated at any sample during the load.
    #[serde(default)]
    pub max_lag_bytes: Option<u64>,
}

fn default_clients() -> u32 {
    4
}

fn default_scale() -> u32 {
    1
}

/// An arbitrary command.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShellStep {
    /// The target name.
    pub target: String,
    /// The command.
    pub command: String,
    /// Command that undoes it (registered as a fault's undo).
    #[serde(default)]
    pub undo: Option<String>,
    /// Expected exit status (default 0).
    #[serde(default)]
    pub expect_status: Option<i32>,
    /// A name for the step.
    #[serde(default)]
    pub id: Option<String>,
}

/// Wait for conditions.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectStep {
    /// Deadline.
    pub within: HumanDuration,
    /// Every condition must hold at the same observation.
    pub all: Vec<Condition>,
    /// What the step waits for, in words (shown in progress and reports).
    #[serde(default)]
    pub because: Option<String>,
}

/// Conditions that must stay true.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldStep {
    /// How long.
    #[serde(rename = "for")]
    pub duration: HumanDuration,
    /// Conditions checked at every observation (empty: a pause, still watched for split brain).
    #[serde(default)]
    pub all: Vec<Condition>,
    /// Why, in words.
    #[serde(default)]
    pub because: Option<String>,
}

/// A condition over the observation timeline. Written as a single-key map.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// Who leads now.
    Leader(LeaderCond),
    /// How many times leadership changed since the scenario started.
    LeaderChanges(CountCond),
    /// The leader's timeline relative to the start of the scenario.
    Timeline(TimelineCond),
    /// One member's role and state, as `/cluster` reports it.
    Member(MemberCond),
    /// Replication lag of every replica (or one).
    Lag(LagCond),
    /// One leader, every other member running or streaming, all on one timeline.
    SteadyState(bool),
    /// Whether a node accepts writes, asked directly (SQL, or SSH to its local socket).
    Writable(NodeBoolCond),
    /// Whether a node's REST API answers.
    ApiReachable(NodeBoolCond),
    /// The recorded HTTP response of an earlier step.
    Response(ResponseCond),
    /// HAProxy routing.
    Haproxy(HaproxyCond),
    /// A SQL query's first value.
    Sql(SqlCond),
    /// Patroni's `pending_restart` flag on members.
    PendingRestart(NodeBoolCond),
    /// A PostgreSQL setting's value on members (`SHOW name`).
    Setting(SettingCond),
    /// Whether PostgreSQL processes run on the node (asked over SSH with `pgrep`).
    PostgresRunning(NodeBoolCond),
    /// Whether the node's postmaster started after the scenario began (asked over SQL):
    /// proof that PostgreSQL was restarted, not merely still running.
    PostgresRestarted(NodeBoolCond),
    /// Named settings have the same value on `node` as on `with` (e.g. a new member runs
    /// with the cluster-wide parameters of the leader).
    SettingsMatch(SettingsMatchCond),
}

/// Settings compared between two targets.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsMatchCond {
    /// The node checked.
    pub node: String,
    /// The node it is compared with.
    pub with: String,
    /// Setting names.
    pub names: Vec<String>,
}

/// Leader condition; exactly one field is set.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaderCond {
    /// The leader is this target.
    #[serde(default)]
    pub is: Option<String>,
    /// The leader is not this target (and a leader exists).
    #[serde(default)]
    pub is_not: Option<String>,
    /// A leader exists (true) or no member is leader (false).
    #[serde(default)]
    pub exists: Option<bool>,
}

/// Count bounds.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CountCond {
    /// At most.
    #[serde(default)]
    pub at_most: Option<u32>,
    /// At least.
    #[serde(default)]
    pub at_least: Option<u32>,
}

/// Timeline condition.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimelineCond {
    /// The leader's timeline minus the one at start equals this (0: unchanged).
    #[serde(default)]
    pub increased_by: Option<u32>,
    /// At least this many.
    #[serde(default)]
    pub increased_at_least: Option<u32>,
}

/// Member condition.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberCond {
    /// The target name.
    pub node: String,
    /// Expected role.
    #[serde(default)]
    pub role: Option<MemberRole>,
    /// Expected state.
    #[serde(default)]
    pub state: Option<MemberState>,
    /// The member is absent from `/cluster` (true) or present (false).
    #[serde(default)]
    pub absent: Option<bool>,
    /// Its timeline equals the leader's.
    #[serde(default)]
    pub on_leader_timeline: Option<bool>,
}

/// Roles, normalised across Patroni versions (`master` is `leader`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    /// Holds the leader lock.
    Leader,
    /// A replica (including sync standby).
    Replica,
    /// The synchronous standby.
    SyncStandby,
    /// A standby cluster's leader.
    StandbyLeader,
}

/// Member states, normalised across Patroni versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberState {
    /// Running: a leader's `running`, a replica's `streaming` (4.x) or `running` (3.0).
    Running,
    /// A replica streaming from the leader (3.0: `running` with a non-null lag).
    Streaming,
    /// PostgreSQL stopped.
    Stopped,
    /// Starting, restarting, or creating a replica.
    Starting,
    /// Anything Patroni reports as failed (`start failed`, `crashed`, ...).
    Failed,
}

/// Lag condition.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LagCond {
    /// A target, or every replica when absent.
    #[serde(default)]
    pub node: Option<String>,
    /// Maximum lag in bytes.
    pub below_bytes: u64,
}

/// A yes/no fact about a node.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeBoolCond {
    /// The target name.
    pub node: String,
    /// Expected value.
    pub is: bool,
}

/// A recorded HTTP response.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseCond {
    /// The `id` of the step that made the call.
    pub step: String,
    /// Expected status.
    #[serde(default)]
    pub status: Option<u16>,
    /// A substring the body must contain.
    #[serde(default)]
    pub body_contains: Option<String>,
}

/// HAProxy routing conditions.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HaproxyCond {
    /// The write port reaches this target (`leader` for the current leader).
    #[serde(default)]
    pub write_port_reaches: Option<String>,
    /// Repeated reads on the read port are served by exactly the current replicas.
    #[serde(default)]
    pub read_port_round_robin: Option<bool>,
    /// The read port never reaches this target.
    #[serde(default)]
    pub read_port_excludes: Option<String>,
    /// The read port reaches this target.
    #[serde(default)]
    pub read_port_includes: Option<String>,
    /// The write port accepts a connection and a query (true) or refuses or times out (false).
    #[serde(default)]
    pub write_port_available: Option<bool>,
}

/// A SQL query condition.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlCond {
    /// Where.
    pub on: SqlEndpoint,
    /// The query.
    pub query: String,
    /// Expected first value as text.
    pub equals: String,
}

/// A setting condition.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingCond {
    /// A target, or every member when absent.
    #[serde(default)]
    pub node: Option<String>,
    /// Setting name.
    pub name: String,
    /// Expected value as `SHOW` prints it.
    pub equals: String,
}
