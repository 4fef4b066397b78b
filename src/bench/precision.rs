//! Precision of the failover time pgchaos reports, against Patroni's own log: the new
//! leader's "promoted self to leader by acquiring session lock" line minus the moment the
//! fault's command started.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde::Serialize;

use super::BenchError;
use super::stats::Summary;
use crate::inventory::{Inventory, Role};
use crate::results::{EventKind, RunResults, ScenarioResult, Verdict};
use crate::transport::Transport;

/// What Patroni logs on the replica that takes the leader key.
pub const PROMOTION_LINE: &str = "promoted self to leader by acquiring session lock";

/// The scenarios run for this measurement (also committed under `benches/scenarios/`), so
/// that the benchmark runs from the binary alone on a fresh machine.
pub const SCENARIOS: &[(&str, &str)] = &[
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
pub const TARGET_SECONDS: f64 = 0.25;

/// One failover, as pgchaos measured it and as Patroni logged it.
#[derive(Clone, Debug, Serialize)]
pub struct FailoverSample {
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
    /// Promotion time minus fault time.
    pub truth_seconds: Option<f64>,
}

impl FailoverSample {
    /// pgchaos minus ground truth, seconds (positive: pgchaos saw it later).
    pub fn difference(&self) -> Option<f64> {
        Some(self.measured_seconds? - self.truth_seconds?)
    }
}

/// Every failover of the measurement.
#[derive(Clone, Debug, Serialize)]
pub struct PrecisionFigures {
    /// Runs of each scenario asked for.
    pub runs_per_fault: u32,
    /// Every scenario attempt.
    pub samples: Vec<FailoverSample>,
    /// Where the run's reports are.
    pub report_dir: PathBuf,
}

impl PrecisionFigures {
    /// Differences of one fault (all faults when `fault` is none).
    pub fn differences(&self, fault: Option<&str>) -> Vec<f64> {
        self.samples
            .iter()
            .filter(|s| fault.is_none_or(|f| s.fault == f))
            .filter_map(FailoverSample::difference)
            .collect()
    }

    /// The faults measured, in run order, without duplicates.
    pub fn faults(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in &self.samples {
            if !out.contains(&s.fault) {
                out.push(s.fault.clone());
            }
        }
        out
    }

    /// Largest absolute difference over every failover with both figures.
    pub fn max_abs_difference(&self) -> Option<f64> {
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
    pub fn incomparable(&self) -> usize {
        self.samples
            .iter()
            .filter(|s| s.difference().is_none())
            .count()
    }
}

/// Writes the scenarios to `dir/scenarios`, runs them `runs` times each with the pgchaos
/// binary `exe` (reports in `dir/run`), and compares every failover with Patroni's log.
pub async fn measure(
    exe: &Path,
    inventory_path: &Path,
    inv: &Inventory,
    dir: &Path,
    control_dir: &Path,
    runs: u32,
) -> Result<(PrecisionFigures, RunResults), BenchError> {
    let files = write_scenarios(&dir.join("scenarios"))?;
    let report_dir = dir.join("run");
    let results = run_scenarios(exe, inventory_path, &files, runs, &report_dir).await?;
    let transport = Transport::new(inv, control_dir);
    let offsets = node_offsets(inv, &transport).await;
    let mut samples = analyse(&results, &offsets);
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

/// Writes [`SCENARIOS`] into `dir`.
pub fn write_scenarios(dir: &Path) -> Result<Vec<PathBuf>, BenchError> {
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
pub async fn run_scenarios(
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
pub fn parse_offset(s: &str) -> Option<FixedOffset> {
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
pub fn promotions(log: &str, offset: FixedOffset) -> Vec<DateTime<Utc>> {
    log.lines()
        .filter(|l| l.contains(PROMOTION_LINE))
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
pub fn analyse(
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
    let fmt = "%Y-%m-%d %H:%M:%S";
    let mut logs = Vec::new();
    for n in inv.nodes_with(Role::Patroni) {
        let off = offsets.get(&n.name).copied().unwrap_or_else(utc);
        let local = |t: DateTime<Utc>| t.with_timezone(&off).format(fmt).to_string();
        let ops = inv.ops_for(n);
        let cmd = crate::inventory::render(
            &ops.patroni_log,
            &[
                ("service", &ops.patroni_service),
                ("since", &local(fault_at - chrono::Duration::seconds(1))),
                ("until", &local(fault_at + chrono::Duration::seconds(300))),
            ],
        );
        if let Ok(o) = transport
            .run_with_timeout(&n.name, &cmd, Duration::from_secs(20))
            .await
        {
            logs.push((n.name.clone(), o.stdout));
        }
    }
    set_promotion(s, fault_at, &logs, offsets);
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
        };
        let logs = vec![
            (
                "pg2".to_owned(),
                format!("2026-11-10 11:59:00,000 INFO: {PROMOTION_LINE}\n"),
            ),
            (
                "pg3".to_owned(),
                format!("2026-11-10 12:00:21,400 INFO: {PROMOTION_LINE}\n"),
            ),
        ];
        set_promotion(&mut s, at("2026-11-10T12:00:00Z"), &logs, &BTreeMap::new());
        assert_eq!(s.promoted_node.as_deref(), Some("pg3"));
        assert!((s.truth_seconds.unwrap() - 21.4).abs() < 1e-6);
        assert!((s.difference().unwrap() - 0.1).abs() < 1e-6);
    }

    #[test]
    fn embedded_scenarios_are_valid() {
        for (name, text) in SCENARIOS {
            let sc = crate::scenario::parse(Path::new(name), text);
            assert!(sc.is_ok(), "{name}: {:?}", sc.err());
        }
    }
}
