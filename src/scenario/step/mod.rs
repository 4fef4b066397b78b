//! Step kinds: one file each, each implementing [`StepKind`].
//!
//! A kind's file holds its YAML body, the target names it refers to, its checks against
//! the scenario and the inventory, its description in words and how it is executed,
//! through the [`StepRunner`] the runner implements (the runner owns the undo stack, the
//! observation timeline and the records; a step kind only asks for what it needs).
//! [`Step`] is generated from the one list in [`steps!`]; adding a kind is one new file
//! and one line there.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::against::Ctx as InventoryCheck;
use super::check::Checker;
use super::refs::TargetRef;
use super::{Condition, Scenario, SqlEndpoint};
use crate::diag::YPath;
use crate::inventory::{Inventory, Node};
use crate::patroni::{ApiError, ApiResponse, PatroniClient};
use crate::pg::Credentials;
use crate::results::{CommandRecord, EventKind};
use crate::text::tail;

mod block;
mod clock_step;
mod degrade;
mod expect;
mod failover;
mod fill_disk;
mod hold;
mod isolate;
mod partition;
pub(crate) mod patch_config;
mod pg_ctl;
mod pgbench;
mod pgbouncer_pause;
mod power_on;
mod poweroff;
mod reboot;
mod reinitialize;
mod reload;
mod restart;
mod service;
mod shell;
mod signal;
mod sql;
mod start_patroni;
mod switchover;
mod tags;
mod undo;

pub(crate) use block::{BlockAction, BlockStep, Direction, PortSide};
pub(crate) use clock_step::ClockStepStep;
pub(crate) use degrade::DegradeStep;
pub(crate) use degrade::rate_kbit;
pub(crate) use expect::ExpectStep;
pub(crate) use failover::FailoverStep;
pub(crate) use fill_disk::size_bytes;
pub(crate) use fill_disk::{FillDiskStep, FillWhat};
pub(crate) use hold::HoldStep;
pub(crate) use partition::{PartitionDirection, PartitionStep};
pub(crate) use patch_config::PatchConfigStep;
pub(crate) use pg_ctl::{PgCtlMode, PgCtlStep};
pub(crate) use pgbench::PgbenchStep;
pub(crate) use pgbouncer_pause::PgbouncerPauseStep;
pub(crate) use restart::RestartStep;
pub(crate) use service::{Service, ServiceAction, ServiceStep};
pub(crate) use shell::ShellStep;
pub(crate) use signal::{Process, Signal, SignalStep};
pub(crate) use sql::SqlStep;
pub(crate) use switchover::SwitchoverStep;
pub(crate) use tags::TagsStep;
pub(crate) use undo::UndoStep;

/// One step kind: everything pgchaos knows about it.
pub(crate) trait StepKind {
    /// The kind as written in YAML.
    const NAME: &'static str;
    /// The smallest valid YAML body, for the test that the kind lists agree.
    #[cfg(test)]
    const SAMPLE: &'static str;
    /// Its body in YAML.
    type Body;

    /// The step's `id`, when it has one.
    fn id(_b: &Self::Body) -> Option<&str> {
        None
    }

    /// Whether the step may leave a fault in place that `undo: {fault: ID}` can undo.
    fn is_fault(_b: &Self::Body) -> bool {
        false
    }

    /// Whether carrying it out is a fault even when nothing is left to undo (a kill, a
    /// reboot): it marks the first fault of the scenario and is recorded as a fault event.
    fn is_fault_event(_b: &Self::Body) -> bool {
        false
    }

    /// Whether the step makes an HTTP call whose response a `response` condition checks.
    fn makes_http_call(_b: &Self::Body) -> bool {
        false
    }

