//! Process exit codes, documented in the README.

/// Exit codes of the `pgchaos` binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Everything selected passed (or the command succeeded).
    Success = 0,
    /// At least one scenario failed or errored.
    ScenarioFailed = 1,
    /// Bad input: a scenario or inventory file was refused, or bad command-line usage.
    BadInput = 2,
    /// The run was aborted: preflight refused, the cluster did not recover, or an
    /// infrastructure error (unreachable node, lab failure).
    Aborted = 3,
    /// Interrupted by SIGINT or SIGTERM (faults were undone, reports written).
    Interrupted = 130,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> Self {
        std::process::ExitCode::from(c as u8)
    }
}
