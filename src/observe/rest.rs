//! The REST sampler: `GET /patroni` on one node every tick, and `GET /cluster` on its turn.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use std::sync::atomic::{AtomicBool, Ordering};

use super::{MemberView, Sample, Timeline};
use crate::inventory::Node;
#[cfg(test)]
use crate::patroni::PatroniStatus;
use crate::patroni::{ApiError, ClusterStatus, NodeHttp, PatroniClient, StatusFacts, answer_body};
use crate::results::{Observation, ObservationSource};

/// Which `/cluster` the REST samplers ask for: every node every tick, or one node per
/// tick in turn while the DCS observer follows the leader key.
#[derive(Clone, Debug)]
pub(crate) struct Rotation {
    /// This node's place among the observed nodes.
    pub(crate) index: u64,
    /// Number of observed nodes.
    pub(crate) of: u64,
    /// Set while the DCS observer's last read answered: the leader then comes from the
    /// DCS, and one node's `/cluster` per tick is enough for the member list.
    pub(crate) dcs_live: Arc<AtomicBool>,
}

/// Samples one node's REST API until aborted.
///
/// Every tick asks `GET /patroni` (the node's own role, state and timeline); `GET /cluster`
/// (the member list, the same DCS view on every node) is asked on this node's turn only
/// while the DCS is followed, and every tick otherwise. A sample without a fresh
/// `/cluster` carries this node's last answer to it, shared, not copied. The two calls
/// run one after the other; each is bounded by the client's timeout. Ticks missed
/// meanwhile are skipped, never queued, so a slow node does not build a backlog and never
/// delays another node (each has its own task).
///
/// Over plain HTTP the calls go through the node's own [`NodeHttp`] (one connection, one
/// buffer, only the fields used parsed, an unchanged `/cluster` answer not parsed again);
/// over HTTPS through the shared [`PatroniClient`]. A node whose port refuses
/// connections tick after tick is asked less often (see [`Backoff`]).
pub(crate) async fn run(
    node: Node,
    client: Arc<PatroniClient>,
    timeline: Timeline,
    interval: Duration,
    rotation: Rotation,
) {
    let mut ticker = aligned_interval(interval);
    let mut last_view: Option<ClusterView> = None;
    let mut http = client.node_http(&node);
    let urls = client
        .parsed_url(&node, "/patroni")
        .zip(client.parsed_url(&node, "/cluster"));
    let mut cluster_cache = ClusterCache::default();
    let mut backoff = Backoff::default();
    loop {
        ticker.tick().await;
        if !backoff.ready() {
            continue;
        }
        // The tick's number from a clock shared by every sampler, so that nodes take
        // turns even though each task started at its own instant.
        let turn = epoch_tick(interval) % rotation.of.max(1) == rotation.index;
        let ask_cluster = turn || !rotation.dcs_live.load(Ordering::Relaxed) || last_view.is_none();
        let (status, refused) = match (&mut http, &urls) {
            (Some(h), _) => lean_status(h).await,
            (None, Some((u, _))) => (
                client.status_at(u).await.map(|s| StatusFacts::of(&s)),
                false,
            ),
            (None, None) => (
                client.status(&node).await.map(|s| StatusFacts::of(&s)),
                false,
            ),
        };
        // Nothing listens: asking `/cluster` of the same port would only be refused too.
        let ask_cluster = ask_cluster && !refused;
        let sample = if ask_cluster {
            let cluster = match (&mut http, &urls) {
                (Some(h), _) => cluster_cache.fetch(h).await,
                (None, Some((_, u))) => client.cluster_at(u).await.map(ClusterView::parsed),
                (None, None) => client.cluster(&node).await.map(ClusterView::parsed),
            };
            let s = sample_of(&node.name, status, Some(cluster));
            if s.observation.reachable && s.members.is_some() {
                last_view = Some(ClusterView::of(&s));
            }
            s
        } else {
            let mut s = sample_of(&node.name, status, None);
            if s.observation.reachable
                && let Some(v) = &last_view
            {
                v.fill(&node.name, &mut s);
            }
            s
        };
        if refused {
            backoff.refused(interval);
        } else {
            backoff.answered();
        }
        timeline.push(sample);
    }
}

/// `GET /patroni` through the node's lean client: the facts, and whether the connection
/// was refused.
async fn lean_status(h: &mut NodeHttp) -> (Result<StatusFacts, ApiError>, bool) {
    match h.get("/patroni").await {
        Ok(a) => {
            let parsed = answer_body(h, "/patroni", &a, &[200, 503]).and_then(|body| {
                StatusFacts::parse(body).map_err(|message| ApiError::Decode {
                    url: h.url("/patroni"),
                    message,
                })
            });
            (parsed, false)
        }
        Err((e, refused)) => (Err(e), refused),
    }
}

