//! What each subcommand does: wiring between the command line and the library.
//!
//! Every command returns an [`ExitCode`] or a [`Failure`] (a diagnostic plus the exit code
//! it maps to), so that `main` stays a one-liner.

mod bench;
mod lab;
mod report;
mod run;
mod validate;

use crate::cli::{Cli, Command};
use crate::exit::ExitCode;

/// A command that could not do its job: what to tell the user, and the exit code.
pub(crate) struct Failure {
    /// Exit code.
    pub code: ExitCode,
    /// The diagnostic shown to the user.
    pub report: miette::Report,
}

impl Failure {
    /// Bad input (exit 2).
    pub(crate) fn bad_input(report: impl Into<miette::Report>) -> Self {
        Self {
            code: ExitCode::BadInput,
            report: report.into(),
        }
    }

    /// Aborted (exit 3).
    pub(crate) fn aborted(report: impl Into<miette::Report>) -> Self {
        Self {
            code: ExitCode::Aborted,
            report: report.into(),
        }
    }
}

/// Result of a command.
pub(crate) type CommandResult = Result<ExitCode, Failure>;

/// Runs the command line and returns the process exit code.
pub fn main(cli: Cli) -> ExitCode {
    init_tracing(cli.verbose);
    let result = match cli.command {
        Command::Validate(a) => validate::validate(a),
        Command::List(a) => validate::list(a),
        Command::Schema(a) => validate::schema(a),
        Command::Run(a) => run::run(a),
        Command::Cleanup(a) => run::cleanup(a),
        Command::Report(a) => report::report(a),
        Command::Lab(a) => lab::lab(a),
        Command::Bench(a) => bench::bench(a),
    };
    match result {
        Ok(code) => code,
        Err(f) => {
            eprintln!("{:?}", f.report);
            f.code
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "pgchaos=debug,info",
        _ => "pgchaos=trace,debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PGCHAOS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// A multi-threaded tokio runtime for commands that do I/O.
#[allow(dead_code)]
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("failed to start the tokio runtime")
}
