//! `pgchaos bench`: measures pgchaos against its own limits and writes BENCHMARKS.md.
//!
//! Without `--inventory` it measures the local lab (brought up, or reused), then rebuilds
//! the lab larger for the observation figures and restores it as it was found. This is
//! the only place the benchmark knows about the lab.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{CommandResult, Failure};
use crate::bench::{self, BenchOptions, BenchReport, Measured};
use crate::cli::BenchArgs;
use crate::exit::ExitCode;

/// `pgchaos bench`.
pub(super) fn bench(args: BenchArgs) -> CommandResult {
    let exe = std::env::current_exe().map_err(|e| {
        Failure::aborted(miette::miette!(
            "failed to find the pgchaos executable: {e}"
        ))
    })?;
    let work_dir = std::path::absolute(&args.work_dir).unwrap_or_else(|_| args.work_dir.clone());
    let lab_dir = args.lab_dir.clone();
    // Without an inventory: the lab, as it was found (size and Patroni version), so that it
    // can be restored after the larger lab is measured.
    let (inventory, prior) = match &args.inventory {
        Some(p) => (p.clone(), None),
        None => {
            let prior = crate::lab::is_up(&lab_dir)
                .then(|| crate::lab::LabState::load(&lab_dir).ok())
                .flatten()
                .map(|s| crate::lab::UpOptions::like(&s));
            let info = lab_up(&lab_dir, prior.clone().unwrap_or_default())?;
            (info, Some(prior))
        }
    };
    let opts = BenchOptions {
        inventory: inventory.clone(),
        iterations: args.iterations.max(1),
        observe_for: *args.observe_for,
        intervals: vec![Duration::from_millis(100), Duration::from_millis(250)],
        precision_runs: args.precision_runs.max(1),
        writer_for: *args.writer_for,
        exe,
        work_dir,
        matrix_results: args.matrix_results.clone(),
        ctk_sweeps: args.ctk_sweeps.max(1),
        only: args.only.clone(),
        soak_for: *args.soak_for,
        soak_every: *args.soak_every,
    };
    let mut report = BenchReport::new(&inventory, opts.iterations);
    let rt = super::runtime();
    rt.block_on(bench::measure_cluster(&opts, &mut report));

    let large = if opts.wants("large") {
        args.large_nodes
    } else {
        0
    };
    match (&prior, large) {
        (_, 0) => {}
        (None, _) => report.observe.push(Measured::skipped(
            format!("{} Patroni nodes", args.large_nodes),
            "only measured against the lab (no --inventory): it is rebuilt larger, then restored",
        )),
        (Some(prior), n) => {
            eprintln!("bench: rebuilding the lab with {n} Patroni nodes");
            let larger = crate::lab::down(&lab_dir)
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    let like = prior.clone().unwrap_or_default();
                    lab_up(&lab_dir, crate::lab::UpOptions { nodes: n, ..like })
                        .map_err(|f| format!("{:?}", f.report))
                });
            match larger.and_then(|p| bench::load_inventory(&p).map_err(|e| e.to_string())) {
                Ok(inv) => {
                    rt.block_on(bench::measure_observation(&inv, &opts, &mut report));
                    if soak_here(&opts) {
                        rt.block_on(bench::measure_soak(&inv, &opts, &mut report));
                    }
                }
                Err(e) => report
                    .observe
                    .push(Measured::skipped(format!("{n} Patroni nodes"), e)),
            }
            restore(&lab_dir, prior.clone());
        }
    }
    // Without the larger lab, the soak runs on the cluster measured first.
    if report.soak.is_none() && soak_here(&opts) {
        match bench::load_inventory(&inventory) {
            Ok(inv) => rt.block_on(bench::measure_soak(&inv, &opts, &mut report)),
            Err(e) => report.soak = Some(Measured::skipped("memory soak", e.to_string())),
        }
    }
    if report.soak.is_none() {
        report.soak = Some(Measured::skipped(
            "memory soak",
            "not asked for (--soak-for 0 or --only without soak)",
        ));
    }
    report.finished = Some(bench::sysinfo::MachineLoad::now());
    let md = bench::markdown::render(&report);
    write(&args.out, &md)?;
    eprintln!("bench: wrote {}", args.out.display());
    let missing = report.missing();
    if missing.is_empty() {
        Ok(ExitCode::Success)
    } else {
        Err(Failure::aborted(miette::miette!(
            "some figures could not be measured (see {}):\n  {}",
            args.out.display(),
            missing.join("\n  ")
        )))
    }
}

fn soak_here(opts: &BenchOptions) -> bool {
    opts.wants("soak") && !opts.soak_for.is_zero()
}

/// Brings the lab of shape `like` up in `dir` (reusing it when it is up).
fn lab_up(dir: &Path, like: crate::lab::UpOptions) -> Result<PathBuf, Failure> {
    crate::lab::up(&crate::lab::UpOptions {
        dir: dir.to_owned(),
        reuse: true,
        progress: true,
        ..like
    })
    .map(|i| i.inventory)
    .map_err(Failure::aborted)
}

/// Leaves the lab as the bench found it: down if it was down, else rebuilt at its size.
fn restore(dir: &Path, prior: Option<crate::lab::UpOptions>) {
    eprintln!("bench: restoring the lab");
    if let Err(e) = crate::lab::down(dir) {
        eprintln!("warning: failed to take the larger lab down: {e}");
        return;
    }
    if let Some(like) = prior
        && let Err(f) = lab_up(dir, like)
    {
        eprintln!("warning: failed to restore the lab: {:?}", f.report);
    }
}

fn write(path: &Path, text: &str) -> Result<(), Failure> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            Failure::aborted(miette::miette!(
                "failed to create {}: {e}",
                parent.display()
            ))
        })?;
    }
    std::fs::write(path, text)
        .map_err(|e| Failure::aborted(miette::miette!("failed to write {}: {e}", path.display())))
}
