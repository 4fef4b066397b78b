//! Precision of the failover time pgchaos reports.
//!
//! A leader change *is* the write of the leader key in the DCS (Patroni's failover is
//! driven by that key, not by its REST API or its log), and pgchaos dates it when its
//! etcd watch receives that write. The reference is therefore the same event seen by a
//! second, independent watch that this process opens for the measurement (its own
//! connection and code, not the observers of the `pgchaos run` being measured).
//!
//! Patroni's own log is the cross-check. Its line "promoted self to leader by acquiring
//! session lock" is written at the *end* of the HA cycle that took the key: after the
//! key's write come the watchdog's activation, the asynchronous start of the promotion
//! and `touch_member()` (a SQL query and a write of the member key), and only then
//! `run_cycle()` returns the message that is logged (`ha.py`: `_run_cycle`'s `finally`,
//! `enforce_primary_role`; `__main__.py`: `logger.info(self.ha.run_cycle())`). So that
//! line is late by Patroni's own work, tens of milliseconds on a loaded machine, and
//! comparing with it measures Patroni as much as pgchaos. What the log does bound is the
//! write itself: it happened after the node's last "Got response from" / "Request failed
//! to" line (its health check of the other members, which precedes the attempt to take
//! the key) and before the promotion line. Each failover is checked against that bracket.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde::Serialize;

use super::BenchError;
use super::stats::Summary;
use crate::inventory::{Inventory, Role};
use crate::results::{EventKind, RunResults, ScenarioResult, Verdict};
use crate::transport::Transport;

/// What Patroni logs on the replica that takes the leader key.
pub(crate) const PROMOTION_LINE: &str = "promoted self to leader by acquiring session lock";

/// What Patroni logs while it checks the other members before trying to take the key
/// (`fetch_node_status`): the last such line precedes the key's write.
pub(crate) const PRE_LOCK_LINES: &[&str] = &["Got response from ", "Request failed to "];

/// The scenarios run for this measurement (also committed under `benches/scenarios/`), so
/// that the benchmark runs from the binary alone on a fresh machine.
pub(crate) const SCENARIOS: &[(&str, &str)] = &[
    (
        "kill-patroni-leader.yml",
        include_str!("../../benches/scenarios/kill-patroni-leader.yml"),
    ),
    (
        "stop-patroni-leader.yml",
        include_str!("../../benches/scenarios/stop-patroni-leader.yml"),
    ),
];

/// Allowed difference between pgchaos's failover time and Patroni's log.
pub(crate) const TARGET_SECONDS: f64 = 0.02;

/// One failover, as pgchaos measured it and as Patroni logged it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct FailoverSample {
    /// Scenario id.
    pub scenario: String,
    /// The fault, in words.
    pub fault: String,
    /// Verdict of the scenario.
    pub verdict: Verdict,
    /// When the fault's command started (pgchaos's clock).
    pub fault_at: Option<DateTime<Utc>>,
    /// Leader before the fault.
    pub old_leader: Option<String>,
    /// New leader as pgchaos first observed it.
    pub new_leader: Option<String>,
    /// Node whose log has the promotion line.
    pub promoted_node: Option<String>,
    /// Promotion time from that node's Patroni log.
    pub promoted_at: Option<DateTime<Utc>>,
    /// pgchaos's `metrics.failover_seconds`.
    pub measured_seconds: Option<f64>,
    /// Promotion line's time minus fault time.
    pub truth_seconds: Option<f64>,
    /// When the independent watch received the write of the new leader key.
    pub dcs_at: Option<DateTime<Utc>>,
    /// That moment minus fault time: the reference.
    pub dcs_seconds: Option<f64>,
    /// The promoted node's last health-check line before its promotion line (the key was
    /// written after it).
    pub pre_lock_at: Option<DateTime<Utc>>,
}

impl FailoverSample {
    /// pgchaos minus the reference (the moment etcd recorded the new leader key), seconds
    /// (positive: pgchaos dated it later).
    pub(crate) fn difference(&self) -> Option<f64> {
        Some(self.measured_seconds? - self.dcs_seconds?)
    }

