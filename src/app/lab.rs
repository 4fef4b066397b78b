//! `pgchaos lab ...`.

use super::{CommandResult, Failure};
use crate::cli::LabArgs;

/// `pgchaos lab`.
pub fn lab(_args: LabArgs) -> CommandResult {
    Err(Failure::aborted(miette::miette!(
        "`pgchaos lab` is not implemented yet"
    )))
}
