//! `pgchaos run` and `cleanup`.

use super::{CommandResult, Failure};
use crate::cli::{CleanupArgs, RunArgs};

/// `pgchaos run`.
pub fn run(_args: RunArgs) -> CommandResult {
    Err(Failure::aborted(miette::miette!(
        "`pgchaos run` is not implemented yet"
    )))
}

/// `pgchaos cleanup`.
pub fn cleanup(_args: CleanupArgs) -> CommandResult {
    Err(Failure::aborted(miette::miette!(
        "`pgchaos cleanup` is not implemented yet"
    )))
}
