//! `power_on`: power the node on with the inventory's out-of-band `power_on` command.

use super::{Call, NodeStep, StepKind, StepResult, StepRunner};
use crate::diag::YPath;
use crate::scenario::against::Ctx as InventoryCheck;
use crate::scenario::refs::TargetRef;

pub(crate) struct PowerOn;

impl StepKind for PowerOn {
    const NAME: &'static str = "power_on";
    #[cfg(test)]
    const SAMPLE: &'static str = "{target: t}";
    type Body = NodeStep;

    fn id(s: &NodeStep) -> Option<&str> {
        s.id.as_deref()
    }

    fn targets(s: &NodeStep) -> Vec<TargetRef<'_>> {
        vec![TargetRef::new("target", &s.target)]
    }

    fn check_inventory(s: &NodeStep, cx: &mut InventoryCheck<'_>, base: &YPath) {
        cx.check_power_on(&base.key("target"), Self::NAME, &s.target);
    }

    fn describe(s: &NodeStep) -> String {
        format!("power on {}", s.target)
    }

    async fn execute<R: StepRunner>(_s: &NodeStep, call: Call<'_>, run: &mut R) -> StepResult {
        run.fault(call.step, call.rec).await
    }
}
