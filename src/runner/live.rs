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

/// One scenario in progress.
pub(crate) struct Live<'e> {
    pub(crate) engine: &'e Engine,
    pub(crate) scenario: &'e Scenario,
    pub(crate) loaded: &'e LoadedScenario,
    pub(crate) world: World,
    pub(crate) tracker: LeaderTracker,
    next_sample: usize,
    first_sample: usize,
    /// Keeps this scenario's samples in the timeline until the result is assembled.
    _window: crate::observe::TimelinePin,
    pub(crate) bindings: Bindings,
    pub(crate) responses: BTreeMap<String, RecordedResponse>,
    pub(crate) leader_at_start: Option<String>,
    pub(crate) timeline_at_start: Option<u64>,
    pub(crate) undo_stack: Vec<PendingUndo>,
    pub(crate) undo_failures: Vec<UndoFailure>,
    pub(crate) steps: Vec<StepRecord>,
    pub(crate) checks: Vec<CheckResult>,
    pub(crate) events: Vec<Event>,
    /// What the stages found; the verdict is computed from it when the result is assembled.
    pub(crate) findings: Findings,
    pub(crate) first_fault_at: Option<DateTime<Utc>>,
    recovered_at: Option<DateTime<Utc>>,
    before: ClusterState,
    snapshot_before: Option<serde_json::Value>,
    worst: Option<(usize, serde_json::Value)>,
    workload: Option<workload::Workload>,
    workload_result: Option<WorkloadResult>,
    workload_error: Option<String>,
    /// When the scenario started (monotonic).
    pub(crate) started: Instant,
    /// Alternative outcomes taken (`expect ... or:`), by name.
    pub(crate) alternatives_taken: Vec<String>,
    /// The alternative outcome that ended the scenario early, if any.
    pub(crate) ended_by: Option<String>,
}

impl<'e> Live<'e> {
    pub(crate) fn new(engine: &'e Engine, loaded: &'e LoadedScenario) -> Self {
        let window = engine.timeline.pin();
        let first = window.start();
        Self {
            engine,
            scenario: &loaded.scenario,
            loaded,
            world: World::new(engine.config.stale_after),
            tracker: LeaderTracker::new(None),
            next_sample: first,
            first_sample: first,
            _window: window,
            bindings: Bindings::new(),
            responses: BTreeMap::new(),
            leader_at_start: None,
            timeline_at_start: None,
            undo_stack: Vec::new(),
            undo_failures: Vec::new(),
            steps: Vec::new(),
            checks: Vec::new(),
            events: Vec::new(),
            findings: Findings::default(),
            first_fault_at: None,
            recovered_at: None,
            before: ClusterState::default(),
            snapshot_before: None,
            worst: None,
            workload: None,
            workload_result: None,
            workload_error: None,
            started: Instant::now(),
            alternatives_taken: Vec::new(),
            ended_by: None,
        }
    }

