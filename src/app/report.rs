//! `pgchaos report`.

use super::{CommandResult, Failure};
use crate::cli::ReportArgs;

/// `pgchaos report`.
pub fn report(_args: ReportArgs) -> CommandResult {
    Err(Failure::aborted(miette::miette!(
        "`pgchaos report` is not implemented yet"
    )))
}
