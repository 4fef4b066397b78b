//! Observation: how many samples per second per node the observers achieve, and what
//! they cost pgchaos in CPU and memory while doing it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::BenchError;
use super::stats::Summary;
use super::sysinfo::{self, CpuMeter, CpuUse, MachineLoad};
use crate::inventory::{Inventory, Role};
use crate::observe::{ObserveConfig, sample_rates};
use crate::results::ObservationSource;

/// One observation run: a cluster size, an interval, what was achieved and what it cost.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ObserveFigures {
    /// Patroni nodes observed (the rates are theirs).
    pub nodes: usize,
    /// Spare nodes also observed (no Patroni running: every sample fails, as in a run).
    pub spares: usize,
    /// Configured time between two samples of one node by one sampler.
    pub interval: Duration,
    /// Machine at the start of the window.
    pub machine: MachineLoad,
    /// CPU over the window.
    pub cpu: CpuUse,
    /// Peak resident set size over the window, KiB (`VmHWM` after a reset; none when the
    /// kernel refused the reset and the figure would include earlier phases).
    pub peak_rss_kib: Option<u64>,
    /// Resident set size at the end of the window, KiB.
    pub rss_kib: Option<u64>,
    /// Achieved REST samples per second, one value per node.
    pub rest_per_node: BTreeMap<String, f64>,
    /// Achieved SQL samples per second, one value per node.
    pub sql_per_node: BTreeMap<String, f64>,
    /// Samples of the Patroni nodes whose source did not answer.
    pub unreachable: usize,
    /// Samples taken over SSH (fallback when SQL over TCP fails); zero on a healthy cluster.
    pub ssh_samples: usize,
    /// Nodes observed (Patroni nodes and spares).
    pub observed_nodes: usize,
    /// REST samples of every observed node (one `GET /patroni` each; `GET /cluster` on one
    /// node's turn per tick while the DCS is followed).
    pub rest_samples: usize,
    /// SQL samples over TCP of every observed node (one query, or one failed connect).
    pub sql_samples: usize,
    /// Samples the window held at its end (the whole window is pinned, as a scenario is).
    pub retained_samples: usize,
    /// Resident set size at the start of the window, KiB.
    pub rss_start_kib: Option<u64>,
    /// Whether the DCS watch answered during the window.
    pub dcs_followed: bool,
}

impl ObserveFigures {
    /// REST samples per second per node (distribution over nodes).
    pub(crate) fn rest(&self) -> Option<Summary> {
        Summary::of(&self.rest_per_node.values().copied().collect::<Vec<_>>())
    }

    /// SQL samples per second per node (distribution over nodes).
    pub(crate) fn sql(&self) -> Option<Summary> {
        Summary::of(&self.sql_per_node.values().copied().collect::<Vec<_>>())
    }

    /// HTTP requests and SQL queries made in the window: a REST sample is one `GET
    /// /patroni`, plus one `GET /cluster` on one node's turn per tick while the DCS is
    /// followed (on every node otherwise); a SQL sample is one query.
    pub(crate) fn probes(&self) -> f64 {
        let rest = self.rest_samples as f64;
        let cluster = if self.dcs_followed {
            rest / self.observed_nodes.max(1) as f64
        } else {
            rest
        };
        rest + cluster + self.sql_samples as f64
    }

    /// CPU per probe (HTTP request or SQL query), µs, pgchaos and its ssh masters.
    pub(crate) fn cpu_per_probe_us(&self) -> Option<f64> {
        let p = self.probes();
        (p > 0.0).then(|| 1e6 * (self.cpu.own_cpu_seconds + self.cpu.children_cpu_seconds) / p)
    }

    /// Samples recorded per second, every node and source.
    pub(crate) fn samples_per_second(&self) -> f64 {
        self.retained_samples as f64 / self.cpu.wall_seconds.max(f64::EPSILON)
    }

    /// Resident growth per sample the window held, bytes (allocator noise included).
    pub(crate) fn bytes_per_sample(&self) -> Option<f64> {
        let grew = self.rss_kib?.saturating_sub(self.rss_start_kib?) as f64 * 1024.0;
        (self.retained_samples > 0).then(|| grew / self.retained_samples as f64)
    }

