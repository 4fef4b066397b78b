//! The REST sampler: `GET /patroni` and `GET /cluster` on one node, every tick.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::{Sample, Timeline};
use crate::inventory::Node;
use crate::patroni::{ApiError, ClusterStatus, PatroniClient, PatroniStatus};
use crate::results::{Observation, ObservationSource};

/// Samples one node's REST API until aborted.
///
/// Both calls run concurrently and each is bounded by the client's timeout, so one tick
/// costs at most one timeout; ticks missed meanwhile are skipped, never queued, so a slow
/// node does not build a backlog and never delays another node (each has its own task).
pub(crate) async fn run(
    node: Node,
    client: Arc<PatroniClient>,
    timeline: Timeline,
    interval: Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        let (status, cluster) = tokio::join!(client.status(&node), client.cluster(&node));
        timeline.push(rest_sample(&node.name, status, cluster));
    }
}

/// Builds the sample of one tick from the two answers.
///
/// The node's own `/patroni` is authoritative for its role, state and timeline; when only
/// `/cluster` answered, the node's entry there stands in. The state is reported the way
/// `/cluster` spells it (4.x replicas `streaming`, 3.x `running`) so that one vocabulary
/// serves both sources.
pub fn rest_sample(
    node: &str,
    status: Result<PatroniStatus, ApiError>,
    cluster: Result<ClusterStatus, ApiError>,
) -> Sample {
    let mut obs = Observation {
        at: Utc::now(),
        node: node.to_owned(),
        source: ObservationSource::Rest,
        ..Default::default()
    };
    let mut errors = Vec::new();
    match &status {
        Ok(s) => {
            obs.reachable = true;
            obs.role = Some(s.member_role()).filter(|r| !r.is_empty());
            obs.state = Some(s.member_state()).filter(|r| !r.is_empty());
            obs.timeline = s.timeline;
        }
        Err(e) => errors.push(format!("/patroni: {}", e.short())),
    }
    let (members, cluster_json) = match cluster {
        Ok(c) => {
            obs.reachable = true;
            obs.cluster_leader = c.leader().map(|m| m.name.clone());
            if let Some(me) = c.member(node) {
                obs.lag_bytes = me.lag_bytes;
                if status.is_err() {
                    obs.role = Some(me.role.clone()).filter(|r| !r.is_empty());
                    obs.state = Some(me.state.clone()).filter(|r| !r.is_empty());
                    obs.timeline = me.timeline;
                }
            }
            (Some(c.members), Some(c.raw))
        }
        Err(e) => {
            errors.push(format!("/cluster: {}", e.short()));
            (None, None)
        }
    };
    if !errors.is_empty() {
        obs.error = Some(errors.join("; "));
    }
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
