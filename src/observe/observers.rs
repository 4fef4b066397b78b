//! Starting and stopping the samplers of every node, and measuring how often they sampled.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::sql::{self, PgSettings};
use super::{Sample, Timeline, dcs, rest};
use crate::inventory::{Inventory, Role};
use crate::patroni::PatroniClient;
use crate::results::ObservationSource;
use crate::transport::Transport;

/// How the observers sample.
#[derive(Clone, Debug)]
pub struct ObserveConfig {
    /// Time between two samples of one node by one sampler (default 100 ms: ten per
    /// second).
    pub interval: Duration,
    /// Ask a node over SSH through its local socket when SQL over TCP fails (default on),
    /// at most every [`SSH_FALLBACK_INTERVAL`].
    pub ssh_fallback: bool,
}

/// Time between two SSH probes of one node while SQL over TCP fails: an SSH round trip
/// costs far more than a query, and once a second is enough to catch a cut-off node that
/// still accepts writes.
pub(crate) const SSH_FALLBACK_INTERVAL: Duration = Duration::from_secs(1);

impl Default for ObserveConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(100),
            ssh_fallback: true,
        }
    }
}

/// The running samplers of every node. Dropping it aborts them too.
pub struct Observers {
    tasks: Vec<JoinHandle<()>>,
    runtime: Option<SamplerRuntime>,
}

