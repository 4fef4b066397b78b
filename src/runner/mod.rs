//! The runner: one scenario at a time — steady state first, targets bound, steps run
//! (faults registered on the undo stack), expectations waited on with deadlines, holds
//! watched, then every fault undone (also on failure, timeout and interrupt), recovery
//! awaited, and a [`ScenarioResult`] assembled from what was observed.

mod cancel;
mod live;
mod preflight;
mod probe;
mod progress;
mod steps;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::Utc;

use crate::check::{self, find_split_brain};
use crate::inventory::{Inventory, Role};
use crate::observe::{Sample, Timeline};
use crate::patroni::PatroniClient;
use crate::pg::Credentials;
use crate::results::{
    CheckResult, ClusterInfo, ClusterState, Event, EventKind, Metrics, NodeInfo, Observation,
    RunOutcome, RunResults, SCHEMA_VERSION, ScenarioResult, StepOutcome, Verdict, Versions,
};
use crate::scenario::LoadedScenario;
use crate::secret::Secret;
use crate::transport::Transport;

pub use cancel::{Cancel, Level, Trigger, pair as cancel_pair};
pub use live::Live;
pub use preflight::PreflightError;
pub use progress::Progress;
pub use steps::{describe as describe_step, endpoint_word};

/// Settings of one run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Unique id of the run (tags iptables rules and dead man's switches).
    pub run_id: String,
    /// Run each scenario this many times.
    pub repeat: u32,
    /// Rerun a failed scenario up to this many times.
    pub retries: u32,
    /// Path of the inventory (for reports).
    pub inventory_path: PathBuf,
    /// The command line (for reports).
    pub command_line: Vec<String>,
    /// Samples older than this no longer describe "now".
    pub stale_after: Duration,
    /// Margin added to a scenario's `max_duration` for node-side dead man's switches.
    pub deadman_margin: Duration,
}

/// Everything a run shares between scenarios.
pub struct Engine {
    pub(crate) inventory: Arc<Inventory>,
    pub(crate) transport: Arc<Transport>,
    pub(crate) client: Arc<PatroniClient>,
    pub(crate) creds: Credentials,
    pub(crate) secrets: Vec<Secret>,
    pub(crate) timeline: Timeline,
    pub(crate) config: RunConfig,
    pub(crate) cancel: Cancel,
    pub(crate) progress: Progress,
    fault_seq: AtomicU32,
    pub(crate) patroni_nodes: Vec<String>,
}

/// Whether the run may go on after a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Continuation {
    /// Next scenario.
    Continue,
    /// Stop the run: the cluster is not in a state to take more faults.
    Abort(String),
    /// Stop the run: interrupted.
    Interrupted,
}