    /// Folds every sample recorded since the last call into the world.
    pub(crate) fn fold(&mut self) {
        let new = self.engine.timeline.since(self.next_sample);
        self.next_sample += new.len();
        for s in &new {
            self.world.apply(s);
            let leader = self.world.leader();
            let before = self.tracker.changes();
            if self.world.any_view() {
                self.tracker.observe(s.observation.at, leader.clone());
            }
            if self.tracker.changes() > before {
                self.events.push(Event {
                    at: s.observation.at,
                    kind: EventKind::NewLeader,
                    node: leader.clone(),
                    description: format!("new leader {}", leader.clone().unwrap_or_default()),
                });
            }
            if s.cluster_json.is_some() && self.leader_at_start.is_some() {
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
    }

    pub(crate) fn context(&self) -> Context<'_> {
        Context {
            bindings: &self.bindings,
            timeline_at_start: self.timeline_at_start,
            leader_changes: self.tracker.changes(),
            responses: &self.responses,
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
            let (mut ok, mut why) = check::steady_state(&self.world, &nodes);
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
            last = if self.world.any_view() {
                why
            } else if self.world.nodes().next().is_some() {
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
        if let Some(ms) = self.world.members() {
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
        let members = self.world.members_as_reported();
        self.bindings = plan::bind(self.scenario, &self.engine.inventory, &members, etcd_leader)?;
        self.leader_at_start = self.world.leader();
        self.timeline_at_start = self.world.leader_timeline();
        self.tracker = LeaderTracker::new(self.leader_at_start.clone());
        self.before = state_of(&self.world);
        self.snapshot_before = self.world.cluster_json().cloned();
        let desc: Vec<String> = self
            .bindings
            .iter()
            .map(|(k, v)| format!("{k}={}", v.join(",")))
            .collect();
        self.engine.progress.line(&format!(
            "    leader {} on timeline {}; targets: {}",
            self.before.leader.as_deref().unwrap_or("none"),
            self.before
                .timeline
                .map(|t| t.to_string())
                .unwrap_or_else(|| "?".into()),
            desc.join(" ")
        ));
        Ok(())
    }

    pub(crate) fn skip_from(&mut self, from: usize) {
        for (i, step) in self.scenario.steps.iter().enumerate().skip(from) {
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
    pub(crate) fn skip_for_alternative(&mut self, from: usize, name: &str) {
        let first = self.steps.len();
        self.skip_from(from);
        for r in &mut self.steps[first..] {
            r.detail = Some(format!(
                "not run: the alternative outcome \"{name}\" was taken and ends the scenario"
            ));
        }
    }

    pub(crate) fn add_check(&mut self, c: CheckResult) {
        self.checks.push(c);
    }

    pub(crate) fn recovered(&mut self) {
        let now = Utc::now();
        self.recovered_at = Some(now);
        self.events
            .push(event(EventKind::Recovered, None, "steady state"));
    }

    /// Evaluates state conditions now (probes are handled by the caller).
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
            _ => match &inv.entrypoints.haproxy {
                Some(h) => workload::WriteTarget::Single(workload::Endpoint {
                    host: h.host.clone(),
                    port: h.write_port,
                }),
                None => {
                    self.workload_error = Some("no HAProxy entry point in the inventory".into());
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
        match workload::Workload::start(
            spec,
            target,
            read,
            self.workload_settings(),
            &self.engine.config.run_id,
            &self.scenario.id,
        )
        .await
        {
            Ok(w) => {
                self.engine.status.writes(w.progress_handle());
                self.workload = Some(w);
            }
            Err(e) => self.workload_error = Some(format!("failed to start the workload: {e}")),
        }
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
        if let Some(w) = self.workload.take() {
            let ledger = w.stop().await;
            let inv = &self.engine.inventory;
            // verify() reads the reference copy from the first node: the leader.
            let leader = self.world.leader();
            let mut nodes: Vec<(String, workload::Endpoint)> = inv
                .nodes
                .iter()
                .filter(|n| self.world.member(&n.name).is_some())
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
                self.first_fault_at,
            )
            .await
            {
                Ok(r) => self.workload_result = Some(r),
                Err(e) => self.workload_error = Some(format!("failed to verify the workload: {e}")),
            }
        }
    }

    /// The data verdicts (lost writes, write unavailability, split brain in the data,
    /// failed writes present) from the workload's result.
    fn check_data(&mut self) {
        let v = self.scenario.verdicts.clone();
        let wr = self.workload_result.clone();
        let no_data = |what: &str, err: &Option<String>| {
            format!(
                "no workload result: {what} was not checked{}",
                err.as_ref().map(|e| format!(" ({e})")).unwrap_or_default()
            )
        };
        if let Some(max) = v.lost_writes {
            let (passed, observed) = match &wr {
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
            self.push_data_check(
                "lost writes",
                format!("at most {max} acknowledged write(s) lost"),
                passed,
                observed,
            );
        }
        if let Some(max) = v.write_unavailable_max {
            let (passed, observed) = match &wr {
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
            self.push_data_check(
                "write unavailability",
                format!("writes unavailable at most {max}"),
                passed,
                observed,
            );
        }
        if v.split_brain.is_some() {
            let (passed, observed) = match &wr {
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
            self.push_data_check(
                "no split brain in the data",
                "no two servers acknowledged writes in overlapping windows".into(),
                passed,
                observed,
            );
        }
        if let Some(r) = &wr
            && !r.failed_present.is_empty()
        {
            {
                let n = r.failed_present.len();
                self.push_data_check(
                    "no failed write present",
                    "no write whose insert failed is present after recovery".into(),
                    false,
                    format!(
                        "{n} write(s) reported as failed are present: {:?}",
                        &r.failed_present[..n.min(10)]
                    ),
                );
            }
        }
        if v.lost_writes.is_none()
            && v.write_unavailable_max.is_none()
            && v.split_brain.is_none()
            && let Some(e) = self.workload_error.clone()
        {
            self.engine.progress.line(&format!("    workload: {e}"));
        }
    }

    fn push_data_check(&mut self, name: &str, expected: String, passed: bool, observed: String) {
        if !passed {
            self.findings.push(Finding::Check(format!(
                "{name}: expected {expected}, observed {observed}"
            )));
        }
        self.checks.push(CheckResult {
            name: name.into(),
            step: None,
            passed,
            expected,
            observed,
            at: Some(Utc::now()),
        });
    }

    /// Assembles the result: split brain over the whole scenario, metrics, logs.
    pub(crate) async fn finish(
        mut self,
        started_at: DateTime<Utc>,
        attempt: u32,
    ) -> ScenarioResult {
        self.fold();
        self.watchdog_resets(started_at).await;
        let samples = self.engine.timeline.since(self.first_sample);
        let samples = &samples[..self
            .next_sample
            .saturating_sub(self.first_sample)
            .min(samples.len())];
        let (sb, accepted) = split_brain_check(
            samples,
            self.engine
                .inventory
                .cluster
                .accepted_risks
                .split_brain
                .as_ref(),
        );
        if !sb.passed && self.leader_at_start.is_some() {
            self.findings
                .push(Finding::Check(format!("{}: {}", sb.name, sb.observed)));
        }
        let mut accepted_risks = Vec::new();
        if self.leader_at_start.is_some() {
            self.checks.push(sb);
            accepted_risks.extend(accepted);
            for c in self.invariants(samples).await {
                if !c.passed {
                    self.findings
                        .push(Finding::Check(format!("{}: {}", c.name, c.observed)));
                }
                self.checks.push(c);
            }
        }
        let mut metrics = metrics_from(
            self.tracker.changes(),
            self.first_fault_at,
            self.tracker.first_change_at(),
            self.recovered_at,
            samples,
        );
        if let Some(w) = &self.workload_result {
            metrics.write_unavailable_seconds = w.max_gap_seconds;
        }
        let (verdict, reason) = self.findings.verdict();
        let finished_at = Utc::now();
        let logs = self.collect_logs(started_at, finished_at).await;
        let after = state_of(&self.world);
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
            targets: self.bindings.clone(),
            before: self.before.clone(),
            after,
            steps: std::mem::take(&mut self.steps),
            checks: std::mem::take(&mut self.checks),
            events: std::mem::take(&mut self.events),
            observations: state_changes(samples),
            snapshots: Snapshots {
                before: self.snapshot_before.take(),
                worst: self.worst.take().map(|(_, j)| j),
                after: self.world.cluster_json().cloned(),
            },
            metrics,
            workload: self.workload_result.take(),
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
        let end = state_of(&self.world);
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
        for a in &self.alternatives_taken {
            parts.push(format!("ALTERNATIVE OUTCOME taken: {a}"));
        }
        match (&self.before.leader, &after.leader) {
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
        match (self.before.timeline, after.timeline) {
            (Some(a), Some(b)) if a == b => parts.push(format!("timeline unchanged ({a})")),
            (Some(a), Some(b)) => parts.push(format!("timeline {a} -> {b}")),
            _ => {}
        }
        if m.leader_changes > 1 {
            parts.push(format!("{} leader changes", m.leader_changes));
        }
        if let Some(w) = &self.workload_result {
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
            .checks
            .iter()
            .filter(|c| c.passed && c.observed.starts_with("SPLIT BRAIN"))
        {
            parts.push(format!("{} (expected for this failure mode)", c.observed));
        }
        for c in self.checks.iter().filter(|c| !c.passed).take(3) {
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