/// The last `/cluster` body of one node and what it said: an answer identical byte for
/// byte (a healthy, idle cluster answers the same for seconds) is not parsed again.
#[derive(Default)]
struct ClusterCache {
    body: Vec<u8>,
    view: Option<ClusterView>,
}

impl ClusterCache {
    async fn fetch(&mut self, h: &mut NodeHttp) -> Result<ClusterView, ApiError> {
        let a = h.get("/cluster").await.map_err(|(e, _)| e)?;
        let body = answer_body(h, "/cluster", &a, &[200])?;
        if let Some(v) = &self.view
            && self.body == body
        {
            return Ok(v.clone());
        }
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| ApiError::Decode {
                url: h.url("/cluster"),
                message: e.to_string(),
            })?;
        let view = ClusterView::parsed(ClusterStatus::from_json(value));
        self.body.clear();
        self.body.extend_from_slice(body);
        self.view = Some(view.clone());
        Ok(view)
    }
}

/// Consecutive refused connections of one node's port, and when to ask again.
///
/// A port nothing listens on (a spare node, a stopped Patroni) answers at once with a
/// refusal, so sampling it every tick only costs work. After [`BACKOFF_AFTER`] refusals in
/// a row the sampler asks every other tick, then every fourth, up to [`BACKOFF_MAX`]; the
/// first answer restores every tick. A node that comes back is seen within
/// [`BACKOFF_MAX`], far inside the world's staleness window and any scenario deadline.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    refusals: u32,
    next: Option<tokio::time::Instant>,
}

/// Refusals in a row before a sampler backs off.
pub(crate) const BACKOFF_AFTER: u32 = 10;
/// Longest time between two attempts at a refusing port.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_millis(500);

impl Backoff {
    /// Whether this tick may ask.
    pub(crate) fn ready(&self) -> bool {
        self.next.is_none_or(|n| tokio::time::Instant::now() >= n)
    }

    /// The attempt was refused.
    pub(crate) fn refused(&mut self, interval: Duration) {
        self.refusals = self.refusals.saturating_add(1);
        if self.refusals < BACKOFF_AFTER {
            return;
        }
        let doublings = (self.refusals - BACKOFF_AFTER + 1).min(8);
        let wait = interval
            .saturating_mul(1 << doublings)
            .min(BACKOFF_MAX.max(interval));
        // Half a tick early, so that the tick due at `wait` is not missed by a hair.
        self.next = Some(tokio::time::Instant::now() + wait.saturating_sub(interval / 2));
    }

    /// The attempt got an answer (or failed otherwise): every tick again.
    pub(crate) fn answered(&mut self) {
        self.refusals = 0;
        self.next = None;
    }
}

/// An interval whose ticks fall on whole multiples of `interval` since the Unix epoch,
/// missed ticks skipped. Every sampler of the same interval then wakes at the same
/// instant: one wake-up of the sampler thread drives every probe of a tick, instead of
/// one wake-up per sampler at its own phase.
pub(crate) fn aligned_interval(interval: Duration) -> tokio::time::Interval {
    let nanos = interval.as_nanos().max(1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let into = Duration::from_nanos((now.as_nanos() % nanos) as u64);
    let start = tokio::time::Instant::now() + interval.saturating_sub(into);
    let mut t = tokio::time::interval_at(start, interval);
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    t
}

/// The tick number of `now` on a clock shared by every sampler: the number of whole
/// intervals since the Unix epoch.
fn epoch_tick(interval: Duration) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // Rounded: a tick that fires a hair before its boundary (the wall clock and the
    // timer's monotonic clock need not agree to the nanosecond) still gets its number.
    let n = interval.as_nanos().max(1);
    ((now.as_nanos() + n / 2) / n) as u64
}

/// A node's last `/cluster` answer, kept to fill the samples between its turns.
#[derive(Clone, Debug)]
struct ClusterView {
    leader: Option<String>,
    members: Option<Vec<MemberView>>,
    json: Option<Arc<serde_json::Value>>,
}

impl ClusterView {
    fn parsed(c: ClusterStatus) -> Self {
        Self {
            leader: c.leader().map(|m| m.name.clone()),
            members: Some(c.members),
            json: Some(Arc::new(c.raw)),
        }
    }

    fn of(s: &Sample) -> Self {
        Self {
            leader: s.observation.cluster_leader.clone(),
            members: s.members.clone(),
            json: s.cluster_json.clone(),
        }
    }

    fn me(&self, node: &str) -> Option<&MemberView> {
        self.members
            .as_ref()
            .and_then(|ms| ms.iter().find(|m| m.name == node))
    }