impl Engine {
    /// Prepares a run. Nothing is contacted yet.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        inventory: Arc<Inventory>,
        transport: Arc<Transport>,
        client: Arc<PatroniClient>,
        creds: Credentials,
        secrets: Vec<Secret>,
        timeline: Timeline,
        config: RunConfig,
        cancel: Cancel,
    ) -> Self {
        let patroni_nodes = inventory
            .nodes_with(Role::Patroni)
            .map(|n| n.name.clone())
            .collect();
        Self {
            inventory,
            transport,
            client,
            creds,
            secrets,
            timeline,
            config,
            cancel,
            progress: Progress::new(),
            fault_seq: AtomicU32::new(0),
            patroni_nodes,
        }
    }

    pub(crate) fn next_fault_seq(&self) -> u32 {
        self.fault_seq.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub(crate) fn redact(&self, s: &str) -> String {
        crate::secret::redact(s, &self.secrets)
    }

    /// An empty results document for this run, filled in as scenarios complete.
    pub fn new_results(&self, versions: Versions) -> RunResults {
        let now = Utc::now();
        RunResults {
            schema_version: SCHEMA_VERSION,
            run_id: self.config.run_id.clone(),
            pgchaos_version: env!("CARGO_PKG_VERSION").into(),
            started_at: now,
            finished_at: now,
            invoked_by: invoked_by(),
            command_line: self.config.command_line.clone(),
            cluster: ClusterInfo {
                scope: self.inventory.cluster.scope.clone(),
                lab: self.inventory.cluster.lab,
                inventory: self.config.inventory_path.display().to_string(),
                nodes: self
                    .inventory
                    .nodes
                    .iter()
                    .map(|n| NodeInfo {
                        name: n.name.clone(),
                        host: n.host.clone(),
                        roles: n
                            .roles
                            .iter()
                            .map(|r| format!("{r:?}").to_lowercase())
                            .collect(),
                    })
                    .collect(),
                versions,
            },
            outcome: RunOutcome::Running,
            scenarios: Vec::new(),
        }
    }

    /// Runs every scenario (with repeats and retries), calling `after_each` with the
    /// results so far (to write reports incrementally), and returns the final results.
    pub async fn run_all(
        &self,
        scenarios: &[LoadedScenario],
        mut results: RunResults,
        mut after_each: impl FnMut(&RunResults),
    ) -> RunResults {
        let total = scenarios.len() * self.config.repeat.max(1) as usize;
        let mut n = 0;
        'outer: for ls in scenarios {
            for _rep in 0..self.config.repeat.max(1) {
                n += 1;
                let mut attempt = 1;
                loop {
                    self.progress.line(&format!(
                        "[{n}/{total}] {} — {}{}",
                        ls.scenario.id,
                        ls.scenario.title,
                        if attempt > 1 {
                            format!(" (retry {})", attempt - 1)
                        } else {
                            String::new()
                        }
                    ));
                    let (res, cont) = self.run_scenario(ls, attempt).await;
                    let verdict = res.verdict;
                    self.progress.line(&format!(
                        "    => {}{}",
                        verdict_word(verdict),
                        res.reason
                            .as_ref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    ));
                    results.scenarios.push(res);
                    results.finished_at = Utc::now();
                    after_each(&results);
                    match cont {
                        Continuation::Continue => {}
                        Continuation::Abort(reason) => {
                            results.outcome = RunOutcome::Aborted { reason };
                            break 'outer;
                        }
                        Continuation::Interrupted => {
                            results.outcome = RunOutcome::Interrupted;
                            break 'outer;
                        }
                    }
                    let failed = matches!(verdict, Verdict::Failed | Verdict::Error);
                    if failed && attempt <= self.config.retries {
                        attempt += 1;
                        continue;
                    }
                    break;
                }
            }
        }
        if results.outcome == RunOutcome::Running {
            results.outcome = if results
                .scenarios
                .iter()
                .all(|s| scenario_passed_finally(&results, s))
            {
                RunOutcome::Passed
            } else {
                RunOutcome::Failed
            };
        }
        results.finished_at = Utc::now();
        results
    }

    /// Runs one scenario attempt and says whether the run may continue.
    pub async fn run_scenario(
        &self,
        ls: &LoadedScenario,
        attempt: u32,
    ) -> (ScenarioResult, Continuation) {
        let sc = &ls.scenario;
        let started_at = Utc::now();
        let mut live = Live::new(self, ls);
        let mut cont = Continuation::Continue;

        // 1. Steady state before anything is touched.
        let steady = live
            .wait_steady(
                sc.requires.steady_within.get(),
                "steady state before the scenario",
            )
            .await;
        if let Err(why) = steady {
            live.reason = Some(format!(
                "the cluster was not in steady state before the scenario: {why}"
            ));
            live.verdict = Verdict::Error;
            let c = if self.cancel.is_cancelled() {
                Continuation::Interrupted
            } else {
                Continuation::Abort(live.reason.clone().unwrap_or_default())
            };
            return (live.finish(started_at, attempt).await, c);
        }

        // 2. Targets, leader and timeline at start.
        if let Err(e) = live.bind() {
            live.reason = Some(e.to_string());
            live.verdict = Verdict::Error;
            return (live.finish(started_at, attempt).await, cont);
        }

        // 3. Workload.
        live.start_workload().await;

        // 4. Steps.
        let n = sc.steps.len();
        for (i, step) in sc.steps.iter().enumerate() {
            if self.cancel.is_cancelled() {
                live.verdict = Verdict::Interrupted;
                live.reason.get_or_insert_with(|| "interrupted".into());
                live.skip_from(i);
                break;
            }
            let outcome = live.run_step(i, step).await;
            if outcome != StepOutcome::Ok {
                if self.cancel.is_cancelled() {
                    live.verdict = Verdict::Interrupted;
                } else if outcome == StepOutcome::Error {
                    live.verdict = Verdict::Error;
                } else {
                    live.verdict = Verdict::Failed;
                }
                live.skip_from(i + 1);
                break;
            }
            let _ = n;
        }

        // 5. Undo every fault still in place, in reverse order.
        live.undo_all().await;

        // 6. Recovery.
        if self.cancel.level() < Level::Hurry {
            let rec = live
                .wait_steady(
                    sc.recovery.within.get(),
                    "recovery to steady state after undo",
                )
                .await;
            match rec {
                Ok(()) => live.recovered(),
                Err(why) => {
                    let msg = format!(
                        "the cluster did not return to steady state within {}: {why}",
                        sc.recovery.within
                    );
                    live.add_check(CheckResult {
                        name: "recovery".into(),
                        step: None,
                        passed: false,
                        expected: format!("steady state within {} after undo", sc.recovery.within),
                        observed: why,
                        at: Some(Utc::now()),
                    });
                    if live.verdict == Verdict::Passed {
                        live.verdict = Verdict::Failed;
                        live.reason = Some(msg.clone());
                    }
                    cont = Continuation::Abort(msg);
                }
            }
        }
        if self.cancel.is_cancelled() {
            if live.verdict == Verdict::Passed {
                live.verdict = Verdict::Interrupted;
                live.reason.get_or_insert_with(|| "interrupted".into());
            }
            cont = Continuation::Interrupted;
        }

        // 7. Data verdicts.
        live.finish_workload().await;

        (live.finish(started_at, attempt).await, cont)
    }
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Passed => "PASSED",
        Verdict::Failed => "FAILED",
        Verdict::Error => "ERROR",
        Verdict::Interrupted => "INTERRUPTED",
        Verdict::Skipped => "SKIPPED",
    }
}

