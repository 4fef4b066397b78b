//! The runner: one scenario at a time — steady state first, targets bound, steps run
//! (faults registered on the undo stack), expectations waited on with deadlines, holds
//! watched, then every fault undone (also on failure, timeout and interrupt), recovery
//! awaited, and a [`ScenarioResult`] assembled from what was observed.

mod cancel;
mod diagnose;
mod guard;
mod invariants;
mod judge;
mod live;
mod preflight;
mod probe;
mod progress;
mod reason;
mod reset;
mod stale_reads;
mod status_line;
mod steps;
mod undo_exec;
mod watchdog;

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

pub(crate) use cancel::{Cancel, Level, pair as cancel_pair};
use judge::Finding;
pub(crate) use live::Live;

pub(crate) use progress::Progress;

/// Settings of one run.
#[derive(Clone, Debug)]
pub(crate) struct RunConfig {
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
pub(crate) struct Engine {
    pub(crate) inventory: Arc<Inventory>,
    pub(crate) transport: Arc<Transport>,
    pub(crate) client: Arc<PatroniClient>,
    pub(crate) creds: Credentials,
    pub(crate) secrets: Vec<Secret>,
    pub(crate) timeline: Timeline,
    pub(crate) config: RunConfig,
    pub(crate) cancel: Cancel,
    pub(crate) progress: Progress,
    pub(crate) status: Arc<status_line::StatusLine>,
    fault_seq: AtomicU32,
    pub(crate) patroni_nodes: Vec<String>,
}

/// Whether the run may go on after a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Continuation {
    /// Next scenario.
    Continue,
    /// Stop the run: the cluster is not in a state to take more faults.
    Abort(String),
    /// The cluster is not in steady state: reset it if the inventory says how, else stop.
    NotSteady(String),
    /// Stop the run: interrupted.
    Interrupted,
}

impl Engine {
    /// Prepares a run. Nothing is contacted yet.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
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
        let status = Arc::new(status_line::StatusLine::new());
        Self {
            inventory,
            transport,
            client,
            creds,
            secrets,
            timeline,
            config,
            cancel,
            progress: Progress::with_status(status.clone()),
            status,
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
    pub(crate) fn new_results(&self, versions: Versions) -> RunResults {
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
            provenance: Default::default(),
            resets: Vec::new(),
        }
    }

