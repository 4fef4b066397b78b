use std::time::Duration;

use chrono::{TimeZone, Utc};

use super::*;
use crate::observe::{MemberView, Sample};
use crate::patroni::state_matches;
use crate::results::{Observation, ObservationSource};
use std::collections::BTreeMap;

use crate::scenario::Bindings;
use crate::scenario::Condition;
use crate::scenario::condition::Context;
use crate::scenario::condition::{LeaderCond, MemberCond, NodeBoolCond, TimelineCond};

fn evaluate(c: &Condition, w: &World, ctx: &Context) -> Option<Eval> {
    c.on_timeline(w, ctx)
}

fn t(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_700_000_000_000 + ms).unwrap()
}

fn mv(name: &str, role: &str, state: &str, tl: u64) -> MemberView {
    MemberView {
        name: name.into(),
        role: role.into(),
        state: state.into(),
        timeline: Some(tl),
        lag_bytes: Some(0),
    }
}

fn rest(ms: i64, node: &str, leader: Option<&str>, members: Vec<MemberView>) -> Sample {
    Sample {
        observation: Observation {
            at: t(ms),
            node: node.into(),
            source: ObservationSource::Rest,
            reachable: true,
            role: members
                .iter()
                .find(|m| m.name == node)
                .map(|m| m.role.clone()),
            cluster_leader: leader.map(Into::into),
            ..Default::default()
        },
        members: Some(members),
        cluster_json: None,
    }
}

fn sql(ms: i64, node: &str, in_recovery: Option<bool>) -> Sample {
    Sample {
        observation: Observation {
            at: t(ms),
            node: node.into(),
            source: ObservationSource::Sql,
            reachable: in_recovery.is_some(),
            in_recovery,
            ..Default::default()
        },
        members: None,
        cluster_json: None,
    }
}

fn healthy(leader: &str, tl: u64) -> Vec<MemberView> {
    ["pg1", "pg2", "pg3"]
        .iter()
        .map(|n| {
            if *n == leader {
                mv(n, "leader", "running", tl)
            } else {
                mv(n, "replica", "streaming", tl)
            }
        })
        .collect()
}

/// Every node's own REST sample, each listing the same members.
fn healthy_world(leader: &str, tl: u64) -> World {
    let mut w = World::new(Duration::from_secs(3));
    for (i, n) in ["pg1", "pg2", "pg3"].iter().enumerate() {
        let mut s = rest(i as i64, n, Some(leader), healthy(leader, tl));
        let me = healthy(leader, tl)
            .into_iter()
            .find(|m| m.name == *n)
            .unwrap();
        s.observation.state = Some(me.state);
        s.observation.timeline = me.timeline;
        w.apply(&s);
    }
    w
}

fn bindings() -> Bindings {
    let mut b = Bindings::new();
    b.insert("victim".into(), vec!["pg1".into()]);
    b.insert("other".into(), vec!["pg2".into()]);
    b
}

fn ctx<'a>(
    b: &'a Bindings,
    r: &'a BTreeMap<String, RecordedResponse>,
    nodes: &'a [String],
) -> Context<'a> {
    Context {
        bindings: b,
        timeline_at_start: Some(1),
        leader_changes: 0,
        responses: r,
        patroni_nodes: nodes,
    }
}

#[test]
fn leader_is_the_majority_view() {
    let mut w = World::new(Duration::from_secs(3));
    w.apply(&rest(0, "pg1", Some("pg1"), healthy("pg1", 1)));
    w.apply(&rest(10, "pg2", Some("pg2"), healthy("pg2", 2)));
    w.apply(&rest(20, "pg3", Some("pg2"), healthy("pg2", 2)));
    assert_eq!(w.leader().as_deref(), Some("pg2"));
}

#[test]
fn stale_views_do_not_count() {
    let mut w = World::new(Duration::from_secs(3));
    w.apply(&rest(0, "pg1", Some("pg1"), healthy("pg1", 1)));
    w.apply(&rest(10_000, "pg2", Some("pg2"), healthy("pg2", 2)));
    assert_eq!(w.leader().as_deref(), Some("pg2"));
}

