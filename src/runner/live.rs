//! The state of one scenario while it runs: the world folded from new samples, target
//! bindings, the undo stack, and everything recorded for the result.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::judge::{Finding, Findings};
use super::{Engine, event, metrics_from, split_brain_check, state_changes, state_of};
use crate::check::{self, LeaderTracker, RecordedResponse, World};
use crate::inventory::Role;
use crate::plan::{self, Bindings};
use crate::results::{
    CheckResult, ClusterState, CommandRecord, Event, EventKind, ScenarioResult, Snapshots,
    StepOutcome, StepRecord, WorkloadResult,
};
use crate::scenario::condition::Context;
use crate::scenario::{Condition, LoadedScenario, Scenario};
use crate::text::tail;
use crate::workload;

/// How a fault is undone.
pub(crate) enum UndoAction {
    /// Commands on nodes (and a dead man's switch to disarm first).
    Remote(crate::fault::Undo),
    /// Restore DCS configuration values through the REST API.
    RestoreConfig {
        /// Patch restoring the previous values.
        patch: serde_json::Value,
        /// The node and the command recorded for cleanup before the change, and where.
        record: Option<(String, String, std::path::PathBuf)>,
        /// The switch armed on the node the change went to (its undo restores the
        /// configuration with patronictl, there).
        node_side: Option<crate::fault::Undo>,
    },
}

/// A fault still in place.
pub(crate) struct PendingUndo {
    pub(crate) fault_id: Option<String>,
    /// What the fault was, in words (named when its undo fails).
    pub(crate) fault: String,
    /// Nodes whose inject has an unknown outcome: their switch stays armed after the undo.
    pub(crate) keep_switch: std::collections::BTreeSet<String>,
    pub(crate) action: UndoAction,
}

/// An undo that still failed on a node after its retries: the run stops (exit 3).
pub(crate) struct UndoFailure {
    /// What the fault was.
    pub(crate) fault: String,
    /// Where and why.
    pub(crate) failure: crate::fault::undo::NodeFailure,
}

/// What the observers saw of this scenario so far: the world folded from the timeline's
/// samples, the leader changes, and the least healthy cluster state (observation stage).
pub(crate) struct View {
    pub(crate) world: World,
    pub(crate) tracker: LeaderTracker,
    next_sample: usize,
    first_sample: usize,
    /// Keeps this scenario's samples in the timeline until the result is assembled.
    _window: crate::observe::TimelinePin,
    /// The cluster JSON with the fewest healthy members, and their count.
    worst: Option<(usize, serde_json::Value)>,
}

impl View {
    fn new(timeline: &crate::observe::Timeline, stale_after: Duration) -> Self {
        let window = timeline.pin();
        let first = window.start();
        Self {
            world: World::new(stale_after),
            tracker: LeaderTracker::new(None),
            next_sample: first,
            first_sample: first,
            _window: window,
            worst: None,
        }
    }

    /// Folds every sample recorded since the last call into the world, and returns the
    /// leader changes seen as events. The worst state is tracked once targets are bound.
    fn fold(&mut self, timeline: &crate::observe::Timeline, bound: bool) -> Vec<Event> {
        let new = timeline.since(self.next_sample);
        self.next_sample += new.len();
        let mut events = Vec::new();
        for s in &new {
            self.world.apply(s);
            let leader = self.world.leader();
            let before = self.tracker.changes();
            if self.world.any_view() {
                self.tracker.observe(s.observation.at, leader.clone());
            }
            if self.tracker.changes() > before {
                events.push(Event {
                    at: s.observation.at,
                    kind: EventKind::NewLeader,
                    node: leader.clone(),
                    description: format!("new leader {}", leader.clone().unwrap_or_default()),
                });
            }
            if s.cluster_json.is_some() && bound {
                let healthy = self
                    .world
                    .members()
                    .map(|ms| {
                        ms.iter()
                            .filter(|m| matches!(m.state.as_str(), "running" | "streaming"))
                            .count()
                    })
                    .unwrap_or(0);
                if self.worst.as_ref().is_none_or(|(h, _)| healthy < *h)
                    && let Some(j) = self.world.cluster_json()
                {
                    self.worst = Some((healthy, j.clone()));
                }
            }
        }
        events
    }

