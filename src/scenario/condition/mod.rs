//! Condition kinds: one file each, each implementing [`ConditionKind`].
//!
//! A kind's file holds its YAML body, the target names it refers to, its checks against
//! the scenario and the inventory, its description in words and its evaluation: over the
//! observation timeline ([`ConditionKind::on_timeline`]) or by a probe of its own through
//! the narrow [`Probe`] context ([`ConditionKind::probe`]). [`Condition`] is generated
//! from the one list in [`conditions!`]; adding a kind is one new file and one line there.

use std::collections::BTreeMap;
use std::time::Instant;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::against::Ctx as InventoryCheck;
use super::check::Checker;
use super::refs::TargetRef;
use super::{Bindings, Scenario, SqlEndpoint};
use crate::check::{Eval, RecordedResponse, World};
use crate::diag::YPath;
use crate::inventory::Inventory;
use crate::pg::Credentials;
use crate::transport::Transport;

mod api_reachable;
mod etcd;
mod haproxy;
mod lag;
mod leader;
mod leader_changes;
mod member;
mod patroni_restarted;
mod paused;
mod pending_restart;
mod postgres_restarted;
mod postgres_running;
mod response;
mod setting;
mod settings_match;
mod sql;
mod steady_state;
mod sync_standbys;
mod tags;
mod timeline;
mod watchdog_reset;
mod writable;

pub(crate) use etcd::EtcdCond;
pub(crate) use haproxy::HaproxyCond;
pub(crate) use lag::LagCond;
pub(crate) use leader::LeaderCond;
pub(crate) use leader_changes::CountCond;
pub(crate) use member::MemberCond;
pub(crate) use response::ResponseCond;
pub(crate) use setting::SettingCond;
pub(crate) use settings_match::SettingsMatchCond;
pub(crate) use sql::SqlCond;
pub(crate) use sql::{fmt_values, sql_values};
pub(crate) use tags::TagsCond;
pub(crate) use timeline::TimelineCond;

/// What conditions are evaluated against, besides the world.
pub(crate) struct Context<'a> {
    /// Target bindings.
    pub bindings: &'a Bindings,
    /// Leader's timeline when the scenario started.
    pub timeline_at_start: Option<u64>,
    /// Leader changes observed since the scenario started.
    pub leader_changes: u32,
    /// Responses of earlier steps, by step id.
    pub responses: &'a BTreeMap<String, RecordedResponse>,
    /// Inventory names of the Patroni nodes expected in the cluster.
    pub patroni_nodes: &'a [String],
}

impl Context<'_> {
    /// The nodes a target is bound to.
    pub(crate) fn nodes(&self, target: &str) -> Vec<String> {
        self.bindings.get(target).cloned().unwrap_or_default()
    }

    /// A target in words: its name, with its nodes when they differ.
    pub(crate) fn label(&self, target: &str) -> String {
        match self.bindings.get(target) {
            Some(n) if n.len() == 1 && n[0] == target => target.to_owned(),
            Some(n) => format!("{target} ({})", n.join(", ")),
            None => target.to_owned(),
        }
    }
}

/// One condition kind: everything pgchaos knows about it.
pub(crate) trait ConditionKind {
    /// The kind as written in YAML.
    const NAME: &'static str;
    /// Whether it is evaluated by a probe of its own rather than over the timeline.
    const PROBE: bool = false;
    /// The smallest valid YAML body, for the test that the kind lists agree.
    #[cfg(test)]
    const SAMPLE: &'static str;
    /// Its body in YAML.
    type Body;

    /// Every target name the condition uses.
    fn targets(_b: &Self::Body) -> Vec<TargetRef<'_>> {
        Vec::new()
    }

    /// Checks against the scenario that serde cannot express.
    fn check(_b: &Self::Body, _cx: &mut CheckCx<'_, '_>) {}

    /// Checks against the inventory (entry points the condition needs).
    fn check_inventory(_b: &Self::Body, _cx: &mut InventoryCheck<'_>, _base: &YPath) {}

    /// What the condition expects, in words, with targets resolved.
    fn describe(b: &Self::Body, cx: &Context) -> String;

    /// Its value on the world folded from the timeline (`PROBE` kinds: never called).
    fn on_timeline(_b: &Self::Body, _w: &World, _cx: &Context) -> Eval {
        Eval::new(false, "evaluated by a probe, not over the timeline")
    }

    /// Its value by a probe of its own (only `PROBE` kinds).
    async fn probe(_b: &Self::Body, _p: &Probe<'_>) -> Eval {
        Eval::new(false, "evaluated over the timeline, not by a probe")
    }
}