#[test]
fn leader_and_timeline_conditions() {
    let b = bindings();
    let r = BTreeMap::new();
    let nodes: Vec<String> = vec!["pg1".into(), "pg2".into(), "pg3".into()];
    let c = ctx(&b, &r, &nodes);
    let mut w = World::new(Duration::from_secs(3));
    w.apply(&rest(0, "pg2", Some("pg2"), healthy("pg2", 2)));
    let is_victim = Condition::Leader(LeaderCond {
        is: Some("victim".into()),
        ..Default::default()
    });
    let e = evaluate(&is_victim, &w, &c).unwrap();
    assert!(!e.holds);
    assert_eq!(e.observed, "leader is pg2");
    let not_victim = Condition::Leader(LeaderCond {
        is_not: Some("victim".into()),
        ..Default::default()
    });
    assert!(evaluate(&not_victim, &w, &c).unwrap().holds);
    let tl = Condition::Timeline(TimelineCond {
        increased_by: Some(1),
        increased_at_least: None,
    });
    assert!(evaluate(&tl, &w, &c).unwrap().holds);
    let unchanged = Condition::Timeline(TimelineCond {
        increased_by: Some(0),
        increased_at_least: None,
    });
    assert!(!evaluate(&unchanged, &w, &c).unwrap().holds);
}

#[test]
fn member_state_absorbs_patroni_versions() {
    // 3.0.x: a replica on the leader's timeline says `running`.
    assert!(state_matches(
        MemberState::Streaming,
        "replica",
        "running",
        true
    ));
    assert!(!state_matches(
        MemberState::Streaming,
        "replica",
        "running",
        false
    ));
    assert!(state_matches(
        MemberState::Streaming,
        "replica",
        "streaming",
        false
    ));
    assert!(!state_matches(
        MemberState::Streaming,
        "leader",
        "running",
        true
    ));
    assert!(state_matches(
        MemberState::Failed,
        "replica",
        "start failed",
        false
    ));
}

#[test]
fn member_condition_reports_what_it_saw() {
    let b = bindings();
    let r = BTreeMap::new();
    let nodes: Vec<String> = vec![];
    let c = ctx(&b, &r, &nodes);
    let mut w = World::new(Duration::from_secs(3));
    let mut ms = healthy("pg2", 2);
    ms[0] = mv("pg1", "replica", "stopped", 1);
    w.apply(&rest(0, "pg2", Some("pg2"), ms.clone()));
    // pg1's own API answers: Patroni runs, PostgreSQL is stopped.
    let mut own = rest(10, "pg1", Some("pg2"), ms);
    own.observation.state = Some("stopped".into());
    own.observation.timeline = Some(1);
    w.apply(&own);
    let cond = Condition::Member(MemberCond {
        node: "victim".into(),
        role: Some(MemberRole::Replica),
        state: Some(MemberState::Streaming),
        absent: None,
        on_leader_timeline: None,
    });
    let e = evaluate(&cond, &w, &c).unwrap();
    assert!(!e.holds);
    assert!(
        e.observed.contains("pg1 replica stopped tl 1"),
        "{}",
        e.observed
    );
}

#[test]
fn steady_state_needs_every_patroni_node() {
    let mut w = healthy_world("pg1", 1);
    w.apply(&sql(10, "pg1", Some(false)));
    let nodes: Vec<String> = vec!["pg1".into(), "pg2".into(), "pg3".into()];
    assert!(steady_state(&w, &nodes).0);
    let more: Vec<String> = vec!["pg1".into(), "pg4".into()];
    let (ok, why) = steady_state(&w, &more);
    assert!(!ok);
    assert!(why.contains("pg4 is not listed"), "{why}");
}

#[test]
fn members_are_taken_as_they_report_themselves_when_the_listing_lags() {
    let mut w = healthy_world("pg1", 1);
    // The leader's listing still says pg2 is starting; pg2 itself now streams.
    let mut lagging = healthy("pg1", 1);
    lagging[1].state = "starting".into();
    w.apply(&rest(10, "pg1", Some("pg1"), lagging));
    assert_eq!(w.member("pg2").map(|m| m.state.as_str()), Some("starting"));
    let mut own = rest(11, "pg2", Some("pg1"), healthy("pg1", 1));
    own.observation.state = Some("streaming".into());
    w.apply(&own);
    let reported = w.members_as_reported();
    let pg2 = reported
        .iter()
        .find(|m| m.name == "pg2")
        .expect("pg2 listed");
    assert_eq!(pg2.state, "streaming");
    // A member whose REST API does not answer keeps its listed state.
    let mut gone = rest(12, "pg3", None, vec![]);
    gone.observation.reachable = false;
    gone.members = None;
    w.apply(&gone);
    let pg3 = w
        .members_as_reported()
        .into_iter()
        .find(|m| m.name == "pg3");
    assert_eq!(pg3.map(|m| m.state), Some("streaming".into()));
}

#[test]
fn steady_state_needs_a_leader_that_accepts_writes() {
    let nodes: Vec<String> = vec!["pg1".into(), "pg2".into(), "pg3".into()];
    let mut w = healthy_world("pg1", 1);
    let (ok, why) = steady_state(&w, &nodes);
    assert!(!ok);
    assert!(why.contains("could not be asked"), "{why}");
    w.apply(&sql(10, "pg1", Some(true)));
    let (ok, why) = steady_state(&w, &nodes);
    assert!(!ok);
    assert!(why.contains("still read-only"), "{why}");
    w.apply(&sql(20, "pg1", Some(false)));
    assert!(steady_state(&w, &nodes).0);
}

