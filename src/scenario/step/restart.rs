//! `restart`: restart a member's PostgreSQL through Patroni (`POST /restart`), now or at
//! a scheduled time.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Call, CheckCx, Scheduled, StepKind, StepResult, StepRunner, check_response};
use crate::duration::HumanDuration;
use crate::results::EventKind;
use crate::scenario::refs::TargetRef;

/// Restart a member's PostgreSQL through Patroni.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestartStep {
    /// The target name.
    pub target: String,
    /// Expected HTTP status (default 200, or 202 when scheduled).
    #[serde(default)]
    pub expect_status: Option<u16>,
    /// Schedule the restart this long after the request (`schedule`, to the second, by
    /// the member's clock): Patroni answers 202 at once and restarts at that time, not
    /// before. Until then the order is a fault of its own: cancelled at the scenario's
    /// end, by the node's dead man's switch if pgchaos disappears, or by `pgchaos
    /// cleanup` (`patronictl flush CLUSTER MEMBER restart --force`).
    #[serde(default)]
    pub scheduled_in: Option<HumanDuration>,
    /// A name, to refer to the response in `response` conditions.
    #[serde(default)]
    pub id: Option<String>,
}

pub(crate) struct Restart;

impl StepKind for Restart {
    const NAME: &'static str = "restart";
    #[cfg(test)]
    const SAMPLE: &'static str = "{target: t}";
    type Body = RestartStep;

    fn id(s: &RestartStep) -> Option<&str> {
        s.id.as_deref()
    }

    fn makes_http_call(_s: &RestartStep) -> bool {
        true
    }

    fn targets(s: &RestartStep) -> Vec<TargetRef<'_>> {
        vec![TargetRef::new("target", &s.target)]
    }

    fn check<'a>(s: &'a RestartStep, cx: &mut CheckCx<'a, '_>) {
        if s.scheduled_in.as_ref().is_some_and(|d| d.get().is_zero()) {
            cx.zero(
                "scheduled_in",
                "`restart.scheduled_in` is 0: accepted is a positive duration such as `30s` (leave it out for a restart now)",
            );
        }
    }

    fn describe(s: &RestartStep) -> String {
        format!(
            "restart {} through Patroni{}",
            s.target,
            s.scheduled_in
                .as_ref()
                .map(|d| format!(" scheduled in {d}"))
                .unwrap_or_default()
        )
    }

    async fn execute<R: StepRunner>(
        s: &RestartStep,
        mut call: Call<'_>,
        run: &mut R,
    ) -> StepResult {
        let node = run.one(&s.target)?;
        let n = run.node(&node)?;
        let at = s
            .scheduled_in
            .as_ref()
            .map(|d| chrono::Utc::now() + chrono::Duration::from_std(d.get()).unwrap_or_default());
        if at.is_some() {
            // No cancel armed, no order given.
            run.cancel_scheduled_later(&mut call, &node, Scheduled::Restart)
                .await?;
        }
        run.event(EventKind::Operation, Some(&node), Self::describe(s));
        if let Some(at) = at {
            run.event(
                EventKind::Operation,
                Some(&node),
                format!("restart scheduled at {}", at.to_rfc3339()),
            );
        }
        let resp = run.client().restart(&n, at).await;
        let expected = s
            .expect_status
            .unwrap_or(if at.is_some() { 202 } else { 200 });
        check_response(run, s.id.as_deref(), resp, expected)
    }
}
