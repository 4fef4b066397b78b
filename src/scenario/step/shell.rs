//! `shell`: run an arbitrary command on a node (with an optional undo command).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Call, StepKind, StepResult, StepRunner};
use crate::scenario::refs::TargetRef;

/// An arbitrary command.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShellStep {
    /// The target name.
    pub target: String,
    /// The command.
    pub command: String,
    /// Command that undoes it (registered as a fault's undo).
    #[serde(default)]
    pub undo: Option<String>,
    /// Expected exit status (default 0).
    #[serde(default)]
    pub expect_status: Option<i32>,
    /// A name for the step.
    #[serde(default)]
    pub id: Option<String>,
}

pub(crate) struct Shell;

impl StepKind for Shell {
    const NAME: &'static str = "shell";
    #[cfg(test)]
    const SAMPLE: &'static str = "{target: t, command: c}";
    type Body = ShellStep;

    fn id(s: &ShellStep) -> Option<&str> {
        s.id.as_deref()
    }

    fn is_fault(s: &ShellStep) -> bool {
        s.undo.is_some()
    }

    fn targets(s: &ShellStep) -> Vec<TargetRef<'_>> {
        vec![TargetRef::new("target", &s.target)]
    }

    fn describe(s: &ShellStep) -> String {
        format!(
            "shell on {}: {}",
            s.target,
            crate::transport::short_command(&s.command)
        )
    }

    async fn execute<R: StepRunner>(_s: &ShellStep, call: Call<'_>, run: &mut R) -> StepResult {
        run.fault(call.step, call.rec).await
    }
}