    /// Runs every scenario (with repeats and retries), calling `after_each` with the
    /// results so far (to write reports incrementally), and returns the final results.
    pub(crate) async fn run_all(
        &self,
        scenarios: &[LoadedScenario],
        mut results: RunResults,
        mut after_each: impl FnMut(&RunResults),
    ) -> RunResults {
        let total = scenarios.len() * self.config.repeat.max(1) as usize;
        let mut n = 0;
        let mut ran = 0;
        // A reset that did not bring steady state back is not tried again right away.
        let mut just_reset = false;
        let (stop_status, stopped) = tokio::sync::watch::channel(false);
        let drawer = tokio::spawn(
            self.status
                .clone()
                .keep_drawing(self.timeline.clone(), stopped),
        );
        'outer: for (index, ls) in scenarios.iter().enumerate() {
            ran = index + 1;
            // A scenario this cluster cannot give a meaning to is not run and not passed.
            if let Some(why) = ls.scenario.requires.unmet_by(&self.inventory) {
                let reason = format!("{NOT_APPLICABLE}{why}");
                self.progress
                    .line(&format!("    {} => SKIPPED: {reason}", ls.scenario.id));
                results.scenarios.push(skipped(ls, &reason));
                results.finished_at = Utc::now();
                after_each(&results);
                continue;
            }
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
                    self.status
                        .scenario(n, total, &ls.scenario.id, ls.scenario.max_duration.get());
                    let (mut res, cont) = self.run_scenario(ls, attempt).await;
                    self.status.idle();
                    res.reason = res.reason.as_deref().map(reason::one_line);
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
                    let cont = self
                        .settle(
                            cont,
                            ls,
                            attempt,
                            &mut just_reset,
                            &mut results,
                            &mut after_each,
                        )
                        .await;
                    match cont {
                        Continuation::Continue | Continuation::NotSteady(_) => {}
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
        let _ = stop_status.send(true);
        let _ = drawer.await;
        finish_outcome(&mut results, scenarios, ran);
        results.finished_at = Utc::now();
        results
    }

    /// What follows a scenario: one that left the cluster out of steady state is followed
    /// by a cluster reset (recorded in the results and on the scenario), unless the
    /// cluster was reset just before; the run stops when the reset does not help.
    async fn settle(
        &self,
        cont: Continuation,
        ls: &LoadedScenario,
        attempt: u32,
        just_reset: &mut bool,
        results: &mut RunResults,
        after_each: &mut impl FnMut(&RunResults),
    ) -> Continuation {
        match cont {
            Continuation::NotSteady(reason) if !*just_reset => {
                match self.reset_cluster(ls, attempt, &reason).await {
                    Some(reset) => {
                        let ok = reset.succeeded;
                        if let Some(last) = results.scenarios.last_mut() {
                            last.events.push(Event {
                                at: reset.at,
                                kind: EventKind::Reset,
                                node: None,
                                description: format!(
                                    "cluster reset ({}): {}",
                                    if ok { "steady state again" } else { "failed" },
                                    reset.command.command
                                ),
                            });
                        }
                        let why = reset.reason.clone();
                        results.resets.push(reset);
                        results.finished_at = Utc::now();
                        after_each(results);
                        *just_reset = true;
                        if ok {
                            Continuation::Continue
                        } else {
                            Continuation::Abort(format!(
                                "the cluster reset did not bring back steady state: {why}"
                            ))
                        }
                    }
                    None => Continuation::Abort(reason),
                }
            }
            Continuation::NotSteady(reason) => Continuation::Abort(format!(
                "{reason} (the cluster was reset just before and is still not in steady state)"
            )),
            Continuation::Continue => {
                *just_reset = false;
                Continuation::Continue
            }
            other => other,
        }
    }

    /// Runs one scenario attempt and says whether the run may continue. The stages, in
    /// order: steady state and target binding, workload, steps, undo, recovery, data
    /// checks, then the verdict is judged from what they found and the result recorded.
    pub(crate) async fn run_scenario(
        &self,
        ls: &LoadedScenario,
        attempt: u32,
    ) -> (ScenarioResult, Continuation) {
        let started_at = Utc::now();
        let mut live = Live::new(self, ls);
        if let Err(cont) = self.start(&mut live).await {
            return (live.finish(started_at, attempt).await, cont);
        }
        live.start_workload().await;
        self.run_steps(&mut live).await;
        // Stage 4: undo every fault still in place.
        self.status.phase("undo");
        live.undo_all().await;
        // An undo that still failed stops the run (exit 3), interrupted or not: the
        // cluster is not in a state to take more faults, and someone must heal it.
        let undo_failed = undo_exec::settle(self, &live.faults.undo_failures);
        if let Some(why) = &undo_failed {
            self.progress.line(&format!("  {why}"));
        }
        self.status.phase("recovery");
        // Recovery is pointless while a fault is known to be still in place.
        let mut cont = if undo_failed.is_none() {
            self.recover(&mut live).await
        } else {
            Continuation::Continue
        };
        if self.cancel.is_cancelled() {
            live.record.findings.push(Finding::Interrupted);
            cont = Continuation::Interrupted;
        }
        if let Some(why) = undo_failed {
            cont = Continuation::Abort(why);
        }
        live.finish_workload().await;
        // Stages 6 and 7: judge the whole scenario and record its result.
        (live.finish(started_at, attempt).await, cont)
    }

    /// Stage 1: steady state before anything is touched, then targets, leader and
    /// timeline at start. On failure, whether the run may go on.
    async fn start(&self, live: &mut Live<'_>) -> Result<(), Continuation> {
        let sc = live.scenario;
        let steady = live
            .wait_steady(
                sc.requires.steady_within.get(),
                "steady state before the scenario",
            )
            .await;
        if let Err(why) = steady {
            let reason = format!("the cluster was not in steady state before the scenario: {why}");
            live.record
                .findings
                .push(Finding::NotStarted(reason.clone()));
            return Err(if self.cancel.is_cancelled() {
                Continuation::Interrupted
            } else {
                Continuation::NotSteady(reason)
            });
        }
        // etcd is asked who leads only by scenarios that target its leader.
        let etcd_leader = if sc
            .targets
            .values()
            .any(|t| t.select == crate::scenario::Selector::EtcdLeader)
        {
            crate::etcd::status(&self.inventory, Duration::from_secs(2))
                .await
                .leader()
                .map(str::to_owned)
        } else {
            None
        };
        if let Err(e) = live.bind(etcd_leader.as_deref()) {
            live.record
                .findings
                .push(Finding::NotStarted(e.to_string()));
            return Err(Continuation::Continue);
        }
        Ok(())
    }

    /// Stage 3: the steps in order, until one does not succeed or the run is interrupted;
    /// the rest are recorded as skipped.
    async fn run_steps(&self, live: &mut Live<'_>) {
        let sc = live.scenario;
        for (i, step) in sc.steps.iter().enumerate() {
            if self.cancel.is_cancelled() {
                live.record.findings.push(Finding::Interrupted);
                live.record.skip_from(&live.scenario.steps, i);
                break;
            }
            let taken_before = live.record.alternatives_taken.len();
            let outcome = match cancel::catch_panic(live.run_step(i, step)).await {
                Ok(o) => o,
                Err(msg) => {
                    // Internal error: record it and go on to the undo and the reports.
                    live.record.findings.push(Finding::Step {
                        outcome: StepOutcome::Error,
                        reason: format!(
                            "internal error (pgchaos panicked) in step {}: {msg}",
                            i + 1
                        ),
                        interrupted: false,
                    });
                    StepOutcome::Error
                }
            };
            if outcome != StepOutcome::Ok {
                if !self.cancel.is_cancelled() && outcome != StepOutcome::Error {
                    // Evidence of what happened instead, before anything is undone.
                    live.diagnose(i).await;
                }
                live.record.skip_from(&live.scenario.steps, i + 1);
                break;
            }
            if live.record.alternatives_taken.len() > taken_before {
                // Why the documented outcome did not happen, as evidence beside the
                // alternative taken.
                live.diagnose(i).await;
            }
            if let Some(name) = live.record.ended_by.clone() {
                live.record
                    .skip_for_alternative(&live.scenario.steps, i + 1, &name);
                break;
            }
        }
    }

    /// Stage 5: back to steady state after undo (unless the run is hurrying to stop).
    async fn recover(&self, live: &mut Live<'_>) -> Continuation {
        let sc = live.scenario;
        if self.cancel.level() >= Level::Hurry {
            return Continuation::Continue;
        }
        let rec = live
            .wait_steady(
                sc.recovery.within.get(),
                "recovery to steady state after undo",
            )
            .await;
        match rec {
            Ok(()) => {
                live.record.recovered();
                Continuation::Continue
            }
            Err(why) => {
                let msg = format!(
                    "the cluster did not return to steady state within {}: {why}",
                    sc.recovery.within
                );
                live.record.checks.push(CheckResult {
                    name: "recovery".into(),
                    step: None,
                    passed: false,
                    expected: format!("steady state within {} after undo", sc.recovery.within),
                    observed: why,
                    at: Some(Utc::now()),
                });
                live.record.findings.push(Finding::Check(msg.clone()));
                Continuation::NotSteady(msg)
            }
        }
    }
}

/// How the reason of a scenario skipped because the cluster does not fit its
/// `requires` begins: such a scenario neither passes nor fails the run.
pub(crate) const NOT_APPLICABLE: &str = "not applicable to this cluster: ";

/// Whether `s` was skipped because the cluster does not fit its `requires`.
pub(crate) fn not_applicable(s: &ScenarioResult) -> bool {
    s.verdict == Verdict::Skipped
        && s.reason
            .as_deref()
            .is_some_and(|r| r.starts_with(NOT_APPLICABLE))
}

/// The result of a scenario that was not run, and why.
fn skipped(ls: &LoadedScenario, reason: &str) -> ScenarioResult {
    let sc = &ls.scenario;
    let now = Utc::now();
    ScenarioResult {
        id: sc.id.clone(),
        title: sc.title.clone(),
        group: sc.group.clone().unwrap_or_else(|| live::group_of(&ls.path)),
        file: ls.path.display().to_string(),
        tags: sc.tags.clone(),
        covers: sc.covers.clone(),
        documented: sc.documented.clone(),
        observed: format!("not run: {reason}."),
        attempt: 1,
        verdict: Verdict::Skipped,
        reason: Some(reason.to_owned()),
        started_at: now,
        finished_at: now,
        targets: Default::default(),
        before: Default::default(),
        after: Default::default(),
        steps: vec![],
        checks: vec![],
        events: vec![],
        observations: vec![],
        snapshots: Default::default(),
        metrics: Default::default(),
        workload: None,
        logs: Default::default(),
        accepted_risks: Vec::new(),
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
pub(crate) fn state_changes(samples: &[Sample]) -> Vec<Observation> {
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
        haproxy: crate::observe::haproxy_flaps(samples.iter().map(|s| &s.observation)),
    }
}

/// Split brain over a scenario's samples, as a check: forbidden, unless the inventory
/// accepts a bounded window for this cluster (`cluster.accepted_risks.split_brain`, e.g. a
/// cluster without a watchdog). An accepted window passes the check but comes back as a
/// finding, shown as accepted risk in every report. Either way it only passes when nodes
/// were actually asked: no SQL answer at all means it could not be checked.
pub(crate) fn split_brain_check(
    samples: &[Sample],
    accepted: Option<&crate::inventory::AcceptedRisk>,
) -> (CheckResult, Option<crate::results::AcceptedRiskFinding>) {
    use crate::results::ObservationSource;
    let found = find_split_brain(samples);
    let answered = samples.iter().any(|s| {
        matches!(
            s.observation.source,
            ObservationSource::Sql | ObservationSource::SqlSsh
        ) && s.observation.reachable
    });
    let windows = found
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join("; ");
    let observed = if !answered {
        "no node answered a SQL sample: split brain could not be checked".into()
    } else if found.is_empty() {
        "at most one node accepted writes at any time".into()
    } else {
        format!("SPLIT BRAIN observed: {windows}")
    };
    let at = found.first().map(|s| s.from);
    let longest = found
        .iter()
        .map(|s| (s.to - s.from).to_std().unwrap_or_default())
        .max();
    let mut check = CheckResult {
        name: "no split brain".into(),
        step: None,
        passed: answered && found.is_empty(),
        expected:
            "never two nodes accepting writes at the same time (asked directly over SQL or SSH)"
                .into(),
        observed,
        at,
    };
    let Some(risk) = accepted else {
        return (check, None);
    };
    check.expected = format!(
        "{}; the inventory accepts windows of at most {} ({})",
        check.expected,
        risk.max,
        risk.reason.trim()
    );
    let within = longest.is_none_or(|l| l <= risk.max.get());
    if !answered || found.is_empty() {
        return (check, None);
    }
    if !within {
        check.observed = format!(
            "{} — longer than the {} the inventory accepts",
            check.observed, risk.max
        );
        return (check, None);
    }
    check.name = "split brain within the accepted risk".into();
    check.passed = true;
    check.observed = format!("ACCEPTED RISK: {}", check.observed);
    let finding = crate::results::AcceptedRiskFinding {
        risk: "split_brain".into(),
        bound: risk.max.to_string(),
        reason: risk.reason.trim().to_owned(),
        observed: format!(
            "{} window(s) where two nodes accepted writes, longest {:.1}s: {windows}",
            found.len(),
            longest.unwrap_or_default().as_secs_f64()
        ),
    };
    (check, Some(finding))
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

/// Scenarios that never ran are listed as skipped (a report must not hide them), and a run
/// that was neither aborted nor interrupted passed when every scenario finally passed.
fn finish_outcome(results: &mut RunResults, scenarios: &[LoadedScenario], ran: usize) {
    if results.outcome != RunOutcome::Running {
        for ls in &scenarios[ran.min(scenarios.len())..] {
            results
                .scenarios
                .push(skipped(ls, "the run stopped before this scenario"));
        }
    }
    if results.outcome == RunOutcome::Running {
        results.outcome = if results
            .scenarios
            .iter()
            .all(|s| scenario_passed_finally(results, s) || not_applicable(s))
        {
            RunOutcome::Passed
        } else {
            RunOutcome::Failed
        };
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::duration::HumanDuration;
    use crate::inventory::AcceptedRisk;
    use crate::results::ObservationSource;

    fn sql(ms: i64, node: &str, in_recovery: Option<bool>) -> Sample {
        Sample {
            observation: Observation {
                at: Utc.timestamp_millis_opt(1_700_000_000_000 + ms).unwrap(),
                node: node.into(),
                source: ObservationSource::Sql,
                reachable: in_recovery.is_some(),
                in_recovery,
                ..Default::default()
            },
            members: None,
            cluster_json: None,
        }
    }

    fn window_of(ms: i64) -> Vec<Sample> {
        vec![
            sql(0, "pg1", Some(false)),
            sql(0, "pg2", Some(false)),
            sql(ms, "pg1", Some(false)),
            sql(ms, "pg2", Some(false)),
            sql(ms + 100, "pg1", Some(true)),
        ]
    }

    fn expected(max_ms: u64) -> AcceptedRisk {
        AcceptedRisk {
            reason: "no watchdog".into(),
            max: HumanDuration(std::time::Duration::from_millis(max_ms)),
        }
    }

    #[test]
    fn a_split_brain_fails_unless_accepted_and_within_its_bound() {
        let s = window_of(500);
        let (c, finding) = split_brain_check(&s, None);
        assert!(!c.passed);
        assert!(finding.is_none());
        assert!(
            c.observed.starts_with("SPLIT BRAIN observed: pg1 and pg2"),
            "{}",
            c.observed
        );
        let (c, finding) = split_brain_check(&s, Some(&expected(1000)));
        assert!(c.passed);
        assert!(
            c.observed.starts_with("ACCEPTED RISK: SPLIT BRAIN"),
            "{}",
            c.observed
        );
        let f = finding.expect("an accepted window is a finding");
        assert_eq!(f.risk, "split_brain");
        assert_eq!(f.reason, "no watchdog");
        assert!(f.observed.starts_with("1 window(s)"), "{}", f.observed);
        let (c, finding) = split_brain_check(&s, Some(&expected(100)));
        assert!(!c.passed);
        assert!(finding.is_none());
        assert!(c.observed.contains("longer than the"), "{}", c.observed);
    }

    #[test]
    fn an_accepted_risk_that_did_not_happen_is_no_finding() {
        let s = vec![sql(0, "pg1", Some(false)), sql(0, "pg2", Some(true))];
        let (c, finding) = split_brain_check(&s, Some(&expected(1000)));
        assert!(c.passed);
        assert_eq!(c.name, "no split brain");
        assert!(finding.is_none());
    }

    #[test]
    fn nothing_asked_is_never_a_pass() {
        let s = vec![sql(0, "pg1", None), sql(10, "pg2", None)];
        for e in [None, Some(expected(1000))] {
            let (c, _) = split_brain_check(&s, e.as_ref());
            assert!(!c.passed);
            assert!(
                c.observed.contains("could not be checked"),
                "{}",
                c.observed
            );
        }
    }
}
