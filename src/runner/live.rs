//! The state of one scenario while it runs: the world folded from new samples, target
//! bindings, the undo stack, and everything recorded for the result.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::{Engine, event, metrics_from, split_brain_check, state_changes, state_of};
use crate::check::{self, Context, Eval, LeaderTracker, RecordedResponse, World};
use crate::inventory::{Role, render};
use crate::plan::{self, Bindings};
use crate::results::{
    CheckResult, ClusterState, CommandRecord, Event, EventKind, ScenarioResult, Snapshots,
    StepOutcome, StepRecord, Verdict, WorkloadResult,
};
use crate::scenario::{Condition, LoadedScenario, Scenario};
use crate::workload;

/// How a fault is undone.
pub(crate) enum UndoAction {
    /// Commands on nodes (and a dead man's switch to disarm first).
    Remote(crate::fault::Undo),
    /// Restore DCS configuration values through the REST API.
    RestoreConfig {
        /// Patch restoring the previous values.
        patch: serde_json::Value,
    },
}

/// A fault still in place.
pub(crate) struct PendingUndo {
    pub(crate) fault_id: Option<String>,
    pub(crate) action: UndoAction,
}

/// One scenario in progress.
pub struct Live<'e> {
    pub(crate) engine: &'e Engine,
    pub(crate) scenario: &'e Scenario,
    pub(crate) loaded: &'e LoadedScenario,
    pub(crate) world: World,
    pub(crate) tracker: LeaderTracker,
    next_sample: usize,
    first_sample: usize,
    pub(crate) bindings: Bindings,
    pub(crate) responses: BTreeMap<String, RecordedResponse>,
    pub(crate) leader_at_start: Option<String>,
    pub(crate) timeline_at_start: Option<u64>,
    pub(crate) undo_stack: Vec<PendingUndo>,
    pub(crate) steps: Vec<StepRecord>,
    pub(crate) checks: Vec<CheckResult>,
    pub(crate) events: Vec<Event>,
    pub(crate) verdict: Verdict,
    pub(crate) reason: Option<String>,
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
}

impl<'e> Live<'e> {
    pub(crate) fn new(engine: &'e Engine, loaded: &'e LoadedScenario) -> Self {
        let first = engine.timeline.len();
        Self {
            engine,
            scenario: &loaded.scenario,
            loaded,
            world: World::new(engine.config.stale_after),
            tracker: LeaderTracker::new(None),
            next_sample: first,
            first_sample: first,
            bindings: Bindings::new(),
            responses: BTreeMap::new(),
            leader_at_start: None,
            timeline_at_start: None,
            undo_stack: Vec::new(),
            steps: Vec::new(),
            checks: Vec::new(),
            events: Vec::new(),
            verdict: Verdict::Passed,
            reason: None,
            first_fault_at: None,
            recovered_at: None,
            before: ClusterState::default(),
            snapshot_before: None,
            worst: None,
            workload: None,
            workload_result: None,
            workload_error: None,
            started: Instant::now(),
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
            leader_at_start: self.leader_at_start.as_deref(),
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
            last = if self.world.any_view() { why } else { last };
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

    /// Binds targets from the current member list, and records the starting state.
    pub(crate) fn bind(&mut self) -> Result<(), plan::BindError> {
        self.fold();
        let members = self.world.members().map(<[_]>::to_vec).unwrap_or_default();
        self.bindings = plan::bind(self.scenario, &self.engine.inventory, &members)?;
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
                kind: super::steps::kind_name(step).into(),
                description: super::steps::describe(step),
                started_at: now,
                finished_at: now,
                outcome: StepOutcome::Skipped,
                commands: vec![],
                detail: Some("not run: an earlier step did not succeed".into()),
            });
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
    pub(crate) fn evaluate(&self, c: &Condition) -> Option<Eval> {
        check::evaluate(c, &self.world, &self.context())
    }

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
            Ok(w) => self.workload = Some(w),
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
        }
    }

    pub(crate) async fn finish_workload(&mut self) {
        let v = self.scenario.verdicts.clone();
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
        if !passed && self.verdict == Verdict::Passed {
            self.verdict = Verdict::Failed;
            self.reason = Some(format!("{name}: expected {expected}, observed {observed}"));
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
        let samples = self.engine.timeline.since(self.first_sample);
        let samples = &samples[..self
            .next_sample
            .saturating_sub(self.first_sample)
            .min(samples.len())];
        let sb = split_brain_check(samples, self.scenario.expected_split_brain.as_ref());
        if !sb.passed && self.verdict == Verdict::Passed && self.leader_at_start.is_some() {
            self.verdict = Verdict::Failed;
            self.reason = Some(format!("{}: {}", sb.name, sb.observed));
        }
        if self.leader_at_start.is_some() {
            self.checks.push(sb);
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
            verdict: self.verdict,
            reason: self.reason.clone(),
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
        }
    }

    fn observed_summary(&self, after: &ClusterState, m: &crate::results::Metrics) -> String {
        let mut parts = Vec::new();
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
                let cmd = render(
                    &ops.patroni_log,
                    &[
                        ("service", &ops.patroni_service),
                        ("since", &since),
                        ("until", &until),
                    ],
                );
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

/// The last `lines` lines and at most `bytes` bytes of `s`.
pub(crate) fn tail(s: &str, lines: usize, bytes: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    let start = v.len().saturating_sub(lines);
    let mut out = v[start..].join("\n");
    if out.len() > bytes {
        let mut cut = out.len() - bytes;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        out = format!("[…]{}", &out[cut..]);
    }
    out
}

fn group_of(path: &std::path::Path) -> String {
    path.parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("scenarios")
        .to_owned()
}