    /// pgchaos minus Patroni's promotion line, seconds.
    pub(crate) fn log_difference(&self) -> Option<f64> {
        Some(self.measured_seconds? - self.truth_seconds?)
    }

    /// Patroni's promotion line minus the key's write: how late Patroni logs it.
    pub(crate) fn patroni_log_delay(&self) -> Option<f64> {
        Some(self.truth_seconds? - self.dcs_seconds?)
    }

    /// Whether the key's write (as the reference saw it) lies between the last health
    /// check Patroni logged and its promotion line, give or take the log's millisecond
    /// resolution. `None` without the three instants.
    pub(crate) fn within_log_bracket(&self) -> Option<bool> {
        let (lo, at, hi) = (self.pre_lock_at?, self.dcs_at?, self.promoted_at?);
        let ms = chrono::Duration::milliseconds(1);
        Some(lo - ms <= at && at <= hi + ms)
    }
}

/// Every failover of the measurement.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct PrecisionFigures {
    /// Runs of each scenario asked for.
    pub runs_per_fault: u32,
    /// Every scenario attempt.
    pub samples: Vec<FailoverSample>,
    /// Where the run's reports are.
    pub report_dir: PathBuf,
}

impl PrecisionFigures {
    /// Differences of one fault (all faults when `fault` is none).
    pub(crate) fn differences(&self, fault: Option<&str>) -> Vec<f64> {
        self.samples
            .iter()
            .filter(|s| fault.is_none_or(|f| s.fault == f))
            .filter_map(FailoverSample::difference)
            .collect()
    }

    /// The faults measured, in run order, without duplicates.
    pub(crate) fn faults(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in &self.samples {
            if !out.contains(&s.fault) {
                out.push(s.fault.clone());
            }
        }
        out
    }

    /// pgchaos minus Patroni's promotion line, every failover with both.
    pub(crate) fn log_differences(&self) -> Vec<f64> {
        self.samples
            .iter()
            .filter_map(FailoverSample::log_difference)
            .collect()
    }

    /// Failovers checked against Patroni's log bracket, and those inside it.
    pub(crate) fn bracket(&self) -> (usize, usize) {
        let checked: Vec<bool> = self
            .samples
            .iter()
            .filter_map(FailoverSample::within_log_bracket)
            .collect();
        (checked.len(), checked.iter().filter(|b| **b).count())
    }

    /// Largest absolute difference over every failover with both figures.
    pub(crate) fn max_abs_difference(&self) -> Option<f64> {
        Summary::of(
            &self
                .differences(None)
                .iter()
                .map(|d| d.abs())
                .collect::<Vec<_>>(),
        )
        .map(|s| s.max)
    }

    /// Scenario attempts for which a comparison could not be made.
    pub(crate) fn incomparable(&self) -> usize {
        self.samples
            .iter()
            .filter(|s| s.difference().is_none())
            .count()
    }
}

/// Writes the scenarios to `dir/scenarios`, runs them `runs` times each with the pgchaos
/// binary `exe` (reports in `dir/run`), and compares every failover with Patroni's log.
pub(crate) async fn measure(
    exe: &Path,
    inventory_path: &Path,
    inv: &Inventory,
    dir: &Path,
    control_dir: &Path,
    runs: u32,
) -> Result<(PrecisionFigures, RunResults), BenchError> {
    let files = write_scenarios(&dir.join("scenarios"))?;
    let report_dir = dir.join("run");
    let changes = Arc::new(Mutex::new(Vec::new()));
    let watcher = (!inv.entrypoints.etcd.is_empty()).then(|| {
        tokio::spawn(watch_leader_key(
            inv.entrypoints.etcd.clone(),
            crate::observe::leader_key(&inv.cluster.namespace, &inv.cluster.scope),
            changes.clone(),
        ))
    });
    // The watch is open before the first fault (it reads nothing older than its start).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let results = run_scenarios(exe, inventory_path, &files, runs, &report_dir).await;
    if let Some(w) = watcher {
        w.abort();
    }
    let results = results?;
    let changes = changes.lock().map(|c| c.clone()).unwrap_or_default();
    let transport = Transport::new(inv, control_dir);
    let offsets = node_offsets(inv, &transport).await;
    let mut samples = analyse(&results, &offsets);
    for s in &mut samples {
        set_dcs_write(s, &changes);
    }
    // A promotion line outside the excerpt kept in results.json is looked up on the node.
    for s in samples.iter_mut().filter(|s| s.promoted_at.is_none()) {
        if let Some(fault_at) = s.fault_at {
            fill_from_nodes(s, fault_at, inv, &transport, &offsets).await;
        }
    }
    transport.close().await;
    Ok((
        PrecisionFigures {
            runs_per_fault: runs,
            samples,
            report_dir,
        },
        results,
    ))
}

