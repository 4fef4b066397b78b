//! `poweroff`: power the node off (a fault undone by power-on).

use super::{Call, NodeStep, StepKind, StepResult, StepRunner};
use crate::diag::YPath;
use crate::scenario::against::Ctx as InventoryCheck;
use crate::scenario::refs::TargetRef;

pub(crate) struct Poweroff;

impl StepKind for Poweroff {
    const NAME: &'static str = "poweroff";
    #[cfg(test)]
    const SAMPLE: &'static str = "{target: t}";
    type Body = NodeStep;

    fn id(s: &NodeStep) -> Option<&str> {
        s.id.as_deref()
    }

    fn is_fault(_s: &NodeStep) -> bool {
        true
    }

    fn is_fault_event(_s: &NodeStep) -> bool {
        true
    }

    fn targets(s: &NodeStep) -> Vec<TargetRef<'_>> {
        vec![TargetRef::new("target", &s.target)]
    }

    fn check_inventory(s: &NodeStep, cx: &mut InventoryCheck<'_>, base: &YPath) {
        cx.check_power_on(&base.key("target"), Self::NAME, &s.target);
    }

    fn describe(s: &NodeStep) -> String {
        format!("power off {}", s.target)
    }

    async fn execute<R: StepRunner>(_s: &NodeStep, call: Call<'_>, run: &mut R) -> StepResult {
        run.fault(call.step, call.rec).await
    }
}
