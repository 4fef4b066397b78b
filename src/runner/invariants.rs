//! Invariants every scenario checks without being asked, beside split brain: the cluster's
//! timeline never goes backwards, and no member is left diverged from the leader's history.
//!
//! A timeline that goes backwards means a promoted timeline was discarded: the node that
//! was promoted, and every write it acknowledged, were thrown away when an older primary
//! took the leader key back (Patroni 3.0.2 with etcd3 after a frozen leader resumes;
//! fixed in 3.0.3, patroni/patroni#2693). A diverged member runs on a timeline the
//! leader's history does not contain: it holds WAL the leader never had and cannot follow
//! it without pg_rewind or a new base backup.

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, Utc};

use crate::observe::Sample;
use crate::results::{CheckResult, ObservationSource};

/// How long after a leader observation a confirming view may come. One node's view alone
/// can be stale (a Patroni just restarted reports what its PostgreSQL still is); the
/// cluster's view at that moment is what confirms it.
const CONFIRM_WITHIN: TimeDelta = TimeDelta::seconds(5);

/// A leader observed on a timeline: its own API says it leads on that timeline and names
/// itself leader, and the cluster agrees at that moment: the leader key in the DCS where
/// pgchaos watches it, otherwise another node's view (its latest before, or its next one
/// within [`CONFIRM_WITHIN`]).
#[derive(Clone, Debug, PartialEq)]
struct Led<'a> {
    node: &'a str,
    timeline: u64,
    at: DateTime<Utc>,
}

fn leaders(samples: &[Sample]) -> Vec<Led<'_>> {
    let rest: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.observation.source == ObservationSource::Rest && s.observation.reachable)
        .collect();
    let mut dcs: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.observation.source == ObservationSource::Dcs && s.observation.reachable)
        .collect();
    dcs.sort_by_key(|s| s.observation.at);
    let mut out: Vec<Led<'_>> = rest
        .iter()
        .filter_map(|s| {
            let o = &s.observation;
            let own = o.role.as_deref() == Some("leader")
                && o.cluster_leader.as_deref() == Some(o.node.as_str());
            let confirmed = if dcs.is_empty() {
                confirmed_by_peers(&rest, s)
            } else {
                confirmed_by_dcs(&dcs, s)
            };
            match (own && confirmed, o.timeline) {
                (true, Some(timeline)) => Some(Led {
                    node: &o.node,
                    timeline,
                    at: o.at,
                }),
                _ => None,
            }
        })
        .collect();
    out.sort_by_key(|l| l.at);
    out
}

/// The leader key names the node at the observation (its value then), or right after it
/// (the key is written before the new leader's API says so, but samples of two sources
/// can be stamped a little apart).
fn confirmed_by_dcs(dcs: &[&Sample], s: &Sample) -> bool {
    let o = &s.observation;
    let names = |d: &&Sample| d.observation.cluster_leader.as_deref() == Some(o.node.as_str());
    let at = dcs.partition_point(|d| d.observation.at <= o.at);
    let then = at.checked_sub(1).map(|i| dcs[i]);
    then.is_some_and(|d| names(&d))
        || dcs[at..]
            .iter()
            .take_while(|d| d.observation.at - o.at <= TimeDelta::seconds(1))
            .any(names)
}

/// Another node's view names the node: its latest view at the observation, or its next
/// one within [`CONFIRM_WITHIN`] (not an older view another node has since revised).
fn confirmed_by_peers(rest: &[&Sample], s: &Sample) -> bool {
    let o = &s.observation;
    let peers: BTreeSet<&str> = rest
        .iter()
        .map(|p| p.observation.node.as_str())
        .filter(|n| *n != o.node)
        .collect();
    peers.into_iter().any(|peer| {
        let views = rest.iter().filter(|p| p.observation.node == peer);
        let latest = views
            .clone()
            .filter(|p| p.observation.at <= o.at)
            .max_by_key(|p| p.observation.at);
        let next = views
            .filter(|p| p.observation.at > o.at && p.observation.at - o.at <= CONFIRM_WITHIN)
            .min_by_key(|p| p.observation.at);
        [latest, next]
            .into_iter()
            .flatten()
            .any(|p| p.observation.cluster_leader.as_deref() == Some(o.node.as_str()))
    })
}

