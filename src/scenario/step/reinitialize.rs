//! `reinitialize`: reinitialize a replica (`POST /reinitialize`).

use super::{ApiCall, ApiNodeStep, Call, StepKind, StepResult, StepRunner, api_node_call};
use crate::scenario::refs::TargetRef;

pub(crate) struct Reinitialize;

impl StepKind for Reinitialize {
    const NAME: &'static str = "reinitialize";
    #[cfg(test)]
    const SAMPLE: &'static str = "{target: t}";
    type Body = ApiNodeStep;

    fn id(s: &ApiNodeStep) -> Option<&str> {
        s.id.as_deref()
    }

    fn makes_http_call(_s: &ApiNodeStep) -> bool {
        true
    }

    fn targets(s: &ApiNodeStep) -> Vec<TargetRef<'_>> {
        vec![TargetRef::new("target", &s.target)]
    }

    fn describe(s: &ApiNodeStep) -> String {
        format!("reinitialize {}", s.target)
    }

    async fn execute<R: StepRunner>(s: &ApiNodeStep, _call: Call<'_>, run: &mut R) -> StepResult {
        api_node_call(s, ApiCall::Reinitialize, Self::describe(s), run).await
    }
}
