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
use crate::observe::{MemberView, Timeline};
use crate::results::{RunOutcome, RunResults};
use crate::runner::{Engine, RunConfig};
use crate::scenario::{LoadedScenario, Step};
use crate::secret::Secret;
use crate::transport::Transport;

/// `pgchaos run`.
pub fn run(args: RunArgs) -> CommandResult {
    let inventory_path = match (&args.inventory, args.lab) {
        (Some(p), _) => p.clone(),
        (None, true) => lab_inventory(&args.lab_dir, args.lab_patroni4)?,
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
        confirm(&inv.inventory)?;
    }
    let started = Utc::now();
    let run_id = format!(
        "{}-{:04x}",
        started.format("%Y%m%dT%H%M%S"),
        std::process::id() & 0xffff
    );
    let report_dir =
        crate::report::prepare_dir(args.report_dir.as_deref(), Path::new("reports"), started)
            .map_err(Failure::aborted)?;
    let command_line: Vec<String> = std::env::args().collect();

    super::runtime().block_on(async move {
        let (trigger, cancel) = crate::runner::cancel_pair();
        trigger.install_signal_handlers();
        let control_dir = PathBuf::from(format!("/tmp/pgc-{}", std::process::id()));
        std::fs::create_dir_all(&control_dir).map_err(|e| {
            Failure::aborted(miette::miette!(
                "failed to create {}: {e}",
                control_dir.display()
            ))
        })?;
        let inventory = Arc::new(inv.inventory.clone());
        let transport = Arc::new(Transport::new(&inventory, &control_dir));
        let client = Arc::new(
            crate::patroni::PatroniClient::new(&inventory)
                .map_err(|e| Failure::bad_input(miette::miette!("{e}")))?,
        );
        let creds = crate::pg::Credentials::new(&inventory, pg_password.clone());
        let timeline = Timeline::new();
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
            transport.clone(),
            client.clone(),
            creds.clone(),
            secrets.clone(),
            timeline.clone(),
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

        let versions = match engine.preflight().await {
            Ok(v) => v,
            Err(e) => {
                let mut results = engine.new_results(Default::default());
                results.outcome = RunOutcome::Aborted {
                    reason: e.to_string(),
                };
                write_reports(&results, &report_dir, &secrets);
                transport.close().await;
                let _ = std::fs::remove_dir_all(&control_dir);
                return Err(Failure::aborted(e));
            }
        };
        let observers = crate::observe::Observers::start(
            inventory.clone(),
            client.clone(),
            transport.clone(),
            crate::observe::PgSettings {
                user: creds.user.clone(),
                database: creds.database.clone(),
                password: creds.password.clone(),
                port: inventory.cluster.postgres.port,
                timeout: creds.timeout,
                sslmode: inventory.cluster.postgres.sslmode,
            },
            timeline.clone(),
            crate::observe::ObserveConfig::default(),
        );
        let results = engine.new_results(versions);
        let results = engine
            .run_all(&selected, results, |r| {
                write_reports(r, &report_dir, &secrets)
            })
            .await;
        observers.stop().await;
        write_reports(&results, &report_dir, &secrets);
        transport.close().await;
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

fn confirm(inv: &Inventory) -> Result<(), Failure> {
    let nodes: Vec<String> = inv
        .nodes
        .iter()
        .map(|n| format!("{} ({})", n.name, n.host))
        .collect();
    let what = format!(
        "cluster scope {:?}, nodes: {}",
        inv.cluster.scope,
        nodes.join(", ")
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
        let bindings = match crate::plan::bind(sc, inventory, &members) {
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
            println!("  {}. {}", i + 1, crate::runner::describe_step(step));
            let seq = i as u32 + 1;
            let ctx = crate::fault::FaultContext {
                inventory,
                run_id: "DRYRUN",
                seq,
                deadman_after: sc.max_duration.get() + Duration::from_secs(60),
                targets: &bindings,
            };
            match step {
                Step::Expect(_)
                | Step::Hold(_)
                | Step::Sql(_)
                | Step::Undo(_)
                | Step::Pgbench(_) => {}
                Step::Switchover(_)
                | Step::Failover(_)
                | Step::Restart(_)
                | Step::Reinitialize(_)
                | Step::Reload(_)
                | Step::PatchConfig(_) => {
                    println!(
                        "     REST call to Patroni (see the step); patronictl commands run on the node when via: patronictl"
                    );
                }
                _ => match crate::fault::plan(step, &ctx) {
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
                },
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
pub fn cleanup(args: CleanupArgs) -> CommandResult {
    let inv = crate::inventory::load(&args.inventory).map_err(Failure::bad_input)?;
    super::runtime().block_on(async move {
        let control_dir = PathBuf::from(format!("/tmp/pgc-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&control_dir);
        let transport = Transport::new(&inv.inventory, &control_dir);
        let script = crate::fault::cleanup_script();
        let mut failed = false;
        for n in &inv.inventory.nodes {
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
        transport.close().await;
        let _ = std::fs::remove_dir_all(&control_dir);
        if failed {
            Err(Failure::aborted(miette::miette!(
                "cleanup did not reach every node"
            )))
        } else {
            Ok(ExitCode::Success)
        }
    })
}