    /// Every target name the step itself uses (not those of its conditions).
    fn targets(_b: &Self::Body) -> Vec<TargetRef<'_>> {
        Vec::new()
    }

    /// Its conditions (`expect`, `hold`).
    fn conditions(_b: &Self::Body) -> &[Condition] {
        &[]
    }

    /// Its alternative acceptable outcomes (`expect ... or:`).
    fn alternatives(_b: &Self::Body) -> &[expect::Alternative] {
        &[]
    }

    /// What the step needs of the kernel or tools of the nodes behind a target, as
    /// (target name, need): probed in preflight, before the first fault.
    fn node_needs(_b: &Self::Body) -> Vec<(&str, NodeNeed)> {
        Vec::new()
    }

    /// Checks against the scenario that serde cannot express.
    fn check<'a>(_b: &'a Self::Body, _cx: &mut CheckCx<'a, '_>) {}

    /// Checks against the inventory (entry points and commands the step needs).
    fn check_inventory(_b: &Self::Body, _cx: &mut InventoryCheck<'_>, _base: &YPath) {}

    /// A one-line description before targets are bound.
    fn describe(b: &Self::Body) -> String;

    /// Carries the step out.
    async fn execute<R: StepRunner>(b: &Self::Body, call: Call<'_>, run: &mut R) -> StepResult;
}

/// A kernel feature a step needs on its nodes, probed in preflight so that a node
/// lacking it refuses the run before anything is touched, not mid-scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum NodeNeed {
    /// `tc netem` (`sch_netem`), for latency and jitter.
    Netem,
}

impl NodeNeed {
    /// What it is, for messages.
    pub(crate) fn what(self) -> &'static str {
        match self {
            NodeNeed::Netem => "tc netem (the kernel's sch_netem), for latency and jitter",
        }
    }
}

/// What a step's scenario check sees.
pub(crate) struct CheckCx<'a, 'c> {
    /// Records diagnostics.
    pub c: &'c mut Checker<'a>,
    /// The scenario.
    pub sc: &'a Scenario,
    /// Index of the step.
    pub index: usize,
    /// Step ids declared so far (this one included), with their index.
    pub ids: &'c BTreeMap<&'a str, usize>,
    /// Fault ids undone so far, with the index of the `undo` step.
    pub undone: &'c mut BTreeMap<&'a str, usize>,
    /// YAML path of the step body.
    pub base: &'c YPath,
}

impl CheckCx<'_, '_> {
    /// Reports a zero duration at `field`.
    pub(crate) fn zero(&mut self, field: &'static str, message: &str) {
        let at = self.base.key(field);
        self.c.err(&at, message.into(), None);
    }
}

/// The step being carried out.
pub(crate) struct Call<'a> {
    /// Its index in the scenario.
    pub index: usize,
    /// The step itself (fault steps hand it to the fault planner).
    pub step: &'a Step,
    /// Commands run, recorded in results.
    pub rec: &'a mut Vec<CommandRecord>,
}

/// Why a step did not succeed.
#[derive(Debug)]
pub(crate) enum StepError {
    /// What it checked was false.
    Failed(String),
    /// It could not be carried out.
    Error(String),
}

/// A step's detail in words when it succeeded.
pub(crate) type StepResult = Result<Option<String>, StepError>;

/// What the runner offers steps: bindings, the cluster's clients, the records of the
/// scenario, faults with their undo, and waiting on conditions.
pub(crate) trait StepRunner {
    /// The node a single-node target is bound to.
    fn one(&self, target: &str) -> Result<String, StepError>;
    /// An inventory node by name.
    fn node(&self, name: &str) -> Result<Node, StepError>;
    /// The inventory.
    fn inventory(&self) -> &Inventory;
    /// Patroni's REST API.
    fn client(&self) -> &PatroniClient;
    /// PostgreSQL credentials.
    fn creds(&self) -> &Credentials;
    /// The leader as observed now.
    fn leader(&self) -> Option<String>;

