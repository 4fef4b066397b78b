//! Carrying out one step: faults and node commands, REST operations, SQL, pgbench,
//! expectations with deadlines and holds.

use std::time::{Duration, Instant};

use chrono::Utc;

use super::live::{Live, PendingUndo, UndoAction, tail};
use super::{Level, event};
use crate::check::{self, RecordedResponse};
use crate::fault::{self, FaultContext, Location, NodeCommand};
use crate::inventory::Node;
use crate::results::{CheckResult, CommandRecord, EventKind, StepOutcome, StepRecord};
use crate::scenario::{Condition, Step, Via};

/// A one-line description of a step before targets are bound.
pub fn describe(step: &Step) -> String {
    match step {
        Step::Signal(s) => format!(
            "SIG{} {} on {}",
            format!("{:?}", s.signal).to_uppercase(),
            format!("{:?}", s.process).to_lowercase(),
            s.target
        ),
        Step::Service(s) => {
            format!("{:?} {:?} on {}", s.action, s.service, s.target).to_lowercase()
        }
        Step::PgCtl(s) => format!("pg_ctl stop -m {:?} on {}", s.mode, s.target).to_lowercase(),
        Step::Reboot(s) => format!("reboot {}", s.target),
        Step::Poweroff(s) => format!("power off {}", s.target),
        Step::PowerOn(s) => format!("power on {}", s.target),
        Step::Block(b) => format!(
            "iptables {} tcp/{} {} on {}",
            format!("{:?}", b.action).to_uppercase(),
            b.port,
            format!("{:?}", b.direction).to_lowercase(),
            b.target
        ),
        Step::Isolate(s) => format!("isolate {} (all but SSH)", s.target),
        Step::Undo(u) => format!("undo fault {}", u.fault),
        Step::Switchover(s) => format!(
            "switchover{}{} via {:?}",
            s.leader
                .as_ref()
                .map(|l| format!(" from {l}"))
                .unwrap_or_default(),
            s.candidate
                .as_ref()
                .map(|c| format!(" to {c}"))
                .unwrap_or_default(),
            s.via
        )
        .replace("Rest", "REST")
        .replace("Patronictl", "patronictl"),
        Step::Failover(s) => format!("failover to {} via {:?}", s.candidate, s.via)
            .replace("Rest", "REST")
            .replace("Patronictl", "patronictl"),
        Step::Restart(s) => format!("restart {} through Patroni", s.target),
        Step::Reinitialize(s) => format!("reinitialize {}", s.target),
        Step::Reload(s) => format!("reload {}", s.target),
        Step::PatchConfig(p) => format!("PATCH /config {}", p.patch),
        Step::StartPatroni(s) => format!("start Patroni on {}", s.target),
        Step::Sql(s) => format!("SQL on {}: {}", endpoint_word(&s.on), s.query),
        Step::Pgbench(p) => format!("pgbench {} clients for {}", p.clients, p.duration),
        Step::Shell(s) => format!("shell on {}: {}", s.target, s.command),
        Step::Expect(e) => format!(
            "expect within {}: {}",
            e.within,
            e.because
                .clone()
                .unwrap_or_else(|| format!("{} condition(s)", e.all.len()))
        ),
        Step::Hold(h) => format!(
            "hold for {}: {}",
            h.duration,
            h.because
                .clone()
                .unwrap_or_else(|| format!("{} condition(s)", h.all.len()))
        ),
    }
}