#[test]
fn a_member_key_that_outlives_its_node_is_not_trusted() {
    let b = bindings();
    let r = BTreeMap::new();
    let nodes: Vec<String> = vec!["pg1".into(), "pg2".into(), "pg3".into()];
    let c = ctx(&b, &r, &nodes);
    // Only pg2 answers; its /cluster still lists pg1 (the victim) as streaming.
    let mut w = World::new(Duration::from_secs(3));
    w.apply(&rest(0, "pg2", Some("pg2"), healthy("pg2", 2)));
    let mut down = rest(10, "pg1", None, vec![]);
    down.observation.reachable = false;
    down.members = None;
    w.apply(&down);
    let cond = Condition::Member(MemberCond {
        node: "victim".into(),
        role: Some(MemberRole::Replica),
        state: Some(MemberState::Streaming),
        absent: None,
        on_leader_timeline: None,
    });
    let e = evaluate(&cond, &w, &c).unwrap();
    assert!(!e.holds);
    assert!(e.observed.contains("does not answer"), "{}", e.observed);
    w.apply(&sql(20, "pg2", Some(false)));
    let (ok, why) = steady_state(&w, &nodes);
    assert!(!ok);
    assert!(
        why.contains("pg1 is listed as replica streaming but its REST API does not answer"),
        "{why}"
    );
}

#[test]
fn the_leader_timeline_comes_from_the_leader_itself() {
    // The leader's member key in /cluster still says timeline 1 after it promoted itself.
    let mut w = World::new(Duration::from_secs(3));
    let mut s = rest(0, "pg1", Some("pg1"), healthy("pg1", 1));
    s.observation.timeline = Some(2);
    w.apply(&s);
    assert_eq!(w.leader_timeline(), Some(2));
}

#[test]
fn writable_unknown_is_not_false() {
    let b = bindings();
    let r = BTreeMap::new();
    let nodes: Vec<String> = vec![];
    let c = ctx(&b, &r, &nodes);
    let mut w = World::new(Duration::from_secs(3));
    w.apply(&sql(0, "pg1", None));
    let cond = Condition::Writable(NodeBoolCond {
        node: "victim".into(),
        is: false,
    });
    let e = evaluate(&cond, &w, &c).unwrap();
    assert!(!e.holds, "an unreachable node must not count as read-only");
    w.apply(&sql(100, "pg1", Some(true)));
    assert!(evaluate(&cond, &w, &c).unwrap().holds);
}

#[test]
fn leader_changes_ignore_gaps() {
    let mut lt = LeaderTracker::new(Some("pg1".into()));
    lt.observe(t(0), Some("pg1".into()));
    lt.observe(t(1), None);
    lt.observe(t(2), Some("pg1".into()));
    assert_eq!(lt.changes(), 0);
    lt.observe(t(3), None);
    lt.observe(t(4), Some("pg2".into()));
    assert_eq!(lt.changes(), 1);
    assert_eq!(lt.first_change_at(), Some(t(4)));
}

#[test]
fn switchover_is_not_split_brain() {
    let s = vec![
        sql(0, "pg1", Some(false)),
        sql(0, "pg2", Some(true)),
        sql(250, "pg1", Some(false)),
        sql(250, "pg2", Some(true)),
        sql(500, "pg1", Some(true)),
        sql(500, "pg2", Some(false)),
        sql(750, "pg1", Some(true)),
        sql(750, "pg2", Some(false)),
    ];
    assert!(find_split_brain(&s).is_empty());
}

#[test]
fn two_writable_nodes_are_split_brain() {
    let s = vec![
        sql(0, "pg1", Some(false)),
        sql(100, "pg2", Some(true)),
        sql(250, "pg1", Some(false)),
        sql(350, "pg2", Some(false)),
        sql(500, "pg1", Some(false)),
        sql(600, "pg2", Some(false)),
    ];
    let sb = find_split_brain(&s);
    assert_eq!(sb.len(), 1);
    assert_eq!((sb[0].a.as_str(), sb[0].b.as_str()), ("pg1", "pg2"));
    assert_eq!(sb[0].from, t(350));
    assert_eq!(sb[0].to, t(500));
}

#[test]
fn long_silence_ends_a_writable_interval() {
    let s = vec![
        sql(0, "pg1", Some(false)),
        sql(100, "pg1", None),
        sql(10_000, "pg1", Some(false)),
        sql(5_000, "pg2", Some(false)),
    ];
    assert!(find_split_brain(&s).is_empty());
}