    /// Resolves once the run is interrupted (SIGINT, SIGTERM, SIGHUP): long local
    /// commands stop waiting then, so the undo is not delayed by them.
    fn interrupted(&self) -> impl std::future::Future<Output = ()>;
    /// Removes secrets from text that goes into results.
    fn redact(&self, s: &str) -> String;
    /// Records an event on the scenario's timeline.
    fn event(&mut self, kind: EventKind, node: Option<&str>, description: String);
    /// Marks the first fault of the scenario at `at` (no-op after the first): failover and
    /// recovery times count from it.
    fn mark_first_fault(&mut self, at: chrono::DateTime<chrono::Utc>);
    /// Keeps a response under the step id for `response` conditions.
    fn record_response(&mut self, id: &str, status: u16, body: String);
    /// Runs a switchover or failover with patronictl on a node. patronictl exits 0 on
    /// success; a refusal counts as HTTP-like 412 so that scenarios expect it the same way
    /// through either path. The response is kept under the step id.
    async fn patronictl(
        &mut self,
        op: Patronictl<'_>,
        id: Option<&str>,
        expected: u16,
        rec: &mut Vec<CommandRecord>,
    ) -> StepResult;
    /// A command's record for results.
    fn command_record(
        &self,
        node: &str,
        script: &str,
        started: DateTime<Utc>,
        out: &Result<crate::transport::Output, crate::transport::TransportError>,
    ) -> CommandRecord;
    /// Plans and injects a fault step, registering its undo.
    async fn fault(&mut self, step: &Step, rec: &mut Vec<CommandRecord>) -> StepResult;
    /// Undoes the fault with this id now.
    async fn undo(&mut self, id: &str, rec: &mut Vec<CommandRecord>) -> StepResult;
    /// Registers the restoration of the DCS configuration (`patch`, to be sent to `node`)
    /// as an undo, after recording it on that node (a dead man's switch, which cleanup
    /// finds) and on this machine. Fails, and nothing may be changed, when the record
    /// could not be made.
    async fn restore_config_later(
        &mut self,
        call: &mut Call<'_>,
        id: Option<String>,
        node: &str,
        patch: serde_json::Value,
    ) -> Result<(), StepError>;
    /// Registers the cancel of a switchover (or restart) about to be scheduled through
    /// `node` as an undo, after arming it on that node (a dead man's switch, which cleanup
    /// finds). Fails, and nothing may be requested, when it could not be armed.
    async fn cancel_scheduled_later(
        &mut self,
        call: &mut Call<'_>,
        node: &str,
        what: Scheduled,
    ) -> Result<(), StepError>;
    /// Records that an alternative outcome was taken at step `step` (and whether the
    /// remaining steps are not to run).
    fn alternative_taken(
        &mut self,
        step: usize,
        name: &str,
        because: &str,
        seen: &str,
        ends_scenario: bool,
    );
    /// Waits until every condition holds at once, or fails at the deadline.
    async fn expect(
        &mut self,
        step: usize,
        conds: &[Condition],
        within: Duration,
    ) -> Result<String, StepError>;
    /// Every condition must hold at every observation for the whole duration.
    async fn hold(
        &mut self,
        step: usize,
        conds: &[Condition],
        duration: Duration,
    ) -> Result<String, StepError>;
    /// Runs SQL on an endpoint (observations folded first).
    async fn sql_values(
        &mut self,
        on: &SqlEndpoint,
        query: &str,
    ) -> Result<Vec<(String, Option<String>)>, String>;
    /// Whether the run was interrupted.
    fn cancelled(&self) -> bool;
    /// Shows progress while waiting.
    fn waiting(&self, what: &str, elapsed: Duration, deadline: Duration);
    /// Waits for a new observation, at most `max`.
    async fn wait_news(&self, max: Duration);
    /// The largest replica lag observed since `from`.
    fn max_lag_since(&self, from: Option<DateTime<Utc>>) -> Option<(String, u64)>;
}

/// Checks an HTTP response against the expected status, keeping it under the step id.
pub(crate) fn check_response<R: StepRunner>(
    run: &mut R,
    id: Option<&str>,
    resp: Result<ApiResponse, ApiError>,
    expected: u16,
) -> StepResult {
    let resp = resp.map_err(|e| StepError::Error(e.to_string()))?;
    let body = run.redact(resp.body.trim());
    if let Some(id) = id {
        run.record_response(id, resp.status, body.clone());
    }
    let detail = format!("HTTP {} {}", resp.status, tail(&body, 5, 600));
    if resp.status == expected {
        Ok(Some(detail))
    } else {
        Err(StepError::Failed(format!(
            "expected HTTP {expected}, got {detail}"
        )))
    }
}

/// A scheduled action pgchaos orders and must be able to cancel (see
/// `fault/scheduled_switchover.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheduled {
    /// A switchover (`scheduled_at`), cluster-wide.
    Switchover,
    /// A restart of the member the request goes to (`schedule`).
    Restart,
}

/// A patronictl operation, run on node `on`.
pub(crate) enum Patronictl<'a> {
    /// `patronictl switchover`.
    Switchover {
        on: &'a str,
        leader: Option<&'a str>,
        candidate: Option<&'a str>,
    },
    /// `patronictl failover`.
    Failover { on: &'a str, candidate: &'a str },
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

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Via::Rest => "REST",
            Via::Patronictl => "patronictl",
        })
    }
}

/// Which REST call an [`ApiNodeStep`] makes.
#[derive(Clone, Copy)]
pub(crate) enum ApiCall {
    Reinitialize,
    Reload,
}