    /// The samples folded so far for this scenario.
    fn samples(&self, timeline: &crate::observe::Timeline) -> Vec<crate::observe::Sample> {
        let mut samples = timeline.since(self.first_sample);
        samples.truncate(
            self.next_sample
                .saturating_sub(self.first_sample)
                .min(samples.len()),
        );
        samples
    }
}

/// The targets bound and the state the scenario started from (binding stage).
#[derive(Default)]
pub(crate) struct Bound {
    pub(crate) bindings: Bindings,
    /// The leader when targets were bound; `None` until then (or when there was none).
    pub(crate) leader_at_start: Option<String>,
    pub(crate) timeline_at_start: Option<u64>,
    before: ClusterState,
    snapshot_before: Option<serde_json::Value>,
}

/// The faults in place and what their undo left behind (steps and undo stages).
#[derive(Default)]
pub(crate) struct Faults {
    pub(crate) undo_stack: Vec<PendingUndo>,
    pub(crate) undo_failures: Vec<UndoFailure>,
    pub(crate) first_fault_at: Option<DateTime<Utc>>,
}

/// What every stage records for the result; the verdict is derived from `findings`.
#[derive(Default)]
pub(crate) struct Record {
    pub(crate) steps: Vec<StepRecord>,
    pub(crate) checks: Vec<CheckResult>,
    pub(crate) events: Vec<Event>,
    /// What the stages found; the verdict is computed from it when the result is assembled.
    pub(crate) findings: Findings,
    /// REST responses recorded by steps, by id (conditions refer to them).
    pub(crate) responses: BTreeMap<String, RecordedResponse>,
    recovered_at: Option<DateTime<Utc>>,
    /// Alternative outcomes taken (`expect ... or:`), by name.
    pub(crate) alternatives_taken: Vec<String>,
    /// The alternative outcome that ended the scenario early, if any.
    pub(crate) ended_by: Option<String>,
}

impl Record {
    /// Records a check over the whole scenario; a failed one is also a finding.
    pub(crate) fn verdict_check(&mut self, c: CheckResult) {
        if !c.passed {
            self.findings.push(Finding::Check(format!(
                "{}: expected {}, observed {}",
                c.name, c.expected, c.observed
            )));
        }
        self.checks.push(c);
    }

    /// Records the steps from `from` on as not run: an earlier step did not succeed.
    pub(crate) fn skip_from(&mut self, steps: &[crate::scenario::Step], from: usize) {
        for (i, step) in steps.iter().enumerate().skip(from) {
            let now = Utc::now();
            self.steps.push(StepRecord {
                index: i,
                kind: step.kind().into(),
                description: step.describe(),
                started_at: now,
                finished_at: now,
                outcome: StepOutcome::Skipped,
                commands: vec![],
                detail: Some("not run: an earlier step did not succeed".into()),
            });
        }
    }

    /// Records the steps from `from` as not run because an alternative outcome that ends
    /// the scenario was taken (they follow the documented path).
    pub(crate) fn skip_for_alternative(
        &mut self,
        steps: &[crate::scenario::Step],
        from: usize,
        name: &str,
    ) {
        let first = self.steps.len();
        self.skip_from(steps, from);
        for r in &mut self.steps[first..] {
            r.detail = Some(format!(
                "not run: the alternative outcome \"{name}\" was taken and ends the scenario"
            ));
        }
    }

    /// Records the return to steady state after undo.
    pub(crate) fn recovered(&mut self) {
        self.recovered_at = Some(Utc::now());
        self.events
            .push(event(EventKind::Recovered, None, "steady state"));
    }
}

/// The workload handle while it runs, then what its verification found (workload stage).
#[derive(Default)]
pub(crate) struct Load {
    workload: Option<workload::Workload>,
    workload_result: Option<WorkloadResult>,
    workload_error: Option<String>,
}

