//! The verdict of a scenario, computed once from what its stages found.
//!
//! Stages do not assign verdicts: each records a [`Finding`] (the scenario could not
//! start, a step did not succeed, the run was interrupted, an undo failed, a check over
//! the results failed) and [`Findings::verdict`] turns them into one verdict and reason.

use crate::results::{StepOutcome, Verdict};

/// Something a stage found that decides the verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Finding {
    /// The scenario could not start (not steady before, targets not bound).
    NotStarted(String),
    /// A step did not succeed (the steps after it are skipped).
    Step {
        /// Failed (what it checked was false) or Error (it could not be carried out).
        outcome: StepOutcome,
        /// Which step, and why.
        reason: String,
        /// Whether the run was interrupted when the step ended.
        interrupted: bool,
    },
    /// The run was interrupted.
    Interrupted,
    /// Undo failed: faults may still be in place.
    UndoFailed(String),
    /// A check over the results failed (recovery, data, split brain).
    Check(String),
    /// The scenario did not test what it says (a dead man's switch undid a fault before
    /// the steps that relied on it): an error unless something already failed.
    Invalid(String),
}

/// Everything found so far, in order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Findings(Vec<Finding>);

impl Findings {
    /// Records a finding.
    pub(crate) fn push(&mut self, f: Finding) {
        self.0.push(f);
    }

    /// Adds what was observed instead to the reason of the last failed step (a diagnosis).
    pub(crate) fn annotate_last_step(&mut self, text: &str) {
        if let Some(Finding::Step { reason, .. }) = self
            .0
            .iter_mut()
            .rev()
            .find(|f| matches!(f, Finding::Step { .. }))
        {
            *reason = format!("{reason} — {text}");
        }
    }

    /// The verdict and its reason. An undo failure or a scenario that could not start is
    /// an error whatever else happened; otherwise the first thing that went wrong decides,
    /// and its reason is kept.
    pub(crate) fn verdict(&self) -> (Verdict, Option<String>) {
        let mut verdict = Verdict::Passed;
        let mut reason: Option<String> = None;
        for f in &self.0 {
            match f {
                Finding::NotStarted(why) => {
                    verdict = Verdict::Error;
                    reason = Some(why.clone());
                }
                Finding::Step {
                    outcome,
                    reason: why,
                    interrupted,
                } => {
                    reason.get_or_insert_with(|| why.clone());
                    verdict = if *interrupted {
                        Verdict::Interrupted
                    } else if *outcome == StepOutcome::Error {
                        Verdict::Error
                    } else {
                        Verdict::Failed
                    };
                }
                Finding::Interrupted => {
                    if verdict == Verdict::Passed {
                        verdict = Verdict::Interrupted;
                        reason.get_or_insert_with(|| "interrupted".into());
                    }
                }
                Finding::UndoFailed(why) => {
                    verdict = Verdict::Error;
                    reason.get_or_insert_with(|| format!("undo failed: {why}"));
                }
                Finding::Check(why) => {
                    if verdict == Verdict::Passed {
                        verdict = Verdict::Failed;
                        reason = Some(why.clone());
                    }
                }
                Finding::Invalid(why) => {
                    if verdict == Verdict::Passed {
                        verdict = Verdict::Error;
                        reason = Some(why.clone());
                    }
                }
            }
        }
        (verdict, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(fs: Vec<Finding>) -> (Verdict, Option<String>) {
        let mut f = Findings::default();
        for x in fs {
            f.push(x);
        }
        f.verdict()
    }

    #[test]
    fn nothing_found_passes() {
        assert_eq!(judge(vec![]), (Verdict::Passed, None));
    }

    #[test]
    fn the_first_failure_gives_the_reason() {
        let step = Finding::Step {
            outcome: StepOutcome::Failed,
            reason: "step 2 (expect): not true".into(),
            interrupted: false,
        };
        let (v, r) = judge(vec![step, Finding::Check("recovery".into())]);
        assert_eq!(v, Verdict::Failed);
        assert_eq!(r.as_deref(), Some("step 2 (expect): not true"));
    }

    #[test]
    fn an_undo_failure_is_an_error_even_after_a_failure() {
        let step = Finding::Step {
            outcome: StepOutcome::Failed,
            reason: "step 1".into(),
            interrupted: false,
        };
        let (v, r) = judge(vec![step, Finding::UndoFailed("iptables".into())]);
        assert_eq!(v, Verdict::Error);
        assert_eq!(r.as_deref(), Some("step 1"));
        let (v, r) = judge(vec![Finding::UndoFailed("iptables".into())]);
        assert_eq!(
            judge(vec![Finding::Invalid("switch fired".into())]).0,
            Verdict::Error
        );
        let mut f = Findings::default();
        f.push(Finding::Step {
            outcome: StepOutcome::Failed,
            reason: "step 2 (expect): not true".into(),
            interrupted: false,
        });
        f.annotate_last_step("observed instead: same PID");
        assert_eq!(
            f.verdict().1.as_deref(),
            Some("step 2 (expect): not true — observed instead: same PID")
        );
        assert_eq!(v, Verdict::Error);
        assert_eq!(r.as_deref(), Some("undo failed: iptables"));
    }

    #[test]
    fn an_interrupted_step_is_interrupted_not_failed() {
        let step = Finding::Step {
            outcome: StepOutcome::Failed,
            reason: "step 1".into(),
            interrupted: true,
        };
        assert_eq!(judge(vec![step]).0, Verdict::Interrupted);
        let (v, r) = judge(vec![Finding::Interrupted, Finding::Check("lost".into())]);
        assert_eq!(
            (v, r.as_deref()),
            (Verdict::Interrupted, Some("interrupted"))
        );
    }

    #[test]
    fn a_step_error_is_an_error_and_a_failed_check_after_a_pass_fails() {
        let step = Finding::Step {
            outcome: StepOutcome::Error,
            reason: "step 1".into(),
            interrupted: false,
        };
        assert_eq!(judge(vec![step]).0, Verdict::Error);
        let (v, r) = judge(vec![Finding::Check("no lost writes".into())]);
        assert_eq!((v, r.as_deref()), (Verdict::Failed, Some("no lost writes")));
        let (v, _) = judge(vec![Finding::NotStarted("not steady".into())]);
        assert_eq!(v, Verdict::Error);
    }
}
