//! `isolate`: cut a node off the network, except SSH (a fault).

use super::{Call, NodeStep, StepKind, StepResult, StepRunner};
use crate::scenario::refs::TargetRef;

pub(crate) struct Isolate;

impl StepKind for Isolate {
    const NAME: &'static str = "isolate";
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

    fn describe(s: &NodeStep) -> String {
        format!("isolate {} (all but SSH)", s.target)
    }

    async fn execute<R: StepRunner>(_s: &NodeStep, call: Call<'_>, run: &mut R) -> StepResult {
        run.fault(call.step, call.rec).await
    }
}
