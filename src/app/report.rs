//! `pgchaos report`: re-renders every report from a saved results.json.

use super::{CommandResult, Failure};
use crate::cli::ReportArgs;
use crate::exit::ExitCode;
use crate::report;

/// `pgchaos report RESULTS.json [--out DIR]`.
///
/// Exits 0 when the reports were written (whatever the run's own outcome: that is the
/// job of `pgchaos run`), 2 when the results file is unreadable, not results, or of an
/// unknown format version, 3 when the reports could not be written.
pub fn report(args: ReportArgs) -> CommandResult {
    let results = report::load_results(&args.results).map_err(Failure::bad_input)?;
    let out = match args.out {
        Some(dir) => dir,
        None => match args.results.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => std::path::PathBuf::from("."),
        },
    };
    let dir =
        report::prepare_dir(Some(&out), &out, results.started_at).map_err(Failure::aborted)?;
    let written = report::write_all(&results, &dir).map_err(Failure::aborted)?;
    for p in [
        &written.results_json,
        &written.junit_xml,
        &written.index_html,
        &written.summary_md,
    ] {
        println!("{}", p.display());
    }
    Ok(ExitCode::Success)
}