/// The check "the cluster timeline never goes backwards", with the discarded timelines
/// named: which node was promoted to it, when, and who took the lock back on which one.
pub(crate) fn timeline_check(samples: &[Sample]) -> CheckResult {
    let led = leaders(samples);
    let mut highest: Option<Led<'_>> = None;
    let mut discarded: Vec<String> = Vec::new();
    let mut named = BTreeSet::new();
    let mut first_at = None;
    for l in &led {
        match &highest {
            Some(h) if l.timeline < h.timeline => {
                if named.insert(h.timeline) {
                    first_at.get_or_insert(l.at);
                    discarded.push(format!(
                        "timeline {} DISCARDED: {} was promoted to it (leading from {}), then \
                         {} led on timeline {} from {}",
                        h.timeline,
                        h.node,
                        h.at.to_rfc3339(),
                        l.node,
                        l.timeline,
                        l.at.to_rfc3339()
                    ));
                }
            }
            Some(h) if l.timeline == h.timeline => {}
            _ => highest = Some(l.clone()),
        }
    }
    let observed = if led.is_empty() {
        "no leader was observed by two nodes: the timeline could not be followed".to_owned()
    } else if discarded.is_empty() {
        let tls: BTreeSet<u64> = led.iter().map(|l| l.timeline).collect();
        format!(
            "the leader's timeline only moved forward: {}",
            tls.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" → ")
        )
    } else {
        discarded.join("; ")
    };
    CheckResult {
        name: "timeline never goes backwards".into(),
        step: None,
        passed: !led.is_empty() && discarded.is_empty(),
        expected: "the leader's timeline never decreases (a promoted timeline is never \
                   discarded by an older primary taking the leader key back)"
            .into(),
        observed,
        at: first_at,
    }
}

