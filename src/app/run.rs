//! `pgchaos run` and `cleanup`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::{CommandResult, Failure};
use crate::cli::{CleanupArgs, RunArgs};
use crate::exit::ExitCode;
use crate::inventory::{Inventory, LoadedInventory, Role};
use crate::observe::MemberView;
use crate::results::{RunOutcome, RunResults};
use crate::runner::{Engine, RunConfig};
use crate::scenario::LoadedScenario;
use crate::secret::Secret;
use crate::session::Session;
use crate::transport::Transport;

/// `pgchaos run`.
pub(super) fn run(args: RunArgs) -> CommandResult {
    let inventory_path = match (&args.inventory, args.lab) {
        (Some(p), _) => p.clone(),
        (None, true) => lab_inventory(
            &args.lab_dir,
            args.lab_patroni4 || args.lab_patroni == crate::cli::LabPatroni::Pypi,
        )?,
        (None, false) => {
            return Err(Failure::bad_input(miette::miette!(
                "give --inventory FILE or --lab"
            )));
        }
    };
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        args.paths.clone()
    };
    // Refused exactly as `validate` refuses it, before any connection is opened.
    let (all, inv) = super::validate::load_checked(&paths, Some(&inventory_path))?;
    let inv = inv.expect("load_checked returns the inventory it was given");
    let selected = select(all, &args.tags, &args.ids);
    if selected.is_empty() {
        return Err(Failure::bad_input(miette::miette!(
            "no scenario matches the selection (--tag {:?} --id {:?})",
            args.tags,
            args.ids
        )));
    }

    // Nothing to run is not a pass: refuse when no selected scenario fits this cluster.
    let unmet: Vec<String> = selected
        .iter()
        .filter_map(|ls| {
            ls.scenario
                .requires
                .unmet_by(&inv.inventory)
                .map(|why| format!("{} ({}): {why}", ls.scenario.id, ls.path.display()))
        })
        .collect();
    if unmet.len() == selected.len() {
        return Err(Failure::bad_input(miette::miette!(
            "no selected scenario applies to the cluster of {}: {}",
            inventory_path.display(),
            unmet.join("; ")
        )));
    }

    if args.dry_run {
        dry_run(&selected, &inv);
        return Ok(ExitCode::Success);
    }
    // Every secret is resolved before anything is contacted, so a missing one is bad input.
    let pg_password = resolve(inv.inventory.cluster.postgres.password.as_ref())?;
    let api_password = resolve(
        inv.inventory
            .cluster
            .patroni
            .auth
            .as_ref()
            .map(|a| &a.password),
    )?;
    let secrets: Vec<Secret> = pg_password
        .iter()
        .chain(api_password.iter())
        .cloned()
        .collect();

    if !inv.inventory.cluster.lab && !args.yes {
        confirm(&inv.inventory, &selected)?;
    }
    // Held until the process ends; `cleanup` sees it.
    let _run_lock = match crate::fault::runlock::try_lock(&inv.inventory) {
        Ok(Some(l)) => l,
        Ok(None) => {
            return Err(Failure::aborted(miette::miette!(
                "another pgchaos run against scope {:?} is in progress on this machine: nothing was touched",
                inv.inventory.cluster.scope
            )));
        }
        Err(e) => {
            return Err(Failure::aborted(miette::miette!(
                "failed to take the run lock of scope {:?}: {e}",
                inv.inventory.cluster.scope
            )));
        }
    };
    let started = Utc::now();
    // Time, PID and random bits: two runs started in the same second (on two machines
    // sharing the cluster, or with a reused PID) never share tags and state files.
    let run_id = format!(
        "{}-{:04x}{}",
        started.format("%Y%m%dT%H%M%S"),
        std::process::id() & 0xffff,
        crate::transport::random_hex(3)
    );
    let report_dir =
        crate::report::prepare_dir(args.report_dir.as_deref(), Path::new("reports"), started)
            .map_err(Failure::aborted)?;
    let command_line: Vec<String> = std::env::args().collect();
    // Hashed right after loading, before anything is contacted: the files as run.
    let provenance = crate::provenance::collect(
        Some(&inventory_path),
        selected.iter().map(|s| s.path.as_path()),
    );

    super::runtime().block_on(execute(Prepared {
        args: &args,
        inventory: inv.inventory.clone(),
        inventory_path,
        selected,
        pg_password,
        secrets,
        report_dir,
        run_id,
        command_line,
        provenance,
    }))
}