impl Load {
    /// The data verdicts (lost writes, write unavailability, split brain in the data,
    /// failed writes present) from the workload's result.
    fn data_checks(&self, v: &crate::scenario::Verdicts) -> Vec<CheckResult> {
        let mut checks = Vec::new();
        let wr = &self.workload_result;
        let no_data = |what: &str, err: &Option<String>| {
            format!(
                "no workload result: {what} was not checked{}",
                err.as_ref().map(|e| format!(" ({e})")).unwrap_or_default()
            )
        };
        if let Some(max) = v.lost_writes {
            let (passed, observed) = match wr {
                Some(r) => (
                    r.lost.len() as u64 <= max,
                    format!(
                        "{} lost of {} acknowledged{}",
                        r.lost.len(),
                        r.acknowledged,
                        r.lost_span_seconds
                            .map(|s| format!(" (span {s:.2}s)"))
                            .unwrap_or_default()
                    ),
                ),
                None => (false, no_data("data loss", &self.workload_error)),
            };
            checks.push(data_check(
                "lost writes",
                format!("at most {max} acknowledged write(s) lost"),
                passed,
                observed,
            ));
        }
        if let Some(max) = v.write_unavailable_max {
            let (passed, observed) = match wr {
                Some(r) => match r.max_gap_seconds {
                    Some(g) => (
                        g <= max.get().as_secs_f64(),
                        format!("longest gap between acknowledged writes {g:.2}s"),
                    ),
                    None => (
                        false,
                        "fewer than two acknowledged writes: unavailability unknown".into(),
                    ),
                },
                None => (false, no_data("write unavailability", &self.workload_error)),
            };
            checks.push(data_check(
                "write unavailability",
                format!("writes unavailable at most {max}"),
                passed,
                observed,
            ));
        }
        if v.split_brain.is_some() {
            let (passed, observed) = match wr {
                Some(r) => match &r.split_brain {
                    None => (
                        true,
                        format!("{} server window(s), none overlapping", r.servers.len()),
                    ),
                    Some(e) => (false, e.clone()),
                },
                None => (
                    false,
                    no_data("split brain in the data", &self.workload_error),
                ),
            };
            checks.push(data_check(
                "no split brain in the data",
                "no two servers acknowledged writes in overlapping windows".into(),
                passed,
                observed,
            ));
        }
        if let Some(r) = wr
            && !r.failed_present.is_empty()
        {
            {
                let n = r.failed_present.len();
                checks.push(data_check(
                    "no failed write present",
                    "no write whose insert failed is present after recovery".into(),
                    false,
                    format!(
                        "{n} write(s) reported as failed are present: {:?}",
                        &r.failed_present[..n.min(10)]
                    ),
                ));
            }
        }
        checks
    }
}

/// `haproxy_flaps_max`: no backend server went down more often than `max`. Without any
/// sample of HAProxy's stats page nothing was measured, and the check fails saying so.
fn flaps_check(max: u64, flaps: &[crate::results::HaproxyFlaps]) -> CheckResult {
    let worst = flaps.iter().map(|f| f.went_down).max();
    let over: Vec<String> = flaps
        .iter()
        .filter(|f| f.went_down > max)
        .map(|f| {
            let at: Vec<String> = f
                .down_at
                .iter()
                .map(|t| t.format("%H:%M:%S%.3f").to_string())
                .collect();
            format!(
                "{} went down {}× (at {})",
                f.server,
                f.went_down,
                if at.is_empty() {
                    "times not sampled".into()
                } else {
                    at.join(", ")
                }
            )
        })
        .collect();
    let (passed, observed) = match worst {
        None => (
            false,
            "not measured: no sample of HAProxy's stats page in the scenario".to_owned(),
        ),
        Some(_) if !over.is_empty() => (false, over.join("; ")),
        Some(w) => (
            true,
            format!(
                "at most {w} UP→DOWN transition(s) per server over {} server(s)",
                flaps.len()
            ),
        ),
    };
    data_check(
        "HAProxy flaps",
        format!("no HAProxy backend server goes down more than {max}×"),
        passed,
        observed,
    )
}

/// A data check as recorded in the result.
fn data_check(name: &str, expected: String, passed: bool, observed: String) -> CheckResult {
    CheckResult {
        name: name.into(),
        step: None,
        passed,
        expected,
        observed,
        at: Some(Utc::now()),
    }
}

/// One scenario in progress: the engine and scenario it runs, and one part per stage.
pub(crate) struct Live<'e> {
    pub(crate) engine: &'e Engine,
    pub(crate) scenario: &'e Scenario,
    pub(crate) loaded: &'e LoadedScenario,
    pub(crate) view: View,
    pub(crate) bound: Bound,
    pub(crate) faults: Faults,
    pub(crate) record: Record,
    load: Load,
    /// When the scenario started (monotonic).
    pub(crate) started: Instant,
}

