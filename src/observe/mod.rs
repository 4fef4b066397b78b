//! Observers: samplers of the Patroni REST API and of SQL on every node, writing one
//! timeline of observations.
//!
//! Every node is sampled by its own tasks, so one slow or unreachable node never delays
//! the others. A node that pgchaos cannot reach over TCP is also asked over SSH through
//! its local socket: a node cut off from pgchaos may still accept writes from others.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::results::Observation;
// Observers parse LSNs and timelines (`super::lsn` in the submodules).
use crate::lsn;

mod dcs;
mod etcd_health;
mod haproxy_stats;
mod observers;
mod rest;
mod sql;

pub(crate) use crate::patroni::MemberView;
pub(crate) use dcs::{leader_key, member_key, read_leader_once, read_value_once, watch_events};
pub(crate) use haproxy_stats::flaps as haproxy_flaps;
pub use observers::{ObserveConfig, Observers, SampleRate, sample_rates};
pub use sql::{PgSettings, SqlReading, probe_once};

/// One sample: an [`Observation`], plus the member list when it came from `/cluster`.
#[derive(Clone, Debug)]
pub struct Sample {
    /// The observation as recorded in results.
    pub observation: Observation,
    /// The node's view of `/cluster` (REST samples only).
    pub members: Option<Vec<MemberView>>,
    /// The raw `/cluster` JSON (REST samples only), kept for snapshots in reports; shared
    /// between the samples that carry the same answer.
    pub cluster_json: Option<Arc<serde_json::Value>>,
}

/// A sample as the timeline keeps it: the member list and the `/cluster` JSON shared with
/// the previous sample of the same node when they did not change, so that a run at ten
/// samples per second keeps one copy of each distinct answer rather than one per sample.
#[derive(Clone, Debug)]
struct Stored {
    observation: Observation,
    members: Option<Arc<Vec<MemberView>>>,
    cluster_json: Option<Arc<serde_json::Value>>,
}

impl Stored {
    fn sample(&self) -> Sample {
        Sample {
            observation: self.observation.clone(),
            members: self.members.as_deref().cloned(),
            cluster_json: self.cluster_json.clone(),
        }
    }
}

/// How long the timeline keeps samples that no [`TimelinePin`] holds: long enough for
/// anything that looks back at "recent" samples without pinning (the world's staleness
/// window is seconds), short enough that a soak between scenarios stays flat.
pub(crate) const UNPINNED_RETENTION: std::time::Duration = std::time::Duration::from_secs(120);

#[derive(Default)]
struct Inner {
    /// Absolute index of `samples[0]`: indices handed out stay valid when old samples go.
    base: usize,
    samples: std::collections::VecDeque<Stored>,
    /// Live pins: id -> first absolute index they hold.
    pins: BTreeMap<u64, usize>,
    next_pin: u64,
    /// The latest sample of every (node, source).
    latest: BTreeMap<(String, crate::results::ObservationSource), Stored>,
}

impl Inner {
    /// Drops samples before every pin and older than the unpinned retention.
    fn trim(&mut self, retention: std::time::Duration) {
        let keep_from = self.pins.values().copied().min();
        let Some(newest) = self.samples.back().map(|s| s.observation.at) else {
            return;
        };
        let horizon = chrono::Duration::from_std(retention)
            .ok()
            .and_then(|r| newest.checked_sub_signed(r));
        while let Some(front) = self.samples.front() {
            let pinned = keep_from.is_some_and(|p| self.base >= p);
            let recent = horizon.is_none_or(|h| front.observation.at >= h);
            if pinned || recent {
                break;
            }
            self.samples.pop_front();
            self.base += 1;
        }
    }
}

/// The timeline all observers append to. Cheap to clone (shared).
///
/// Samples are numbered from 0 in the order they were pushed. A consumer that needs
/// every sample from some point on (a scenario's window) takes a [`TimelinePin`] first;
/// samples no pin holds are kept for [`UNPINNED_RETENTION`], then dropped, so memory is
/// bounded by the longest pinned window rather than by the length of the run.
#[derive(Clone)]
pub struct Timeline {
    inner: Arc<Mutex<Inner>>,
    notify: Arc<tokio::sync::Notify>,
    retention: std::time::Duration,
}

impl Default for Timeline {
    fn default() -> Self {
        Self {
            inner: Arc::default(),
            notify: Arc::default(),
            retention: UNPINNED_RETENTION,
        }
    }
}

/// Holds every sample from [`TimelinePin::start`] on until dropped.
pub(crate) struct TimelinePin {
    inner: Arc<Mutex<Inner>>,
    id: u64,
    start: usize,
}

impl TimelinePin {
    /// The absolute index of the first sample held.
    pub(crate) fn start(&self) -> usize {
        self.start
    }
}

impl Drop for TimelinePin {
    fn drop(&mut self) {
        if let Ok(mut g) = self.inner.lock() {
            g.pins.remove(&self.id);
        }
    }
}