    fn fill(&self, node: &str, s: &mut Sample) {
        s.observation.cluster_leader = self.leader.clone();
        if let Some(me) = self.me(node) {
            s.observation.lag_bytes = me.lag_bytes;
        }
        s.members = self.members.clone();
        s.cluster_json = self.json.clone();
    }
}

/// Builds the sample of one tick from the two answers.
///
/// The node's own `/patroni` is authoritative for its role, state and timeline; when only
/// `/cluster` answered, the node's entry there stands in. The state is reported the way
/// `/cluster` spells it (4.x replicas `streaming`, 3.x `running`) so that one vocabulary
/// serves both sources.
#[cfg(test)]
pub(crate) fn rest_sample(
    node: &str,
    status: Result<PatroniStatus, ApiError>,
    cluster: Result<ClusterStatus, ApiError>,
) -> Sample {
    sample_of(
        node,
        status.map(|s| StatusFacts::of(&s)),
        Some(cluster.map(ClusterView::parsed)),
    )
}

/// [`rest_sample`] from the facts of `/patroni` and, when it was asked, `/cluster`.
fn sample_of(
    node: &str,
    status: Result<StatusFacts, ApiError>,
    cluster: Option<Result<ClusterView, ApiError>>,
) -> Sample {
    let mut obs = Observation {
        at: Utc::now(),
        node: node.to_owned(),
        source: ObservationSource::Rest,
        ..Default::default()
    };
    let mut error = None;
    let status_ok = status.is_ok();
    match status {
        Ok(s) => {
            obs.reachable = true;
            obs.role = Some(s.role).filter(|r| !r.is_empty());
            obs.state = Some(s.state).filter(|r| !r.is_empty());
            obs.timeline = s.timeline;
        }
        Err(e) => error = Some(format!("/patroni: {}", e.short())),
    }
    let (members, cluster_json) = match cluster {
        None => (None, None),
        Some(Ok(c)) => {
            obs.reachable = true;
            obs.cluster_leader = c.leader.clone();
            if let Some(me) = c.me(node) {
                obs.lag_bytes = me.lag_bytes;
                if !status_ok {
                    obs.role = Some(me.role.clone()).filter(|r| !r.is_empty());
                    obs.state = Some(me.state.clone()).filter(|r| !r.is_empty());
                    obs.timeline = me.timeline;
                }
            }
            (c.members, c.json)
        }
        Some(Err(e)) => {
            let more = format!("/cluster: {}", e.short());
            error = Some(match error {
                Some(first) => format!("{first}; {more}"),
                None => more,
            });
            (None, None)
        }
    };
    obs.error = error;
    Sample {
        observation: obs,
        members,
        cluster_json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status() -> PatroniStatus {
        PatroniStatus::from_json(json!({"state": "running", "role": "replica",
            "timeline": 4, "replication_state": "streaming", "sync_standby": true}))
    }

    fn cluster() -> ClusterStatus {
        ClusterStatus::from_json(json!({"members": [
            {"name": "pg1", "role": "leader", "state": "running", "timeline": 4},
            {"name": "pg2", "role": "sync_standby", "state": "streaming", "timeline": 4, "lag": 96}]}))
    }

    fn down() -> ApiError {
        ApiError::Connect {
            url: "http://x/".into(),
            message: "Connection refused (os error 111)".into(),
        }
    }

    #[test]
    fn both_answers() {
        let s = rest_sample("pg2", Ok(status()), Ok(cluster()));
        let o = &s.observation;
        assert!(o.reachable);
        assert_eq!(o.source, ObservationSource::Rest);
        assert_eq!(o.role.as_deref(), Some("sync_standby"));
        assert_eq!(o.state.as_deref(), Some("streaming"));
        assert_eq!(o.timeline, Some(4));
        assert_eq!(o.lag_bytes, Some(96));
        assert_eq!(o.cluster_leader.as_deref(), Some("pg1"));
        assert_eq!(o.error, None);
        assert_eq!(s.members.as_ref().map(Vec::len), Some(2));
        assert!(s.cluster_json.is_some());
    }

    #[test]
    fn only_cluster_answers() {
        let s = rest_sample("pg1", Err(down()), Ok(cluster()));
        let o = &s.observation;
        assert!(o.reachable);
        assert_eq!(o.role.as_deref(), Some("leader"));
        assert_eq!(o.timeline, Some(4));
        assert!(
            o.error
                .as_deref()
                .unwrap()
                .starts_with("/patroni: Connection refused")
        );
    }

    #[test]
    fn nothing_answers() {
        let s = rest_sample("pg1", Err(down()), Err(down()));
        let o = &s.observation;
        assert!(!o.reachable);
        assert_eq!(o.role, None);
        assert!(s.members.is_none());
        assert!(o.error.as_deref().unwrap().contains("/cluster"));
    }
}
