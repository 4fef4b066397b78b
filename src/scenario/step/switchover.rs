//! `switchover`: a switchover through the REST API or patronictl.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    Call, CheckCx, Patronictl, StepError, StepKind, StepResult, StepRunner, Via, check_response,
};
use crate::duration::HumanDuration;
use crate::results::EventKind;
use crate::scenario::refs::TargetRef;

/// Switchover.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchoverStep {
    /// The current leader (default: the leader now).
    #[serde(default)]
    pub leader: Option<String>,
    /// The candidate (default: Patroni chooses).
    #[serde(default)]
    pub candidate: Option<String>,
    /// REST or patronictl.
    #[serde(default)]
    pub via: Via,
    /// Which node's API (or shell, for patronictl) receives the request (default: the leader).
    #[serde(default)]
    pub on: Option<String>,
    /// Expected HTTP status (default 200, or 202 when scheduled); a refusal may be what
    /// is tested.
    #[serde(default)]
    pub expect_status: Option<u16>,
    /// Schedule the switchover this long after the request (`scheduled_at`, to the
    /// second, by the leader's clock): the request is answered at once and the leader
    /// switches over at that time, not before. Until then the order is a fault of its
    /// own: cancelled at the scenario's end, by the node's dead man's switch if pgchaos
    /// disappears, or by `pgchaos cleanup`. REST only.
    #[serde(default)]
    pub scheduled_in: Option<HumanDuration>,
    /// A name, to refer to the response in `rest` conditions.
    #[serde(default)]
    pub id: Option<String>,
}

pub(crate) struct Switchover;

impl StepKind for Switchover {
    const NAME: &'static str = "switchover";
    #[cfg(test)]
    const SAMPLE: &'static str = "{}";
    type Body = SwitchoverStep;

    fn id(s: &SwitchoverStep) -> Option<&str> {
        s.id.as_deref()
    }

    fn makes_http_call(_s: &SwitchoverStep) -> bool {
        true
    }

    fn check<'a>(s: &'a SwitchoverStep, cx: &mut CheckCx<'a, '_>) {
        let Some(d) = &s.scheduled_in else {
            return;
        };
        if d.get().is_zero() {
            cx.zero(
                "scheduled_in",
                "`switchover.scheduled_in` is 0: accepted is a positive duration such as `30s` (leave it out for a switchover now)",
            );
        }
        if s.via == Via::Patronictl {
            let at = cx.base.key("via");
            cx.c.err(
                &at,
                "a scheduled switchover (`scheduled_in`) is sent through the REST API only".into(),
                Some("remove `via: patronictl`, or `scheduled_in`".into()),
            );
        }
    }

    fn targets(s: &SwitchoverStep) -> Vec<TargetRef<'_>> {
        TargetRef::optional(&[
            ("leader", &s.leader),
            ("candidate", &s.candidate),
            ("on", &s.on),
        ])
    }

    fn describe(s: &SwitchoverStep) -> String {
        format!(
            "switchover{}{}{} via {}",
            s.leader
                .as_ref()
                .map(|l| format!(" from {l}"))
                .unwrap_or_default(),
            s.candidate
                .as_ref()
                .map(|c| format!(" to {c}"))
                .unwrap_or_default(),
            s.scheduled_in
                .as_ref()
                .map(|d| format!(" scheduled in {d}"))
                .unwrap_or_default(),
            s.via
        )
    }

    async fn execute<R: StepRunner>(
        s: &SwitchoverStep,
        mut call: Call<'_>,
        run: &mut R,
    ) -> StepResult {
        let leader = match &s.leader {
            Some(t) => Some(run.one(t)?),
            None => run.leader(),
        };
        let candidate = match &s.candidate {
            Some(t) => Some(run.one(t)?),
            None => None,
        };
        let on = match &s.on {
            Some(t) => run.one(t)?,
            None => leader
                .clone()
                .ok_or_else(|| StepError::Error("no leader to send the switchover to".into()))?,
        };
        if s.scheduled_in.is_some() {
            // No cancel armed, no order given.
            run.cancel_scheduled_later(&mut call, &on, super::Scheduled::Switchover)
                .await?;
        }
        let at = s
            .scheduled_in
            .as_ref()
            .map(|d| chrono::Utc::now() + chrono::Duration::from_std(d.get()).unwrap_or_default());
        // A scheduled switchover's failover time counts from the time it is scheduled at,
        // not from the request.
        run.mark_first_fault(at.unwrap_or_else(chrono::Utc::now));
        run.event(EventKind::Operation, Some(&on), Self::describe(s));
        let expected = s
            .expect_status
            .unwrap_or(if s.scheduled_in.is_some() { 202 } else { 200 });
        match s.via {
            Via::Rest => {
                let n = run.node(&on)?;
                if let Some(at) = at {
                    run.event(
                        EventKind::Operation,
                        Some(&on),
                        format!("switchover scheduled at {}", at.to_rfc3339()),
                    );
                }
                let client = run.client();
                let (leader, candidate) = (leader.as_deref(), candidate.as_deref());
                let resp = match at {
                    Some(at) => client.scheduled_switchover(&n, leader, candidate, at).await,
                    None => client.switchover(&n, leader, candidate).await,
                };
                check_response(run, s.id.as_deref(), resp, expected)
            }
            Via::Patronictl => {
                let op = Patronictl::Switchover {
                    on: &on,
                    leader: leader.as_deref(),
                    candidate: candidate.as_deref(),
                };
                run.patronictl(op, s.id.as_deref(), expected, call.rec)
                    .await
            }
        }
    }
}
