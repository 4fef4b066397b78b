//! `switchover`: a switchover through the REST API or patronictl.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Call, Patronictl, StepError, StepKind, StepResult, StepRunner, Via, check_response};
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
    /// Expected HTTP status (default 200); a refusal may be what is tested.
    #[serde(default)]
    pub expect_status: Option<u16>,
    /// A name, to refer to the response in `rest` conditions.
    #[serde(default)]
    pub id: Option<String>,
}

pub(crate) struct Switchover;

impl StepKind for Switchover {
    const NAME: &'static str = "switchover";
    type Body = SwitchoverStep;

    fn id(s: &SwitchoverStep) -> Option<&str> {
        s.id.as_deref()
    }

    fn makes_http_call(_s: &SwitchoverStep) -> bool {
        true
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
            "switchover{}{} via {}",
            s.leader
                .as_ref()
                .map(|l| format!(" from {l}"))
                .unwrap_or_default(),
            s.candidate
                .as_ref()
                .map(|c| format!(" to {c}"))
                .unwrap_or_default(),
            s.via
        )
    }

    async fn execute<R: StepRunner>(s: &SwitchoverStep, call: Call<'_>, run: &mut R) -> StepResult {
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
        run.mark_first_fault();
        run.event(EventKind::Operation, Some(&on), Self::describe(s));
        let expected = s.expect_status.unwrap_or(200);
        match s.via {
            Via::Rest => {
                let n = run.node(&on)?;
                let resp = run
                    .client()
                    .switchover(&n, leader.as_deref(), candidate.as_deref())
                    .await;
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