/// What `run` checked and resolved before anything is contacted.
struct Prepared<'a> {
    args: &'a RunArgs,
    inventory: Inventory,
    inventory_path: PathBuf,
    selected: Vec<LoadedScenario>,
    pg_password: Option<Secret>,
    secrets: Vec<Secret>,
    report_dir: PathBuf,
    run_id: String,
    command_line: Vec<String>,
    provenance: crate::results::Provenance,
}

/// Opens the session, runs preflight and every selected scenario with the observers
/// running, and writes the reports (after each scenario, and at the end).
async fn execute(p: Prepared<'_>) -> CommandResult {
    let Prepared {
        args,
        inventory,
        inventory_path,
        selected,
        pg_password,
        secrets,
        report_dir,
        run_id,
        command_line,
        provenance,
    } = p;
    let (trigger, cancel) = crate::runner::cancel_pair();
    trigger.install_signal_handlers();
    let control_dir = crate::transport::control_dir().map_err(|e| {
        Failure::aborted(miette::miette!(
            "failed to create a private directory for SSH control sockets under /tmp: {e}"
        ))
    })?;
    let session = Session::open(Arc::new(inventory), &control_dir, pg_password.clone())
        .map_err(|e| Failure::bad_input(miette::miette!("{e}")))?;
    let inventory = session.inventory.clone();
    let config = RunConfig {
        run_id,
        repeat: args.repeat.max(1),
        retries: args.retries,
        inventory_path: inventory_path.clone(),
        command_line,
        stale_after: Duration::from_secs(3),
        deadman_margin: *args.deadman_margin,
    };
    let engine = Engine::new(
        inventory.clone(),
        session.transport.clone(),
        session.client.clone(),
        session.creds.clone(),
        secrets.clone(),
        session.timeline.clone(),
        config,
        cancel.clone(),
    );
    eprintln!(
        "pgchaos run {}: {} scenario(s) against {} ({} nodes), reports in {}",
        engine.config.run_id,
        selected.len(),
        inventory.cluster.scope,
        inventory.nodes.len(),
        report_dir.display()
    );

    let versions = match engine.preflight(&selected).await {
        Ok(v) => v,
        Err(e) => {
            let mut results = engine.new_results(Default::default());
            results.provenance = provenance.clone();
            results.outcome = RunOutcome::Aborted {
                reason: e.to_string(),
            };
            write_reports(&results, &report_dir, &secrets);
            session.close().await;
            let _ = std::fs::remove_dir_all(&control_dir);
            return Err(Failure::aborted(e));
        }
    };
    let observers = session.observe(crate::observe::ObserveConfig::default());
    let mut results = engine.new_results(versions);
    results.provenance = provenance;
    let results = engine
        .run_all(&selected, results, |r| {
            write_reports(r, &report_dir, &secrets)
        })
        .await;
    observers.stop().await;
    write_reports(&results, &report_dir, &secrets);
    session.close().await;
    let _ = std::fs::remove_dir_all(&control_dir);
    print_summary(&results, &report_dir);
    Ok(match results.outcome {
        RunOutcome::Passed => ExitCode::Success,
        // run_all settles the outcome; an unsettled one is not a success either.
        RunOutcome::Running => ExitCode::ScenarioFailed,
        RunOutcome::Failed => ExitCode::ScenarioFailed,
        RunOutcome::Aborted { .. } => ExitCode::Aborted,
        RunOutcome::Interrupted => ExitCode::Interrupted,
    })
}

