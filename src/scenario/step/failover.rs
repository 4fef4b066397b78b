//! `failover`: a failover to a candidate through the REST API or patronictl.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Call, Patronictl, StepKind, StepResult, StepRunner, Via, check_response};
use crate::results::EventKind;
use crate::scenario::refs::TargetRef;

/// Failover.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailoverStep {
    /// The candidate.
    pub candidate: String,
    /// REST or patronictl.
    #[serde(default)]
    pub via: Via,
    /// Which node receives the request (default: the candidate).
    #[serde(default)]
    pub on: Option<String>,
    /// Expected HTTP status (default 200).
    #[serde(default)]
    pub expect_status: Option<u16>,
    /// A name for the step.
    #[serde(default)]
    pub id: Option<String>,
}

pub(crate) struct Failover;

impl StepKind for Failover {
    const NAME: &'static str = "failover";
    #[cfg(test)]
    const SAMPLE: &'static str = "{candidate: c}";
    type Body = FailoverStep;

    fn id(s: &FailoverStep) -> Option<&str> {
        s.id.as_deref()
    }

    fn makes_http_call(_s: &FailoverStep) -> bool {
        true
    }

    fn targets(s: &FailoverStep) -> Vec<TargetRef<'_>> {
        let mut out = vec![TargetRef::new("candidate", &s.candidate)];
        out.extend(TargetRef::optional(&[("on", &s.on)]));
        out
    }

    fn describe(s: &FailoverStep) -> String {
        format!("failover to {} via {}", s.candidate, s.via)
    }

    async fn execute<R: StepRunner>(f: &FailoverStep, call: Call<'_>, run: &mut R) -> StepResult {
        let candidate = run.one(&f.candidate)?;
        let on = match &f.on {
            Some(t) => run.one(t)?,
            None => candidate.clone(),
        };
        run.mark_first_fault(chrono::Utc::now());
        run.event(
            EventKind::Operation,
            Some(&on),
            format!("failover to {candidate}"),
        );
        let expected = f.expect_status.unwrap_or(200);
        match f.via {
            Via::Rest => {
                let n = run.node(&on)?;
                let resp = run.client().failover(&n, &candidate).await;
                check_response(run, f.id.as_deref(), resp, expected)
            }
            Via::Patronictl => {
                let op = Patronictl::Failover {
                    on: &on,
                    candidate: &candidate,
                };
                run.patronictl(op, f.id.as_deref(), expected, call.rec)
                    .await
            }
        }
    }
}