/// Whether the last attempt of this scenario (same id, same repeat) passed.
fn scenario_passed_finally(results: &RunResults, s: &ScenarioResult) -> bool {
    if s.verdict == Verdict::Passed {
        return true;
    }
    // A failed attempt followed by a passing retry of the same scenario counts as passed
    // (reported as flaky).
    let idx = results
        .scenarios
        .iter()
        .position(|x| std::ptr::eq(x, s))
        .unwrap_or(0);
    results.scenarios[idx + 1..]
        .iter()
        .take_while(|x| x.id == s.id && x.attempt > s.attempt)
        .any(|x| x.verdict == Verdict::Passed)
}

fn invoked_by() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
                .unwrap_or_else(|| "unknown".into())
        });
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into());
    format!("{user}@{host}")
}

/// Keeps a sample only when it differs from the previous one of the same node and source
/// in something a reader of the report cares about (LSN and lag always move).
pub fn state_changes(samples: &[Sample]) -> Vec<Observation> {
    let mut last: BTreeMap<(String, crate::results::ObservationSource), Observation> =
        BTreeMap::new();
    let mut out = Vec::new();
    for s in samples {
        let o = &s.observation;
        let key = (o.node.clone(), o.source);
        let changed = match last.get(&key) {
            None => true,
            Some(p) => {
                p.reachable != o.reachable
                    || p.role != o.role
                    || p.state != o.state
                    || p.timeline != o.timeline
                    || p.in_recovery != o.in_recovery
                    || p.cluster_leader != o.cluster_leader
            }
        };
        if changed {
            out.push(o.clone());
            last.insert(key, o.clone());
        }
    }
    out
}