/// A write of the leader key, as the measurement's own watch received it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct KeyChange {
    /// When the watch received it (this machine's clock).
    pub at: DateTime<Utc>,
    /// etcd's revision of the write.
    pub revision: i64,
    /// The leader it names (`None`: the key was deleted).
    pub leader: Option<String>,
}

/// Watches `key` through etcd's JSON gateway until aborted, appending every change to
/// `out` stamped on arrival; reconnects to the next endpoint when a stream ends.
async fn watch_leader_key(endpoints: Vec<String>, key: String, out: Arc<Mutex<Vec<KeyChange>>>) {
    let Ok(http) = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .build()
    else {
        return;
    };
    let body = serde_json::json!({ "create_request": { "key": b64(key.as_bytes()) } });
    for endpoint in endpoints.iter().cycle() {
        let url = format!("{}/v3/watch", endpoint.trim_end_matches('/'));
        if let Ok(mut resp) = http.post(&url).json(&body).send().await {
            let mut buf: Vec<u8> = Vec::new();
            while let Ok(Some(chunk)) = resp.chunk().await {
                let at = Utc::now();
                buf.extend_from_slice(&chunk);
                let mut consumed = 0;
                let mut it =
                    serde_json::Deserializer::from_slice(&buf).into_iter::<serde_json::Value>();
                while let Some(Ok(msg)) = it.next() {
                    consumed = it.byte_offset();
                    if let (Ok(events), Ok(mut o)) =
                        (crate::observe::watch_events(&msg), out.lock())
                    {
                        o.extend(events.into_iter().map(|(revision, leader)| KeyChange {
                            at,
                            revision,
                            leader,
                        }));
                    }
                }
                buf.drain(..consumed);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Standard base64 (proto3 JSON's encoding of `bytes`).
fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= c.len() {
                T[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// Sets the reference of `s`: the first write after the fault naming a leader other than
/// the one before it.
pub(crate) fn set_dcs_write(s: &mut FailoverSample, changes: &[KeyChange]) {
    let Some(fault_at) = s.fault_at else {
        return;
    };
    let first = changes.iter().find(|c| {
        c.at >= fault_at && c.leader.is_some() && c.leader.as_deref() != s.old_leader.as_deref()
    });
    if let Some(c) = first {
        s.dcs_at = Some(c.at);
        s.dcs_seconds = Some((c.at - fault_at).num_microseconds().unwrap_or(0) as f64 / 1e6);
    }
}

/// Writes [`SCENARIOS`] into `dir`./// Writes [`SCENARIOS`] into `dir`.
pub(crate) fn write_scenarios(dir: &Path) -> Result<Vec<PathBuf>, BenchError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| BenchError::io(format!("create {}", dir.display()), e))?;
    SCENARIOS
        .iter()
        .map(|(name, text)| {
            let p = dir.join(name);
            std::fs::write(&p, text)
                .map_err(|e| BenchError::io(format!("write {}", p.display()), e))?;
            Ok(p)
        })
        .collect()
}

/// Runs `pgchaos run` on `files` and reads its results.json. A failed scenario still has
/// results; only a run without results.json is an error.
pub(crate) async fn run_scenarios(
    exe: &Path,
    inventory: &Path,
    files: &[PathBuf],
    repeat: u32,
    report_dir: &Path,
) -> Result<RunResults, BenchError> {
    let _ = std::fs::remove_dir_all(report_dir);
    let status = tokio::process::Command::new(exe)
        .arg("run")
        .arg("--inventory")
        .arg(inventory)
        .arg("--report-dir")
        .arg(report_dir)
        .arg("--repeat")
        .arg(repeat.max(1).to_string())
        .args(files)
        // Inherited: a cluster not marked as a lab asks its operator before any fault.
        .stdin(std::process::Stdio::inherit())
        .status()
        .await
        .map_err(|e| BenchError::io(format!("run {}", exe.display()), e))?;
    let path = report_dir.join("results.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        BenchError::Measure(format!(
            "`pgchaos run` exited {:?} without {}: {e}",
            status.code(),
            path.display()
        ))
    })?;
    serde_json::from_str(&text)
        .map_err(|e| BenchError::Measure(format!("failed to read {}: {e}", path.display())))
}

/// Each Patroni node's UTC offset (`date +%z`), which its log timestamps are written in.
/// A node that does not answer is assumed to log in UTC.
async fn node_offsets(inv: &Inventory, transport: &Transport) -> BTreeMap<String, FixedOffset> {
    let mut out = BTreeMap::new();
    for n in inv.nodes_with(Role::Patroni) {
        let off = transport
            .run_with_timeout(&n.name, "date +%z", Duration::from_secs(10))
            .await
            .ok()
            .and_then(|o| parse_offset(o.stdout.trim()));
        out.insert(n.name.clone(), off.unwrap_or_else(utc));
    }
    out
}

fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("zero offset")
}

/// Parses `+0200` / `-0530`.
pub(crate) fn parse_offset(s: &str) -> Option<FixedOffset> {
    if s.len() != 5 {
        return None;
    }
    let sign = match &s[..1] {
        "+" => 1,
        "-" => -1,
        _ => return None,
    };
    let h: i32 = s[1..3].parse().ok()?;
    let m: i32 = s[3..5].parse().ok()?;
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// Timestamps of every promotion line in a Patroni log text, the log written at `offset`.
/// Lines look like `2026-11-10 12:00:01,234 INFO: promoted self to leader by acquiring
/// session lock`.
pub(crate) fn promotions(log: &str, offset: FixedOffset) -> Vec<DateTime<Utc>> {
    stamped(log, offset, |l| l.contains(PROMOTION_LINE))
}

/// Timestamps of the lines of a Patroni log that `pick` selects.
fn stamped(log: &str, offset: FixedOffset, pick: impl Fn(&str) -> bool) -> Vec<DateTime<Utc>> {
    log.lines()
        .filter(|l| pick(l))
        .filter_map(|l| {
            let ts = l.get(..23)?;
            let naive = NaiveDateTime::parse_from_str(ts, "%Y-%m-%d %H:%M:%S,%3f").ok()?;
            offset
                .from_local_datetime(&naive)
                .single()
                .map(|t| t.with_timezone(&Utc))
        })
        .collect()
}

/// What each scenario attempt of `results` says about its failover, with the promotion
/// found in the log excerpts results.json keeps.
pub(crate) fn analyse(
    results: &RunResults,
    offsets: &BTreeMap<String, FixedOffset>,
) -> Vec<FailoverSample> {
    results
        .scenarios
        .iter()
        .filter(|s| s.verdict != Verdict::Skipped)
        .map(|s| {
            let mut sample = FailoverSample {
                scenario: s.id.clone(),
                fault: fault_words(s),
                verdict: s.verdict,
                fault_at: fault_started(s),
                old_leader: s.before.leader.clone(),
                new_leader: s
                    .events
                    .iter()
                    .find(|e| e.kind == EventKind::NewLeader)
                    .and_then(|e| e.node.clone()),
                promoted_node: None,
                promoted_at: None,
                measured_seconds: s.metrics.failover_seconds,
                truth_seconds: None,
                dcs_at: None,
                dcs_seconds: None,
                pre_lock_at: None,
            };
            if let Some(fault_at) = sample.fault_at {
                let logs = s
                    .logs
                    .iter()
                    .map(|(n, t)| (n.clone(), t.clone()))
                    .collect::<Vec<_>>();
                set_promotion(&mut sample, fault_at, &logs, offsets);
            }
            sample
        })
        .collect()
}

/// Sets the earliest promotion at or after the fault from `logs` (node, text).
fn set_promotion(
    s: &mut FailoverSample,
    fault_at: DateTime<Utc>,
    logs: &[(String, String)],
    offsets: &BTreeMap<String, FixedOffset>,
) {
    let best = logs
        .iter()
        .flat_map(|(node, text)| {
            let off = offsets.get(node).copied().unwrap_or_else(utc);
            promotions(text, off)
                .into_iter()
                .map(move |t| (t, node.clone()))
        })
        .filter(|(t, _)| *t >= fault_at)
        .min();
    if let Some((t, node)) = best {
        s.truth_seconds = Some((t - fault_at).num_microseconds().unwrap_or(0) as f64 / 1e6);
        s.promoted_at = Some(t);
        if let Some((_, text)) = logs.iter().find(|(n, _)| *n == node) {
            let off = offsets.get(&node).copied().unwrap_or_else(utc);
            s.pre_lock_at = stamped(text, off, |l| PRE_LOCK_LINES.iter().any(|p| l.contains(p)))
                .into_iter()
                .filter(|at| *at >= fault_at && *at <= t)
                .max();
        }
        s.promoted_node = Some(node);
    }
}

async fn fill_from_nodes(
    s: &mut FailoverSample,
    fault_at: DateTime<Utc>,
    inv: &Inventory,
    transport: &Transport,
    offsets: &BTreeMap<String, FixedOffset>,
) {
    let mut logs = Vec::new();
    for n in inv.nodes_with(Role::Patroni) {
        let cmd = log_window_command(&inv.ops_for(n), fault_at);
        if let Ok(o) = transport
            .run_with_timeout(&n.name, &cmd, Duration::from_secs(20))
            .await
        {
            logs.push((n.name.clone(), o.stdout));
        }
    }
    set_promotion(s, fault_at, &logs, offsets);
}

/// The command printing a node's Patroni log from a second before the fault to five
/// minutes after it. The log template's `{since}`/`{until}` are UTC whatever the node's
/// time zone (the default template says so to journalctl); only the log's own
/// timestamps are in the node's local time, and [`stamped`] reads those with its offset.
fn log_window_command(ops: &crate::inventory::Ops, fault_at: DateTime<Utc>) -> String {
    let utc = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
    ops.patroni_log_command(
        &utc(fault_at - chrono::Duration::seconds(1)),
        &utc(fault_at + chrono::Duration::seconds(300)),
    )
}

/// Start of the fault's command: the first command of the first step that ran one.
fn fault_started(s: &ScenarioResult) -> Option<DateTime<Utc>> {
    s.steps
        .iter()
        .filter(|st| !matches!(st.kind.as_str(), "expect" | "hold"))
        .find_map(|st| st.commands.first().map(|c| c.started_at))
        .or_else(|| {
            s.events
                .iter()
                .find(|e| e.kind == EventKind::Fault)
                .map(|e| e.at)
        })
}

fn fault_words(s: &ScenarioResult) -> String {
    if s.id.contains("kill-patroni") {
        "kill -9 Patroni on the leader".into()
    } else if s.id.contains("stop-patroni") {
        "systemctl stop patroni on the leader".into()
    } else {
        s.steps
            .first()
            .map(|st| st.description.clone())
            .unwrap_or_else(|| s.id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_lines_in_local_time() {
        let log = "2026-11-10 12:00:00,100 INFO: no action. I am (pg2), a secondary, and following a leader (pg1)\n\
                   2026-11-10 12:00:21,345 INFO: promoted self to leader by acquiring session lock\n\
                   2026-11-10 12:00:22,000 INFO: cleared rewind state after becoming the leader\n";
        let utc_times = promotions(log, utc());
        assert_eq!(utc_times.len(), 1);
        assert_eq!(
            utc_times[0].to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "2026-11-10T12:00:21.345Z"
        );
        let plus_two = promotions(log, parse_offset("+0200").unwrap());
        assert_eq!(
            plus_two[0].to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "2026-11-10T10:00:21.345Z"
        );
    }

    #[test]
    fn the_log_window_is_asked_for_in_utc_whatever_the_node_zone() {
        let inv = crate::inventory::parse(
            std::path::Path::new("t.yml"),
            "cluster: {scope: main}\nnodes:\n  - {name: pg1, host: h, roles: [patroni]}\n",
        )
        .unwrap()
        .inventory;
        let fault_at: DateTime<Utc> = "2026-11-10T12:00:00Z".parse().unwrap();
        let cmd = log_window_command(&inv.ops_for(inv.node("pg1").unwrap()), fault_at);
        // The default template says UTC to journalctl; the times it is given are UTC too
        // (a node at +02:00 logs 14:00, but is asked for 11:59:59 UTC).
        assert!(cmd.contains("2026-11-10 11:59:59 UTC"), "{cmd}");
        assert!(cmd.contains("2026-11-10 12:05:00 UTC"), "{cmd}");
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+0000"), Some(utc()));
        assert_eq!(
            parse_offset("-0530").map(|o| o.local_minus_utc()),
            Some(-(5 * 3600 + 30 * 60))
        );
        assert_eq!(parse_offset("UTC"), None);
    }

    #[test]
    fn earliest_promotion_after_the_fault_wins() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let mut s = FailoverSample {
            scenario: "x".into(),
            fault: "f".into(),
            verdict: Verdict::Passed,
            fault_at: Some(at("2026-11-10T12:00:00Z")),
            old_leader: Some("pg1".into()),
            new_leader: Some("pg3".into()),
            promoted_node: None,
            promoted_at: None,
            measured_seconds: Some(21.5),
            truth_seconds: None,
            dcs_at: None,
            dcs_seconds: None,
            pre_lock_at: None,
        };
        let logs = vec![
            (
                "pg2".to_owned(),
                format!("2026-11-10 11:59:00,000 INFO: {PROMOTION_LINE}\n"),
            ),
            (
                "pg3".to_owned(),
                format!(
                    "2026-11-10 12:00:21,300 INFO: Got response from pg2 http://10.0.0.2:8008/patroni: {{}}\n\
                     2026-11-10 12:00:21,400 INFO: {PROMOTION_LINE}\n"
                ),
            ),
        ];
        set_promotion(&mut s, at("2026-11-10T12:00:00Z"), &logs, &BTreeMap::new());
        assert_eq!(s.promoted_node.as_deref(), Some("pg3"));
        assert!((s.truth_seconds.unwrap() - 21.4).abs() < 1e-6);
        assert!((s.log_difference().unwrap() - 0.1).abs() < 1e-6);
        assert_eq!(s.pre_lock_at, Some(at("2026-11-10T12:00:21.300Z")));
        // The reference: the first write naming another leader after the fault.
        let change = |ms: &str, leader: Option<&str>| KeyChange {
            at: at(&format!("2026-11-10T12:00:{ms}Z")),
            revision: 1,
            leader: leader.map(str::to_owned),
        };
        let changes = [
            change("00.500", None),
            change("20.000", Some("pg1")),
            change("21.350", Some("pg3")),
        ];
        set_dcs_write(&mut s, &changes);
        assert!((s.dcs_seconds.unwrap() - 21.35).abs() < 1e-6);
        assert!((s.difference().unwrap() - 0.15).abs() < 1e-6);
        assert!((s.patroni_log_delay().unwrap() - 0.05).abs() < 1e-6);
        assert_eq!(s.within_log_bracket(), Some(true));
        assert_eq!(b64(b"/service/demo/leader"), "L3NlcnZpY2UvZGVtby9sZWFkZXI=");
    }

    #[test]
    fn embedded_scenarios_are_valid() {
        for (name, text) in SCENARIOS {
            let sc = crate::scenario::parse(Path::new(name), text);
            assert!(sc.is_ok(), "{name}: {:?}", sc.err());
        }
    }
}
