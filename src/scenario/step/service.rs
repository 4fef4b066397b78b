//! `service`: stop, start or restart a service (stop is a fault undone by start).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Call, StepKind, StepResult, StepRunner};
use crate::scenario::refs::TargetRef;

/// Service control.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceStep {
    /// The target name.
    pub target: String,
    /// Which service.
    pub service: Service,
    /// What to do.
    pub action: ServiceAction,
    /// A name for the fault.
    #[serde(default)]
    pub id: Option<String>,
}

/// Services pgchaos controls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// Patroni.
    Patroni,
    /// etcd.
    Etcd,
    /// HAProxy.
    Haproxy,
}

/// Service actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceAction {
    /// Stop (a fault, undone by start).
    Stop,
    /// Start.
    Start,
    /// Restart.
    Restart,
}

pub(crate) struct ServiceKind;

impl StepKind for ServiceKind {
    const NAME: &'static str = "service";
    #[cfg(test)]
    const SAMPLE: &'static str = "{target: t, service: patroni, action: stop}";
    type Body = ServiceStep;

    fn id(s: &ServiceStep) -> Option<&str> {
        s.id.as_deref()
    }

    fn is_fault(_s: &ServiceStep) -> bool {
        true
    }

    fn is_fault_event(s: &ServiceStep) -> bool {
        s.action != ServiceAction::Start
    }

    fn targets(s: &ServiceStep) -> Vec<TargetRef<'_>> {
        vec![TargetRef::new("target", &s.target)]
    }

    fn describe(s: &ServiceStep) -> String {
        format!("{:?} {:?} on {}", s.action, s.service, s.target).to_lowercase()
    }

    async fn execute<R: StepRunner>(_s: &ServiceStep, call: Call<'_>, run: &mut R) -> StepResult {
        run.fault(call.step, call.rec).await
    }
}
