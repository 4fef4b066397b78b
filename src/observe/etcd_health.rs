//! The etcd observer: every member's own status, sampled, so that a report shows when
//! the DCS itself was unavailable (no leader, a member cut off or frozen) beside what
//! Patroni did about it.
//!
//! Each tick asks every endpoint of the inventory `POST /v3/maintenance/status` (see
//! [`crate::etcd`]); a member that answers and follows the leader most answering members
//! follow (that leader answering too) is `follower`, the leader itself `leader`; a member
//! that answers but follows no such leader has no role. Status is answered from the
//! member's local state, without consensus, so a minority member still answers: it is
//! its missing leader that shows it cannot serve Patroni.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::{Sample, Timeline};
use crate::etcd::Status;
use crate::inventory::Inventory;
use crate::results::{Observation, ObservationSource};

/// How often etcd is asked: the leader-key watch already sees Patroni's side at once;
/// this is for etcd's own health, where a second's resolution suffices.
pub(crate) const ETCD_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Spawns the sampler on `rt`.
pub(crate) fn spawn(
    rt: &tokio::runtime::Handle,
    inv: Arc<Inventory>,
    timeline: Timeline,
) -> tokio::task::JoinHandle<()> {
    rt.spawn(async move {
        let mut tick = tokio::time::interval(ETCD_POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let status = crate::etcd::status(&inv, ETCD_POLL_INTERVAL).await;
            for o in observations(&status, Utc::now()) {
                timeline.push(Sample {
                    observation: o,
                    members: None,
                    cluster_json: None,
                });
            }
        }
    })
}

/// One observation per endpoint, taken at `at`.
fn observations(status: &Status, at: chrono::DateTime<Utc>) -> Vec<Observation> {
    let leader = status.leader().map(str::to_owned);
    let leader_id = status
        .members
        .iter()
        .find(|m| Some(m.node.as_str()) == leader.as_deref())
        .map(|m| m.member_id);
    let mut out: Vec<Observation> = status
        .members
        .iter()
        .map(|m| {
            let role = match leader_id {
                Some(id) if m.member_id == id => Some("leader"),
                Some(id) if m.leader == id => Some("follower"),
                _ => None,
            };
            Observation {
                at,
                node: m.node.clone(),
                source: ObservationSource::Etcd,
                reachable: true,
                role: role.map(str::to_owned),
                state: Some(
                    if role.is_some() {
                        "healthy"
                    } else {
                        "no leader"
                    }
                    .into(),
                ),
                cluster_leader: leader.clone(),
                ..Default::default()
            }
        })
        .collect();
    for s in &status.silent {
        let (node, why) = s.split_once(": ").unwrap_or((s.as_str(), ""));
        out.push(Observation {
            at,
            node: node.to_owned(),
            source: ObservationSource::Etcd,
            reachable: false,
            state: Some("silent".into()),
            cluster_leader: leader.clone(),
            error: Some(why.to_owned()),
            ..Default::default()
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd::MemberStatus;

    fn member(node: &str, id: u64, leader: u64) -> MemberStatus {
        MemberStatus {
            node: node.into(),
            member_id: id,
            leader,
        }
    }

    #[test]
    fn a_minority_member_that_still_answers_has_no_role() {
        let status = Status {
            members: vec![member("e1", 1, 2), member("e2", 2, 2), member("e3", 3, 0)],
            silent: vec!["e4: connection refused".into()],
        };
        let o = observations(&status, Utc::now());
        let role = |n: &str| {
            o.iter()
                .find(|x| x.node == n)
                .map(|x| (x.role.clone(), x.state.clone(), x.reachable))
                .unwrap()
        };
        assert_eq!(
            role("e2"),
            (Some("leader".into()), Some("healthy".into()), true)
        );
        assert_eq!(
            role("e1"),
            (Some("follower".into()), Some("healthy".into()), true)
        );
        assert_eq!(role("e3"), (None, Some("no leader".into()), true));
        assert_eq!(role("e4"), (None, Some("silent".into()), false));
        assert!(o.iter().all(|x| x.cluster_leader.as_deref() == Some("e2")));
    }

    #[test]
    fn without_an_answering_leader_nobody_is_healthy() {
        // Members still name leader 2, but 2 does not answer (frozen): not taken on their word.
        let status = Status {
            members: vec![member("e1", 1, 2), member("e3", 3, 2)],
            silent: vec!["e2: no answer in time".into()],
        };
        let o = observations(&status, Utc::now());
        assert!(o.iter().all(|x| x.role.is_none()), "{o:?}");
    }
}