impl<'e> Live<'e> {
    pub(crate) fn new(engine: &'e Engine, loaded: &'e LoadedScenario) -> Self {
        Self {
            engine,
            scenario: &loaded.scenario,
            loaded,
            view: View::new(&engine.timeline, engine.config.stale_after),
            bound: Bound::default(),
            faults: Faults::default(),
            record: Record::default(),
            load: Load::default(),
            started: Instant::now(),
        }
    }

    /// Folds every sample recorded since the last call into the world.
    pub(crate) fn fold(&mut self) {
        let bound = self.bound.leader_at_start.is_some();
        let events = self.view.fold(&self.engine.timeline, bound);
        self.record.events.extend(events);
    }

    pub(crate) fn context(&self) -> Context<'_> {
        Context {
            bindings: &self.bound.bindings,
            timeline_at_start: self.bound.timeline_at_start,
            leader_changes: self.view.tracker.changes(),
            responses: &self.record.responses,
            patroni_nodes: &self.engine.patroni_nodes,
        }
    }

    /// Waits until the cluster is in steady state, or says why not at the deadline.
    pub(crate) async fn wait_steady(&mut self, within: Duration, what: &str) -> Result<(), String> {
        let started = Instant::now();
        let mut last = String::from("no observation yet");
        // With an entry point, steady also means it routes writes to the leader: a scenario
        // whose workload starts before HAProxy caught up would measure the previous one.
        let entry = self
            .engine
            .inventory
            .entrypoints
            .haproxy
            .is_some()
            .then(|| {
                Condition::Haproxy(crate::scenario::HaproxyCond {
                    write_port_reaches: Some("leader".into()),
                    ..Default::default()
                })
            });
        let mut probes = super::probe::ProbeCache::default();
        loop {
            self.fold();
            let nodes = self.expected_members();
            let (mut ok, mut why) = check::steady_state(&self.view.world, &nodes);
            if ok && let Some(c) = &entry {
                let e = super::probe::evaluate(self, c, &mut probes, true).await;
                if !e.holds {
                    ok = false;
                    why = format!(
                        "HAProxy does not route writes to the leader yet: {}",
                        e.observed
                    );
                }
            }
            if ok {
                return Ok(());
            }
            last = if self.view.world.any_view() {
                why
            } else if self.view.world.nodes().next().is_some() {
                // Samples came in, but no REST API answered: say so, not "no observation".
                "no Patroni REST API answers".into()
            } else {
                last
            };
            if started.elapsed() >= within {
                return Err(last);
            }
            if self.engine.cancel.level() >= super::Level::Hurry
                || (self.engine.cancel.is_cancelled() && what.contains("before"))
            {
                return Err(format!("interrupted while waiting for {what}"));
            }
            self.engine
                .progress
                .waiting(&format!("{what}: {last}"), started.elapsed(), within);
            self.engine
                .timeline
                .changed(Duration::from_millis(250))
                .await;
        }
    }

    /// Patroni nodes the cluster must list to be steady: the inventory's, plus any spare
    /// that became a member (add-node scenarios).
    fn expected_members(&self) -> Vec<String> {
        let mut nodes = self.engine.patroni_nodes.clone();
        if let Some(ms) = self.view.world.members() {
            for n in self.engine.inventory.nodes_with(Role::Spare) {
                if ms.iter().any(|m| m.name == n.name) && !nodes.contains(&n.name) {
                    nodes.push(n.name.clone());
                }
            }
        }
        nodes
    }

    /// Binds targets from the current member list (and the etcd leader, for scenarios
    /// that target it), and records the starting state.
    pub(crate) fn bind(&mut self, etcd_leader: Option<&str>) -> Result<(), plan::BindError> {
        self.fold();
        let members = self.view.world.members_as_reported();
        self.bound.bindings =
            plan::bind(self.scenario, &self.engine.inventory, &members, etcd_leader)?;
        self.bound.leader_at_start = self.view.world.leader();
        self.bound.timeline_at_start = self.view.world.leader_timeline();
        self.view.tracker = LeaderTracker::new(self.bound.leader_at_start.clone());
        self.bound.before = state_of(&self.view.world);
        self.bound.snapshot_before = self.view.world.cluster_json().cloned();
        let desc: Vec<String> = self
            .bound
            .bindings
            .iter()
            .map(|(k, v)| format!("{k}={}", v.join(",")))
            .collect();
        self.engine.progress.line(&format!(
            "    leader {} on timeline {}; targets: {}",
            self.bound.before.leader.as_deref().unwrap_or("none"),
            self.bound
                .before
                .timeline
                .map(|t| t.to_string())
                .unwrap_or_else(|| "?".into()),
            desc.join(" ")
        ));
        Ok(())
    }

    /// Stage 2: starts the scenario's workload, if it has one, through the entry point it
    /// writes to; a workload that cannot start is recorded for the data checks.
    pub(crate) async fn start_workload(&mut self) {
        let Some(spec) = &self.scenario.workload else {
            return;
        };
        let inv = &self.engine.inventory;
        let target = match spec.writer.as_ref().map(|w| w.via) {
            Some(crate::scenario::WriteVia::MultiHost) => workload::WriteTarget::MultiHost(
                inv.nodes_with(Role::Patroni)
                    .map(|n| workload::Endpoint {
                        host: n.host.clone(),
                        port: inv.cluster.postgres.port,
                    })
                    .collect(),
            ),
            Some(crate::scenario::WriteVia::Pgbouncer) => match &inv.entrypoints.pgbouncer {
                Some(b) => workload::WriteTarget::Pooled(workload::Endpoint {
                    host: b.host.clone(),
                    port: b.port,
                }),
                None => {
                    self.load.workload_error =
                        Some("no PgBouncer entry point in the inventory".into());
                    return;
                }
            },
            _ => match &inv.entrypoints.haproxy {
                Some(h) => workload::WriteTarget::Single(workload::Endpoint {
                    host: h.host.clone(),
                    port: h.write_port,
                }),
                None => {
                    self.load.workload_error =
                        Some("no HAProxy entry point in the inventory".into());
                    return;
                }
            },
        };
        let read = inv.entrypoints.haproxy.as_ref().and_then(|h| {
            h.read_port.map(|p| workload::Endpoint {
                host: h.host.clone(),
                port: p,
            })
        });
        let direct = self.direct_readers(spec);
        match workload::Workload::start_with_direct(
            spec,
            target,
            read,
            direct,
            self.workload_settings(),
            &self.engine.config.run_id,
            &self.scenario.id,
        )
        .await
        {
            Ok(w) => {
                self.engine.status.writes(w.progress_handle());
                self.load.workload = Some(w);
            }
            Err(e) => self.load.workload_error = Some(format!("failed to start the workload: {e}")),
        }
    }

    /// With `reader: {replicas: true}`, a reader on each Patroni node's PostgreSQL port,
    /// each with its `/replica?lag=` check when the reader has `lag_check`.
    fn direct_readers(&self, spec: &crate::scenario::WorkloadSpec) -> Vec<workload::DirectReader> {
        let Some(r) = spec.reader.as_ref().filter(|r| r.replicas) else {
            return Vec::new();
        };
        let inv = &self.engine.inventory;
        inv.nodes_with(Role::Patroni)
            .map(|n| workload::DirectReader {
                node: n.name.clone(),
                endpoint: workload::Endpoint {
                    host: n.host.clone(),
                    port: inv.cluster.postgres.port,
                },
                lag_probe: r.lag_check.as_ref().map(|max_lag| workload::LagProbe {
                    client: self.engine.client.clone(),
                    node: n.clone(),
                    max_lag: max_lag.clone(),
                }),
            })
            .collect()
    }

    fn workload_settings(&self) -> workload::ConnectionSettings {
        workload::ConnectionSettings {
            user: self.engine.creds.user.clone(),
            database: self.engine.creds.database.clone(),
            password: self.engine.creds.password.clone(),
            connect_timeout: self.engine.creds.timeout,
            statement_timeout: self.engine.creds.timeout,
            tls: self.engine.creds.tls.clone(),
        }
    }

    /// Stops the workload, verifies its ledger against every member and checks the data
    /// verdicts the scenario asks for.
    pub(crate) async fn finish_workload(&mut self) {
        self.verify_workload().await;
        self.check_data();
    }

    /// Stops the workload and reads back what it wrote, from the leader first.
    async fn verify_workload(&mut self) {
        if let Some(w) = self.load.workload.take() {
            let ledger = w.stop().await;
            let inv = &self.engine.inventory;
            // verify() reads the reference copy from the first node: the leader.
            let leader = self.view.world.leader();
            let mut nodes: Vec<(String, workload::Endpoint)> = inv
                .nodes
                .iter()
                .filter(|n| self.view.world.member(&n.name).is_some())
                .map(|n| {
                    (
                        n.name.clone(),
                        workload::Endpoint {
                            host: n.host.clone(),
                            port: inv.cluster.postgres.port,
                        },
                    )
                })
                .collect();
            nodes.sort_by_key(|(n, _)| Some(n) != leader.as_ref());
            match workload::verify(
                &ledger,
                &nodes,
                &self.workload_settings(),
                self.faults.first_fault_at,
            )
            .await
            {
                Ok(mut r) => {
                    r.without_leader_key = self.writes_without_key(&ledger, &nodes);
                    self.load.workload_result = Some(r);
                }
                Err(e) => {
                    self.load.workload_error = Some(format!("failed to verify the workload: {e}"))
                }
            }
        }
    }

    /// The acknowledged writes each server took without holding the leader key, against
    /// the key as the DCS observer saw it in this scenario (`None` when it saw no key).
    fn writes_without_key(
        &self,
        ledger: &workload::Ledger,
        nodes: &[(String, workload::Endpoint)],
    ) -> Option<Vec<crate::results::KeylessWrites>> {
        let key: Vec<_> = self
            .view
            .samples(&self.engine.timeline)
            .into_iter()
            .map(|s| s.observation)
            .filter(|o| o.source == crate::results::ObservationSource::Dcs && o.reachable)
            .map(|o| (o.at, o.cluster_leader))
            .collect();
        let mut entries = ledger.entries.clone();
        workload::server_names(nodes).rename_entries(&mut entries);
        workload::writes_without_key(&entries, &key)
    }

    /// The data verdicts (lost writes, write unavailability, split brain in the data,
    /// failed writes present) from the workload's result, each failed one a finding.
    fn check_data(&mut self) {
        let v = &self.scenario.verdicts;
        let mut checks = self.load.data_checks(v);
        if let Some(max) = v.stale_read_max {
            let inv = &self.engine.inventory;
            let name_of = |addr: &str| {
                inv.nodes
                    .iter()
                    .find(|n| format!("{}:{}", n.host, inv.cluster.postgres.port) == addr)
                    .map_or_else(|| addr.to_owned(), |n| n.name.clone())
            };
            checks.push(super::stale_reads::stale_read_check(
                max,
                self.load.workload_result.as_ref(),
                self.load.workload_error.as_deref(),
                &name_of,
            ));
        }
        for c in checks {
            self.record.verdict_check(c);
        }
        if v.lost_writes.is_none()
            && v.write_unavailable_max.is_none()
            && v.split_brain.is_none()
            && v.stale_read_max.is_none()
            && let Some(e) = self.load.workload_error.clone()
        {
            self.engine.progress.line(&format!("    workload: {e}"));
        }
    }

    /// Stages 6 and 7, judge and record: the checks over the whole scenario's samples,
    /// then the result with the verdict derived from everything found.
    pub(crate) async fn finish(
        mut self,
        started_at: DateTime<Utc>,
        attempt: u32,
    ) -> ScenarioResult {
        self.fold();
        self.watchdog_resets(started_at).await;
        let samples = self.view.samples(&self.engine.timeline);
        let accepted_risks = self.judge(&samples).await;
        self.record_result(started_at, attempt, &samples, accepted_risks)
            .await
    }

    /// Split brain, timeline and divergence over the scenario's samples, each failed
    /// check a finding (only when targets were bound: otherwise nothing ran). Returns the
    /// accepted risks that happened.
    async fn judge(
        &mut self,
        samples: &[crate::observe::Sample],
    ) -> Vec<crate::results::AcceptedRiskFinding> {
        let (sb, accepted) = split_brain_check(
            samples,
            self.engine
                .inventory
                .cluster
                .accepted_risks
                .split_brain
                .as_ref(),
        );
        if !sb.passed && self.bound.leader_at_start.is_some() {
            self.record
                .findings
                .push(Finding::Check(format!("{}: {}", sb.name, sb.observed)));
        }
        let mut accepted_risks = Vec::new();
        if self.bound.leader_at_start.is_some() {
            self.record.checks.push(sb);
            accepted_risks.extend(accepted);
            for c in self.invariants(samples).await {
                if !c.passed {
                    self.record
                        .findings
                        .push(Finding::Check(format!("{}: {}", c.name, c.observed)));
                }
                self.record.checks.push(c);
            }
        }
        accepted_risks
    }

    /// Assembles the result: metrics, logs, what was observed, and the verdict.
    async fn record_result(
        mut self,
        started_at: DateTime<Utc>,
        attempt: u32,
        samples: &[crate::observe::Sample],
        accepted_risks: Vec<crate::results::AcceptedRiskFinding>,
    ) -> ScenarioResult {
        let mut metrics = metrics_from(
            self.view.tracker.changes(),
            self.faults.first_fault_at,
            self.view.tracker.first_change_at(),
            self.record.recovered_at,
            samples,
        );
        if let Some(w) = &self.load.workload_result {
            metrics.write_unavailable_seconds = w.max_gap_seconds;
        }
        if let Some(max) = self.scenario.verdicts.haproxy_flaps_max {
            self.record
                .verdict_check(flaps_check(max, &metrics.haproxy));
        }
        let (verdict, reason) = self.record.findings.verdict();
        let finished_at = Utc::now();
        let logs = self.collect_logs(started_at, finished_at).await;
        let after = state_of(&self.view.world);
        let observed = self.observed_summary(&after, &metrics);
        let sc = self.scenario;
        ScenarioResult {
            id: sc.id.clone(),
            title: sc.title.clone(),
            group: sc
                .group
                .clone()
                .unwrap_or_else(|| group_of(&self.loaded.path)),
            file: self.loaded.path.display().to_string(),
            tags: sc.tags.clone(),
            covers: sc.covers.clone(),
            documented: sc.documented.clone(),
            observed,
            attempt,
            verdict,
            reason,
            started_at,
            finished_at,
            targets: self.bound.bindings.clone(),
            before: self.bound.before.clone(),
            after,
            steps: std::mem::take(&mut self.record.steps),
            checks: std::mem::take(&mut self.record.checks),
            events: std::mem::take(&mut self.record.events),
            observations: state_changes(samples),
            snapshots: Snapshots {
                before: self.bound.snapshot_before.take(),
                worst: self.view.worst.take().map(|(_, j)| j),
                after: self.view.world.cluster_json().cloned(),
            },
            metrics,
            workload: self.load.workload_result.take(),
            logs,
            accepted_risks,
        }
    }

    /// The timeline and divergence invariants over the scenario's samples; the leader's
    /// history is asked of the leader at the end.
    async fn invariants(
        &self,
        samples: &[crate::observe::Sample],
    ) -> Vec<crate::results::CheckResult> {
        let end = state_of(&self.view.world);
        let history = match (end.leader, end.timeline) {
            (Some(leader), Some(tl)) => match self.engine.inventory.node(&leader) {
                Some(node) => self
                    .engine
                    .client
                    .history(node)
                    .await
                    .map(|h| (leader.clone(), tl, h))
                    .map_err(|e| format!("GET /history on {leader}: {}", e.short())),
                None => Err(format!("the leader {leader} is not in the inventory")),
            },
            _ => Err("no leader at the end of the scenario".to_owned()),
        };
        vec![
            super::invariants::timeline_check(samples),
            super::invariants::divergence_check(samples, history),
        ]
    }

    fn observed_summary(&self, after: &ClusterState, m: &crate::results::Metrics) -> String {
        let mut parts = Vec::new();
        for a in &self.record.alternatives_taken {
            parts.push(format!("ALTERNATIVE OUTCOME taken: {a}"));
        }
        match (&self.bound.before.leader, &after.leader) {
            (Some(a), Some(b)) if a == b => parts.push(format!("{a} stayed leader")),
            (Some(a), Some(b)) => parts.push(format!(
                "leadership moved from {a} to {b}{}",
                m.failover_seconds
                    .map(|s| format!(" in {s:.1}s"))
                    .unwrap_or_default()
            )),
            (_, None) => parts.push("no leader at the end".into()),
            (None, Some(b)) => parts.push(format!("{b} leads at the end")),
        }
        match (self.bound.before.timeline, after.timeline) {
            (Some(a), Some(b)) if a == b => parts.push(format!("timeline unchanged ({a})")),
            (Some(a), Some(b)) => parts.push(format!("timeline {a} -> {b}")),
            _ => {}
        }
        if m.leader_changes > 1 {
            parts.push(format!("{} leader changes", m.leader_changes));
        }
        if let Some(w) = &self.load.workload_result {
            parts.push(format!(
                "{} acknowledged writes, {} lost",
                w.acknowledged,
                w.lost.len()
            ));
            if let Some(g) = w.max_gap_seconds {
                parts.push(format!("writes unavailable for at most {g:.1}s"));
            }
        }
        if let Some(r) = m.recovery_seconds {
            parts.push(format!("steady again {r:.1}s after the first fault"));
        }
        for c in self
            .record
            .checks
            .iter()
            .filter(|c| c.passed && c.observed.starts_with("SPLIT BRAIN"))
        {
            parts.push(format!("{} (expected for this failure mode)", c.observed));
        }
        for c in self.record.checks.iter().filter(|c| !c.passed).take(3) {
            parts.push(format!("{}: {}", c.name, c.observed));
        }
        let mut s = parts.join("; ");
        s.push('.');
        s
    }

    async fn collect_logs(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BTreeMap<String, String> {
        let fmt = "%Y-%m-%d %H:%M:%S";
        let since = (from - chrono::Duration::seconds(1))
            .format(fmt)
            .to_string();
        let until = (to + chrono::Duration::seconds(1)).format(fmt).to_string();
        let inv = &self.engine.inventory;
        let futs = inv
            .nodes
            .iter()
            .filter(|n| {
                n.roles
                    .iter()
                    .any(|r| matches!(r, Role::Patroni | Role::Spare))
            })
            .map(|n| {
                let ops = inv.ops_for(n);
                let cmd = ops.patroni_log_command(&since, &until);
                let name = n.name.clone();
                async move {
                    let out = self
                        .engine
                        .transport
                        .run_with_timeout(&name, &cmd, Duration::from_secs(15))
                        .await;
                    let text = match out {
                        Ok(o) => tail(&o.stdout, 400, 96 * 1024),
                        Err(e) => format!("(log not collected: {e})"),
                    };
                    (name, self.engine.redact(&text))
                }
            });
        futures::future::join_all(futs).await.into_iter().collect()
    }

    /// Records a command's outcome, redacted and truncated.
    pub(crate) fn command_record(
        &self,
        node: &str,
        script: &str,
        started: DateTime<Utc>,
        out: &Result<crate::transport::Output, crate::transport::TransportError>,
    ) -> CommandRecord {
        let (exit_status, stdout, stderr, error, ms) = match out {
            Ok(o) => (
                o.status,
                o.stdout.clone(),
                o.stderr.clone(),
                None,
                o.duration.as_millis() as u64,
            ),
            Err(e) => (
                None,
                String::new(),
                String::new(),
                Some(e.to_string()),
                (Utc::now() - started).num_milliseconds().max(0) as u64,
            ),
        };
        CommandRecord {
            node: node.into(),
            command: self.engine.redact(script),
            exit_status,
            stdout: self.engine.redact(&tail(&stdout, 200, 16 * 1024)),
            stderr: self.engine.redact(&tail(&stderr, 200, 16 * 1024)),
            started_at: started,
            duration_ms: ms,
            error: error.map(|e| self.engine.redact(&e)),
        }
    }
}

/// The group of a scenario file: its directory's name.
pub(crate) fn group_of(path: &std::path::Path) -> String {
    path.parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("scenarios")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::HaproxyFlaps;

    #[test]
    fn the_flap_bound_names_each_server_over_it_and_fails_when_nothing_was_measured() {
        let f = |server: &str, went_down: u64| HaproxyFlaps {
            server: server.into(),
            went_down,
            ..Default::default()
        };
        let ok = flaps_check(1, &[f("primary/pg1", 1), f("replicas/pg2", 0)]);
        assert!(ok.passed, "{ok:?}");
        let over = flaps_check(1, &[f("primary/pg1", 1), f("replicas/pg2", 3)]);
        assert!(!over.passed);
        assert!(
            over.observed
                .starts_with("replicas/pg2 went down 3× (at times not sampled)"),
            "{}",
            over.observed
        );
        let none = flaps_check(1, &[]);
        assert!(
            !none.passed && none.observed.starts_with("not measured"),
            "{none:?}"
        );
    }
}