/// What a condition's scenario check sees: the checker, the scenario, where the
/// condition is, and the step ids declared so far.
pub(crate) struct CheckCx<'a, 'c> {
    /// Records diagnostics.
    pub c: &'c mut Checker<'a>,
    /// The scenario.
    pub sc: &'a Scenario,
    /// Index of the step holding the condition.
    pub step_index: usize,
    /// Step ids declared so far, with their index.
    pub ids: &'c BTreeMap<&'a str, usize>,
    /// YAML path of the condition body.
    pub base: &'c YPath,
}

impl CheckCx<'_, '_> {
    /// Reports that a condition sets none of `fields`.
    pub(crate) fn empty(&mut self, kind: &str, fields: &str) {
        let base = self.base.clone();
        self.c.err(
            &base,
            format!("`{kind}` condition sets none of {fields}: it would check nothing"),
            None,
        );
    }
}

/// What probes need, and nothing more: where the nodes are, how to log in, the world as
/// folded so far, and the target bindings.
pub(crate) struct Probe<'a> {
    /// The inventory.
    pub inventory: &'a Inventory,
    /// PostgreSQL credentials.
    pub creds: &'a Credentials,
    /// SSH to the nodes.
    pub transport: &'a Transport,
    /// Target bindings.
    pub bindings: &'a Bindings,
    /// The world as folded so far.
    pub world: &'a World,
    /// When the scenario started (monotonic).
    pub started: Instant,
    /// Removes secrets from text that goes into results.
    pub redact: &'a (dyn Fn(&str) -> String + Sync),
}

/// What an SSH command gave back.
pub(crate) type SshOutcome = Result<crate::transport::Output, crate::transport::TransportError>;

/// One node's answer to a probe asked over SSH.
pub(crate) struct NodeAnswer {
    /// Whether the condition holds on this node.
    pub holds: bool,
    /// What was seen there, in words (nothing for a node left out).
    pub seen: Option<String>,
}

impl NodeAnswer {
    /// An answer with what was seen.
    pub(crate) fn new(holds: bool, seen: String) -> Self {
        Self {
            holds,
            seen: Some(seen),
        }
    }
}

impl Probe<'_> {
    /// Asks every node bound to `target` over SSH, one after the other, and folds their
    /// answers: the condition holds when a node is bound and every answer holds. `script`
    /// gives a node's command (or its answer, when there is nothing to ask); `read` turns
    /// what came back (with the time the command was sent) into the node's answer.
    pub(crate) async fn ask_each_node(
        &self,
        target: &str,
        timeout: std::time::Duration,
        script: impl Fn(&str, Option<&crate::inventory::Node>) -> Result<String, NodeAnswer>,
        read: impl Fn(&str, chrono::DateTime<chrono::Utc>, SshOutcome) -> NodeAnswer,
    ) -> Eval {
        let nodes = self.bindings.get(target).cloned().unwrap_or_default();
        let mut holds = !nodes.is_empty();
        let mut seen = Vec::new();
        for name in &nodes {
            let answer = match script(name, self.inventory.node(name)) {
                Ok(cmd) => {
                    let at = chrono::Utc::now();
                    let out = self.transport.run_with_timeout(name, &cmd, timeout).await;
                    read(name, at, out)
                }
                Err(answer) => answer,
            };
            holds &= answer.holds;
            seen.extend(answer.seen);
        }
        Eval::new(holds, seen.join("; "))
    }
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

impl NodeBoolCond {
    /// `node` as the only target.
    pub(crate) fn targets(&self) -> Vec<TargetRef<'_>> {
        vec![TargetRef::new("node", &self.node)]
    }
}

/// Where a probe's SQL runs for `node: Option<target>` (every member when absent).
pub(crate) fn on_node_or_all(node: &Option<String>) -> SqlEndpoint {
    match node {
        Some(t) => SqlEndpoint::Target(t.clone()),
        None => SqlEndpoint::AllMembers,
    }
}

