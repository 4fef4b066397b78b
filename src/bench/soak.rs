//! Memory over a long observation: the observers `pgchaos run` uses, with scenario windows
//! pinned and released one after the other as `--repeat` does, and the resident set read
//! at a fixed period. The growth per hour is the slope fitted through those readings.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::BenchError;
use super::sysinfo::{self, CpuMeter, CpuUse, MachineLoad};
use crate::inventory::{Inventory, Role};
use crate::observe::ObserveConfig;

/// How long one scenario window is held (pinned) before it is released and the next one
/// starts: the seed matrix's scenarios take one to three minutes on the lab.
pub(crate) const SCENARIO_WINDOW: Duration = Duration::from_secs(60);
/// Pause between two windows (reports written, steady state awaited).
pub(crate) const BETWEEN_WINDOWS: Duration = Duration::from_secs(5);

/// One reading of the resident set.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RssReading {
    /// Seconds since the soak started.
    pub at_seconds: f64,
    /// `VmRSS`, KiB.
    pub rss_kib: u64,
    /// Samples the timeline held at that moment.
    pub held_samples: usize,
}

/// What the soak measured.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct SoakFigures {
    /// Patroni nodes observed.
    pub nodes: usize,
    /// Spare nodes observed.
    pub spares: usize,
    /// Time between two samples of one node.
    pub interval: Duration,
    /// Length of the soak.
    pub duration: Duration,
    /// Time between two readings.
    pub every: Duration,
    /// Scenario windows pinned and released.
    pub windows: usize,
    /// Samples recorded over the soak (every node and source).
    pub samples: usize,
    /// Every reading, the first right after the warm-up.
    pub readings: Vec<RssReading>,
    /// Peak resident set over the soak (`VmHWM` after a reset), KiB.
    pub peak_rss_kib: Option<u64>,
    /// CPU over the soak.
    pub cpu: CpuUse,
    /// Machine at the start.
    pub machine: MachineLoad,
}

impl SoakFigures {
    /// Least-squares growth of the resident set, MiB per hour, over the readings after
    /// the first window (allocator pools fill during the first one).
    pub(crate) fn growth_mib_per_hour(&self) -> Option<f64> {
        let skip = self
            .readings
            .iter()
            .position(|r| r.at_seconds >= SCENARIO_WINDOW.as_secs_f64())
            .unwrap_or(0);
        let pts: Vec<(f64, f64)> = self.readings[skip..]
            .iter()
            .map(|r| (r.at_seconds / 3600.0, r.rss_kib as f64 / 1024.0))
            .collect();
        slope(&pts)
    }

    /// Resident set at the end, MiB.
    pub(crate) fn end_mib(&self) -> Option<f64> {
        self.readings.last().map(|r| r.rss_kib as f64 / 1024.0)
    }

    /// The resident set extrapolated to 24 hours from the end at the measured growth
    /// (never below the end: a negative slope is allocator noise, not shrinking).
    pub(crate) fn extrapolated_24h_mib(&self) -> Option<f64> {
        let end = self.end_mib()?;
        let elapsed_h = self.readings.last()?.at_seconds / 3600.0;
        let g = self.growth_mib_per_hour()?.max(0.0);
        Some(end + g * (24.0 - elapsed_h).max(0.0))
    }
}

/// Least-squares slope of `pts` (x, y); none with fewer than two distinct x.
pub(crate) fn slope(pts: &[(f64, f64)]) -> Option<f64> {
    if pts.len() < 2 {
        return None;
    }
    let n = pts.len() as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// Observes the cluster of `inv` for `duration` at `interval`, holding scenario windows
/// one after the other, and reads the resident set every `every`.
pub(crate) async fn measure(
    inv: Arc<Inventory>,
    control_dir: &Path,
    interval: Duration,
    duration: Duration,
    every: Duration,
) -> Result<SoakFigures, BenchError> {
    let session = super::open_session(&inv, control_dir)?;
    let machine = MachineLoad::now();
    let observers = session.observe(ObserveConfig {
        interval,
        ..ObserveConfig::default()
    });
    tokio::time::sleep(super::observe::WARM_UP).await;
    let reset = sysinfo::reset_peak_rss();
    let meter = CpuMeter::start();
    let first = session.timeline.len();
    let start = tokio::time::Instant::now();
    let end = start + duration;
    let every = every.max(Duration::from_secs(1));
    let mut readings = Vec::new();
    let mut next_reading = start;
    let mut windows = 0usize;
    // A window is pinned from its start to its end, then dropped, as the runner does for
    // each scenario attempt of a `--repeat` run.
    let mut window: Option<(crate::observe::TimelinePin, tokio::time::Instant)> = None;
    let mut next_window = start;
    loop {
        let now = tokio::time::Instant::now();
        if now >= next_reading {
            readings.push(RssReading {
                at_seconds: (now - start).as_secs_f64(),
                rss_kib: sysinfo::rss_kib().unwrap_or(0),
                held_samples: session.timeline.retained(),
            });
            next_reading += every;
        }
        if now >= end {
            break;
        }
        match &window {
            Some((_, until)) if now >= *until => {
                window = None;
                next_window = now + BETWEEN_WINDOWS;
            }
            None if now >= next_window => {
                window = Some((session.timeline.pin(), now + SCENARIO_WINDOW));
                windows += 1;
            }
            _ => {}
        }
        let wake = [
            Some(next_reading),
            Some(end),
            window.as_ref().map(|w| w.1),
            window.is_none().then_some(next_window),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(end);
        tokio::time::sleep_until(wake.max(now + Duration::from_millis(10))).await;
    }
    let cpu = meter.stop();
    let peak = sysinfo::peak_rss_kib().filter(|_| reset);
    drop(window);
    let samples = session.timeline.len() - first;
    observers.stop().await;
    session.close().await;
    Ok(SoakFigures {
        nodes: inv.nodes_with(Role::Patroni).count(),
        spares: inv.nodes_with(Role::Spare).count(),
        interval,
        duration,
        every,
        windows,
        samples,
        readings,
        peak_rss_kib: peak,
        cpu,
        machine,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line() {
        let s = slope(&[(0.0, 10.0), (1.0, 12.0), (2.0, 14.0)]).unwrap();
        assert!((s - 2.0).abs() < 1e-9);
        assert_eq!(slope(&[(1.0, 1.0)]), None);
        assert_eq!(slope(&[(1.0, 1.0), (1.0, 2.0)]), None);
    }

    #[test]
    fn growth_and_extrapolation() {
        let reading = |s: f64, mib: f64| RssReading {
            at_seconds: s,
            rss_kib: (mib * 1024.0) as u64,
            held_samples: 0,
        };
        let f = SoakFigures {
            nodes: 7,
            spares: 1,
            interval: Duration::from_millis(100),
            duration: Duration::from_secs(360),
            every: Duration::from_secs(60),
            windows: 5,
            samples: 0,
            // 40 MiB during the first window (warming up), then 1 MiB per minute.
            readings: vec![
                reading(0.0, 20.0),
                reading(60.0, 40.0),
                reading(120.0, 41.0),
                reading(180.0, 42.0),
            ],
            peak_rss_kib: None,
            cpu: CpuUse::default(),
            machine: MachineLoad::now(),
        };
        assert!((f.growth_mib_per_hour().unwrap() - 60.0).abs() < 0.1);
        let e = f.extrapolated_24h_mib().unwrap();
        assert!((e - (42.0 + 60.0 * (24.0 - 0.05))).abs() < 0.5, "{e}");
    }
}
