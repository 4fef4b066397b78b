//! `pg_ctl`: `pg_ctl stop` in the given mode (Patroni is expected to restart PostgreSQL).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Call, StepKind, StepResult, StepRunner};
use crate::scenario::refs::TargetRef;

/// `pg_ctl stop`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PgCtlStep {
    /// The target name.
    pub target: String,
    /// Shutdown mode.
    #[serde(default)]
    pub mode: PgCtlMode,
    /// A name for the step.
    #[serde(default)]
    pub id: Option<String>,
}

/// `pg_ctl stop -m` modes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PgCtlMode {
    /// Smart.
    Smart,
    /// Fast (default).
    #[default]
    Fast,
    /// Immediate.
    Immediate,
}

pub(crate) struct PgCtl;

impl StepKind for PgCtl {
    const NAME: &'static str = "pg_ctl";
    #[cfg(test)]
    const SAMPLE: &'static str = "{target: t}";
    type Body = PgCtlStep;

    fn id(s: &PgCtlStep) -> Option<&str> {
        s.id.as_deref()
    }

    fn is_fault_event(_s: &PgCtlStep) -> bool {
        true
    }

    fn targets(s: &PgCtlStep) -> Vec<TargetRef<'_>> {
        vec![TargetRef::new("target", &s.target)]
    }

    fn describe(s: &PgCtlStep) -> String {
        format!("pg_ctl stop -m {:?} on {}", s.mode, s.target).to_lowercase()
    }

    async fn execute<R: StepRunner>(_s: &PgCtlStep, call: Call<'_>, run: &mut R) -> StepResult {
        run.fault(call.step, call.rec).await
    }
}
