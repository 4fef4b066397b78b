//! `pgbouncer_pause`: `PAUSE;` on the admin console of the inventory's PgBouncer; undone
//! by `RESUME;` (a fault, see `fault/pgbouncer.rs`), at `undo: {fault: ID}` or at the
//! latest when the scenario ends, fails or is interrupted.
//!
//! PgBouncer docs (https://www.pgbouncer.org/usage.html, "PAUSE [db]"): "PgBouncer tries
//! to disconnect from all servers. Disconnecting each server connection waits for that
//! server connection to be released according to the server pool's pooling mode (in
//! transaction pooling mode, the transaction must complete [...]). The command will not
//! return before all server connections have been disconnected." New client queries wait
//! in PgBouncer until `RESUME` (up to `query_wait_timeout`,
//! https://www.pgbouncer.org/config.html). A PgBouncer left paused blocks every
//! application, so the pause is a fault with an undo like any other: a dead man's switch
//! on PgBouncer's node and the undo record `pgchaos cleanup` finds after a kill.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Call, StepKind, StepResult, StepRunner};
use crate::diag::YPath;
use crate::scenario::against::Ctx as InventoryCheck;

/// Pause PgBouncer (every database) until the fault is undone.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PgbouncerPauseStep {
    /// A name, for `undo: {fault: ID}` (the `RESUME`).
    #[serde(default)]
    pub id: Option<String>,
}

pub(crate) struct PgbouncerPause;

impl StepKind for PgbouncerPause {
    const NAME: &'static str = "pgbouncer_pause";
    #[cfg(test)]
    const SAMPLE: &'static str = "{id: paused}";
    type Body = PgbouncerPauseStep;

    fn id(s: &PgbouncerPauseStep) -> Option<&str> {
        s.id.as_deref()
    }

    fn is_fault(_s: &PgbouncerPauseStep) -> bool {
        true
    }

    fn check_inventory(_s: &PgbouncerPauseStep, cx: &mut InventoryCheck<'_>, base: &YPath) {
        cx.need_pgbouncer(base, "`pgbouncer_pause`");
    }

    fn describe(_s: &PgbouncerPauseStep) -> String {
        "PAUSE PgBouncer (queries wait in PgBouncer until RESUME)".into()
    }

    async fn execute<R: StepRunner>(
        _s: &PgbouncerPauseStep,
        call: Call<'_>,
        run: &mut R,
    ) -> StepResult {
        run.fault(call.step, call.rec).await
    }
}