/// `--lab`: the lab's inventory, bringing the lab up first (or reusing it). This is the
/// only place the run command knows about the lab; the engine never does.
fn lab_inventory(dir: &Path, patroni4: bool) -> Result<PathBuf, Failure> {
    let info = crate::lab::up(&crate::lab::UpOptions {
        dir: dir.to_owned(),
        reuse: true,
        patroni4,
        progress: true,
        ..Default::default()
    })
    .map_err(Failure::aborted)?;
    Ok(info.inventory)
}

fn resolve(r: Option<&crate::secret::SecretRef>) -> Result<Option<Secret>, Failure> {
    r.map(|r| {
        r.resolve()
            .map_err(|e| Failure::bad_input(miette::miette!("{e}")))
    })
    .transpose()
}

fn select(all: Vec<LoadedScenario>, tags: &[String], ids: &[String]) -> Vec<LoadedScenario> {
    all.into_iter()
        .filter(|s| tags.is_empty() || s.scenario.tags.iter().any(|t| tags.contains(t)))
        .filter(|s| ids.is_empty() || ids.contains(&s.scenario.id))
        .collect()
}

fn write_reports(results: &RunResults, dir: &Path, secrets: &[Secret]) {
    if let Err(e) = crate::report::write_all_redacted(results, dir, secrets) {
        eprintln!("warning: failed to write reports to {}: {e}", dir.display());
    }
}

fn print_summary(results: &RunResults, dir: &Path) {
    let count = |v| results.scenarios.iter().filter(|s| s.verdict == v).count();
    use crate::results::Verdict::*;
    eprintln!(
        "\n{} passed, {} failed, {} error, {} interrupted, {} skipped — outcome: {:?}\nreports: {}",
        count(Passed),
        count(Failed),
        count(Error),
        count(Interrupted),
        count(Skipped),
        results.outcome,
        dir.display()
    );
}

/// The faults the selected scenarios will inject, one a line, for the confirmation.
fn faults_listed(scenarios: &[LoadedScenario]) -> String {
    let mut out = String::new();
    for ls in scenarios {
        for step in &ls.scenario.steps {
            if step.is_fault() || step.is_fault_event() {
                out.push_str(&format!("\n  - {}: {}", ls.scenario.id, step.describe()));
            }
        }
    }
    if out.is_empty() {
        out.push_str("\n  (no fault steps: operations and checks only)");
    }
    out
}

fn confirm(inv: &Inventory, scenarios: &[LoadedScenario]) -> Result<(), Failure> {
    let nodes: Vec<String> = inv
        .nodes
        .iter()
        .map(|n| format!("{} ({})", n.name, n.host))
        .collect();
    let what = format!(
        "cluster scope {:?}, nodes: {}; faults:{}",
        inv.cluster.scope,
        nodes.join(", "),
        faults_listed(scenarios)
    );
    if !std::io::stdin().is_terminal() {
        return Err(Failure::bad_input(miette::miette!(
            help = "pass --yes to confirm, or mark a disposable cluster with `cluster: {{ lab: true }}`",
            "refusing to inject faults into a cluster not marked as a lab without confirmation: {what}"
        )));
    }
    eprint!("pgchaos is about to inject faults into {what}.\nType the scope name to continue: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    if line.trim() == inv.cluster.scope {
        Ok(())
    } else {
        Err(Failure::aborted(miette::miette!(
            "not confirmed: nothing was touched"
        )))
    }
}

