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
pub fn bench(args: BenchArgs) -> CommandResult {
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
                .map(|s| (s.patroni_nodes, s.patroni4));
            let (nodes, patroni4) = prior.unwrap_or((3, false));
            let info = lab_up(&lab_dir, nodes, patroni4)?;
            (info, Some(prior))
        }
    };
    let opts = BenchOptions {
        inventory: inventory.clone(),
        iterations: args.iterations.max(1),
        observe_for: *args.observe_for,
        intervals: vec![Duration::from_millis(250), Duration::from_millis(100)],
        precision_runs: args.precision_runs.max(1),
        writer_for: *args.writer_for,
        exe,
        work_dir,
        matrix_results: args.matrix_results.clone(),
    };
    let mut report = BenchReport::new(&inventory, opts.iterations);
    let rt = super::runtime();
    rt.block_on(bench::measure_cluster(&opts, &mut report));

    match (&prior, args.large_nodes) {
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
                    lab_up(&lab_dir, n, prior.is_some_and(|p| p.1))
                        .map_err(|f| format!("{:?}", f.report))
                });
            match larger.and_then(|p| bench::load_inventory(&p).map_err(|e| e.to_string())) {
                Ok(inv) => rt.block_on(bench::measure_observation(&inv, &opts, &mut report)),
                Err(e) => report
                    .observe
                    .push(Measured::skipped(format!("{n} Patroni nodes"), e)),
            }
            restore(&lab_dir, *prior);
        }
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

fn lab_up(dir: &Path, nodes: usize, patroni4: bool) -> Result<PathBuf, Failure> {
    crate::lab::up(&crate::lab::UpOptions {
        dir: dir.to_owned(),
        nodes,
        patroni4,
        reuse: true,
        progress: true,
        ..Default::default()
    })
    .map(|i| i.inventory)
    .map_err(Failure::aborted)
}

/// Leaves the lab as the bench found it: down if it was down, else rebuilt at its size.
fn restore(dir: &Path, prior: Option<(usize, bool)>) {
    eprintln!("bench: restoring the lab");
    if let Err(e) = crate::lab::down(dir) {
        eprintln!("warning: failed to take the larger lab down: {e}");
        return;
    }
    if let Some((nodes, patroni4)) = prior
        && let Err(f) = lab_up(dir, nodes, patroni4)
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
