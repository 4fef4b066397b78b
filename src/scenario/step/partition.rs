//! `partition`: cut traffic between two sets of nodes, both ways or one way (a fault
//! undone by removing exactly its netfilter rules).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Call, CheckCx, StepKind, StepResult, StepRunner};
use crate::scenario::refs::TargetRef;

/// A partition between node sets, each given as target names (`leader`, `all_etcd`, a
/// target `{select: node, node: pg3}`), bound and resolved to addresses when the fault is
/// injected. pgchaos's own SSH path is never cut.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartitionStep {
    /// One side: target names.
    pub from: Vec<String>,
    /// The other side: target names (no node may be on both sides).
    pub to: Vec<String>,
    /// Both ways (default) or only packets from `from` to `to`.
    #[serde(default)]
    pub direction: PartitionDirection,
    /// A name for the fault.
    #[serde(default)]
    pub id: Option<String>,
}

/// Which packets a partition drops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartitionDirection {
    /// Every packet between the two sides.
    #[default]
    Both,
    /// Only packets sent by `from` to `to` (replies from `to` still arrive).
    OneWay,
}

pub(crate) struct Partition;

impl StepKind for Partition {
    const NAME: &'static str = "partition";
    #[cfg(test)]
    const SAMPLE: &'static str = "{from: [a], to: [b]}";
    type Body = PartitionStep;

    fn id(s: &PartitionStep) -> Option<&str> {
        s.id.as_deref()
    }

    fn is_fault(_s: &PartitionStep) -> bool {
        true
    }

    fn is_fault_event(_s: &PartitionStep) -> bool {
        true
    }

    fn targets(s: &PartitionStep) -> Vec<TargetRef<'_>> {
        let mut out = Vec::new();
        for (i, t) in s.from.iter().enumerate() {
            out.push(TargetRef::new(&format!("from[{i}]"), t));
        }
        for (i, t) in s.to.iter().enumerate() {
            out.push(TargetRef::new(&format!("to[{i}]"), t));
        }
        out
    }

    fn check<'a>(s: &'a PartitionStep, cx: &mut CheckCx<'a, '_>) {
        for (field, side) in [("from", &s.from), ("to", &s.to)] {
            if side.is_empty() {
                let at = cx.base.key(field);
                cx.c.err(
                    &at,
                    format!("`{field}` names no target: a partition needs two non-empty sides"),
                    None,
                );
            }
        }
        for (i, t) in s.to.iter().enumerate() {
            if s.from.contains(t) {
                let at = cx.base.key("to").idx(i);
                cx.c.err(
                    &at,
                    format!("target {t:?} is on both sides of the partition"),
                    Some(
                        "exclude it from one side, e.g. `{ select: all_etcd, not: [leader] }`"
                            .into(),
                    ),
                );
            }
        }
    }

    fn describe(s: &PartitionStep) -> String {
        let arrow = match s.direction {
            PartitionDirection::Both => "<->",
            PartitionDirection::OneWay => "->",
        };
        format!(
            "partition [{}] {arrow} [{}]",
            s.from.join(", "),
            s.to.join(", ")
        )
    }

    async fn execute<R: StepRunner>(_s: &PartitionStep, call: Call<'_>, run: &mut R) -> StepResult {
        run.fault(call.step, call.rec).await
    }
}
