//! `restart`: restart a member's PostgreSQL through Patroni (`POST /restart`).

use super::{ApiCall, ApiNodeStep, Call, StepKind, StepResult, StepRunner, api_node_call};
use crate::scenario::refs::TargetRef;

pub(crate) struct Restart;

impl StepKind for Restart {
    const NAME: &'static str = "restart";
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
        format!("restart {} through Patroni", s.target)
    }

    async fn execute<R: StepRunner>(s: &ApiNodeStep, _call: Call<'_>, run: &mut R) -> StepResult {
        api_node_call(s, ApiCall::Restart, Self::describe(s), run).await
    }
}