impl Timeline {
    /// An empty timeline.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty timeline keeping unpinned samples for `retention`.
    #[cfg(test)]
    pub(crate) fn with_retention(retention: std::time::Duration) -> Self {
        Self {
            retention,
            ..Self::default()
        }
    }

    /// Appends a sample and wakes whoever waits for new samples.
    pub(crate) fn push(&self, sample: Sample) {
        {
            let mut g = self.inner.lock().expect("timeline lock");
            let key = (sample.observation.node.clone(), sample.observation.source);
            let prev = g.latest.get(&key);
            let members = sample
                .members
                .map(|m| match prev.and_then(|p| p.members.as_ref()) {
                    Some(p) if **p == m => p.clone(),
                    _ => Arc::new(m),
                });
            let cluster_json =
                sample
                    .cluster_json
                    .map(|j| match prev.and_then(|p| p.cluster_json.as_ref()) {
                        Some(p) if Arc::ptr_eq(p, &j) || **p == *j => p.clone(),
                        _ => j,
                    });
            let stored = Stored {
                observation: sample.observation,
                members,
                cluster_json,
            };
            g.latest.insert(key, stored.clone());
            g.samples.push_back(stored);
            if (g.base + g.samples.len()).is_multiple_of(256) {
                g.trim(self.retention);
            }
        }
        self.notify.notify_waiters();
    }

    /// Holds every sample from now on until the pin is dropped.
    pub(crate) fn pin(&self) -> TimelinePin {
        let mut g = self.inner.lock().expect("timeline lock");
        let id = g.next_pin;
        g.next_pin += 1;
        let start = g.base + g.samples.len();
        g.pins.insert(id, start);
        TimelinePin {
            inner: self.inner.clone(),
            id,
            start,
        }
    }

    /// Number of samples pushed so far (the absolute index of the next one).
    pub fn len(&self) -> usize {
        let g = self.inner.lock().expect("timeline lock");
        g.base + g.samples.len()
    }

    /// Number of samples held in memory now.
    pub(crate) fn retained(&self) -> usize {
        self.inner.lock().expect("timeline lock").samples.len()
    }

    /// Whether no sample was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the samples from absolute index `from` on (from the oldest still held
    /// when `from` was dropped already: take a [`TimelinePin`] to keep a window).
    pub fn since(&self, from: usize) -> Vec<Sample> {
        let g = self.inner.lock().expect("timeline lock");
        let skip = from.saturating_sub(g.base);
        g.samples.iter().skip(skip).map(Stored::sample).collect()
    }

    /// Waits until a sample is pushed (or `timeout` passes).
    pub async fn changed(&self, timeout: std::time::Duration) {
        let _ = tokio::time::timeout(timeout, self.notify.notified()).await;
    }

    /// The latest sample of every (node, source) pair.
    pub fn latest(&self) -> BTreeMap<(String, crate::results::ObservationSource), Sample> {
        let g = self.inner.lock().expect("timeline lock");
        g.latest
            .iter()
            .map(|(k, v)| (k.clone(), v.sample()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn at(ms: i64, json: Option<serde_json::Value>) -> Sample {
        Sample {
            observation: Observation {
                at: Utc.timestamp_millis_opt(1_700_000_000_000 + ms).unwrap(),
                node: "a".into(),
                ..Default::default()
            },
            members: json.as_ref().map(|_| vec![]),
            cluster_json: json.map(Arc::new),
        }
    }

    #[test]
    fn pins_hold_windows_and_the_rest_expires() {
        let tl = Timeline::with_retention(std::time::Duration::from_secs(1));
        for i in 0..300 {
            tl.push(at(i * 100, None));
        }
        // 30 s of samples, 1 s retention: only the last second (and a trim batch) stays.
        assert_eq!(tl.len(), 300);
        assert!(tl.retained() < 300, "{}", tl.retained());
        let pin = tl.pin();
        assert_eq!(pin.start(), 300);
        for i in 300..1000 {
            tl.push(at(i * 100, None));
        }
        let window = tl.since(pin.start());
        assert_eq!(window.len(), 700, "a pinned window is kept whole");
        drop(pin);
        for i in 1000..1300 {
            tl.push(at(i * 100, None));
        }
        assert!(tl.retained() < 300, "{}", tl.retained());
        assert_eq!(tl.len(), 1300);
        // Indices stay absolute: the newest sample is still number 1299.
        assert_eq!(tl.since(1299).len(), 1);
    }

    #[test]
    fn equal_answers_are_shared() {
        let tl = Timeline::new();
        let j = serde_json::json!({"members": [{"name": "a"}]});
        tl.push(at(0, Some(j.clone())));
        tl.push(at(100, Some(j.clone())));
        tl.push(at(200, Some(serde_json::json!({"members": []}))));
        let s = tl.since(0);
        assert!(Arc::ptr_eq(
            s[0].cluster_json.as_ref().unwrap(),
            s[1].cluster_json.as_ref().unwrap()
        ));
        assert!(!Arc::ptr_eq(
            s[1].cluster_json.as_ref().unwrap(),
            s[2].cluster_json.as_ref().unwrap()
        ));
        assert_eq!(tl.latest().len(), 1);
    }
}