impl Live<'_> {
    fn node(&self, name: &str) -> Option<&Node> {
        self.engine.inventory.node(name)
    }

    fn one(&self, target: &str) -> Result<String, String> {
        crate::plan::single(&self.bindings, target)
            .map(str::to_owned)
            .ok_or_else(|| format!("target {target:?} is not bound"))
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
        let desc = describe(step);
        self.engine.progress.line(&format!(
            "  step {}/{}: {desc}",
            i + 1,
            self.scenario.steps.len()
        ));
        self.events.push(event(
            EventKind::Step,
            None,
            format!("step {}: {desc}", i + 1),
        ));
        let mut commands = Vec::new();
        let result = self.execute(i, step, &mut commands).await;
        self.fold();
        let (outcome, detail) = match result {
            Ok(d) => (StepOutcome::Ok, d),
            Err(StepError::Failed(d)) => (StepOutcome::Failed, Some(d)),
            Err(StepError::Error(d)) => (StepOutcome::Error, Some(d)),
        };
        if outcome != StepOutcome::Ok && self.reason.is_none() {
            self.reason = Some(format!(
                "step {} ({desc}): {}",
                i + 1,
                detail.clone().unwrap_or_default()
            ));
        }
        if outcome != StepOutcome::Ok {
            self.engine.progress.line(&format!(
                "    step {} {:?}: {}",
                i + 1,
                outcome,
                detail.clone().unwrap_or_default()
            ));
        }
        self.steps.push(StepRecord {
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

    async fn execute(
        &mut self,
        i: usize,
        step: &Step,
        rec: &mut Vec<CommandRecord>,
    ) -> Result<Option<String>, StepError> {
        match step {
            Step::Expect(e) => self.expect(i, &e.all, e.within.get()).await.map(Some),
            Step::Hold(h) => self.hold(i, &h.all, h.duration.get()).await.map(Some),
            Step::Undo(u) => self.undo_one(&u.fault, rec).await.map(Some),
            Step::Switchover(s) => self.switchover(s, rec).await,
            Step::Failover(f) => self.failover(f, rec).await,
            Step::Restart(a) | Step::Reinitialize(a) | Step::Reload(a) => {
                let node = self.one(&a.target).map_err(StepError::Error)?;
                let n = self
                    .node(&node)
                    .cloned()
                    .ok_or_else(|| StepError::Error(format!("unknown node {node}")))?;
                let c = &self.engine.client;
                let resp = match step {
                    Step::Restart(_) => c.restart(&n).await,
                    Step::Reinitialize(_) => c.reinitialize(&n).await,
                    _ => c.reload(&n).await,
                };
                self.events
                    .push(event(EventKind::Operation, Some(&node), describe(step)));
                self.check_response(a.id.as_deref(), resp, a.expect_status.unwrap_or(200))
            }
            Step::PatchConfig(p) => self.patch_config(p).await,
            Step::Sql(s) => self.sql_step(s).await,
            Step::Pgbench(p) => self.pgbench(p, rec).await,
            _ => self.fault(step, rec).await,
        }
    }

    async fn fault(
        &mut self,
        step: &Step,
        rec: &mut Vec<CommandRecord>,
    ) -> Result<Option<String>, StepError> {
        let seq = self.engine.next_fault_seq();
        let deadman_after = self.scenario.max_duration.get() + self.engine.config.deadman_margin;
        let ctx = FaultContext {
            inventory: &self.engine.inventory,
            run_id: &self.engine.config.run_id,
            seq,
            deadman_after,
            targets: &self.bindings,
        };
        let action = fault::plan(step, &ctx)
            .map_err(|e| StepError::Error(e.to_string()))?
            .ok_or_else(|| StepError::Error("not a fault step".into()))?;
        let node = action.inject.iter().find_map(|c| match &c.location {
            Location::Node(n) => Some(n.clone()),
            Location::Local => None,
        });
        let at = Utc::now();
        let res = self.run_commands(&action.inject, rec).await;
        let is_fault = action.undo.is_some() || is_one_shot_fault(step);
        if is_fault && self.first_fault_at.is_none() {
            self.first_fault_at = Some(at);
        }
        self.events.push(crate::results::Event {
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
            self.undo_stack.push(PendingUndo {
                fault_id: id,
                action: UndoAction::Remote(u),
            });
        }
        res.map_err(StepError::Error)?;
        Ok(None)
    }

    async fn run_undo(
        &self,
        u: &UndoAction,
        rec: &mut Vec<CommandRecord>,
    ) -> Result<String, String> {
        match u {
            UndoAction::Remote(undo) => {
                for d in &undo.deadmen {
                    let disarm = NodeCommand {
                        location: Location::Node(d.node.clone()),
                        script: d.disarm.clone(),
                    };
                    // A disarm failure must not prevent the undo itself.
                    let _ = self.run_commands(std::slice::from_ref(&disarm), rec).await;
                }
                self.run_commands(&undo.commands, rec)
                    .await
                    .map(|()| undo.description.clone())
            }
            UndoAction::RestoreConfig { patch } => {
                let leader = self.world.leader();
                let nodes: Vec<Node> = match leader.as_deref().and_then(|l| self.node(l)) {
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
                        Ok(r) if (200..300).contains(&r.status) => {
                            return Ok(format!("restored DCS configuration {patch}"));
                        }
                        Ok(r) => {
                            last = format!("PATCH /config on {} answered {}", n.name, r.status)
                        }
                        Err(e) => last = e.to_string(),
                    }
                }
                Err(last)
            }
        }
    }

    async fn undo_one(
        &mut self,
        id: &str,
        rec: &mut Vec<CommandRecord>,
    ) -> Result<String, StepError> {
        let pos = self
            .undo_stack
            .iter()
            .rposition(|p| p.fault_id.as_deref() == Some(id))
            .ok_or_else(|| StepError::Error(format!("no fault {id:?} is in place")))?;
        let p = self.undo_stack.remove(pos);
        let r = self.run_undo(&p.action, rec).await;
        self.events
            .push(event(EventKind::Undo, None, format!("undo {id}")));
        r.map_err(StepError::Error)
    }

    /// Undoes every fault still in place, newest first. Failures are recorded, never skipped.
    pub(crate) async fn undo_all(&mut self) {
        if self.undo_stack.is_empty() {
            return;
        }
        let started_at = Utc::now();
        let mut rec = Vec::new();
        let mut errors = Vec::new();
        let mut done = Vec::new();
        while let Some(p) = self.undo_stack.pop() {
            match self.run_undo(&p.action, &mut rec).await {
                Ok(d) => {
                    self.events.push(event(EventKind::Undo, None, d.clone()));
                    done.push(d);
                }
                Err(e) => errors.push(e),
            }
        }
        let ok = errors.is_empty();
        if !ok {
            self.verdict = crate::results::Verdict::Error;
            self.reason
                .get_or_insert_with(|| format!("undo failed: {}", errors.join("; ")));
        }
        self.engine.progress.line(&format!(
            "  undo: {}",
            if ok {
                done.join("; ")
            } else {
                errors.join("; ")
            }
        ));
        self.steps.push(StepRecord {
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

    fn check_response(
        &mut self,
        id: Option<&str>,
        resp: Result<crate::patroni::ApiResponse, crate::patroni::ApiError>,
        expected: u16,
    ) -> Result<Option<String>, StepError> {
        let resp = resp.map_err(|e| StepError::Error(e.to_string()))?;
        let body = self.engine.redact(resp.body.trim());
        if let Some(id) = id {
            self.responses.insert(
                id.to_owned(),
                RecordedResponse {
                    status: resp.status,
                    body: body.clone(),
                },
            );
        }
        let detail = format!("HTTP {} {}", resp.status, tail(&body, 5, 600));
        if resp.status == expected {
            Ok(Some(detail))
        } else {
            Err(StepError::Failed(format!(
                "expected HTTP {expected}, got {detail}"
            )))
        }
    }

    async fn switchover(
        &mut self,
        s: &crate::scenario::SwitchoverStep,
        rec: &mut Vec<CommandRecord>,
    ) -> Result<Option<String>, StepError> {
        let leader = match &s.leader {
            Some(t) => Some(self.one(t).map_err(StepError::Error)?),
            None => self.world.leader(),
        };
        let candidate = match &s.candidate {
            Some(t) => Some(self.one(t).map_err(StepError::Error)?),
            None => None,
        };
        let on = match &s.on {
            Some(t) => self.one(t).map_err(StepError::Error)?,
            None => leader
                .clone()
                .ok_or_else(|| StepError::Error("no leader to send the switchover to".into()))?,
        };
        let at = Utc::now();
        self.first_fault_at.get_or_insert(at);
        self.events.push(event(
            EventKind::Operation,
            Some(&on),
            describe(&crate::scenario::Step::Switchover(s.clone())),
        ));
        let expected = s.expect_status.unwrap_or(200);
        match s.via {
            Via::Rest => {
                let n = self
                    .node(&on)
                    .cloned()
                    .ok_or_else(|| StepError::Error(format!("unknown node {on}")))?;
                let resp = self
                    .engine
                    .client
                    .switchover(&n, leader.as_deref(), candidate.as_deref())
                    .await;
                self.check_response(s.id.as_deref(), resp, expected)
            }
            Via::Patronictl => {
                let cmd = fault::patronictl_switchover(
                    &self.engine.inventory,
                    &on,
                    leader.as_deref(),
                    candidate.as_deref(),
                )
                .map_err(|e| StepError::Error(e.to_string()))?;
                self.patronictl(cmd, s.id.as_deref(), expected, rec).await
            }
        }
    }

    async fn failover(
        &mut self,
        f: &crate::scenario::FailoverStep,
        rec: &mut Vec<CommandRecord>,
    ) -> Result<Option<String>, StepError> {
        let candidate = self.one(&f.candidate).map_err(StepError::Error)?;
        let on = match &f.on {
            Some(t) => self.one(t).map_err(StepError::Error)?,
            None => candidate.clone(),
        };
        self.first_fault_at.get_or_insert(Utc::now());
        self.events.push(event(
            EventKind::Operation,
            Some(&on),
            format!("failover to {candidate}"),
        ));
        let expected = f.expect_status.unwrap_or(200);
        match f.via {
            Via::Rest => {
                let n = self
                    .node(&on)
                    .cloned()
                    .ok_or_else(|| StepError::Error(format!("unknown node {on}")))?;
                let resp = self.engine.client.failover(&n, &candidate).await;
                self.check_response(f.id.as_deref(), resp, expected)
            }
            Via::Patronictl => {
                let cmd = fault::patronictl_failover(&self.engine.inventory, &on, &candidate)
                    .map_err(|e| StepError::Error(e.to_string()))?;
                self.patronictl(cmd, f.id.as_deref(), expected, rec).await
            }
        }
    }

    /// patronictl exits 0 on success; a refusal is reported as HTTP-like 412 so that
    /// scenarios can expect it the same way through either path.
    async fn patronictl(
        &mut self,
        cmd: NodeCommand,
        id: Option<&str>,
        expected: u16,
        rec: &mut Vec<CommandRecord>,
    ) -> Result<Option<String>, StepError> {
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
            self.responses.insert(
                id.to_owned(),
                RecordedResponse {
                    status,
                    body: body.clone(),
                },
            );
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

    async fn patch_config(
        &mut self,
        p: &crate::scenario::PatchConfigStep,
    ) -> Result<Option<String>, StepError> {
        let leader = self
            .world
            .leader()
            .ok_or_else(|| StepError::Error("no leader to send PATCH /config to".into()))?;
        let n = self
            .node(&leader)
            .cloned()
            .ok_or_else(|| StepError::Error(format!("unknown node {leader}")))?;
        let before = self
            .engine
            .client
            .config(&n)
            .await
            .map_err(|e| StepError::Error(e.to_string()))?;
        let resp = self.engine.client.patch_config(&n, &p.patch).await;
        self.events.push(event(
            EventKind::Operation,
            Some(&leader),
            format!("PATCH /config {}", p.patch),
        ));
        let r = self.check_response(p.id.as_deref(), resp, 200);
        if p.restore {
            let restore = inverse_patch(&p.patch, &before);
            self.undo_stack.push(PendingUndo {
                fault_id: p.id.clone(),
                action: UndoAction::RestoreConfig { patch: restore },
            });
        }
        r
    }

    async fn sql_step(
        &mut self,
        s: &crate::scenario::SqlStep,
    ) -> Result<Option<String>, StepError> {
        let deadline = s.within.map(|d| d.get()).unwrap_or_default();
        let started = Instant::now();
        loop {
            self.fold();
            let res = super::probe::sql_values(self, &s.on, &s.query).await;
            let outcome = match (&res, &s.expect) {
                (Ok(vals), Some(want)) => {
                    if !vals.is_empty()
                        && vals
                            .iter()
                            .all(|(_, v)| v.as_deref() == Some(want.as_str()))
                    {
                        Ok(fmt_values(vals))
                    } else {
                        Err(StepError::Failed(format!(
                            "expected {want:?}, got {}",
                            fmt_values(vals)
                        )))
                    }
                }
                (Ok(vals), None) => Ok(fmt_values(vals)),
                (Err(e), _) => Err(StepError::Failed(e.clone())),
            };
            match outcome {
                Ok(d) => return Ok(Some(d)),
                Err(e) if started.elapsed() >= deadline || self.engine.cancel.is_cancelled() => {
                    return Err(e);
                }
                Err(_) => {
                    self.engine.progress.waiting(
                        &format!("SQL {}", s.query),
                        started.elapsed(),
                        deadline,
                    );
                    self.engine
                        .timeline
                        .changed(Duration::from_millis(500))
                        .await;
                }
            }
        }
    }

    async fn pgbench(
        &mut self,
        p: &crate::scenario::PgbenchStep,
        rec: &mut Vec<CommandRecord>,
    ) -> Result<Option<String>, StepError> {
        let inv = &self.engine.inventory;
        let h = inv.entrypoints.haproxy.clone().ok_or_else(|| {
            StepError::Error("pgbench needs entrypoints.haproxy in the inventory".into())
        })?;
        let creds = &self.engine.creds;
        let base = format!(
            "pgbench -h {} -p {} -U {} {}",
            h.host,
            h.write_port,
            crate::transport::shell_quote(&creds.user),
            crate::transport::shell_quote(&creds.database)
        );
        let init = format!("{base} -i -q -s {} --no-vacuum 2>&1 | tail -n 3", p.scale);
        let run = format!(
            "{base} -n -c {} -j {} -T {} --progress=5 2>&1; echo \"pgbench exit status $?\"",
            p.clients,
            p.clients.min(4),
            p.duration.get().as_secs().max(1)
        );
        let env = creds.password.as_ref().map(|pw| pw.expose().to_owned());
        for (script, limit) in [
            (init, Duration::from_secs(300)),
            (run, p.duration.get() + Duration::from_secs(120)),
        ] {
            let started = Utc::now();
            let out = run_local_with_password(&script, env.as_deref(), limit).await;
            rec.push(self.command_record("local", &script, started, &out));
            let o = out.map_err(|e| StepError::Error(e.to_string()))?;
            if !o.success() {
                return Err(StepError::Failed(format!(
                    "pgbench failed: {}",
                    tail(o.stdout.trim(), 5, 800)
                )));
            }
        }
        let out = rec.last().map(|c| c.stdout.clone()).unwrap_or_default();
        let failed = parse_failed(&out);
        let exit_ok = out.contains("pgbench exit status 0");
        let mut detail = format!(
            "{} failed transaction(s); {}",
            failed.unwrap_or(0),
            tail(&out, 12, 1500)
        );
        if !exit_ok {
            return Err(StepError::Failed(format!(
                "pgbench did not complete cleanly: {detail}"
            )));
        }
        if failed.unwrap_or(0) > p.max_errors {
            return Err(StepError::Failed(format!(
                "more than {} failed transactions: {detail}",
                p.max_errors
            )));
        }
        if let Some(max) = p.max_lag_bytes {
            let worst = self.max_lag_since(rec.last().map(|c| c.started_at));
            match worst {
                Some((node, lag)) if lag > max => {
                    return Err(StepError::Failed(format!(
                        "replica {node} lagged {lag} bytes (> {max}) during the load"
                    )));
                }
                Some((node, lag)) => {
                    detail = format!("max replica lag {lag} bytes ({node}); {detail}")
                }
                None => {
                    return Err(StepError::Failed(
                        "no replica lag was observed during the load".into(),
                    ));
                }
            }
        }
        Ok(Some(detail))
    }

    fn max_lag_since(&self, from: Option<chrono::DateTime<Utc>>) -> Option<(String, u64)> {
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
    pub(crate) async fn expect(
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
                        format!(
                            "{}: observed {}",
                            check::describe(c, &self.context()),
                            e.observed
                        )
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
                .map(|(c, _)| check::describe(c, &self.context()))
                .collect();
            self.engine
                .progress
                .waiting(&waiting.join(", "), started.elapsed(), within);
            self.wait_for_news(Duration::from_millis(250)).await;
        }
    }

    /// Every condition must hold at every observation for the whole duration.
    pub(crate) async fn hold(
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
                    check::describe(&c, &self.context()),
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
            let e = match self.evaluate(c) {
                Some(e) => e,
                None => super::probe::evaluate(self, c, probes, strict).await,
            };
            out.push((c.clone(), e));
        }
        out
    }

    fn record_check(&mut self, step: usize, c: &Condition, e: &check::Eval, passed: bool) {
        let expected = check::describe(c, &self.context());
        self.checks.push(CheckResult {
            name: expected.clone(),
            step: Some(step),
            passed,
            expected,
            observed: e.observed.clone(),
            at: self.world.now(),
        });
    }
}

/// Why a step did not succeed.
pub(crate) enum StepError {
    /// What it checked was false.
    Failed(String),
    /// It could not be carried out.
    Error(String),
}

/// How an SQL endpoint is written in scenarios.
pub fn endpoint_word(e: &crate::scenario::SqlEndpoint) -> String {
    use crate::scenario::SqlEndpoint;
    match e {
        SqlEndpoint::Leader => "leader".into(),
        SqlEndpoint::WritePort => "write_port".into(),
        SqlEndpoint::ReadPort => "read_port".into(),
        SqlEndpoint::AllMembers => "all_members".into(),
        SqlEndpoint::Target(t) => t.clone(),
    }
}

fn is_one_shot_fault(step: &Step) -> bool {
    use crate::scenario::ServiceAction;
    match step {
        Step::Signal(_)
        | Step::PgCtl(_)
        | Step::Reboot(_)
        | Step::Poweroff(_)
        | Step::Block(_)
        | Step::Isolate(_) => true,
        Step::Service(s) => s.action != ServiceAction::Start,
        _ => false,
    }
}

fn fmt_values(v: &[(String, Option<String>)]) -> String {
    v.iter()
        .map(|(n, x)| format!("{n}: {}", x.as_deref().unwrap_or("(no row)")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A patch that sets every key of `patch` back to its value in `before` (null when absent).
pub(crate) fn inverse_patch(
    patch: &serde_json::Value,
    before: &serde_json::Value,
) -> serde_json::Value {
    match patch {
        serde_json::Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m {
                let old = before.get(k).cloned().unwrap_or(serde_json::Value::Null);
                let inv = if v.is_object() && old.is_object() {
                    inverse_patch(v, &old)
                } else {
                    old
                };
                out.insert(k.clone(), inv);
            }
            serde_json::Value::Object(out)
        }
        _ => before.clone(),
    }
}

fn parse_failed(out: &str) -> Option<u64> {
    out.lines()
        .find_map(|l| l.trim().strip_prefix("number of failed transactions:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

async fn run_local_with_password(
    script: &str,
    password: Option<&str>,
    timeout: Duration,
) -> Result<crate::transport::Output, crate::transport::TransportError> {
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(p) = password {
        // Passed in the child's environment only, never on its command line.
        cmd.env("PGPASSWORD", p);
    }
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| crate::transport::TransportError::Timeout {
            node: "local".into(),
            command: script.into(),
            after: timeout,
        })?
        .map_err(|source| crate::transport::TransportError::Local {
            command: script.into(),
            source,
        })?;
    Ok(crate::transport::Output {
        status: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        duration: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inverse_patch_restores_nested_values() {
        let before = json!({"ttl": 20, "postgresql": {"parameters": {"work_mem": "4MB"}}});
        let patch =
            json!({"postgresql": {"parameters": {"work_mem": "8MB", "max_connections": 200}}});
        assert_eq!(
            inverse_patch(&patch, &before),
            json!({"postgresql": {"parameters": {"work_mem": "4MB", "max_connections": null}}})
        );
    }

    #[test]
    fn parses_pgbench_failures() {
        let out = "transaction type: x\nnumber of failed transactions: 3 (0.1%)\n";
        assert_eq!(parse_failed(out), Some(3));
        assert_eq!(parse_failed("nothing"), None);
    }
}
