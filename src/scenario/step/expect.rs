//! `expect`: wait until every condition holds; fail at the deadline.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use std::time::Duration;

use super::{Call, CheckCx, StepError, StepKind, StepResult, StepRunner};
use crate::duration::HumanDuration;
use crate::scenario::{CONDITION_KINDS, Condition};

/// Wait for conditions.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectStep {
    /// Deadline.
    pub within: HumanDuration,
    /// Every condition must hold at the same observation.
    pub all: Vec<Condition>,
    /// What the step waits for, in words (shown in progress and reports).
    #[serde(default)]
    pub because: Option<String>,
    /// Outcomes also accepted when the documented one (`all`) did not happen by the
    /// deadline, because the runbook's outcome depends on the host (e.g. a supervisor that
    /// restarts a killed Patroni). Judged at the deadline, in order; the first whose
    /// conditions all hold is taken and named in the report.
    #[serde(default, rename = "or", skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<Alternative>,
}

/// An alternative acceptable outcome of an `expect` step.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alternative {
    /// Its name, shown in the report when it is taken (`restarted by its supervisor`).
    pub name: String,
    /// Why it is acceptable, with its source (Patroni docs, ha.py, the host's unit file).
    pub because: String,
    /// Every condition must hold at the deadline.
    pub all: Vec<Condition>,
    /// When taken, the remaining steps (which follow the documented path) are not run;
    /// undo, recovery and every verdict still are.
    #[serde(default)]
    pub ends_scenario: bool,
}

pub(crate) struct Expect;

impl StepKind for Expect {
    const NAME: &'static str = "expect";
    #[cfg(test)]
    const SAMPLE: &'static str = "{within: 1s, all: []}";
    type Body = ExpectStep;

    fn conditions(e: &ExpectStep) -> &[Condition] {
        &e.all
    }

    fn alternatives(e: &ExpectStep) -> &[Alternative] {
        &e.alternatives
    }

    fn check<'a>(e: &'a ExpectStep, cx: &mut CheckCx<'a, '_>) {
        if e.within.get().is_zero() {
            cx.zero(
                "within",
                "`expect.within` is 0: accepted is a positive deadline such as `30s`",
            );
        }
        for (k, a) in e.alternatives.iter().enumerate() {
            let at = cx.base.key("or").idx(k);
            if a.name.trim().is_empty() {
                cx.c.err(
                    &at.key("name"),
                    "`or[].name` is empty: name the alternative outcome (shown in reports)".into(),
                    None,
                );
            }
            if a.because.trim().is_empty() {
                cx.c.err(
                    &at.key("because"),
                    "`or[].because` is empty: say why this outcome is acceptable, and its source"
                        .into(),
                    None,
                );
            }
            if a.all.is_empty() {
                cx.c.err(
                    &at.key("all"),
                    "`or[].all` is empty: an alternative outcome must be observed, list its conditions"
                        .into(),
                    None,
                );
            }
        }
        if e.all.is_empty() {
            let at = cx.base.key("all");
            cx.c.err(
                &at,
                "`expect.all` is empty: list at least one condition to wait for".into(),
                Some(format!(
                    "accepted conditions: {}",
                    CONDITION_KINDS.join(", ")
                )),
            );
        }
    }

    fn describe(e: &ExpectStep) -> String {
        format!(
            "expect within {}: {}",
            e.within,
            e.because
                .clone()
                .unwrap_or_else(|| format!("{} condition(s)", e.all.len()))
        )
    }

    async fn execute<R: StepRunner>(e: &ExpectStep, call: Call<'_>, run: &mut R) -> StepResult {
        let documented = run.expect(call.index, &e.all, e.within.get()).await;
        let Err(StepError::Failed(why)) = documented else {
            return documented.map(Some);
        };
        if run.cancelled() {
            return Err(StepError::Failed(why));
        }
        for a in &e.alternatives {
            // At the deadline: one evaluation.
            if let Ok(seen) = run.expect(call.index, &a.all, Duration::ZERO).await {
                let detail = format!(
                    "ALTERNATIVE OUTCOME \"{}\" taken ({}): {seen}; the documented outcome was {why}",
                    a.name,
                    a.because.trim()
                );
                run.alternative_taken(
                    call.index,
                    &a.name,
                    a.because.trim(),
                    &seen,
                    a.ends_scenario,
                );
                return Ok(Some(detail));
            }
        }
        Err(StepError::Failed(why))
    }
}
