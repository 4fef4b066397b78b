//! What was observed instead, when an expectation is not met by its deadline: in DBA terms,
//! from evidence taken at that moment (before anything is undone).
//!
//! - A process signalled earlier in the scenario: still running with the same PID (the
//!   signal had no effect), back with a new PID started after the signal (restarted by its
//!   supervisor, and how fast), or gone.
//! - Who held the leader key over the scenario (the cluster's view from `/cluster`).

use chrono::{DateTime, Utc};

use super::live::Live;
use crate::procs::{self as pids, PidSnapshot};
use crate::results::StepRecord;
use crate::scenario::{Process, Signal, Step};

/// A signal a step sent: where, to which PIDs, when.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Sent {
    pub node: String,
    pub process: Process,
    pub signal: Signal,
    pub pids: Vec<u32>,
    pub at: DateTime<Utc>,
}

/// The signals the records of the steps before `upto` sent to Patroni or the postmaster
/// (their PIDs from the fault script's "sent SIGx to PID ..." line).
pub(crate) fn sent_signals(steps: &[Step], records: &[StepRecord], upto: usize) -> Vec<Sent> {
    // A SIGSTOP an `undo` step already resumed is no longer evidence.
    let undone: Vec<&str> = steps
        .iter()
        .take(upto)
        .filter_map(|s| match s {
            Step::Undo(u) => Some(u.fault.as_str()),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for rec in records.iter().filter(|r| r.index < upto) {
        let Some(Step::Signal(s)) = steps.get(rec.index) else {
            continue;
        };
        if !matches!(s.process, Process::Patroni | Process::Postmaster)
            || (s.signal == Signal::Stop && s.id.as_deref().is_some_and(|id| undone.contains(&id)))
        {
            continue;
        }
        for c in &rec.commands {
            let pids: Vec<u32> = c
                .stdout
                .lines()
                .filter_map(|l| l.split_once(" to PID"))
                .flat_map(|(_, p)| p.split_whitespace().filter_map(|w| w.parse().ok()))
                .collect();
            if !pids.is_empty() {
                out.push(Sent {
                    node: c.node.clone(),
                    process: s.process,
                    signal: s.signal,
                    pids,
                    at: c.started_at,
                });
            }
        }
    }
    out
}

/// One sentence on what became of the processes a signal was sent to.
pub(crate) fn what_became_of(sent: &Sent, now: &PidSnapshot) -> String {
    let (what, procs) = match sent.process {
        Process::Patroni => ("Patroni", &now.patroni),
        _ => ("the postmaster", &now.postmaster),
    };
    let sig = format!("SIG{}", format!("{:?}", sent.signal).to_uppercase());
    let since = |t: DateTime<Utc>| (t - sent.at).num_milliseconds() as f64 / 1000.0;
    let old: Vec<String> = sent.pids.iter().map(u32::to_string).collect();
    let still: Vec<u32> = procs
        .pids
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| sent.pids.contains(p))
        .collect();
    let fresh: Vec<&(u32, DateTime<Utc>)> = procs
        .pids
        .iter()
        .filter(|(p, _)| !sent.pids.contains(p))
        .collect();
    if !still.is_empty() {
        let pids: Vec<String> = still.iter().map(u32::to_string).collect();
        return if sent.signal == Signal::Stop {
            format!(
                "{what} on {} is still frozen by {sig} (PID {})",
                sent.node,
                pids.join(", ")
            )
        } else {
            format!(
                "{sig} to {what} on {} HAD NO EFFECT: the same PID {} is still running {:.1}s later",
                sent.node,
                pids.join(", "),
                since(now.at)
            )
        };
    }
    match fresh.iter().min_by_key(|(_, t)| *t) {
        Some((pid, started)) if *started >= sent.at => format!(
            "{what} on {} was killed by {sig} (PID {}) and CAME BACK BY ITSELF: new PID {pid} \
             started {:.1}s after the signal — restarted by its supervisor (the service \
             manager's Restart= setting), not by pgchaos",
            sent.node,
            old.join(", "),
            since(*started)
        ),
        Some((pid, _)) => format!(
            "{what} on {}: PID {} is gone, PID {pid} runs instead",
            sent.node,
            old.join(", ")
        ),
        None => format!(
            "{what} on {} is not running: PID {} is gone ({sig}) and nothing restarted it",
            sent.node,
            old.join(", ")
        ),
    }
}

/// Who held the leader key over time, from the first observation on.
pub(crate) fn leader_key_history(history: &[(DateTime<Utc>, Option<String>)]) -> String {
    match history {
        [] => "the leader key was never observed".to_owned(),
        [(_, Some(l))] => format!("{l} held the leader key throughout (no failover)"),
        [(_, None)] => "no node held the leader key throughout".to_owned(),
        _ => {
            let parts: Vec<String> = history
                .iter()
                .map(|(t, l)| {
                    format!(
                        "{} from {}",
                        l.as_deref().unwrap_or("nobody"),
                        t.format("%H:%M:%S%.3f")
                    )
                })
                .collect();
            format!("leader key: {}", parts.join(" → "))
        }
    }
}

impl Live<'_> {
    /// Explains a failed expectation of step `failed` with evidence gathered now, before
    /// anything is undone, and adds it to the failed check and the scenario's reason.
    pub(crate) async fn diagnose(&mut self, failed: usize) {
        let sent = sent_signals(&self.scenario.steps, &self.record.steps, failed);
        let mut findings = Vec::new();
        for s in &sent {
            let Some(node) = self.engine.inventory.node(&s.node) else {
                continue;
            };
            let script = pids::probe_script(&self.engine.inventory.ops_for(node));
            let at = Utc::now();
            match self
                .engine
                .transport
                .run_with_timeout(&s.node, &script, std::time::Duration::from_secs(20))
                .await
            {
                Ok(o) => findings.push(what_became_of(s, &pids::parse(&o.stdout, at))),
                Err(e) => findings.push(format!(
                    "could not look at the processes on {}: {e}",
                    s.node
                )),
            }
        }
        findings.push(leader_key_history(self.view.tracker.history()));
        let text = format!("observed instead: {}", findings.join("; "));
        if let Some(c) = self
            .record
            .checks
            .iter_mut()
            .rev()
            .find(|c| !c.passed && c.step == Some(failed))
        {
            c.observed = format!("{} — {text}", c.observed);
        }
        self.record.findings.annotate_last_step(&text);
        self.record.events.push(super::event(
            crate::results::EventKind::Step,
            None,
            format!("diagnosis: {text}"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};

    use super::*;
    use crate::procs::Procs;

    fn t(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_700_000_000_000 + ms).unwrap()
    }

    fn sent(signal: Signal) -> Sent {
        Sent {
            node: "pg1".into(),
            process: Process::Patroni,
            signal,
            pids: vec![100],
            at: t(0),
        }
    }

    fn snap(pids: Vec<(u32, i64)>) -> PidSnapshot {
        PidSnapshot {
            at: t(45_000),
            patroni: Procs {
                pids: pids.into_iter().map(|(p, ms)| (p, t(ms))).collect(),
            },
            postmaster: Procs::default(),
        }
    }

    #[test]
    fn a_process_back_with_a_new_pid_was_restarted_by_its_supervisor() {
        let d = what_became_of(&sent(Signal::Kill), &snap(vec![(200, 120)]));
        assert_eq!(
            d,
            "Patroni on pg1 was killed by SIGKILL (PID 100) and CAME BACK BY ITSELF: new PID 200 \
             started 0.1s after the signal — restarted by its supervisor (the service manager's \
             Restart= setting), not by pgchaos"
        );
    }

    #[test]
    fn the_same_pid_still_running_means_the_signal_had_no_effect() {
        let d = what_became_of(&sent(Signal::Int), &snap(vec![(100, -60_000)]));
        assert_eq!(
            d,
            "SIGINT to Patroni on pg1 HAD NO EFFECT: the same PID 100 is still running 45.0s later"
        );
    }

    #[test]
    fn a_dead_process_is_named() {
        let d = what_became_of(&sent(Signal::Kill), &snap(vec![]));
        assert!(d.contains("is not running: PID 100 is gone"), "{d}");
    }

    #[test]
    fn leader_key_over_time() {
        assert_eq!(
            leader_key_history(&[(t(0), Some("pg1".into()))]),
            "pg1 held the leader key throughout (no failover)"
        );
        let h = [
            (t(0), Some("pg1".into())),
            (t(20_000), None),
            (t(21_000) + TimeDelta::milliseconds(5), Some("pg2".into())),
        ];
        assert!(
            leader_key_history(&h).contains("pg1 from ")
                && leader_key_history(&h).contains(" → nobody from ")
        );
    }

    #[test]
    fn pids_come_from_the_fault_scripts_output() {
        let steps: Vec<Step> = crate::diag::from_yaml(
            "- signal: { target: primary, process: patroni, signal: KILL }\n",
        )
        .expect("steps");
        let rec = StepRecord {
            index: 0,
            kind: "signal".into(),
            description: String::new(),
            started_at: t(0),
            finished_at: t(10),
            outcome: crate::results::StepOutcome::Ok,
            commands: vec![crate::results::CommandRecord {
                node: "pg1".into(),
                command: String::new(),
                exit_status: Some(0),
                stdout: "pgchaos: sent SIGKILL to PID 4242 4243\n".into(),
                stderr: String::new(),
                started_at: t(1),
                duration_ms: 5,
                error: None,
            }],
            detail: None,
        };
        let s = sent_signals(&steps, &[rec], 1);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].pids, vec![4242, 4243]);
        assert_eq!(s[0].node, "pg1");
    }
}
