//! Small formatting helpers shared by the reporters.

use chrono::{DateTime, Utc};

use crate::results::{ReadStats, RunOutcome, ScenarioResult, Verdict};

/// `4.2 s`, `1 min 12 s`, `1 h 02 min`.
pub(crate) fn secs(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "n/a".to_owned();
    }
    if s < 60.0 {
        if s < 10.0 {
            format!("{s:.1} s")
        } else {
            format!("{s:.0} s")
        }
    } else if s < 3600.0 {
        let m = (s / 60.0).floor();
        format!("{m:.0} min {:02.0} s", (s - m * 60.0).floor())
    } else {
        let h = (s / 3600.0).floor();
        format!("{h:.0} h {:02.0} min", ((s - h * 3600.0) / 60.0).floor())
    }
}

/// Optional seconds, `—` when not measured.
pub(crate) fn opt_secs(s: Option<f64>) -> String {
    s.map_or_else(|| "—".to_owned(), secs)
}

/// Seconds between two instants (0 when reversed).
pub(crate) fn between(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    let ms = (b - a).num_milliseconds();
    if ms <= 0 { 0.0 } else { ms as f64 / 1000.0 }
}

/// `09:33:19.245`
pub(crate) fn clock(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S%.3f").to_string()
}

/// One entry point's reads: `63 of 75 reads stale, largest 5.0 s (06:29:55.397 on
/// 10.213.71.13:5432)`, then what `/replica?lag=` said of the node when reads were stale.
pub(crate) fn read_staleness(rd: &ReadStats) -> String {
    let ok = rd.attempted - rd.errors.min(rd.attempted);
    let mut out = format!("{} of {ok} read(s) stale", rd.stale);
    if rd.errors > 0 {
        out.push_str(&format!(" ({} failed)", rd.errors));
    }
    if rd.primary_reads > 0 {
        out.push_str(&format!(", {} answered by a primary", rd.primary_reads));
    }
    if let Some(m) = &rd.max_stale {
        out.push_str(&format!(
            ", largest {} ({} on {}, {} write(s) missed)",
            secs(m.staleness_ms as f64 / 1000.0),
            clock(m.at),
            m.server,
            m.missed
        ));
    }
    if let Some(l) = rd.lag_check.as_ref().filter(|_| rd.stale > 0) {
        out.push_str(&format!(
            "; /replica?lag={} called the node healthy for {} of them",
            l.max_lag, l.stale_but_healthy
        ));
        if l.errors > 0 {
            out.push_str(&format!(" ({} unanswered)", l.errors));
        }
    }
    out
}

/// `2026-11-22 09:33:19 UTC`
pub(crate) fn datetime(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `2026-11-22T09:33:19.245Z`
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Lowercase verdict word.
pub(crate) fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Passed => "passed",
        Verdict::Failed => "failed",
        Verdict::Error => "error",
        Verdict::Interrupted => "interrupted",
        Verdict::Skipped => "skipped",
    }
}

/// Sort key putting the verdicts an auditor must look at first.
pub(crate) fn verdict_rank(v: Verdict) -> u8 {
    match v {
        Verdict::Failed => 0,
        Verdict::Error => 1,
        Verdict::Interrupted => 2,
        Verdict::Passed => 3,
        Verdict::Skipped => 4,
    }
}

/// Every verdict, in report order.
pub(crate) const VERDICTS: [Verdict; 5] = [
    Verdict::Failed,
    Verdict::Error,
    Verdict::Interrupted,
    Verdict::Passed,
    Verdict::Skipped,
];

/// Lowercase outcome word.
pub(crate) fn outcome(o: &RunOutcome) -> &'static str {
    match o {
        RunOutcome::Running => "running",
        RunOutcome::Passed => "passed",
        RunOutcome::Failed => "failed",
        RunOutcome::Aborted { .. } => "aborted",
        RunOutcome::Interrupted => "interrupted",
    }
}

