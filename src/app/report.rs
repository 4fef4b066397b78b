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
pub(super) fn report(args: ReportArgs) -> CommandResult {
    let results = report::load_results(&args.results).map_err(Failure::bad_input)?;
    if args.verify {
        return verify(&results);
    }
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

/// `pgchaos report --verify RESULTS.json`: 0 when every file recorded in the results is
/// at hand with the same SHA-256, 1 (listing the others) when one differs or is missing,
/// 2 when the results record no files at all (nothing could be verified).
fn verify(results: &crate::results::RunResults) -> CommandResult {
    let p = &results.provenance;
    if p.inventory.is_none() && p.scenarios.is_empty() {
        return Err(Failure::bad_input(miette::miette!(
            "these results record no file hashes (written by a pgchaos without audit evidence): nothing to verify"
        )));
    }
    let v = crate::provenance::verify(p, std::path::Path::new("."));
    for f in &v.matched {
        println!("ok: {} ({})", f.path, f.sha256);
    }
    for m in &v.mismatched {
        println!("{m}");
    }
    println!(
        "run {} by pgchaos {} (build {}): {} file(s) match, {} do not",
        results.run_id,
        p.pgchaos_version,
        p.build_commit,
        v.matched.len(),
        v.mismatched.len()
    );
    Ok(if v.mismatched.is_empty() {
        ExitCode::Success
    } else {
        ExitCode::ScenarioFailed
    })
}
