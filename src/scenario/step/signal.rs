//! `signal`: send a signal to a process (a fault; STOP is undone by CONT).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Call, CheckCx, StepKind, StepResult, StepRunner};
use crate::scenario::refs::TargetRef;

/// Send a signal.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalStep {
    /// The target name.
    pub target: String,
    /// Which process.
    pub process: Process,
    /// Which signal.
    pub signal: Signal,
    /// A name for the fault.
    #[serde(default)]
    pub id: Option<String>,
    /// Keep the killed daemon down: before the signal, stop its supervisor from restarting
    /// it (the inventory's `operations.service_keep_down`, by default a runtime systemd
    /// drop-in `Restart=no`); undone with the fault. For scenarios that test the failover
    /// path on any host, whatever its `Restart=` setting.
    #[serde(default)]
    pub keep_down: bool,
}

/// Processes pgchaos knows how to find.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Process {
    /// Every postgres process (postmaster and backends).
    Postgres,
    /// Only the postmaster (the PID in postmaster.pid).
    Postmaster,
    /// The Patroni daemon.
    Patroni,
    /// etcd.
    Etcd,
    /// HAProxy.
    Haproxy,
}

/// Signals a scenario may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Signal {
    /// SIGKILL.
    Kill,
    /// SIGTERM.
    Term,
    /// SIGINT.
    Int,
    /// SIGQUIT.
    Quit,
    /// SIGHUP.
    Hup,
    /// SIGSTOP (a fault: undone with SIGCONT).
    Stop,
    /// SIGCONT.
    Cont,
}

pub(crate) struct SignalKind;

impl StepKind for SignalKind {
    const NAME: &'static str = "signal";
    #[cfg(test)]
    const SAMPLE: &'static str = "{target: t, process: postgres, signal: KILL}";
    type Body = SignalStep;

    fn id(s: &SignalStep) -> Option<&str> {
        s.id.as_deref()
    }

    fn is_fault(_s: &SignalStep) -> bool {
        true
    }

    fn is_fault_event(_s: &SignalStep) -> bool {
        true
    }

    fn targets(s: &SignalStep) -> Vec<TargetRef<'_>> {
        vec![TargetRef::new("target", &s.target)]
    }

    fn check<'a>(s: &'a SignalStep, cx: &mut CheckCx<'a, '_>) {
        let daemon = matches!(
            s.process,
            Process::Patroni | Process::Etcd | Process::Haproxy
        );
        let terminating = matches!(
            s.signal,
            Signal::Kill | Signal::Term | Signal::Int | Signal::Quit
        );
        if s.keep_down && !(daemon && terminating) {
            let at = cx.base.key("keep_down");
            cx.c.err(
                &at,
                "`keep_down` holds a service's supervisor: accepted only with a terminating \
                 signal (KILL, TERM, INT, QUIT) to a daemon run as a service (patroni, etcd, \
                 haproxy)"
                    .into(),
                None,
            );
        }
    }

    fn describe(s: &SignalStep) -> String {
        format!(
            "SIG{} {} on {}{}",
            format!("{:?}", s.signal).to_uppercase(),
            format!("{:?}", s.process).to_lowercase(),
            s.target,
            if s.keep_down {
                " (kept down: its supervisor may not restart it)"
            } else {
                ""
            }
        )
    }

    async fn execute<R: StepRunner>(_s: &SignalStep, call: Call<'_>, run: &mut R) -> StepResult {
        run.fault(call.step, call.rec).await
    }
}