/// The check "no member is left diverged", at the end of the scenario: every replica runs
/// on the leader's timeline or on one of its ancestors (`history`: the timelines of the
/// leader's history, from `GET /history`).
pub(crate) fn divergence_check(
    samples: &[Sample],
    history: Result<(String, u64, Vec<u64>), String>,
) -> CheckResult {
    let mut check = CheckResult {
        name: "no member diverged".into(),
        step: None,
        passed: false,
        expected: "at the end every member runs on the leader's timeline or one of its \
                   ancestors (GET /history)"
            .into(),
        observed: String::new(),
        at: None,
    };
    let (leader, leader_tl, ancestors) = match history {
        Ok(h) => h,
        Err(e) => {
            check.observed = format!("could not be checked: {e}");
            return check;
        }
    };
    let known: BTreeSet<u64> = ancestors.iter().copied().chain([leader_tl]).collect();
    // The last answer of each member's own API.
    let mut last: std::collections::BTreeMap<&str, &Sample> = Default::default();
    for s in samples.iter().filter(|s| {
        s.observation.source == ObservationSource::Rest
            && s.observation.reachable
            && s.observation.node != leader
    }) {
        last.insert(&s.observation.node, s);
    }
    let mut diverged = Vec::new();
    let mut fine = Vec::new();
    let mut unknown = Vec::new();
    for (node, s) in &last {
        let state = s.observation.state.as_deref().unwrap_or("?");
        let Some(tl) = s.observation.timeline else {
            // A member that reports no timeline cannot be shown not to have diverged.
            unknown.push(format!("{node} ({state}) reports no timeline"));
            continue;
        };
        if known.contains(&tl) {
            fine.push(format!("{node} on timeline {tl}"));
        } else {
            check.at.get_or_insert(s.observation.at);
            diverged.push(format!(
                "{node} DIVERGED: {state} on timeline {tl}, which is not in the history of \
                 the leader {leader} (timeline {leader_tl}, ancestors {})",
                if ancestors.is_empty() {
                    "none".to_owned()
                } else {
                    ancestors
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ));
        }
    }
    check.passed = diverged.is_empty() && unknown.is_empty();
    diverged.extend(unknown.iter().map(|u| format!("{u}: could not be checked")));
    check.observed = if diverged.is_empty() {
        format!(
            "leader {leader} on timeline {leader_tl}; {}",
            if fine.is_empty() {
                "no other member answered".to_owned()
            } else {
                fine.join(", ")
            }
        )
    } else {
        diverged.join("; ")
    };
    check
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::results::Observation;

    /// A reachable node's sample `ms` after the test's epoch, as `fill` completes it.
    fn sample(ms: i64, node: &str, source: ObservationSource, fill: Observation) -> Sample {
        Sample {
            observation: Observation {
                at: Utc.timestamp_millis_opt(1_700_000_000_000 + ms).unwrap(),
                node: node.into(),
                source,
                reachable: true,
                ..fill
            },
            members: None,
            cluster_json: None,
        }
    }

    fn rest(ms: i64, node: &str, role: &str, tl: u64, leader: &str) -> Sample {
        let fill = Observation {
            role: Some(role.into()),
            state: Some("running".into()),
            timeline: Some(tl),
            cluster_leader: Some(leader.into()),
            ..Default::default()
        };
        sample(ms, node, ObservationSource::Rest, fill)
    }

    /// Patroni 3.0.2 after SIGSTOP/SIGCONT of the leader's Patroni (scenarios/README.md).
    fn discarded_timeline() -> Vec<Sample> {
        vec![
            rest(0, "pg3", "leader", 2, "pg3"),
            rest(0, "pg1", "replica", 2, "pg3"),
            rest(30_000, "pg2", "leader", 3, "pg2"),
            rest(30_100, "pg1", "replica", 2, "pg2"),
            rest(40_000, "pg3", "leader", 2, "pg3"),
            rest(40_100, "pg1", "replica", 2, "pg3"),
            rest(41_000, "pg2", "replica", 3, "pg3"),
        ]
    }

    #[test]
    fn a_discarded_timeline_is_named() {
        let c = timeline_check(&discarded_timeline());
        assert!(!c.passed);
        assert!(
            c.observed.starts_with(
                "timeline 3 DISCARDED: pg2 was promoted to it (leading from 2023-11-14T22:13:50"
            ),
            "{}",
            c.observed
        );
        assert!(
            c.observed
                .contains("then pg3 led on timeline 2 from 2023-11-14T22:14:00"),
            "{}",
            c.observed
        );
    }

    #[test]
    fn an_ordinary_failover_moves_forward() {
        let s = vec![
            rest(0, "pg1", "leader", 1, "pg1"),
            rest(0, "pg2", "replica", 1, "pg1"),
            rest(20_000, "pg2", "leader", 2, "pg2"),
            rest(20_100, "pg3", "replica", 2, "pg2"),
            // The old leader's own stale view alone does not count as leading.
            rest(20_200, "pg1", "leader", 1, "pg1"),
        ];
        let c = timeline_check(&s);
        assert!(c.passed, "{}", c.observed);
        assert!(c.observed.ends_with("1 → 2"), "{}", c.observed);
    }

    fn dcs(ms: i64, leader: &str) -> Sample {
        let fill = Observation {
            cluster_leader: Some(leader.into()),
            ..Default::default()
        };
        sample(ms, "dcs", ObservationSource::Dcs, fill)
    }

    /// Patroni killed on the leader and kept down, then started again after the failover
    /// (a lab without a watchdog): its first answers report what its PostgreSQL still is,
    /// a primary on the old timeline naming itself leader, until it demotes. A peer's
    /// view older than the failover named it leader 4.6 s before: no longer the cluster's.
    fn restarted_old_primary() -> Vec<Sample> {
        vec![
            rest(0, "pg3", "leader", 3, "pg3"),
            rest(0, "pg2", "replica", 3, "pg3"),
            rest(20_166, "pg2", "replica", 3, "pg3"),
            rest(20_508, "pg2", "leader", 4, "pg2"),
            rest(21_571, "pg1", "replica", 4, "pg2"),
            rest(24_776, "pg3", "leader", 3, "pg3"),
        ]
    }

    #[test]
    fn a_restarted_old_primary_before_it_demotes_is_not_a_discarded_timeline() {
        let s = restarted_old_primary();
        let c = timeline_check(&s);
        assert!(c.passed, "{}", c.observed);
        let mut with_dcs = s.clone();
        with_dcs.extend([dcs(0, "pg3"), dcs(20_050, "pg2")]);
        let c = timeline_check(&with_dcs);
        assert!(c.passed, "{}", c.observed);
        // Where the DCS does name the old primary again, the timeline was discarded.
        with_dcs.push(dcs(24_700, "pg3"));
        assert!(!timeline_check(&with_dcs).passed);
    }

    #[test]
    fn no_confirmed_leader_is_not_a_pass() {
        let s = vec![rest(0, "pg1", "leader", 1, "pg1")];
        assert!(!timeline_check(&s).passed);
    }

    #[test]
    fn a_replica_on_a_discarded_timeline_is_diverged() {
        let c = divergence_check(&discarded_timeline(), Ok(("pg3".into(), 2, vec![1])));
        assert!(!c.passed);
        assert_eq!(
            c.observed,
            "pg2 DIVERGED: running on timeline 3, which is not in the history of the leader \
             pg3 (timeline 2, ancestors 1)"
        );
    }

    #[test]
    fn replicas_on_the_leaders_history_are_not_diverged() {
        let s = vec![
            rest(0, "pg2", "leader", 3, "pg2"),
            rest(0, "pg1", "replica", 3, "pg2"),
            rest(0, "pg3", "replica", 2, "pg2"),
        ];
        let c = divergence_check(&s, Ok(("pg2".into(), 3, vec![1, 2])));
        assert!(c.passed, "{}", c.observed);
        let c = divergence_check(&s, Err("GET /history: timeout".into()));
        assert!(!c.passed);
        assert!(c.observed.starts_with("could not be checked"));
    }
}