/// Carries out a REST call on one member (`reinitialize`, `reload`).
pub(crate) async fn api_node_call<R: StepRunner>(
    a: &ApiNodeStep,
    what: ApiCall,
    description: String,
    run: &mut R,
) -> StepResult {
    let node = run.one(&a.target)?;
    let n = run.node(&node)?;
    let c = run.client();
    let resp = match what {
        ApiCall::Reinitialize => c.reinitialize(&n).await,
        ApiCall::Reload => c.reload(&n).await,
    };
    run.event(EventKind::Operation, Some(&node), description);
    check_response(run, a.id.as_deref(), resp, a.expect_status.unwrap_or(200))
}

macro_rules! steps {
    ($( $(#[$doc:meta])* $variant:ident($body:ty) = $kind:ty, )*) => {
        /// One step. Written as a single-key map: `- kill: { target: victim, process: postgres }`.
        #[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
        #[serde(rename_all = "snake_case", deny_unknown_fields)]
        pub enum Step {
            $( $(#[$doc])* $variant($body), )*
        }

        /// Kinds a step may have, as written in YAML (in the model's order).
        pub(crate) const STEP_KINDS: &[&str] = &[$(<$kind as StepKind>::NAME),*];

        /// Every kind with its sample body, from the same list as the enum.
        #[cfg(test)]
        const DISPATCH: &[(&str, &str)] =
            &[$((<$kind as StepKind>::NAME, <$kind as StepKind>::SAMPLE)),*];

        impl Step {
            /// The step's kind, as written in YAML (`signal`, `expect`, ...).
            pub(crate) fn kind(&self) -> &'static str {
                match self { $( Step::$variant(_) => <$kind as StepKind>::NAME, )* }
            }

            /// The step's `id`, when it has one.
            pub(crate) fn step_id(&self) -> Option<&str> {
                match self { $( Step::$variant(b) => <$kind as StepKind>::id(b), )* }
            }

            /// Whether the step may leave a fault in place that `undo: {fault: ID}` can undo early.
            pub(crate) fn is_fault(&self) -> bool {
                match self { $( Step::$variant(b) => <$kind as StepKind>::is_fault(b), )* }
            }

            /// Whether carrying the step out is a fault even with nothing to undo.
            pub(crate) fn is_fault_event(&self) -> bool {
                match self { $( Step::$variant(b) => <$kind as StepKind>::is_fault_event(b), )* }
            }

            /// Whether the step makes an HTTP call whose response a `response` condition can check.
            pub(crate) fn makes_http_call(&self) -> bool {
                match self { $( Step::$variant(b) => <$kind as StepKind>::makes_http_call(b), )* }
            }

            /// What the step needs of its targets' nodes, as (target name, need).
            pub(crate) fn node_needs(&self) -> Vec<(&str, NodeNeed)> {
                match self { $( Step::$variant(b) => <$kind as StepKind>::node_needs(b), )* }
            }

            /// Every target name the step itself uses (not those of its conditions).
            pub(crate) fn target_refs(&self) -> Vec<TargetRef<'_>> {
                match self { $( Step::$variant(b) => <$kind as StepKind>::targets(b), )* }
            }

            /// The conditions of an `expect` or `hold` step (empty for other kinds).
            pub(crate) fn conditions(&self) -> &[Condition] {
                match self { $( Step::$variant(b) => <$kind as StepKind>::conditions(b), )* }
            }

            /// The alternative outcomes of an `expect` step (empty for other kinds).
            pub(crate) fn alternatives(&self) -> &[expect::Alternative] {
                match self { $( Step::$variant(b) => <$kind as StepKind>::alternatives(b), )* }
            }

            pub(crate) fn check<'a>(&'a self, cx: &mut CheckCx<'a, '_>) {
                match self { $( Step::$variant(b) => <$kind as StepKind>::check(b, cx), )* }
            }

            pub(crate) fn check_inventory(&self, cx: &mut InventoryCheck<'_>, base: &YPath) {
                match self {
                    $( Step::$variant(b) => <$kind as StepKind>::check_inventory(b, cx, base), )*
                }
            }

            /// A one-line description of the step before targets are bound.
            pub(crate) fn describe(&self) -> String {
                match self { $( Step::$variant(b) => <$kind as StepKind>::describe(b), )* }
            }

            /// Carries the step out.
            pub(crate) async fn execute<R: StepRunner>(
                &self,
                index: usize,
                rec: &mut Vec<CommandRecord>,
                run: &mut R,
            ) -> StepResult {
                let call = Call { index, step: self, rec };
                match self {
                    $( Step::$variant(b) => <$kind as StepKind>::execute(b, call, run).await, )*
                }
            }
        }
    };
}

steps! {
    /// Send a signal to a process (fault; STOP is undone by CONT).
    Signal(SignalStep) = signal::SignalKind,
    /// Stop, start or restart a service (stop is a fault undone by start).
    Service(ServiceStep) = service::ServiceKind,
    /// `pg_ctl stop` in the given mode (Patroni is expected to restart PostgreSQL).
    PgCtl(PgCtlStep) = pg_ctl::PgCtl,
    /// Reboot the node with its own reboot command.
    Reboot(NodeStep) = reboot::Reboot,
    /// Power the node off (fault undone by power-on).
    Poweroff(NodeStep) = poweroff::Poweroff,
    /// Power the node on with the inventory's out-of-band `power_on` command.
    PowerOn(NodeStep) = power_on::PowerOn,
    /// Block a TCP port with iptables (fault undone by removing exactly that rule).
    Block(BlockStep) = block::Block,
    /// Cut a node off the network, except SSH (fault).
    Isolate(NodeStep) = isolate::Isolate,
    /// Cut traffic between two node sets, both ways or one way (fault).
    Partition(PartitionStep) = partition::Partition,
    /// Packet loss, a bandwidth limit or latency for a node or towards peers (fault).
    Degrade(DegradeStep) = degrade::Degrade,
    /// Fill the filesystem of the data directory or pg_wal, leaving a margin (fault).
    FillDisk(FillDiskStep) = fill_disk::FillDisk,
    /// Step a node's wall clock forward or back (fault; real hosts that allow it only).
    ClockStep(ClockStepStep) = clock_step::ClockStep,
    /// Undo an earlier fault now (by its `id`), instead of at the end.
    Undo(UndoStep) = undo::Undo,
    /// Switchover through the REST API or patronictl.
    Switchover(SwitchoverStep) = switchover::Switchover,
    /// Failover to a candidate through the REST API or patronictl.
    Failover(FailoverStep) = failover::Failover,
    /// Restart a member's PostgreSQL through Patroni (`POST /restart`).
    Restart(RestartStep) = restart::Restart,
    /// Reinitialize a replica (`POST /reinitialize`).
    Reinitialize(ApiNodeStep) = reinitialize::Reinitialize,
    /// Reload Patroni's configuration (`POST /reload`).
    Reload(ApiNodeStep) = reload::Reload,
    /// Change the DCS configuration (`PATCH /config`); undone by restoring the old values.
    PatchConfig(PatchConfigStep) = patch_config::PatchConfig,
    /// Set Patroni tags in nodes' configuration files and reload (fault undone by
    /// restoring the files exactly and reloading).
    Tags(TagsStep) = tags::Tags,
    /// `PAUSE` PgBouncer's pools (fault undone by `RESUME`).
    PgbouncerPause(PgbouncerPauseStep) = pgbouncer_pause::PgbouncerPause,
    /// Start Patroni on a spare node and enable it at boot.
    StartPatroni(NodeStep) = start_patroni::StartPatroni,
    /// Run SQL and optionally compare the result.
    Sql(SqlStep) = sql::Sql,
    /// Run pgbench through an entry point for a fixed time.
    Pgbench(PgbenchStep) = pgbench::Pgbench,
    /// Run an arbitrary shell command on a node (with an optional undo command).
    Shell(ShellStep) = shell::Shell,
    /// Wait until every condition holds; fail at the deadline.
    Expect(ExpectStep) = expect::Expect,
    /// Every condition must hold for the whole duration.
    Hold(HoldStep) = hold::Hold,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names the kinds give themselves are the ones serde accepts (the JSON Schema is
    /// derived from serde's renaming), in the same order, and `kind()` dispatches to them;
    /// each kind's sample body parses under its name.
    #[test]
    fn kind_lists_schema_and_dispatch_agree() {
        assert_eq!(super::super::condition::schema_kinds("Step"), STEP_KINDS);
        let names: Vec<&str> = DISPATCH.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, STEP_KINDS);
        for (name, body) in DISPATCH {
            let yaml = format!("{name}: {body}");
            let s: Step = crate::diag::from_yaml(&yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
            assert_eq!(s.kind(), *name);
        }
    }
}
