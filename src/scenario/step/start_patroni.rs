//! `start_patroni`: start Patroni on a spare node and enable it at boot.

use super::{Call, NodeStep, StepKind, StepResult, StepRunner};
use crate::scenario::refs::TargetRef;

pub(crate) struct StartPatroni;

impl StepKind for StartPatroni {
    const NAME: &'static str = "start_patroni";
    #[cfg(test)]
    const SAMPLE: &'static str = "{target: t}";
    type Body = NodeStep;

    fn id(s: &NodeStep) -> Option<&str> {
        s.id.as_deref()
    }

    fn targets(s: &NodeStep) -> Vec<TargetRef<'_>> {
        vec![TargetRef::new("target", &s.target)]
    }

    fn describe(s: &NodeStep) -> String {
        format!("start Patroni on {}", s.target)
    }

    async fn execute<R: StepRunner>(_s: &NodeStep, call: Call<'_>, run: &mut R) -> StepResult {
        run.fault(call.step, call.rec).await
    }
}
