//! The runner's side of [`crate::fault::undo`]: commands through the engine's transport,
//! and an undo that still failed turned into the reason the run stops.

use super::Engine;
use super::live::UndoFailure;
use crate::fault::{Location, NodeCommand, pending};
use crate::transport::{Output, TransportError};

/// Runs undo commands through the engine's transport (which reconnects after a failure).
pub(crate) struct EngineExec<'e>(pub(crate) &'e Engine);

impl crate::fault::undo::Exec for EngineExec<'_> {
    async fn exec(&self, cmd: &NodeCommand) -> Result<Output, TransportError> {
        match &cmd.location {
            Location::Node(n) => self.0.transport.run(n, &cmd.script).await,
            Location::Local => {
                crate::transport::run_local(&cmd.script, crate::transport::DEFAULT_COMMAND_TIMEOUT)
                    .await
            }
        }
    }
}

impl super::live::Live<'_> {
    /// A switch undid `fault` on `node` before pgchaos did: recorded as an event, and a
    /// scenario that passed cannot say it did with the fault in place.
    pub(crate) fn switch_fired(&mut self, node: &str, fault: &str, what: &str) {
        self.record.events.push(super::event(
            crate::results::EventKind::DeadmanFired,
            Some(node),
            format!("{what} (fault: {fault})"),
        ));
        self.record.findings.push(super::judge::Finding::Invalid(format!(
            "the dead man's switch on {node} undid \"{fault}\" before the scenario ended: the steps after that ran without the fault ({what})"
        )));
    }
}

/// Records every failed undo for `pgchaos cleanup` and returns why the run must stop:
/// each node, its fault, and the command to run by hand.
pub(crate) fn settle(engine: &Engine, failures: &[UndoFailure]) -> Option<String> {
    if failures.is_empty() {
        return None;
    }
    let inv = engine.config.inventory_path.display().to_string();
    let dir = pending::dir();
    let mut lines = Vec::new();
    for f in failures {
        let n = &f.failure;
        let host = engine
            .inventory
            .node(&n.node)
            .map(|x| x.host.clone())
            .unwrap_or_default();
        let saved = pending::save(
            &dir,
            &pending::Pending {
                scope: engine.inventory.cluster.scope.clone(),
                node: n.node.clone(),
                host,
                run_id: engine.config.run_id.clone(),
                fault: f.fault.clone(),
                script: n.script.clone(),
                error: engine.redact(&n.error),
            },
        );
        let by_hand = match &n.stem {
            Some(stem) => format!("as root on {}: sh /run/pgchaos/{stem}.undo", n.node),
            None => format!("the undo script recorded in {}", dir.display()),
        };
        lines.push(format!(
            "the undo of \"{}\" failed on {}: {}. {} is NOT healed: once it is reachable, run `pgchaos cleanup --inventory {inv}` (or {by_hand}){}",
            f.fault,
            n.node,
            engine.redact(&n.error),
            n.node,
            match saved {
                Ok(p) => format!("; recorded in {}", p.display()),
                Err(e) => format!("; failed to record it in {}: {e}", dir.display()),
            }
        ));
    }
    Some(lines.join("\n"))
}