pub(crate) fn metrics_from(
    live_changes: u32,
    first_fault: Option<chrono::DateTime<Utc>>,
    new_leader_at: Option<chrono::DateTime<Utc>>,
    recovered_at: Option<chrono::DateTime<Utc>>,
    samples: &[Sample],
) -> Metrics {
    let secs = |a: chrono::DateTime<Utc>, b: chrono::DateTime<Utc>| {
        (b - a).num_milliseconds() as f64 / 1000.0
    };
    let failover_seconds = match (first_fault, new_leader_at) {
        (Some(f), Some(l)) if l >= f => Some(secs(f, l)),
        _ => None,
    };
    let recovery_seconds = match (first_fault, recovered_at) {
        (Some(f), Some(r)) if r >= f => Some(secs(f, r)),
        _ => None,
    };
    let samples_per_second = {
        let rest: Vec<_> = samples
            .iter()
            .filter(|s| s.observation.source == crate::results::ObservationSource::Rest)
            .collect();
        let nodes: std::collections::BTreeSet<_> =
            rest.iter().map(|s| s.observation.node.as_str()).collect();
        match (rest.first(), rest.last()) {
            (Some(a), Some(b)) if b.observation.at > a.observation.at && !nodes.is_empty() => Some(
                rest.len() as f64 / nodes.len() as f64 / secs(a.observation.at, b.observation.at),
            ),
            _ => None,
        }
    };
    Metrics {
        failover_seconds,
        recovery_seconds,
        write_unavailable_seconds: None,
        leader_changes: live_changes,
        samples_per_second,
    }
}

/// Split brain over a scenario's samples, as a check: forbidden, or bounded when the
/// scenario documents it as expected for its failure mode.
pub(crate) fn split_brain_check(
    samples: &[Sample],
    expected: Option<&crate::scenario::ExpectedSplitBrain>,
) -> CheckResult {
    let found = find_split_brain(samples);
    if let Some(x) = expected {
        let longest = found
            .iter()
            .map(|s| (s.to - s.from).to_std().unwrap_or_default())
            .max();
        let within = longest.is_none_or(|l| l <= x.max.get());
        return CheckResult {
            name: "split brain within its expected bound".into(),
            step: None,
            passed: within,
            expected: format!(
                "two nodes accepting writes for at most {} (expected for this failure mode: {})",
                x.max,
                x.reason.trim()
            ),
            observed: if found.is_empty() {
                "no split brain observed".into()
            } else {
                format!(
                    "SPLIT BRAIN observed: {}",
                    found
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            },
            at: found.first().map(|s| s.from),
        };
    }
    let answered = samples.iter().any(|s| {
        matches!(
            s.observation.source,
            crate::results::ObservationSource::Sql | crate::results::ObservationSource::SqlSsh
        ) && s.observation.reachable
    });
    CheckResult {
        name: "no split brain".into(),
        step: None,
        passed: found.is_empty() && answered,
        expected:
            "never two nodes accepting writes at the same time (asked directly over SQL or SSH)"
                .into(),
        observed: if !answered {
            "no node answered a SQL sample: split brain could not be checked".into()
        } else if found.is_empty() {
            "at most one node accepted writes at any time".into()
        } else {
            found
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        },
        at: found.first().map(|s| s.from),
    }
}

pub(crate) fn state_of(w: &check::World) -> ClusterState {
    ClusterState {
        leader: w.leader(),
        timeline: w.leader_timeline(),
    }
}

pub(crate) fn event(kind: EventKind, node: Option<&str>, description: impl Into<String>) -> Event {
    Event {
        at: Utc::now(),
        kind,
        node: node.map(str::to_owned),
        description: description.into(),
    }
}