/// Judges every node of `target` by its entry in the freshest `/cluster` answer (raw JSON,
/// for fields [`crate::observe::MemberView`] does not carry): `judge` gives whether the
/// entry satisfies the condition and what it showed; a node not listed fails.
pub(crate) fn each_listed_member(
    w: &World,
    ctx: &Context,
    target: &str,
    judge: impl Fn(&serde_json::Value) -> (bool, String),
) -> Eval {
    let nodes = ctx.nodes(target);
    let Some(json) = w.cluster_json() else {
        return Eval::new(false, "no /cluster view answered");
    };
    let members = json.get("members").and_then(|m| m.as_array());
    let mut ok = !nodes.is_empty();
    let mut seen = Vec::new();
    for x in &nodes {
        let member = members.and_then(|ms| {
            ms.iter()
                .find(|m| m.get("name").and_then(|v| v.as_str()) == Some(x))
        });
        match member {
            Some(m) => {
                let (fine, showed) = judge(m);
                ok &= fine;
                seen.push(format!("{x}: {showed}"));
            }
            None => {
                ok = false;
                seen.push(format!("{x}: not listed"));
            }
        }
    }
    Eval::new(ok, seen.join("; "))
}

macro_rules! conditions {
    ($( $(#[$doc:meta])* $variant:ident($body:ty) = $kind:ty, )*) => {
        /// A condition over the observation timeline. Written as a single-key map.
        #[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
        #[serde(rename_all = "snake_case", deny_unknown_fields)]
        pub enum Condition {
            $( $(#[$doc])* $variant($body), )*
        }

        /// Kinds a condition may have, as written in YAML.
        pub(crate) const CONDITION_KINDS: &[&str] = &[$(<$kind as ConditionKind>::NAME),*];

        impl Condition {
            /// The condition's kind, as written in YAML (`leader`, `member`, ...).
            pub(crate) fn kind(&self) -> &'static str {
                match self { $( Condition::$variant(_) => <$kind as ConditionKind>::NAME, )* }
            }

            /// Whether it is evaluated by a probe of its own.
            pub(crate) fn is_probe(&self) -> bool {
                match self { $( Condition::$variant(_) => <$kind as ConditionKind>::PROBE, )* }
            }

            /// Every target name the condition uses.
            pub(crate) fn target_refs(&self) -> Vec<TargetRef<'_>> {
                match self { $( Condition::$variant(b) => <$kind as ConditionKind>::targets(b), )* }
            }

            pub(crate) fn check(&self, cx: &mut CheckCx<'_, '_>) {
                match self { $( Condition::$variant(b) => <$kind as ConditionKind>::check(b, cx), )* }
            }

            pub(crate) fn check_inventory(&self, cx: &mut InventoryCheck<'_>, base: &YPath) {
                match self {
                    $( Condition::$variant(b) => <$kind as ConditionKind>::check_inventory(b, cx, base), )*
                }
            }

            /// What the condition expects, in words, with targets resolved.
            pub(crate) fn describe(&self, cx: &Context) -> String {
                match self { $( Condition::$variant(b) => <$kind as ConditionKind>::describe(b, cx), )* }
            }

            /// Its value over the timeline, or `None` when it needs a probe.
            pub(crate) fn on_timeline(&self, w: &World, cx: &Context) -> Option<Eval> {
                if self.is_probe() {
                    return None;
                }
                Some(match self {
                    $( Condition::$variant(b) => <$kind as ConditionKind>::on_timeline(b, w, cx), )*
                })
            }

            /// Its value by a probe (for kinds that need one).
            pub(crate) async fn probe(&self, p: &Probe<'_>) -> Eval {
                match self { $( Condition::$variant(b) => <$kind as ConditionKind>::probe(b, p).await, )* }
            }
        }

        /// Every kind with whether it is probed, from the same list as the enum.
        #[cfg(test)]
        const DISPATCH: &[(&str, bool, &str)] = &[$((
            <$kind as ConditionKind>::NAME,
            <$kind as ConditionKind>::PROBE,
            <$kind as ConditionKind>::SAMPLE,
        )),*];
    };
}

conditions! {
    /// Who leads now.
    Leader(LeaderCond) = leader::Leader,
    /// How many times leadership changed since the scenario started.
    LeaderChanges(CountCond) = leader_changes::LeaderChanges,
    /// The leader's timeline relative to the start of the scenario.
    Timeline(TimelineCond) = timeline::Timeline,
    /// One member's role and state, as `/cluster` reports it.
    Member(MemberCond) = member::Member,
    /// Replication lag of every replica (or one).
    Lag(LagCond) = lag::Lag,
    /// One leader, every other member running or streaming, all on one timeline.
    SteadyState(bool) = steady_state::SteadyState,
    /// How many members the leader lists as synchronous standbys.
    SyncStandbys(CountCond) = sync_standbys::SyncStandbys,
    /// Whether a node accepts writes, asked directly (SQL, or SSH to its local socket).
    Writable(NodeBoolCond) = writable::Writable,
    /// Whether a node's REST API answers.
    ApiReachable(NodeBoolCond) = api_reachable::ApiReachable,
    /// The recorded HTTP response of an earlier step.
    Response(ResponseCond) = response::Response,
    /// HAProxy routing.
    Haproxy(HaproxyCond) = haproxy::Haproxy,
    /// etcd's own view of the DCS: whether a member leads, and which.
    Etcd(EtcdCond) = etcd::Etcd,
    /// A SQL query's first value.
    Sql(SqlCond) = sql::Sql,
    /// Patroni's `pending_restart` flag on members.
    PendingRestart(NodeBoolCond) = pending_restart::PendingRestart,
    /// Whether a member's HA loop runs in maintenance mode, by its own member key (the
    /// configuration it last loaded, not what was written to the DCS).
    Paused(NodeBoolCond) = paused::Paused,
    /// A PostgreSQL setting's value on members (`SHOW name`).
    Setting(SettingCond) = setting::Setting,
    /// Whether PostgreSQL processes run on the node (asked over SSH with `pgrep`).
    PostgresRunning(NodeBoolCond) = postgres_running::PostgresRunning,
    /// Whether the node's postmaster started after the scenario began (asked over SQL):
    /// proof that PostgreSQL was restarted, not merely still running.
    PostgresRestarted(NodeBoolCond) = postgres_restarted::PostgresRestarted,
    /// Whether the Patroni daemon on a node runs and was started during the scenario (asked
    /// over SSH): with no `service: start` step, its supervisor started it again.
    PatroniRestarted(NodeBoolCond) = patroni_restarted::PatroniRestarted,
    /// Whether the node was reset by its watchdog since the scenario began (from
    /// `operations.watchdog_log`).
    WatchdogReset(NodeBoolCond) = watchdog_reset::WatchdogReset,
    /// Named settings have the same value on `node` as on `with` (e.g. a new member runs
    /// with the cluster-wide parameters of the leader).
    SettingsMatch(SettingsMatchCond) = settings_match::SettingsMatch,
    /// The tags members publish in `/cluster` (from the configuration each has loaded).
    Tags(TagsCond) = tags::Tags,
}

/// The kinds of a `oneOf` enum in the JSON Schema (`pgchaos schema scenario`), in order.
#[cfg(test)]
pub(crate) fn schema_kinds(def: &str) -> Vec<String> {
    let schema = serde_json::to_value(schemars::schema_for!(Scenario)).expect("schema");
    schema["$defs"][def]["oneOf"]
        .as_array()
        .expect("oneOf")
        .iter()
        .map(|v| {
            let req = v["required"].as_array().expect("required");
            assert_eq!(req.len(), 1, "{v}");
            req[0].as_str().expect("name").to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names the kinds give themselves are the ones serde accepts (the JSON Schema is
    /// derived from serde's renaming), in the same order, and `kind()` dispatches to them.
    /// Each kind's sample body parses under its name, and a probe kind is never evaluated
    /// over the timeline (nor a timeline kind by a probe).
    #[test]
    fn kind_lists_schema_and_dispatch_agree() {
        assert_eq!(schema_kinds("Condition"), CONDITION_KINDS);
        let names: Vec<&str> = DISPATCH.iter().map(|(n, _, _)| *n).collect();
        assert_eq!(names, CONDITION_KINDS);
        let world = World::new(std::time::Duration::from_secs(5));
        let (bindings, responses) = (Bindings::new(), BTreeMap::new());
        let cx = Context {
            bindings: &bindings,
            timeline_at_start: None,
            leader_changes: 0,
            responses: &responses,
            patroni_nodes: &[],
        };
        for (name, probe, body) in DISPATCH {
            let yaml = format!("{name}: {body}");
            let c: Condition =
                crate::diag::from_yaml(&yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
            assert_eq!(c.kind(), *name);
            assert_eq!(c.is_probe(), *probe, "{name}");
            assert_eq!(c.on_timeline(&world, &cx).is_none(), *probe, "{name}");
        }
    }
}
