//! `reboot`: reboot the node with its own reboot command (a fault).

use super::{Call, NodeStep, StepKind, StepResult, StepRunner};
use crate::scenario::refs::TargetRef;

pub(crate) struct Reboot;

impl StepKind for Reboot {
    const NAME: &'static str = "reboot";
    #[cfg(test)]
    const SAMPLE: &'static str = "{target: t}";
    type Body = NodeStep;

    fn id(s: &NodeStep) -> Option<&str> {
        s.id.as_deref()
    }

    fn is_fault_event(_s: &NodeStep) -> bool {
        true
    }

    fn targets(s: &NodeStep) -> Vec<TargetRef<'_>> {
        vec![TargetRef::new("target", &s.target)]
    }

    fn describe(s: &NodeStep) -> String {
        format!("reboot {}", s.target)
    }

    async fn execute<R: StepRunner>(_s: &NodeStep, call: Call<'_>, run: &mut R) -> StepResult {
        run.fault(call.step, call.rec).await
    }
}
