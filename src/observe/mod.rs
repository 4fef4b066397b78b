//! Observers: samplers of the Patroni REST API and of SQL on every node, writing one
//! timeline of observations.
//!
//! Every node is sampled by its own tasks, so one slow or unreachable node never delays
//! the others. A node that pgchaos cannot reach over TCP is also asked over SSH through
//! its local socket: a node cut off from pgchaos may still accept writes from others.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::results::Observation;

mod lsn;
mod observers;
mod rest;
mod sql;

pub use lsn::{lsn_to_u64, parse_timeline, timeline_from_walfile, u64_to_lsn};
pub use observers::{ObserveConfig, Observers, SSH_FALLBACK_INTERVAL, SampleRate, sample_rates};
pub use rest::rest_sample;
pub use sql::{PROBE_QUERY, PgSettings, SqlReading, parse_psql_row, probe_once, ssh_probe_command};

/// One member as a node's `GET /cluster` lists it, normalised across Patroni versions.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemberView {
    /// Member name.
    pub name: String,
    /// `leader`, `replica`, `sync_standby`, `standby_leader` (3.x `master` is `leader`).
    pub role: String,
    /// Raw state (`running`, `streaming`, `stopped`, `in archive recovery`, ...).
    pub state: String,
    /// Timeline, when reported.
    pub timeline: Option<u64>,
    /// Lag in bytes, when reported as a number.
    pub lag_bytes: Option<u64>,
}

/// One sample: an [`Observation`], plus the member list when it came from `/cluster`.
#[derive(Clone, Debug)]
pub struct Sample {
    /// The observation as recorded in results.
    pub observation: Observation,
    /// The node's view of `/cluster` (REST samples only).
    pub members: Option<Vec<MemberView>>,
    /// The raw `/cluster` JSON (REST samples only), kept for snapshots in reports.
    pub cluster_json: Option<serde_json::Value>,
}

/// The timeline all observers append to. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Timeline {
    inner: Arc<Mutex<Vec<Sample>>>,
    notify: Arc<tokio::sync::Notify>,
}

impl Timeline {
    /// An empty timeline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a sample and wakes whoever waits for new samples.
    pub fn push(&self, sample: Sample) {
        self.inner.lock().expect("timeline lock").push(sample);
        self.notify.notify_waiters();
    }

    /// Number of samples so far.
    pub fn len(&self) -> usize {
        self.inner.lock().expect("timeline lock").len()
    }

    /// Whether no sample was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the samples from index `from` on.
    pub fn since(&self, from: usize) -> Vec<Sample> {
        let g = self.inner.lock().expect("timeline lock");
        g.get(from..).map(<[Sample]>::to_vec).unwrap_or_default()
    }

    /// Waits until a sample is pushed (or `timeout` passes).
    pub async fn changed(&self, timeout: std::time::Duration) {
        let _ = tokio::time::timeout(timeout, self.notify.notified()).await;
    }

    /// The latest sample of every (node, source) pair.
    pub fn latest(&self) -> BTreeMap<(String, crate::results::ObservationSource), Sample> {
        let g = self.inner.lock().expect("timeline lock");
        let mut out = BTreeMap::new();
        for s in g.iter() {
            out.insert(
                (s.observation.node.clone(), s.observation.source),
                s.clone(),
            );
        }
        out
    }
}