    /// Resident growth per hour while one window (a scenario) holds its samples, MiB.
    pub(crate) fn held_growth_mib_per_hour(&self) -> Option<f64> {
        Some(self.bytes_per_sample()? * self.samples_per_second() * 3600.0 / 1048576.0)
    }

    /// The lower of the two sources' worst node: what "samples per second per node" can
    /// promise for every node and every source.
    pub(crate) fn worst_rate(&self) -> Option<f64> {
        Some(self.rest()?.min.min(self.sql()?.min))
    }
}

/// Observation before the measured window starts.
pub(crate) const WARM_UP: Duration = Duration::from_secs(3);

/// Observes the cluster of `inv` for `duration` at `interval` and measures the cost.
///
/// Nothing else runs in this process meanwhile, so the process's CPU is the observers'
/// (the REST client, the SQL connections and the tokio runtime that drives them).
pub(crate) async fn measure(
    inv: Arc<Inventory>,
    control_dir: &Path,
    interval: Duration,
    duration: Duration,
) -> Result<ObserveFigures, BenchError> {
    let session = super::open_session(&inv, control_dir)?;
    let members: Vec<String> = inv
        .nodes_with(Role::Patroni)
        .map(|n| n.name.clone())
        .collect();
    let spares = inv.nodes_with(Role::Spare).count();
    let machine = MachineLoad::now();
    let observers = session.observe(ObserveConfig {
        interval,
        ..ObserveConfig::default()
    });
    // Connections, the ssh masters and the DCS watch are set up once; the window measures
    // the steady state that follows. Both lengths are measurement windows, not waits for
    // an event.
    tokio::time::sleep(WARM_UP).await;
    let window = session.timeline.pin();
    let rss_start = sysinfo::rss_kib();
    let reset = sysinfo::reset_peak_rss();
    let meter = CpuMeter::start();
    tokio::time::sleep(duration).await;
    let cpu = meter.stop();
    let peak = sysinfo::peak_rss_kib().filter(|_| reset);
    let rss = sysinfo::rss_kib();
    observers.stop().await;
    session.close().await;

    let samples = session.timeline.since(window.start());
    let mut rest_per_node = BTreeMap::new();
    let mut sql_per_node = BTreeMap::new();
    for ((node, source), rate) in sample_rates(&samples) {
        let Some(r) = rate.per_second.filter(|_| members.contains(&node)) else {
            continue;
        };
        match source {
            ObservationSource::Rest => {
                rest_per_node.insert(node, r);
            }
            ObservationSource::Sql => {
                sql_per_node.insert(node, r);
            }
            ObservationSource::SqlSsh
            | ObservationSource::Dcs
            | ObservationSource::Etcd
            | ObservationSource::Haproxy => {}
        }
    }
    if rest_per_node.is_empty() || sql_per_node.is_empty() {
        return Err(BenchError::Measure(format!(
            "the observers recorded too few samples in {duration:?} ({} in all)",
            samples.len()
        )));
    }
    Ok(ObserveFigures {
        nodes: members.len(),
        spares,
        interval,
        machine,
        cpu,
        peak_rss_kib: peak,
        rss_kib: rss,
        rest_per_node,
        sql_per_node,
        unreachable: samples
            .iter()
            .filter(|s| members.contains(&s.observation.node) && !s.observation.reachable)
            .count(),
        ssh_samples: samples
            .iter()
            .filter(|s| s.observation.source == ObservationSource::SqlSsh)
            .count(),
        observed_nodes: members.len() + spares,
        rest_samples: samples
            .iter()
            .filter(|s| s.observation.source == ObservationSource::Rest)
            .count(),
        sql_samples: samples
            .iter()
            .filter(|s| s.observation.source == ObservationSource::Sql)
            .count(),
        retained_samples: samples.len(),
        rss_start_kib: rss_start,
        dcs_followed: samples
            .iter()
            .any(|s| s.observation.source == ObservationSource::Dcs && s.observation.reachable),
    })
}
