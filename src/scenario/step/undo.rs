//! `undo`: undo an earlier fault now (by its `id`), instead of at the end.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Call, CheckCx, Step, StepKind, StepResult, StepRunner};
use crate::diag::list;
use crate::scenario::check::{did_you_mean, fault_kinds_help};

/// Undo a fault early.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UndoStep {
    /// The `id` of the fault.
    pub fault: String,
}

pub(crate) struct Undo;

impl StepKind for Undo {
    const NAME: &'static str = "undo";
    #[cfg(test)]
    const SAMPLE: &'static str = "{fault: f}";
    type Body = UndoStep;

    fn check<'a>(u: &'a UndoStep, cx: &mut CheckCx<'a, '_>) {
        let at = cx.base.key("fault");
        let (sc, i) = (cx.sc, cx.index);
        match cx.ids.get(u.fault.as_str()) {
            Some(&j) if sc.steps[j].is_fault() => {
                if let Some(k) = cx.undone.insert(&u.fault, i) {
                    cx.c.err(
                        &at,
                        format!("fault {:?} is already undone by steps[{k}]", u.fault),
                        None,
                    );
                }
            }
            Some(&j) => cx.c.err(
                &at,
                format!(
                    "`undo` refers to {:?}, but steps[{j}] ({}) is not a fault that can be undone",
                    u.fault,
                    sc.steps[j].kind()
                ),
                Some(fault_kinds_help()),
            ),
            None => {
                let earlier: Vec<&str> = sc.steps[..i]
                    .iter()
                    .filter(|s| s.is_fault())
                    .filter_map(Step::step_id)
                    .collect();
                cx.c.err(
                    &at,
                    format!(
                        "`undo` refers to fault {:?}, which no earlier step declares (fault ids declared before this step: {})",
                        u.fault,
                        list(earlier.iter().copied())
                    ),
                    Some(did_you_mean(&u.fault, &earlier).unwrap_or_else(fault_kinds_help)),
                );
            }
        }
    }

    fn describe(u: &UndoStep) -> String {
        format!("undo fault {}", u.fault)
    }

    async fn execute<R: StepRunner>(u: &UndoStep, call: Call<'_>, run: &mut R) -> StepResult {
        run.undo(&u.fault, call.rec).await
    }
}