/// Prints what every step would run, with targets bound to an assumed cluster (the
/// first Patroni node leading): the real binding happens when the scenario starts.
fn dry_run(scenarios: &[LoadedScenario], inv: &LoadedInventory) {
    let inventory = &inv.inventory;
    let transport = Transport::new(inventory, Path::new("/tmp"));
    let members: Vec<MemberView> = inventory
        .nodes_with(Role::Patroni)
        .enumerate()
        .map(|(i, n)| MemberView {
            name: n.name.clone(),
            role: if i == 0 {
                "leader".into()
            } else {
                "replica".into()
            },
            state: if i == 0 {
                "running".into()
            } else {
                "streaming".into()
            },
            timeline: Some(1),
            lag_bytes: Some(0),
        })
        .collect();
    println!(
        "dry run: nothing is contacted; assuming {} leads (targets are bound at run time)",
        members.first().map(|m| m.name.as_str()).unwrap_or("?")
    );
    for ls in scenarios {
        let sc = &ls.scenario;
        println!("\n== {} — {}", sc.id, sc.title);
        if let Some(why) = sc.requires.unmet_by(inventory) {
            println!("  skipped: {}{why}", crate::runner::NOT_APPLICABLE);
            continue;
        }
        let etcd_leader = inventory
            .nodes_with(crate::inventory::Role::Etcd)
            .next()
            .map(|n| n.name.as_str());
        let bindings = match crate::plan::bind(sc, inventory, &members, etcd_leader) {
            Ok(b) => b,
            Err(e) => {
                println!("  cannot bind targets on the assumed cluster: {e}");
                continue;
            }
        };
        for (k, v) in &bindings {
            println!("  target {k} = {}", v.join(", "));
        }
        for (i, step) in sc.steps.iter().enumerate() {
            println!("  {}. {}", i + 1, step.describe());
            let seq = i as u32 + 1;
            let ctx = crate::fault::FaultContext {
                inventory,
                run_id: "DRYRUN",
                seq,
                deadman_after: crate::scenario::budget::worst_from(sc, i) + Duration::from_secs(60),
                targets: &bindings,
            };
            // REST operations print no commands; fault steps print what they run and
            // their undo; the others (expect, hold, sql, undo, pgbench) run nothing on nodes.
            if step.makes_http_call() {
                println!(
                    "     REST call to Patroni (see the step); patronictl commands run on the node when via: patronictl"
                );
            } else {
                match crate::fault::plan(step, &ctx) {
                    Ok(Some(a)) => {
                        for c in &a.inject {
                            print_command(&transport, c);
                        }
                        if let Some(u) = &a.undo {
                            println!("     undo: {}", u.description);
                            for c in &u.commands {
                                print_command(&transport, c);
                            }
                        }
                    }
                    Ok(None) => {}
                    Err(e) => println!("     error: {e}"),
                }
            }
        }
    }
}

fn print_command(t: &Transport, c: &crate::fault::NodeCommand) {
    match &c.location {
        crate::fault::Location::Node(n) => println!("     [{n}] {}", t.wrap(n, &c.script)),
        crate::fault::Location::Local => println!("     [local] {}", c.script),
    }
}

/// `pgchaos cleanup`.
pub(super) fn cleanup(args: CleanupArgs) -> CommandResult {
    let inv = crate::inventory::load(&args.inventory).map_err(Failure::bad_input)?;
    // Held until the cleanup ends: no run starts against the scope meanwhile.
    let _lock = confirm_cleanup_under_a_run(&inv.inventory, args.yes)?;
    super::runtime().block_on(async move {
        let control_dir = crate::transport::control_dir().map_err(|e| {
            Failure::aborted(miette::miette!(
                "failed to create a private directory for SSH control sockets under /tmp: {e}"
            ))
        })?;
        let transport = Transport::new(&inv.inventory, &control_dir);
        let mut failed = !clean_nodes(&transport, &inv.inventory).await;
        failed |= !run_pending_undos(&transport, &inv.inventory).await;
        transport.close().await;
        let _ = std::fs::remove_dir_all(&control_dir);
        if failed {
            Err(Failure::aborted(miette::miette!(
                "cleanup did not reach every node or could not undo everything"
            )))
        } else {
            Ok(ExitCode::Success)
        }
    })
}

