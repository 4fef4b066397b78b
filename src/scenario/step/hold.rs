//! `hold`: every condition must hold for the whole duration.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Call, CheckCx, StepKind, StepResult, StepRunner};
use crate::duration::HumanDuration;
use crate::scenario::Condition;

/// Conditions that must stay true.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldStep {
    /// How long.
    #[serde(rename = "for")]
    pub duration: HumanDuration,
    /// Conditions checked at every observation (empty: a pause, still watched for split brain).
    #[serde(default)]
    pub all: Vec<Condition>,
    /// Why, in words.
    #[serde(default)]
    pub because: Option<String>,
}

pub(crate) struct Hold;

impl StepKind for Hold {
    const NAME: &'static str = "hold";
    #[cfg(test)]
    const SAMPLE: &'static str = "{for: 1s}";
    type Body = HoldStep;

    fn conditions(h: &HoldStep) -> &[Condition] {
        &h.all
    }

    fn check<'a>(h: &'a HoldStep, cx: &mut CheckCx<'a, '_>) {
        if h.duration.get().is_zero() {
            cx.zero(
                "for",
                "`hold.for` is 0: accepted is a positive duration such as `20s`",
            );
        }
    }

    fn describe(h: &HoldStep) -> String {
        format!(
            "hold for {}: {}",
            h.duration,
            h.because
                .clone()
                .unwrap_or_else(|| format!("{} condition(s)", h.all.len()))
        )
    }

    async fn execute<R: StepRunner>(h: &HoldStep, call: Call<'_>, run: &mut R) -> StepResult {
        run.hold(call.index, &h.all, h.duration.get())
            .await
            .map(Some)
    }
}
