//! The scenario model: what a YAML scenario file says, before it is bound to nodes.
//!
//! A scenario names its targets abstractly (`leader`, `replica not victim`, ...), lists
//! steps (faults, operations, SQL, expectations with deadlines, holds) and the verdicts
//! about data it wants checked. [`crate::plan`] binds targets to the inventory's nodes.

mod against;
pub(crate) mod budget;
mod check;
pub(crate) mod condition;
mod cutoff;
mod load;
mod refs;
pub(crate) mod seeds;
pub(crate) mod step;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;

pub(crate) use against::{candidates, check_against};
pub(crate) use condition::{CONDITION_KINDS, Condition, HaproxyCond};
pub(crate) use load::load_paths_collecting;
pub use load::{LoadedScenario, ScenarioError, parse};
pub(crate) use refs::TargetRef;
pub use step::Step;
pub(crate) use step::{
    BlockAction, BlockStep, ClockStepStep, DegradeStep, Direction, FillDiskStep, FillWhat,
    NodeStep, PartitionDirection, PartitionStep, PgCtlMode, PgCtlStep, PortSide, Process,
    STEP_KINDS, Service, ServiceAction, ServiceStep, ShellStep, Signal, SignalStep,
};

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
    /// Deprecated and refused by validation: the tolerated split-brain window belongs to
    /// the inventory (`cluster.accepted_risks.split_brain`). Kept in the format only so
    /// that an old file gets that explanation, with its line and column, instead of
    /// "unknown field".
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    pub expected_split_brain: Option<serde::de::IgnoredAny>,
}

/// Target name to the node names it stands for (one node, or several for `all_*`), as
/// bound when the scenario starts.
pub(crate) type Bindings = BTreeMap<String, Vec<String>>;

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
    /// The etcd member leading the DCS when the scenario starts (as etcd itself says).
    EtcdLeader,
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
                    "a selector (leader, replica, sync_standby, node, etcd_member, etcd_leader, all_etcd, all_members, all_replicas, haproxy, spare) or a map { select, node, not }",
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
    /// Where the cluster's etcd members must run for the scenario to mean anything
    /// (default: anywhere). A cluster that does not fit is not faulted: the scenario is
    /// recorded as skipped, with the reason, never as passed.
    pub etcd: EtcdPlacement,
}

impl Default for Requires {
    fn default() -> Self {
        Self {
            steady_within: HumanDuration::from_secs(60),
            min_members: 2,
            etcd: EtcdPlacement::Any,
        }
    }
}

/// Where a scenario needs the DCS's etcd members.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EtcdPlacement {
    /// Anywhere.
    #[default]
    Any,
    /// One etcd member on every Patroni node and none elsewhere: a partition that cuts a
    /// node from its peers cuts its etcd member from theirs too.
    Colocated,
}

