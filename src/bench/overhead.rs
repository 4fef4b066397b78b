//! Where a run's wall time goes: waiting on the cluster, actions running on the cluster,
//! and pgchaos's own time, computed from results.json.
//!
//! The runner does not time itself, so the split is read from the timestamps results.json
//! keeps: every step's start and end, every command's duration, the `recovered` event.
//!
//! - waiting on the cluster: `expect` and `hold` steps (conditions not yet true, holds),
//!   and recovery (end of the last step to the `recovered` event; to the scenario's end
//!   when recovery never came);
//! - actions on the cluster: the commands of fault, undo and operation steps as they ran
//!   on the nodes (SSH round trip included), and the whole duration of steps that call
//!   Patroni's REST API or PostgreSQL instead of running commands;
//! - before the first step: the steady-state wait, binding targets and starting the
//!   workload, which results.json does not separate; reported apart and counted both ways;
//! - pgchaos's own time: everything else — between steps, around commands, after
//!   recovery (workload verification, log collection), between scenarios (reports) and
//!   before the first and after the last scenario.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::results::{EventKind, RunResults, ScenarioResult, Verdict};

/// The split of one run's wall time, seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct TimeSplit {
    /// Scenario attempts that ran.
    pub scenarios: usize,
    /// Wall time of the run.
    pub total: f64,
    /// Waiting on the cluster: expect, hold, recovery.
    pub waiting: f64,
    /// Actions running on the cluster: commands on nodes, REST and SQL operations.
    pub actions: f64,
    /// Before the first step of each scenario (steady-state wait, binding, workload start).
    pub before_steps: f64,
    /// pgchaos's own time.
    pub own: f64,
    /// Part of `own`: after recovery (workload verification, Patroni log collection).
    pub after_recovery: f64,
    /// Part of `own`: outside every scenario (preflight, reports between scenarios).
    pub outside_scenarios: f64,
}

impl TimeSplit {
    /// Own time as % of the total, counting the time before the first step as waiting.
    pub(crate) fn own_percent_low(&self) -> f64 {
        100.0 * self.own / self.total.max(f64::EPSILON)
    }

    /// Own time as % of the total, counting the time before the first step as pgchaos's.
    pub(crate) fn own_percent_high(&self) -> f64 {
        100.0 * (self.own + self.before_steps) / self.total.max(f64::EPSILON)
    }
}

fn secs(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    ((b - a).num_microseconds().unwrap_or(0) as f64 / 1e6).max(0.0)
}

/// The split of a whole run.
pub(crate) fn split(results: &RunResults) -> TimeSplit {
    let mut out = TimeSplit {
        total: secs(results.started_at, results.finished_at),
        ..Default::default()
    };
    let mut inside = 0.0;
    for s in results
        .scenarios
        .iter()
        .filter(|s| s.verdict != Verdict::Skipped)
    {
        let one = split_scenario(s);
        out.scenarios += 1;
        out.waiting += one.waiting;
        out.actions += one.actions;
        out.before_steps += one.before_steps;
        out.after_recovery += one.after_recovery;
        inside += one.total;
    }
    out.outside_scenarios = (out.total - inside).max(0.0);
    out.own = (out.total - out.waiting - out.actions - out.before_steps).max(0.0);
    out
}