/// With a run against the same scope in progress on this machine, cleaning would undo its
/// faults while it still relies on them: only with `--yes` or a typed confirmation. The
/// run lock, when it was free, is returned to be held while cleaning.
fn confirm_cleanup_under_a_run(
    inventory: &Inventory,
    yes: bool,
) -> Result<Option<crate::fault::runlock::RunLock>, Failure> {
    let scope = inventory.cluster.scope.clone();
    let lock = crate::fault::runlock::try_lock(inventory).map_err(|e| {
        Failure::aborted(miette::miette!(
            "failed to check the run lock of scope {scope:?}: {e}"
        ))
    })?;
    if lock.is_none() && !yes {
        let what = format!("a pgchaos run against scope {scope:?} is in progress on this machine");
        if !std::io::stdin().is_terminal() {
            return Err(Failure::aborted(miette::miette!(
                help = "wait for it to end, or pass --yes to undo its faults under it",
                "{what}: nothing was cleaned"
            )));
        }
        eprint!("{what}; cleaning now undoes its faults under it. Type yes to continue: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        if line.trim() != "yes" {
            return Err(Failure::aborted(miette::miette!(
                "not confirmed: nothing was cleaned"
            )));
        }
    }
    Ok(lock)
}

/// Runs the cleanup script on every node; whether every node was cleaned.
async fn clean_nodes(transport: &Transport, inventory: &Inventory) -> bool {
    let script = crate::fault::cleanup_script();
    let mut failed = false;
    for n in &inventory.nodes {
        match transport
            .run_with_timeout(&n.name, &script, Duration::from_secs(60))
            .await
        {
            Ok(o) if o.success() => {
                let out = o.stdout.trim();
                println!(
                    "{}: {}",
                    n.name,
                    if out.is_empty() {
                        "nothing to clean"
                    } else {
                        out
                    }
                );
            }
            Ok(o) => {
                failed = true;
                println!(
                    "{}: cleanup exited {:?}: {}",
                    n.name,
                    o.status,
                    o.stderr.trim()
                );
            }
            Err(e) => {
                failed = true;
                println!("{}: {e}", n.name);
            }
        }
    }
    !failed
}

/// Runs the undos an earlier run could not finish (its node was down), recorded on this
/// machine; whether all of them succeeded.
async fn run_pending_undos(transport: &Transport, inventory: &Inventory) -> bool {
    let mut failed = false;
    let dir = crate::fault::pending::dir();
    for (path, p) in crate::fault::pending::list(&dir, &inventory.cluster.scope) {
        let Some(node) = inventory.node(&p.node).filter(|n| n.host == p.host) else {
            continue;
        };
        match transport
            .run_with_timeout(&node.name, &p.script, Duration::from_secs(60))
            .await
        {
            Ok(o) if o.success() => {
                let _ = std::fs::remove_file(&path);
                println!(
                    "{}: ran the undo of \"{}\" (run {}) that had failed: {}",
                    p.node,
                    p.fault,
                    p.run_id,
                    o.stdout.trim().lines().last().unwrap_or("done")
                );
            }
            Ok(o) => {
                failed = true;
                println!(
                    "{}: the undo of \"{}\" (run {}) failed again ({:?}): {}; kept {}",
                    p.node,
                    p.fault,
                    p.run_id,
                    o.status,
                    o.stderr.trim(),
                    path.display()
                );
            }
            Err(e) => {
                failed = true;
                println!(
                    "{}: the undo of \"{}\" (run {}) could not run: {e}; kept {}",
                    p.node,
                    p.fault,
                    p.run_id,
                    path.display()
                );
            }
        }
    }
    !failed
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_confirmation_lists_every_fault_of_every_selected_scenario() {
        let s = crate::scenario::parse(
            std::path::Path::new("scenarios/ops/edit-config.yml"),
            &std::fs::read_to_string("scenarios/ops/edit-config.yml").unwrap(),
        )
        .unwrap();
        let b = crate::scenario::parse(
            std::path::Path::new("scenarios/runbook/primary-iso-pg-drop.yml"),
            &std::fs::read_to_string("scenarios/runbook/primary-iso-pg-drop.yml").unwrap(),
        )
        .unwrap();
        let listed = super::faults_listed(&[s, b]);
        assert!(
            listed.contains("ops-edit-config: PATCH /config"),
            "{listed}"
        );
        assert!(listed.contains("primary-iso-pg-drop: "), "{listed}");
        // Checks and waits are not faults.
        assert!(!listed.contains("expect"), "{listed}");
    }
}