/// The outcome in one line, with the reason when aborted.
pub(crate) fn outcome_line(o: &RunOutcome) -> String {
    match o {
        RunOutcome::Running => "RUNNING (or killed)".to_owned(),
        RunOutcome::Passed => "PASSED".to_owned(),
        RunOutcome::Failed => "FAILED".to_owned(),
        RunOutcome::Aborted { reason } => format!("ABORTED: {reason}"),
        RunOutcome::Interrupted => "INTERRUPTED (Ctrl-C / SIGTERM)".to_owned(),
    }
}

/// The write-unavailability of a scenario: the metric, else the workload's longest gap.
pub(crate) fn unavailable(s: &ScenarioResult) -> Option<f64> {
    s.metrics
        .write_unavailable_seconds
        .or_else(|| s.workload.as_ref().and_then(|w| w.max_gap_seconds))
}

/// `pg1 (TL 1)`, or `none` / `?` parts when not recorded.
pub(crate) fn leader_tl(c: &crate::results::ClusterState) -> String {
    let leader = c.leader.as_deref().unwrap_or("none");
    match c.timeline {
        Some(tl) => format!("{leader} (TL {tl})"),
        None => leader.to_owned(),
    }
}

/// Scenario label with the attempt number when it is a retry.
pub(crate) fn scenario_label(s: &ScenarioResult) -> String {
    if s.attempt > 1 {
        format!("{} (attempt {})", s.id, s.attempt)
    } else {
        s.id.clone()
    }
}

/// Index of scenarios, failed ones first, run order otherwise.
pub(crate) fn failed_first(scenarios: &[ScenarioResult]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scenarios.len()).collect();
    idx.sort_by_key(|&i| (verdict_rank(scenarios[i].verdict), i));
    idx
}

/// One server's writes taken while another member (or nobody) held the leader key.
pub(crate) fn keyless_line(kw: &crate::results::KeylessWrites) -> String {
    format!(
        "{} acknowledged {} write(s) sent from {} on, while the leader key {}; the last at {}",
        kw.server,
        kw.rows,
        clock(kw.first_sent),
        kw.holder_then
            .as_deref()
            .map(|h| format!("named {h}"))
            .unwrap_or_else(|| "named nobody".to_owned()),
        clock(kw.last_acknowledged)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_staleness_says_how_many_how_stale_and_what_the_lag_check_said() {
        let mut rd = ReadStats {
            attempted: 61,
            errors: 1,
            stale: 50,
            max_stale: Some(crate::results::StaleRead {
                at: DateTime::from_timestamp_millis(1_764_743_395_552).expect("a time"),
                server: "10.0.0.11:5432".into(),
                staleness_ms: 4982,
                missed: 44,
            }),
            lag_check: Some(crate::results::LagCheckStats {
                max_lag: "1MB".into(),
                stale_but_healthy: 50,
                ..Default::default()
            }),
            ..ReadStats::default()
        };
        assert_eq!(
            read_staleness(&rd),
            "50 of 60 read(s) stale (1 failed), largest 5.0 s (06:29:55.552 on 10.0.0.11:5432, 44 write(s) missed); /replica?lag=1MB called the node healthy for 50 of them"
        );
        rd = ReadStats {
            attempted: 76,
            primary_reads: 76,
            ..ReadStats::default()
        };
        assert_eq!(
            read_staleness(&rd),
            "0 of 76 read(s) stale, 76 answered by a primary"
        );
    }

    #[test]
    fn secs_formats_ranges() {
        assert_eq!(secs(4.24), "4.2 s");
        assert_eq!(secs(12.6), "13 s");
        assert_eq!(secs(72.0), "1 min 12 s");
        assert_eq!(secs(3720.0), "1 h 02 min");
        assert_eq!(secs(f64::NAN), "n/a");
        assert_eq!(opt_secs(None), "—");
    }
}
