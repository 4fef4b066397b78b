//! `clock_step`: step a node's wall clock forward or back (a fault undone by setting the
//! clock to what it would have read without the step). Real hosts only, and only where
//! the inventory allows it: never by default, and refused in the lab, whose nodes share
//! this machine's kernel and so its clock.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Call, CheckCx, InventoryCheck, StepKind, StepResult, StepRunner};
use crate::diag::YPath;
use crate::duration::HumanDuration;
use crate::scenario::refs::TargetRef;

/// Step the wall clock (`CLOCK_REALTIME`) of `target` by `by`, forward unless `backwards`.
/// Patroni's leader lease lives in etcd (server-side TTLs), so a step on one member tests
/// what the host's own time-based decisions do (logs, TLS validity, timers), not the lock.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockStepStep {
    /// The node(s).
    pub target: String,
    /// How far: `30s`, `5m`, `2h` (at most a day).
    pub by: HumanDuration,
    /// Step back instead of forward.
    #[serde(default)]
    pub backwards: bool,
    /// A name for the fault.
    #[serde(default)]
    pub id: Option<String>,
}

/// The longest step accepted: beyond a day certificates and leases are the story, not
/// the cluster.
const MAX_STEP_SECS: u64 = 24 * 3600;

pub(crate) struct ClockStep;

impl StepKind for ClockStep {
    const NAME: &'static str = "clock_step";
    #[cfg(test)]
    const SAMPLE: &'static str = "{target: t, by: 1m}";
    type Body = ClockStepStep;

    fn id(s: &ClockStepStep) -> Option<&str> {
        s.id.as_deref()
    }

    fn is_fault(_s: &ClockStepStep) -> bool {
        true
    }

    fn is_fault_event(_s: &ClockStepStep) -> bool {
        true
    }

    fn targets(s: &ClockStepStep) -> Vec<TargetRef<'_>> {
        vec![TargetRef::new("target", &s.target)]
    }

    fn check<'a>(s: &'a ClockStepStep, cx: &mut CheckCx<'a, '_>) {
        let secs = s.by.0.as_secs();
        if s.by.0.as_millis() < 1000 || secs > MAX_STEP_SECS {
            let at = cx.base.key("by");
            cx.c.err(
                &at,
                format!("clock_step by {}: accepted from 1s to 24h", s.by),
                None,
            );
        }
    }

    fn check_inventory(s: &ClockStepStep, cx: &mut InventoryCheck<'_>, base: &YPath) {
        let at = base.key("target");
        if cx.inventory().cluster.lab {
            cx.error(
                &at,
                "`clock_step` is refused in the lab: its nodes are network namespaces of one \
                 kernel, so stepping one node's clock would step this machine's and every \
                 node's at once"
                    .into(),
                "run clock steps against real hosts whose inventory sets \
                 `operations.allow_clock_step: true`"
                    .into(),
            );
            return;
        }
        let Some(nodes) = cx.target_nodes(&s.target) else {
            return;
        };
        let refused: Vec<String> = nodes
            .into_iter()
            .filter(|n| !cx.inventory().ops_for(n).allow_clock_step)
            .map(|n| n.name.clone())
            .collect();
        if !refused.is_empty() {
            let path = cx.inventory_path().to_owned();
            cx.error(
                &at,
                format!(
                    "`clock_step` on target {:?} may step the clock of {}, which inventory \
                     {path} does not allow (clock steps are never allowed by default)",
                    s.target,
                    refused.join(", ")
                ),
                "set `operations.allow_clock_step: true` for those nodes (under the node, or \
                 inventory-wide) if a stepped clock is acceptable there"
                    .into(),
            );
        }
    }

    fn describe(s: &ClockStepStep) -> String {
        format!(
            "step the clock of {} {} by {}",
            s.target,
            if s.backwards { "back" } else { "forward" },
            s.by
        )
    }

    async fn execute<R: StepRunner>(_s: &ClockStepStep, call: Call<'_>, run: &mut R) -> StepResult {
        run.fault(call.step, call.rec).await
    }
}