/// The split of one scenario attempt (its `own` is what is left inside the scenario).
pub(crate) fn split_scenario(s: &ScenarioResult) -> TimeSplit {
    let total = secs(s.started_at, s.finished_at);
    let ran: Vec<_> = s
        .steps
        .iter()
        .filter(|st| st.finished_at > st.started_at || !st.commands.is_empty())
        .collect();
    let first = ran.iter().map(|st| st.started_at).min();
    let last = ran.iter().map(|st| st.finished_at).max();
    let before_steps = first.map_or(0.0, |f| secs(s.started_at, f));
    let mut waiting = 0.0;
    let mut actions = 0.0;
    let mut after_recovery = 0.0;
    for st in &ran {
        let d = secs(st.started_at, st.finished_at);
        match st.kind.as_str() {
            "expect" | "hold" => waiting += d,
            _ if st.commands.is_empty() => actions += d,
            _ => {
                let cmds: f64 = st
                    .commands
                    .iter()
                    .map(|c| c.duration_ms as f64 / 1000.0)
                    .sum();
                actions += cmds.min(d);
            }
        }
    }
    if let Some(last) = last {
        let recovered = s
            .events
            .iter()
            .filter(|e| e.kind == EventKind::Recovered && e.at >= last)
            .map(|e| e.at)
            .max();
        let end = recovered.unwrap_or(s.finished_at);
        waiting += secs(last, end);
        after_recovery = secs(end, s.finished_at);
    }
    let (waiting, actions, before_steps) = if first.is_none() {
        // Nothing ran: the whole attempt was the steady-state wait before the first step.
        (0.0, 0.0, total)
    } else {
        (waiting, actions, before_steps)
    };
    TimeSplit {
        scenarios: 1,
        total,
        waiting,
        actions,
        before_steps,
        own: (total - waiting - actions - before_steps).max(0.0),
        after_recovery,
        outside_scenarios: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{CommandRecord, Event, StepOutcome, StepRecord};

    fn t(s: f64) -> DateTime<Utc> {
        let base: DateTime<Utc> = "2026-11-10T12:00:00Z".parse().unwrap();
        base + chrono::Duration::microseconds((s * 1e6) as i64)
    }

    fn step(kind: &str, from: f64, to: f64, cmd_ms: &[u64]) -> StepRecord {
        StepRecord {
            index: 0,
            kind: kind.into(),
            description: kind.into(),
            started_at: t(from),
            finished_at: t(to),
            outcome: StepOutcome::Ok,
            commands: cmd_ms
                .iter()
                .map(|ms| CommandRecord {
                    node: "pg1".into(),
                    command: "x".into(),
                    exit_status: Some(0),
                    stdout: String::new(),
                    stderr: String::new(),
                    started_at: t(from),
                    duration_ms: *ms,
                    error: None,
                })
                .collect(),
            detail: None,
        }
    }

    fn scenario(steps: Vec<StepRecord>, recovered: Option<f64>, end: f64) -> ScenarioResult {
        let mut s: ScenarioResult = serde_json::from_value(serde_json::json!({
            "id": "s", "title": "s", "group": "g", "file": "f", "tags": [], "covers": [],
            "documented": "", "observed": "", "attempt": 1, "verdict": "passed",
            "reason": null, "started_at": t(0.0), "finished_at": t(end), "targets": {},
            "before": {}, "after": {}, "steps": [], "checks": [], "events": [],
            "observations": [], "snapshots": {}, "metrics": {"leader_changes": 0},
            "workload": null, "logs": {}
        }))
        .expect("a scenario result");
        s.steps = steps;
        if let Some(r) = recovered {
            s.events.push(Event {
                at: t(r),
                kind: EventKind::Recovered,
                node: None,
                description: "steady state".into(),
            });
        }
        s
    }

    #[test]
    fn one_scenario_is_split_and_adds_up() {
        // 0.5 s before steps; fault 1.0 s of which its command 0.9 s; expect 20 s;
        // undo 0.3 s all command; recovery 5 s; 0.2 s after recovery.
        let s = scenario(
            vec![
                step("signal", 0.5, 1.5, &[900]),
                step("expect", 1.5, 21.5, &[]),
                step("undo", 21.5, 21.8, &[300]),
            ],
            Some(26.8),
            27.0,
        );
        let x = split_scenario(&s);
        assert!((x.total - 27.0).abs() < 1e-6);
        assert!((x.before_steps - 0.5).abs() < 1e-6);
        assert!((x.waiting - 25.0).abs() < 1e-6, "{x:?}");
        assert!((x.actions - 1.2).abs() < 1e-6, "{x:?}");
        // 0.1 s around the fault's command + 0.2 s after recovery.
        assert!((x.own - 0.3).abs() < 1e-6, "{x:?}");
        assert!((x.after_recovery - 0.2).abs() < 1e-6, "{x:?}");
    }

    #[test]
    fn no_recovery_event_counts_the_tail_as_waiting() {
        let s = scenario(vec![step("expect", 0.0, 10.0, &[])], None, 70.0);
        let x = split_scenario(&s);
        assert!((x.waiting - 70.0).abs() < 1e-6, "{x:?}");
        assert_eq!(x.own, 0.0);
    }

    #[test]
    fn run_level_time_outside_scenarios_is_own() {
        let s = scenario(vec![step("expect", 0.0, 10.0, &[])], Some(10.0), 10.0);
        let results: RunResults = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "run_id": "r", "pgchaos_version": "0", "started_at": t(-1.0),
            "finished_at": t(11.0), "invoked_by": "x", "command_line": [],
            "cluster": {"scope": "s", "lab": true, "inventory": "i", "nodes": [], "versions": {}},
            "outcome": {"kind": "passed"}, "scenarios": []
        }))
        .expect("results");
        let mut results = results;
        results.scenarios.push(s);
        let x = split(&results);
        assert_eq!(x.scenarios, 1);
        assert!((x.total - 12.0).abs() < 1e-6);
        assert!((x.own - 2.0).abs() < 1e-6, "{x:?}");
        assert!((x.outside_scenarios - 2.0).abs() < 1e-6, "{x:?}");
        assert!((x.own_percent_low() - 100.0 * 2.0 / 12.0).abs() < 1e-6);
    }
}