/// The samplers' own single-threaded runtime on its own thread.
///
/// Dozens of small, mostly idle tasks that each wake ten times a second cost far less on
/// one thread than spread over a work-stealing pool, where every wake-up may unpark
/// another worker; and the run's own work never competes with them for a worker.
struct SamplerRuntime {
    handle: tokio::runtime::Handle,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SamplerRuntime {
    fn start() -> Option<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        let handle = rt.handle().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("pgchaos-observe".into())
            .spawn(move || {
                // Either a stop or a dropped sender ends it.
                let _ = rt.block_on(rx);
            })
            .ok()?;
        Some(Self {
            handle,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for SamplerRuntime {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Observers {
    /// Spawns, for every node with role `patroni` or `spare`, a REST sampler (`GET
    /// /patroni` each tick, `GET /cluster` on the node's turn while the DCS is followed),
    /// a SQL sampler over TCP and, when enabled, the SSH fallback; and, when the inventory
    /// lists etcd endpoints, the DCS observer following the leader key. Every node and
    /// every sampler runs in its own task, so none waits for another; the tasks run on
    /// a runtime of their own, on one thread. Must be called inside a tokio runtime.
    pub fn start(
        inv: Arc<Inventory>,
        client: Arc<PatroniClient>,
        transport: Arc<Transport>,
        pg: PgSettings,
        timeline: Timeline,
        cfg: ObserveConfig,
    ) -> Observers {
        let pg = Arc::new(pg);
        let interval = cfg.interval.max(Duration::from_millis(10));
        let mut tasks = Vec::new();
        // Without a thread of its own (none could be started), the caller's runtime.
        let runtime = SamplerRuntime::start();
        let rt = runtime
            .as_ref()
            .map(|r| r.handle.clone())
            .unwrap_or_else(tokio::runtime::Handle::current);
        let observed: Vec<_> = inv
            .nodes
            .iter()
            .filter(|n| n.roles.contains(&Role::Patroni) || n.roles.contains(&Role::Spare))
            .collect();
        let dcs_live = Arc::new(AtomicBool::new(false));
        if !inv.entrypoints.etcd.is_empty() {
            tasks.extend(dcs::spawn(
                &rt,
                dcs::DcsTarget {
                    endpoints: inv.entrypoints.etcd.clone(),
                    key: dcs::leader_key(&inv.cluster.namespace, &inv.cluster.scope),
                },
                timeline.clone(),
                dcs_live.clone(),
            ));
            tasks.push(super::etcd_health::spawn(
                &rt,
                inv.clone(),
                timeline.clone(),
            ));
        }
        tasks.extend(super::haproxy_stats::spawn(
            &rt,
            inv.clone(),
            timeline.clone(),
        ));
        let of = observed.len() as u64;
        for (index, node) in observed.into_iter().enumerate() {
            tasks.push(rt.spawn(rest::run(
                node.clone(),
                client.clone(),
                timeline.clone(),
                interval,
                rest::Rotation {
                    index: index as u64,
                    of,
                    dcs_live: dcs_live.clone(),
                },
            )));
            let tcp_failing = Arc::new(AtomicBool::new(false));
            tasks.push(rt.spawn(sql::run_tcp(
                node.clone(),
                pg.clone(),
                timeline.clone(),
                interval,
                tcp_failing.clone(),
            )));
            if cfg.ssh_fallback {
                tasks.push(rt.spawn(sql::run_ssh(
                    node.clone(),
                    inv.ops_for(node),
                    pg.clone(),
                    transport.clone(),
                    timeline.clone(),
                    SSH_FALLBACK_INTERVAL.max(interval),
                    tcp_failing,
                )));
            }
        }
        Observers { tasks, runtime }
    }

    /// Number of sampler tasks running.
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    /// Stops every sampler now (a call in flight is abandoned) and waits for them to end.
    pub async fn stop(mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            // A cancelled task reports a JoinError by design; nothing to do with it.
            let _ = t.await;
        }
        if let Some(mut r) = self.runtime.take() {
            if let Some(tx) = r.shutdown.take() {
                let _ = tx.send(());
            }
            if let Some(th) = r.thread.take() {
                // The thread ends as soon as its runtime sees the stop; join it off the
                // caller's worker.
                let _ = tokio::task::spawn_blocking(move || th.join()).await;
            }
        }
    }
}

impl Drop for Observers {
    fn drop(&mut self) {
        // A runner that errors out without calling stop() must not leave samplers behind.
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// How often one (node, source) was sampled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleRate {
    /// Samples recorded.
    pub count: usize,
    /// Samples whose source answered.
    pub reachable: usize,
    /// Samples per second between the first and the last sample (none with fewer than two).
    pub per_second: Option<f64>,
}

/// The achieved sampling rate of every (node, source) pair in `samples`.
pub fn sample_rates(samples: &[Sample]) -> BTreeMap<(String, ObservationSource), SampleRate> {
    let mut spans: BTreeMap<(String, ObservationSource), (usize, usize, _, _)> = BTreeMap::new();
    for s in samples {
        let o = &s.observation;
        let e = spans
            .entry((o.node.clone(), o.source))
            .or_insert((0, 0, o.at, o.at));
        e.0 += 1;
        e.1 += usize::from(o.reachable);
        e.2 = e.2.min(o.at);
        e.3 = e.3.max(o.at);
    }
    spans
        .into_iter()
        .map(|(k, (count, reachable, first, last))| {
            let secs = (last - first).num_microseconds().unwrap_or(0) as f64 / 1e6;
            let per_second = (count >= 2 && secs > 0.0).then(|| (count - 1) as f64 / secs);
            (
                k,
                SampleRate {
                    count,
                    reachable,
                    per_second,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Observation;
    use chrono::{TimeZone, Utc};

    fn sample(node: &str, ms: i64, reachable: bool) -> Sample {
        Sample {
            observation: Observation {
                at: Utc.timestamp_millis_opt(1_700_000_000_000 + ms).unwrap(),
                node: node.into(),
                reachable,
                ..Default::default()
            },
            members: None,
            cluster_json: None,
        }
    }

    #[test]
    fn rates_per_node() {
        let samples: Vec<Sample> = (0..5)
            .map(|i| sample("a", i * 250, true))
            .chain([sample("b", 0, false)])
            .collect();
        let r = sample_rates(&samples);
        let a = r[&("a".to_owned(), ObservationSource::Rest)];
        assert_eq!(a.count, 5);
        assert_eq!(a.reachable, 5);
        assert!((a.per_second.unwrap() - 4.0).abs() < 1e-9);
        let b = r[&("b".to_owned(), ObservationSource::Rest)];
        assert_eq!((b.count, b.reachable, b.per_second), (1, 0, None));
    }
}
