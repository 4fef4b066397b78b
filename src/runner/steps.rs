//! Carrying out one step: faults and node commands, REST operations, SQL, pgbench,
//! expectations with deadlines and holds.

use std::time::{Duration, Instant};

use chrono::Utc;

use super::judge::Finding;
use super::live::{Live, PendingUndo, UndoAction};
use super::{Level, event};
use crate::check::{self, RecordedResponse};
use crate::fault::{self, FaultContext, Location, NodeCommand};
use crate::inventory::{Inventory, Node};
use crate::patroni::PatroniClient;
use crate::pg::Credentials;
use crate::results::{CheckResult, CommandRecord, EventKind, StepOutcome, StepRecord};
use crate::scenario::step::{Patronictl, StepError, StepResult, StepRunner};
use crate::scenario::{Condition, SqlEndpoint, Step};
use crate::text::tail;

/// How long one member may take to come back from a restart the restore needed.
const RESTART_WITHIN: Duration = Duration::from_secs(120);

impl Live<'_> {
    fn inv_node(&self, name: &str) -> Option<&Node> {
        self.engine.inventory.node(name)
    }

    /// Runs commands in order; stops at the first failure.
    pub(crate) async fn run_commands(
        &self,
        cmds: &[NodeCommand],
        rec: &mut Vec<CommandRecord>,
    ) -> Result<(), String> {
        for c in cmds {
            let started = Utc::now();
            let (name, out) = match &c.location {
                Location::Node(n) => (n.clone(), self.engine.transport.run(n, &c.script).await),
                Location::Local => (
                    "local".to_owned(),
                    crate::transport::run_local(
                        &c.script,
                        crate::transport::DEFAULT_COMMAND_TIMEOUT,
                    )
                    .await,
                ),
            };
            let r = self.command_record(&name, &c.script, started, &out);
            let failed = match &out {
                Ok(o) if o.success() => None,
                Ok(o) => Some(format!(
                    "command on {name} exited with {}: {}",
                    o.status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "a signal".into()),
                    tail(o.stderr.trim(), 3, 400)
                )),
                Err(e) => Some(e.to_string()),
            };
            rec.push(r);
            if let Some(f) = failed {
                return Err(self.engine.redact(&f));
            }
        }
        Ok(())
    }

    /// Runs step `i` and records it.
    pub(crate) async fn run_step(&mut self, i: usize, step: &Step) -> StepOutcome {
        self.fold();
        let started_at = Utc::now();
        let desc = step.describe();
        self.engine
            .status
            .step(i + 1, self.scenario.steps.len(), &desc);
        self.engine.progress.line(&format!(
            "  step {}/{}: {desc}",
            i + 1,
            self.scenario.steps.len()
        ));
        self.record.events.push(event(
            EventKind::Step,
            None,
            format!("step {}: {desc}", i + 1),
        ));
        let mut commands = Vec::new();
        let result = step.execute(i, &mut commands, self).await;
        self.fold();
        let (outcome, detail) = match result {
            Ok(d) => (StepOutcome::Ok, d),
            Err(StepError::Failed(d)) => (StepOutcome::Failed, Some(d)),
            Err(StepError::Error(d)) => (StepOutcome::Error, Some(d)),
        };
        if outcome != StepOutcome::Ok {
            self.record.findings.push(Finding::Step {
                outcome,
                reason: format!(
                    "step {} ({desc}): {}",
                    i + 1,
                    detail.clone().unwrap_or_default()
                ),
                interrupted: self.engine.cancel.is_cancelled(),
            });
        }
        if outcome != StepOutcome::Ok {
            self.engine.progress.line(&format!(
                "    step {} {:?}: {}",
                i + 1,
                outcome,
                super::reason::one_line(detail.as_deref().unwrap_or_default())
            ));
        }
        self.record.steps.push(StepRecord {
            index: i,
            kind: step.kind().into(),
            description: desc,
            started_at,
            finished_at: Utc::now(),
            outcome,
            commands,
            detail,
        });
        outcome
    }

    async fn inject(&mut self, step: &Step, rec: &mut Vec<CommandRecord>) -> StepResult {
        let seq = self.engine.next_fault_seq();
        // The switch fires a margin after the latest moment the scenario could still want
        // the fault: what its remaining steps can take, bounded by max_duration. (`step`
        // is one of the scenario's own steps: its position is its index.)
        let i = self
            .scenario
            .steps
            .iter()
            .position(|s| std::ptr::eq(s, step))
            .unwrap_or(0);
        let deadman_after = crate::scenario::budget::worst_from(self.scenario, i)
            + self.engine.config.deadman_margin;
        let ctx = FaultContext {
            inventory: &self.engine.inventory,
            run_id: &self.engine.config.run_id,
            seq,
            deadman_after,
            targets: &self.bound.bindings,
        };
        let action = fault::plan(step, &ctx)
            .map_err(|e| StepError::Error(e.to_string()))?
            .ok_or_else(|| StepError::Error("not a fault step".into()))?;
        let node = action.inject.iter().find_map(|c| match &c.location {
            Location::Node(n) => Some(n.clone()),
            Location::Local => None,
        });
        let at = Utc::now();
        let (res, keep_switch) = self.run_inject(&action.inject, rec).await;
        let is_fault = action.undo.is_some() || step.is_fault_event();
        if is_fault && self.faults.first_fault_at.is_none() {
            self.faults.first_fault_at = Some(at);
        }
        self.record.events.push(crate::results::Event {
            at,
            kind: if is_fault {
                EventKind::Fault
            } else {
                EventKind::Operation
            },
            node: node.clone(),
            description: action.description.clone(),
        });
        // Register the undo even when injection failed half-way: undos are idempotent.
        if let Some(u) = action.undo {
            let id = step.step_id().map(str::to_owned);
            self.faults.undo_stack.push(PendingUndo {
                fault_id: id,
                fault: action.description.clone(),
                keep_switch,
                action: UndoAction::Remote(u),
            });
        }
        res.map_err(StepError::Error)?;
        Ok(None)
    }

    /// The context of a record armed on a node by step `index` (a configuration change,
    /// a scheduled switchover): a fresh fault number, and a switch that fires a margin
    /// after the latest moment the scenario could still want it.
    fn record_context(&self, index: usize) -> FaultContext<'_> {
        FaultContext {
            inventory: &self.engine.inventory,
            run_id: &self.engine.config.run_id,
            seq: self.engine.next_fault_seq(),
            deadman_after: crate::scenario::budget::worst_from(self.scenario, index)
                + self.engine.config.deadman_margin,
            targets: &self.bound.bindings,
        }
    }

    /// Runs inject commands in order, stopping at the first failure; also returns the
    /// nodes where the outcome is unknown (no exit status came back: the command may
    /// still run there), whose switch must stay armed.
    async fn run_inject(
        &self,
        cmds: &[NodeCommand],
        rec: &mut Vec<CommandRecord>,
    ) -> (Result<(), String>, std::collections::BTreeSet<String>) {
        let mut unknown = std::collections::BTreeSet::new();
        for c in cmds {
            let r = self.run_commands(std::slice::from_ref(c), rec).await;
            if let Err(e) = r {
                if let (Location::Node(n), Some(last)) = (&c.location, rec.last())
                    && last.exit_status.is_none()
                {
                    unknown.insert(n.clone());
                }
                return (Err(e), unknown);
            }
        }
        (Ok(()), unknown)
    }

    async fn run_undo(
        &mut self,
        p: &PendingUndo,
        rec: &mut Vec<CommandRecord>,
    ) -> Result<String, String> {
        match &p.action {
            UndoAction::Remote(undo) => {
                let exec = super::undo_exec::EngineExec(self.engine);
                let out =
                    fault::undo::run(undo, &p.keep_switch, &exec, fault::undo::Retry::default())
                        .await;
                for r in &out.ran {
                    rec.push(self.command_record(&r.on, &r.script, r.started, &r.out));
                }
                for (node, what) in &out.fired {
                    self.switch_fired(node, &p.fault, what);
                }
                if out.failed.is_empty() {
                    return Ok(undo.description.clone());
                }
                let why: Vec<String> = out
                    .failed
                    .iter()
                    .map(|f| self.engine.redact(&f.error))
                    .collect();
                for failure in out.failed {
                    self.faults.undo_failures.push(super::live::UndoFailure {
                        fault: p.fault.clone(),
                        failure,
                    });
                }
                Err(format!(
                    "the undo of \"{}\" failed: {} (healed: {})",
                    p.fault,
                    why.join("; "),
                    if out.healed.is_empty() {
                        "none".to_owned()
                    } else {
                        out.healed.join(", ")
                    }
                ))
            }
            UndoAction::RestoreConfig {
                patch,
                record,
                node_side,
            } => {
                let restored = self.restore_config(patch).await;
                let exec = super::undo_exec::EngineExec(self.engine);
                let node_side = node_side.as_ref().map(|u| match &restored {
                    // Restored through the API: only the switches are left to disarm.
                    Ok(_) => crate::fault::Undo {
                        description: u.description.clone(),
                        commands: u
                            .commands
                            .iter()
                            .map(|c| NodeCommand {
                                location: c.location.clone(),
                                script: "echo 'pgchaos: restored through the REST API'\n".into(),
                            })
                            .collect(),
                        deadmen: u.deadmen.clone(),
                    },
                    // Not restored: the node-side restore (patronictl), retried.
                    Err(_) => u.clone(),
                });
                let mut failed = Vec::new();
                if let Some(u) = &node_side {
                    let out =
                        fault::undo::run(u, &p.keep_switch, &exec, fault::undo::Retry::default())
                            .await;
                    for r in &out.ran {
                        rec.push(self.command_record(&r.on, &r.script, r.started, &r.out));
                    }
                    for (node, what) in &out.fired {
                        self.switch_fired(node, &p.fault, what);
                    }
                    failed = out.failed;
                } else if let (Err(e), Some((node, script, _))) = (&restored, record) {
                    failed.push(fault::undo::NodeFailure {
                        node: node.clone(),
                        error: e.clone(),
                        script: script.clone(),
                        stem: None,
                    });
                }
                // Restored by the API or on the node, and no switch left armed.
                let done = failed.is_empty() && (restored.is_ok() || node_side.is_some());
                if done && let Some((_, _, path)) = record {
                    let _ = std::fs::remove_file(path);
                }
                let why: Vec<String> = failed
                    .iter()
                    .map(|f| self.engine.redact(&f.error))
                    .collect();
                for failure in failed {
                    self.faults.undo_failures.push(super::live::UndoFailure {
                        fault: p.fault.clone(),
                        failure,
                    });
                }
                if !why.is_empty() {
                    return Err(why.join("; "));
                }
                if let (false, Err(e)) = (done, restored) {
                    return Err(e);
                }
                let restart = self.restart_pending(patch).await?;
                Ok(format!("restored DCS configuration {patch}{restart}"))
            }
        }
    }

    /// Sends the restoring patch to the leader (else to each Patroni node in turn).
    async fn restore_config(&self, patch: &serde_json::Value) -> Result<(), String> {
        let leader = self.view.world.leader();
        let nodes: Vec<Node> = match leader.as_deref().and_then(|l| self.inv_node(l)) {
            Some(n) => vec![n.clone()],
            None => self
                .engine
                .inventory
                .nodes_with(crate::inventory::Role::Patroni)
                .cloned()
                .collect(),
        };
        let mut last = String::from("no node to send PATCH /config to");
        for n in nodes {
            match self.engine.client.patch_config(&n, patch).await {
                Ok(r) if (200..300).contains(&r.status) => return Ok(()),
                Ok(r) => last = format!("PATCH /config on {} answered {}", n.name, r.status),
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }

    /// After a restore: if it put back a setting PostgreSQL only takes at a restart, waits
    /// for Patroni to apply it (its next loop), then restarts every member reporting
    /// `pending_restart`, replicas first and the leader last, each through `POST
    /// /restart` and back without a pending restart before the next. Returns what it did.
    async fn restart_pending(&mut self, patch: &serde_json::Value) -> Result<String, String> {
        use crate::scenario::step::patch_config as pc;
        let params = pc::restored_parameters(patch);
        if params.is_empty() {
            return Ok(String::new());
        }
        let inv = &self.engine.inventory;
        let patroni: Vec<Node> = inv
            .nodes_with(crate::inventory::Role::Patroni)
            .cloned()
            .collect();
        let leader = self.view.world.leader();
        let ask = leader
            .as_deref()
            .and_then(|l| self.inv_node(l))
            .or(patroni.first())
            .cloned();
        let Some(ask) = ask else {
            return Ok(String::new());
        };
        // Which of them only a restart applies (unknown: find out from the members).
        if let Ok(Some(names)) = crate::pg::query_first(
            &ask.host,
            inv.cluster.postgres.port,
            &self.engine.creds,
            &pc::restart_context_query(&params),
        )
        .await
            && names.trim().is_empty()
        {
            return Ok(String::new());
        }
        let loop_wait = match self.engine.client.config(&ask).await {
            Ok(c) => c.get("loop_wait").and_then(serde_json::Value::as_u64),
            Err(_) => None,
        }
        .unwrap_or(10);
        // Patroni applies the restored configuration at its next loop: wait for a member
        // to report the pending restart, up to a loop and a margin (none may: the value
        // restored can be the one running).
        let engine = self.engine;
        let statuses = || member_statuses(engine, &patroni);
        let applied_by = tokio::time::Instant::now() + Duration::from_secs(loop_wait + 3);
        while tokio::time::Instant::now() < applied_by
            && !statuses().await.iter().any(|(_, st)| st.pending_restart)
        {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // Rounds: a replica restarted while its primary still runs the higher value of a
        // hot-standby setting keeps it (PostgreSQL's rule, which Patroni applies; Patroni
        // 3.x does not say why a restart is pending, so the order may be wrong once). Before
        // the next round, the replicas replay what the restarted leader wrote (its
        // parameter change record), so that their restart takes the new value.
        let mut restarted = Vec::new();
        for _round in 0..3 {
            let members: Vec<pc::Pending> = statuses()
                .await
                .iter()
                .map(|(name, st)| pc::Pending::from_status(name, st))
                .collect();
            let order = pc::restart_order(&members);
            if order.is_empty() {
                break;
            }
            for name in &order {
                self.restart_member(name).await?;
                restarted.push(name.clone());
            }
            let now = statuses().await;
            let leader_at = now
                .iter()
                .find(|(_, st)| st.role == "leader")
                .and_then(|(_, st)| st.xlog_location);
            let caught_up_by = tokio::time::Instant::now() + Duration::from_secs(30);
            while let Some(target) = leader_at
                && tokio::time::Instant::now() < caught_up_by
                && statuses().await.iter().any(|(_, st)| {
                    st.role != "leader" && st.xlog_replayed.is_some_and(|r| r < target)
                })
            {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        let still: Vec<String> = {
            let mut v = Vec::new();
            for n in &patroni {
                if let Ok(st) = self.engine.client.status(n).await
                    && st.pending_restart
                {
                    v.push(n.name.clone());
                }
            }
            v
        };
        if !still.is_empty() {
            return Err(format!(
                "{} still report a pending restart after the restored configuration's restarts ({}): restart them by hand (patronictl restart --pending)",
                still.join(", "),
                restarted.join(", ")
            ));
        }
        Ok(if restarted.is_empty() {
            String::new()
        } else {
            format!("; restarted {} to apply it", restarted.join(", "))
        })
    }

    /// `POST /restart` on one member, then waits until it runs again.
    async fn restart_member(&mut self, name: &str) -> Result<(), String> {
        let Some(n) = self.inv_node(name).cloned() else {
            return Ok(());
        };
        self.record.events.push(event(
            EventKind::Operation,
            Some(name),
            format!(
                "restart {name} through Patroni: the restored configuration is pending a restart"
            ),
        ));
        let by_hand = "restart it by hand (patronictl restart --pending)";
        match self.engine.client.restart(&n, None).await {
            Ok(r) if (200..300).contains(&r.status) => {}
            Ok(r) => {
                return Err(format!(
                    "the restored configuration needs a restart of {name}, and POST /restart answered {}: {by_hand}",
                    r.status
                ));
            }
            Err(e) => {
                return Err(format!(
                    "the restored configuration needs a restart of {name}: {e}: {by_hand}"
                ));
            }
        }
        let started = Instant::now();
        loop {
            if let Ok(st) = self.engine.client.status(&n).await
                && st.state == "running"
            {
                return Ok(());
            }
            if started.elapsed() > RESTART_WITHIN {
                return Err(format!(
                    "{name} is not running {}s after POST /restart: {by_hand}",
                    RESTART_WITHIN.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn undo_one(
        &mut self,
        id: &str,
        rec: &mut Vec<CommandRecord>,
    ) -> Result<String, StepError> {
        let pos = self
            .faults
            .undo_stack
            .iter()
            .rposition(|p| p.fault_id.as_deref() == Some(id))
            .ok_or_else(|| StepError::Error(format!("no fault {id:?} is in place")))?;
        let p = self.faults.undo_stack.remove(pos);
        let r = self.run_undo(&p, rec).await;
        self.record
            .events
            .push(event(EventKind::Undo, None, format!("undo {id}")));
        r.map_err(StepError::Error)
    }

    /// Undoes every fault still in place, newest first. Failures are recorded, never skipped.
    pub(crate) async fn undo_all(&mut self) {
        if self.faults.undo_stack.is_empty() {
            return;
        }
        let started_at = Utc::now();
        let mut rec = Vec::new();
        let mut errors = Vec::new();
        let mut done = Vec::new();
        while let Some(p) = self.faults.undo_stack.pop() {
            match self.run_undo(&p, &mut rec).await {
                Ok(d) => {
                    self.record
                        .events
                        .push(event(EventKind::Undo, None, d.clone()));
                    done.push(d);
                }
                Err(e) => errors.push(e),
            }
        }
        let ok = errors.is_empty();
        if !ok {
            self.record
                .findings
                .push(Finding::UndoFailed(errors.join("; ")));
        }
        self.engine.progress.line(&format!(
            "  undo: {}",
            if ok {
                done.join("; ")
            } else {
                errors.join("; ")
            }
        ));
        self.record.steps.push(StepRecord {
            index: self.scenario.steps.len(),
            kind: "undo".into(),
            description: "undo every fault still in place".into(),
            started_at,
            finished_at: Utc::now(),
            outcome: if ok {
                StepOutcome::Ok
            } else {
                StepOutcome::Error
            },
            commands: rec,
            detail: Some(if ok {
                done.join("; ")
            } else {
                errors.join("; ")
            }),
        });
    }

    /// patronictl exits 0 on success; a refusal is reported as HTTP-like 412 so that
    /// scenarios can expect it the same way through either path.
    async fn run_patronictl(
        &mut self,
        cmd: NodeCommand,
        id: Option<&str>,
        expected: u16,
        rec: &mut Vec<CommandRecord>,
    ) -> StepResult {
        let r = self.run_commands(std::slice::from_ref(&cmd), rec).await;
        let last = rec.last().cloned();
        let body = last
            .as_ref()
            .map(|c| format!("{}{}", c.stdout, c.stderr))
            .unwrap_or_default();
        let status = match (&r, last.as_ref().and_then(|c| c.exit_status)) {
            (Ok(()), _) => 200,
            (Err(_), Some(_)) => 412,
            (Err(e), None) => return Err(StepError::Error(e.clone())),
        };
        if let Some(id) = id {
            self.record_response(id, status, body.clone());
        }
        if status == expected {
            Ok(Some(format!("patronictl: {}", tail(body.trim(), 5, 600))))
        } else {
            Err(StepError::Failed(format!(
                "expected {expected}, patronictl said: {}",
                tail(body.trim(), 5, 600)
            )))
        }
    }

    fn lag_since(&self, from: Option<chrono::DateTime<Utc>>) -> Option<(String, u64)> {
        let from = from?;
        let samples = self.engine.timeline.since(0);
        samples
            .iter()
            .filter(|s| s.observation.at >= from)
            .filter_map(|s| s.members.as_ref())
            .flat_map(|ms| {
                ms.iter()
                    .filter(|m| m.role != "leader")
                    .filter_map(|m| m.lag_bytes.map(|l| (m.name.clone(), l)))
            })
            .max_by_key(|(_, l)| *l)
    }

    /// Waits until every condition holds at once, or fails at the deadline.
    pub(crate) async fn wait_all(
        &mut self,
        step: usize,
        conds: &[Condition],
        within: Duration,
    ) -> Result<String, StepError> {
        let started = Instant::now();
        let mut probes = super::probe::ProbeCache::default();
        loop {
            self.fold();
            let evals = self.eval_all(conds, &mut probes, false).await;
            let all = evals.iter().all(|(_, e)| e.holds);
            if all {
                for (c, e) in &evals {
                    self.record_check(step, c, e, true);
                }
                return Ok(format!(
                    "after {:.1}s: {}",
                    started.elapsed().as_secs_f64(),
                    evals
                        .iter()
                        .map(|(_, e)| e.observed.clone())
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
            if started.elapsed() >= within || self.engine.cancel.is_cancelled() {
                for (c, e) in &evals {
                    self.record_check(step, c, e, e.holds);
                }
                let failed: Vec<String> = evals
                    .iter()
                    .filter(|(_, e)| !e.holds)
                    .map(|(c, e)| {
                        format!("{}: observed {}", c.describe(&self.context()), e.observed)
                    })
                    .collect();
                let (what, secs) = if self.engine.cancel.is_cancelled() {
                    ("interrupted after", started.elapsed())
                } else {
                    ("not true within", within)
                };
                return Err(StepError::Failed(format!(
                    "{what} {:.1}s: {}",
                    secs.as_secs_f64(),
                    failed.join("; ")
                )));
            }
            let waiting: Vec<String> = evals
                .iter()
                .filter(|(_, e)| !e.holds)
                .map(|(c, _)| c.describe(&self.context()))
                .collect();
            self.engine
                .progress
                .waiting(&waiting.join(", "), started.elapsed(), within);
            self.wait_for_news(Duration::from_millis(250)).await;
        }
    }

    /// Every condition must hold at every observation for the whole duration.
    pub(crate) async fn hold_all(
        &mut self,
        step: usize,
        conds: &[Condition],
        duration: Duration,
    ) -> Result<String, StepError> {
        let started = Instant::now();
        let mut probes = super::probe::ProbeCache::default();
        let mut last;
        loop {
            self.fold();
            let evals = self.eval_all(conds, &mut probes, true).await;
            if let Some((c, e)) = evals.iter().find(|(_, e)| !e.holds) {
                let (c, e) = (c.clone(), e.clone());
                self.record_check(step, &c, &e, false);
                return Err(StepError::Failed(format!(
                    "after {:.1}s of {:.0}s: {} no longer true: observed {}",
                    started.elapsed().as_secs_f64(),
                    duration.as_secs_f64(),
                    c.describe(&self.context()),
                    e.observed
                )));
            }
            last = evals;
            if started.elapsed() >= duration {
                break;
            }
            if self.engine.cancel.is_cancelled() {
                return Err(StepError::Failed("interrupted during the hold".into()));
            }
            self.engine
                .progress
                .waiting("holding", started.elapsed(), duration);
            let left = duration.saturating_sub(started.elapsed());
            self.wait_for_news(left.min(Duration::from_millis(250)))
                .await;
        }
        for (c, e) in &last {
            self.record_check(step, c, e, true);
        }
        Ok(format!(
            "held for {:.1}s{}",
            duration.as_secs_f64(),
            if last.is_empty() {
                String::new()
            } else {
                format!(
                    ": {}",
                    last.iter()
                        .map(|(_, e)| e.observed.clone())
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            }
        ))
    }

    async fn wait_for_news(&self, max: Duration) {
        tokio::select! {
            _ = self.engine.timeline.changed(max) => {}
            _ = self.engine.cancel.reached(Level::Stop) => {}
        }
    }

    async fn eval_all(
        &mut self,
        conds: &[Condition],
        probes: &mut super::probe::ProbeCache,
        strict: bool,
    ) -> Vec<(Condition, check::Eval)> {
        let mut out = Vec::new();
        for c in conds {
            let e = match c.on_timeline(&self.view.world, &self.context()) {
                Some(e) => e,
                None => super::probe::evaluate(self, c, probes, strict).await,
            };
            out.push((c.clone(), e));
        }
        out
    }

    fn record_check(&mut self, step: usize, c: &Condition, e: &check::Eval, passed: bool) {
        let expected = c.describe(&self.context());
        self.record.checks.push(CheckResult {
            name: expected.clone(),
            step: Some(step),
            passed,
            expected,
            observed: e.observed.clone(),
            at: self.view.world.now(),
        });
    }
}

impl StepRunner for Live<'_> {
    fn one(&self, target: &str) -> Result<String, StepError> {
        crate::plan::single(&self.bound.bindings, target)
            .map(str::to_owned)
            .ok_or_else(|| StepError::Error(format!("target {target:?} is not bound")))
    }

    fn node(&self, name: &str) -> Result<Node, StepError> {
        self.inv_node(name)
            .cloned()
            .ok_or_else(|| StepError::Error(format!("unknown node {name}")))
    }

    fn inventory(&self) -> &Inventory {
        &self.engine.inventory
    }

    fn client(&self) -> &PatroniClient {
        &self.engine.client
    }

    fn creds(&self) -> &Credentials {
        &self.engine.creds
    }

    fn leader(&self) -> Option<String> {
        self.view.world.leader()
    }

    async fn interrupted(&self) {
        self.engine.cancel.reached(super::Level::Stop).await
    }

    fn redact(&self, s: &str) -> String {
        self.engine.redact(s)
    }

    fn event(&mut self, kind: EventKind, node: Option<&str>, description: String) {
        self.record.events.push(event(kind, node, description));
    }

    fn mark_first_fault(&mut self, at: chrono::DateTime<Utc>) {
        self.faults.first_fault_at.get_or_insert(at);
    }

    fn record_response(&mut self, id: &str, status: u16, body: String) {
        self.record
            .responses
            .insert(id.to_owned(), RecordedResponse { status, body });
    }

    async fn patronictl(
        &mut self,
        op: Patronictl<'_>,
        id: Option<&str>,
        expected: u16,
        rec: &mut Vec<CommandRecord>,
    ) -> StepResult {
        let inv = &self.engine.inventory;
        let cmd = match op {
            Patronictl::Switchover {
                on,
                leader,
                candidate,
            } => fault::patronictl_switchover(inv, on, leader, candidate),
            Patronictl::Failover { on, candidate } => {
                fault::patronictl_failover(inv, on, candidate)
            }
        }
        .map_err(|e| StepError::Error(e.to_string()))?;
        self.run_patronictl(cmd, id, expected, rec).await
    }

    fn command_record(
        &self,
        node: &str,
        script: &str,
        started: chrono::DateTime<Utc>,
        out: &Result<crate::transport::Output, crate::transport::TransportError>,
    ) -> CommandRecord {
        Live::command_record(self, node, script, started, out)
    }

    async fn fault(&mut self, step: &Step, rec: &mut Vec<CommandRecord>) -> StepResult {
        self.inject(step, rec).await
    }

    async fn undo(&mut self, id: &str, rec: &mut Vec<CommandRecord>) -> StepResult {
        self.undo_one(id, rec).await.map(Some)
    }

    fn alternative_taken(
        &mut self,
        step: usize,
        name: &str,
        because: &str,
        seen: &str,
        ends_scenario: bool,
    ) {
        // The documented outcome's conditions stay in the record, as not observed.
        for c in self
            .record
            .checks
            .iter_mut()
            .filter(|c| c.step == Some(step) && !c.passed)
        {
            c.name = format!("[not taken] {}", c.name);
        }
        self.record.checks.push(CheckResult {
            name: format!("alternative outcome taken: {name}"),
            step: Some(step),
            passed: true,
            expected: because.to_owned(),
            observed: seen.to_owned(),
            at: self.view.world.now(),
        });
        self.record.events.push(event(
            EventKind::Operation,
            None,
            format!("alternative outcome taken at step {}: {name}", step + 1),
        ));
        self.record.alternatives_taken.push(name.to_owned());
        if ends_scenario {
            self.record.ended_by = Some(name.to_owned());
        }
    }

    async fn restore_config_later(
        &mut self,
        call: &mut crate::scenario::step::Call<'_>,
        id: Option<String>,
        node: &str,
        patch: serde_json::Value,
    ) -> Result<(), StepError> {
        // On the node: a dead man's switch whose undo record restores the configuration
        // (cleanup runs it; it runs by itself if pgchaos disappears).
        let action = fault::config::plan(&self.record_context(call.index), node, &patch)
            .map_err(|e| StepError::Error(e.to_string()))?;
        let (armed, keep_switch) = self.run_inject(&action.inject, call.rec).await;
        let node_side = action.undo;
        if let Err(e) = armed {
            // The switch may be armed (unknown outcome): its undo is idempotent, keep it
            // registered; but change nothing.
            if let Some(u) = node_side {
                self.faults.undo_stack.push(PendingUndo {
                    fault_id: None,
                    fault: action.description.clone(),
                    keep_switch,
                    action: UndoAction::Remote(u),
                });
            }
            return Err(StepError::Error(format!(
                "the configuration change could not be recorded on {node}, so it was not made: {e}"
            )));
        }
        // On this machine too: the node may be the one that goes down.
        let script = fault::config::restore_script(&self.engine.inventory, node, &patch);
        let record = self.engine.inventory.node(node).and_then(|n| {
            let rec = fault::pending::Pending {
                scope: self.engine.inventory.cluster.scope.clone(),
                node: node.to_owned(),
                host: n.host.clone(),
                run_id: self.engine.config.run_id.clone(),
                fault: format!("PATCH /config (restore {patch})"),
                script: script.clone(),
                error: "not restored yet (pgchaos stopped before the restore)".into(),
            };
            let path = fault::pending::save(&fault::pending::dir(), &rec).ok()?;
            Some((node.to_owned(), script, path))
        });
        self.faults.undo_stack.push(PendingUndo {
            fault_id: id,
            fault: action.description,
            keep_switch,
            action: UndoAction::RestoreConfig {
                patch,
                record,
                node_side,
            },
        });
        Ok(())
    }

    async fn cancel_scheduled_later(
        &mut self,
        call: &mut crate::scenario::step::Call<'_>,
        node: &str,
        what: fault::scheduled_switchover::Scheduled,
    ) -> Result<(), StepError> {
        let action =
            fault::scheduled_switchover::plan(&self.record_context(call.index), node, what)
                .map_err(|e| StepError::Error(e.to_string()))?;
        let (armed, keep_switch) = self.run_inject(&action.inject, call.rec).await;
        if let Some(u) = action.undo {
            // Registered even when arming failed: the switch may be armed (unknown
            // outcome) and its cancel is idempotent.
            self.faults.undo_stack.push(PendingUndo {
                fault_id: None,
                fault: action.description,
                keep_switch,
                action: UndoAction::Remote(u),
            });
        }
        armed.map_err(|e| {
            StepError::Error(format!(
                "the cancel of the scheduled {} could not be armed on {node}, so it was not requested: {e}",
                match what {
                    fault::scheduled_switchover::Scheduled::Switchover => "switchover",
                    fault::scheduled_switchover::Scheduled::Restart => "restart",
                }
            ))
        })
    }

    async fn expect(
        &mut self,
        step: usize,
        conds: &[Condition],
        within: Duration,
    ) -> Result<String, StepError> {
        self.wait_all(step, conds, within).await
    }

    async fn hold(
        &mut self,
        step: usize,
        conds: &[Condition],
        duration: Duration,
    ) -> Result<String, StepError> {
        self.hold_all(step, conds, duration).await
    }

    async fn sql_values(
        &mut self,
        on: &SqlEndpoint,
        query: &str,
    ) -> Result<Vec<(String, Option<String>)>, String> {
        self.fold();
        super::probe::sql_values(self, on, query).await
    }

    fn cancelled(&self) -> bool {
        self.engine.cancel.is_cancelled()
    }

    fn waiting(&self, what: &str, elapsed: Duration, deadline: Duration) {
        self.engine.progress.waiting(what, elapsed, deadline);
    }

    async fn wait_news(&self, max: Duration) {
        self.engine.timeline.changed(max).await;
    }

    fn max_lag_since(&self, from: Option<chrono::DateTime<Utc>>) -> Option<(String, u64)> {
        self.lag_since(from)
    }
}

/// Each Patroni node's `/patroni`, for those that answer.
async fn member_statuses(
    engine: &super::Engine,
    patroni: &[Node],
) -> Vec<(String, crate::patroni::PatroniStatus)> {
    let mut out = Vec::new();
    for n in patroni {
        if let Ok(st) = engine.client.status(n).await {
            out.push((n.name.clone(), st));
        }
    }
    out
}
