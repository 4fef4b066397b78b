//! `pgchaos bench`.

use super::{CommandResult, Failure};
use crate::cli::BenchArgs;

/// `pgchaos bench`.
pub fn bench(_args: BenchArgs) -> CommandResult {
    Err(Failure::aborted(miette::miette!(
        "`pgchaos bench` is not implemented yet"
    )))
}