impl Requires {
    /// Why the cluster of `inv` does not fit the scenario, if it does not.
    pub(crate) fn unmet_by(&self, inv: &crate::inventory::Inventory) -> Option<String> {
        use crate::inventory::Role;
        match self.etcd {
            EtcdPlacement::Any => None,
            EtcdPlacement::Colocated => {
                let names = |v: Vec<&crate::inventory::Node>| {
                    v.iter()
                        .map(|n| n.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let apart: Vec<_> = inv
                    .nodes_with(Role::Etcd)
                    .filter(|n| !n.roles.contains(&Role::Patroni))
                    .collect();
                let without: Vec<_> = inv
                    .nodes_with(Role::Patroni)
                    .filter(|n| !n.roles.contains(&Role::Etcd))
                    .collect();
                if apart.is_empty() && without.is_empty() {
                    return None;
                }
                let mut why = Vec::new();
                if !without.is_empty() {
                    why.push(format!("no etcd member on {}", names(without)));
                }
                if !apart.is_empty() {
                    why.push(format!(
                        "etcd members apart from Patroni on {}",
                        names(apart)
                    ));
                }
                Some(format!(
                    "needs an etcd member on every Patroni node and none elsewhere (`requires.etcd: colocated`); this cluster has {}",
                    why.join(" and ")
                ))
            }
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
    /// How long the writer waits for one insert before it counts the write as unknown and
    /// reconnects, as an application's own timeout would (default: the inventory's
    /// `postgres.timeout`). An application behind a paused PgBouncer waits this long for
    /// its query to leave PgBouncer's queue.
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
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
    /// The inventory's PgBouncer (`entrypoints.pgbouncer`), in transaction pooling mode.
    Pgbouncer,
}

/// The reader on HAProxy's read port (and, with `replicas`, one on every Patroni node).
/// Each read opens a new connection and asks, in one statement, the server's address,
/// `pg_is_in_recovery()` and the highest id of this run it holds, which the reader
/// compares with the writer's ledger (see [`crate::results::ReadStats`]).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReaderSpec {
    /// Reads per second (per reader).
    #[serde(default = "default_rate")]
    pub rate: u32,
    /// Also read from each Patroni node's PostgreSQL port directly, at the same rate:
    /// staleness per replica, not only what the load balancer hands out.
    #[serde(default)]
    pub replicas: bool,
    /// With `replicas`: when a direct read is stale, ask that node's Patroni
    /// `GET /replica?lag=<this>` (bytes, or `16kB`, `1MB`, ...) and record whether the health
    /// check would have kept it in a pool.
    #[serde(default)]
    pub lag_check: Option<String>,
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
    /// Largest staleness allowed of a read through HAProxy's read port (what an
    /// application reading there sees); the direct replica readers are reported, not
    /// judged. Needs a writer and a reader; a run where no read through the read port
    /// succeeded fails it.
    pub stale_read_max: Option<HumanDuration>,
    /// Most UP→DOWN transitions any one HAProxy backend server may make during the
    /// scenario, as HAProxy counts them on its stats page (`chkdown`). A switchover takes
    /// the old leader out of the write pool once and the new one out of the read pool
    /// once; more than that is a server flapping in and out of a pool.
    pub haproxy_flaps_max: Option<u64>,
}

/// The only accepted value: `never`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Never {
    /// Never.
    Never,
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

impl std::fmt::Display for SqlEndpoint {
    /// As written in scenarios.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SqlEndpoint::Leader => "leader",
            SqlEndpoint::WritePort => "write_port",
            SqlEndpoint::ReadPort => "read_port",
            SqlEndpoint::AllMembers => "all_members",
            SqlEndpoint::Target(t) => t,
        })
    }
}

impl SqlEndpoint {
    /// The target named by `on:`, when it names one.
    pub(crate) fn target_refs(&self) -> Vec<TargetRef<'_>> {
        match self {
            SqlEndpoint::Target(t) => vec![TargetRef::new("on", t)],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod requires_tests {
    use super::*;

    fn inv(nodes: &str) -> crate::inventory::Inventory {
        crate::inventory::parse(
            std::path::Path::new("i.yml"),
            &format!("cluster: {{scope: main}}\nnodes:\n{nodes}"),
        )
        .expect("inventory")
        .inventory
    }

    #[test]
    fn colocated_etcd_is_judged_from_the_inventory_roles() {
        let need = Requires {
            etcd: EtcdPlacement::Colocated,
            ..Default::default()
        };
        let colocated = inv(
            "  - {name: pg1, host: a, roles: [patroni, etcd]}\n  - {name: pg2, host: b, roles: [patroni, etcd]}\n",
        );
        assert_eq!(need.unmet_by(&colocated), None);
        let separate = inv(
            "  - {name: pg1, host: a, roles: [patroni]}\n  - {name: pg2, host: b, roles: [patroni, etcd]}\n  - {name: etcd1, host: c, roles: [etcd]}\n",
        );
        let why = need
            .unmet_by(&separate)
            .expect("separate etcd does not fit");
        assert!(why.contains("no etcd member on pg1"), "{why}");
        assert!(why.contains("apart from Patroni on etcd1"), "{why}");
        assert_eq!(Requires::default().unmet_by(&separate), None);
    }
}
