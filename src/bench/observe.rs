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
use crate::observe::{ObserveConfig, Observers, PgSettings, Timeline, sample_rates};
use crate::patroni::PatroniClient;
use crate::results::ObservationSource;
use crate::secret::Secret;
use crate::transport::Transport;

/// One observation run: a cluster size, an interval, what was achieved and what it cost.
#[derive(Clone, Debug, Serialize)]
pub struct ObserveFigures {
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
}

impl ObserveFigures {
    /// REST samples per second per node (distribution over nodes).
    pub fn rest(&self) -> Option<Summary> {
        Summary::of(&self.rest_per_node.values().copied().collect::<Vec<_>>())
    }

    /// SQL samples per second per node (distribution over nodes).
    pub fn sql(&self) -> Option<Summary> {
        Summary::of(&self.sql_per_node.values().copied().collect::<Vec<_>>())
    }

    /// The lower of the two sources' worst node: what "samples per second per node" can
    /// promise for every node and every source.
    pub fn worst_rate(&self) -> Option<f64> {
        Some(self.rest()?.min.min(self.sql()?.min))
    }
}

/// Observes the cluster of `inv` for `duration` at `interval` and measures the cost.
///
/// Nothing else runs in this process meanwhile, so the process's CPU is the observers'
/// (the REST client, the SQL connections and the tokio runtime that drives them).
pub async fn measure(
    inv: Arc<Inventory>,
    control_dir: &Path,
    interval: Duration,
    duration: Duration,
) -> Result<ObserveFigures, BenchError> {
    let client = Arc::new(PatroniClient::new(&inv).map_err(|e| BenchError::Setup(format!("{e}")))?);
    let transport = Arc::new(Transport::new(&inv, control_dir));
    let pg = &inv.cluster.postgres;
    let password: Option<Secret> = pg
        .password
        .as_ref()
        .map(|p| p.resolve())
        .transpose()
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let settings = PgSettings {
        user: pg.user.clone(),
        database: pg.database.clone(),
        password,
        port: pg.port,
        timeout: pg.timeout.get().max(Duration::from_secs(2)),
        sslmode: pg.sslmode,
    };
    let timeline = Timeline::new();
    let members: Vec<String> = inv
        .nodes_with(Role::Patroni)
        .map(|n| n.name.clone())
        .collect();
    let spares = inv.nodes_with(Role::Spare).count();
    let machine = MachineLoad::now();
    let reset = sysinfo::reset_peak_rss();
    let meter = CpuMeter::start();
    let observers = Observers::start(
        inv.clone(),
        client,
        transport.clone(),
        settings,
        timeline.clone(),
        ObserveConfig {
            interval,
            ..ObserveConfig::default()
        },
    );
    // The window's length is what the rates and CPU are measured over, not a wait for an
    // event.
    tokio::time::sleep(duration).await;
    let cpu = meter.stop();
    let peak = sysinfo::peak_rss_kib().filter(|_| reset);
    let rss = sysinfo::rss_kib();
    observers.stop().await;
    transport.close().await;

    let samples = timeline.since(0);
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
            ObservationSource::SqlSsh => {}
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
    })
}
