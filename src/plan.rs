//! A validated scenario bound to the inventory: which node each target stands for.
//!
//! Targets are abstract in scenario files (`leader`, `replica not victim`); they are bound
//! once, when the scenario starts, from the cluster as Patroni reports it at that moment.
//! The binding is then fixed: "the leader at start" stays the same node even after a
//! failover, which is what lets a scenario say "the old leader rejoins as a replica".

use std::collections::BTreeSet;

use crate::inventory::{Inventory, Role};
use crate::observe::MemberView;
use crate::scenario::{Scenario, Selector, TargetSpec};

pub(crate) use crate::scenario::Bindings;

/// Why targets could not be bound.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum BindError {
    /// No node fits a selector.
    #[error("target {target:?} ({selector}) matches no node: {why}")]
    NoMatch {
        /// Target name.
        target: String,
        /// The selector, in words.
        selector: String,
        /// What was available.
        why: String,
    },
    /// `not:` lists form a cycle or name unknown targets.
    #[error("targets {0:?} exclude each other in a cycle or name unknown targets")]
    Unresolvable(Vec<String>),
}

/// Binds every target of `scenario` to nodes, given `/cluster` members as seen now and
/// the etcd member leading the DCS (for `etcd_leader`).
pub(crate) fn bind(
    scenario: &Scenario,
    inventory: &Inventory,
    members: &[MemberView],
    etcd_leader: Option<&str>,
) -> Result<Bindings, BindError> {
    let mut out = Bindings::new();
    let mut pending: Vec<(&String, &TargetSpec)> = scenario.targets.iter().collect();
    // Bind in dependency order: a target can only be bound once those it excludes are.
    while !pending.is_empty() {
        let before = pending.len();
        let mut rest = Vec::new();
        for (name, spec) in pending {
            if spec.not.iter().all(|n| out.contains_key(n)) {
                let excluded: BTreeSet<&str> = spec
                    .not
                    .iter()
                    .flat_map(|n| out[n].iter().map(String::as_str))
                    .collect();
                let nodes = select(name, spec, inventory, members, etcd_leader, &excluded)?;
                out.insert(name.clone(), nodes);
            } else {
                rest.push((name, spec));
            }
        }
        if rest.len() == before {
            return Err(BindError::Unresolvable(
                rest.into_iter().map(|(n, _)| n.clone()).collect(),
            ));
        }
        pending = rest;
    }
    Ok(out)
}

/// The etcd leader, unless a `not:` excludes it.
fn pick_etcd_leader(
    leader: Option<&str>,
    excluded: &BTreeSet<&str>,
) -> Result<Vec<String>, String> {
    match leader {
        Some(l) if !excluded.contains(l) => Ok(vec![l.to_owned()]),
        Some(l) => Err(format!("the etcd leader {l} is excluded")),
        None => Err("no etcd member that answers leads the DCS".into()),
    }
}

fn is_running_replica(m: &MemberView) -> bool {
    matches!(m.role.as_str(), "replica" | "sync_standby")
        && matches!(m.state.as_str(), "running" | "streaming")
}

fn select(
    name: &str,
    spec: &TargetSpec,
    inv: &Inventory,
    members: &[MemberView],
    etcd_leader: Option<&str>,
    excluded: &BTreeSet<&str>,
) -> Result<Vec<String>, BindError> {
    let no_match = |why: String| BindError::NoMatch {
        target: name.to_owned(),
        selector: format!("{:?}", spec.select).to_lowercase(),
        why,
    };
    let free = |n: &str| !excluded.contains(n);
    let member_names = || {
        members
            .iter()
            .map(|m| format!("{} ({} {})", m.name, m.role, m.state))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let one = |v: Option<String>, why: String| v.map(|n| vec![n]).ok_or_else(|| no_match(why));
    match spec.select {
        Selector::Leader => one(
            members
                .iter()
                .find(|m| m.role == "leader" && free(&m.name))
                .map(|m| m.name.clone()),
            format!("no leader among members [{}]", member_names()),
        ),
        Selector::Replica => {
            let mut replicas: Vec<_> = members
                .iter()
                .filter(|m| is_running_replica(m) && free(&m.name))
                .map(|m| m.name.clone())
                .collect();
            replicas.sort();
            one(
                replicas.into_iter().next(),
                format!("no running replica left among [{}]", member_names()),
            )
        }
        Selector::SyncStandby => one(
            members
                .iter()
                .find(|m| m.role == "sync_standby" && free(&m.name))
                .map(|m| m.name.clone()),
            format!("no synchronous standby among [{}]", member_names()),
        ),
        Selector::Node => {
            let n = spec.node.as_deref().unwrap_or_default();
            one(
                inv.node(n).map(|n| n.name.clone()),
                format!("node {n:?} is not in the inventory"),
            )
        }
        Selector::EtcdLeader => pick_etcd_leader(etcd_leader, excluded).map_err(no_match),
        Selector::EtcdMember => match &spec.node {
            Some(n) => one(
                inv.nodes_with(Role::Etcd)
                    .find(|x| &x.name == n)
                    .map(|x| x.name.clone()),
                format!("{n:?} is not an etcd node of the inventory"),
            ),
            None => one(
                inv.nodes_with(Role::Etcd)
                    .find(|x| free(&x.name))
                    .map(|x| x.name.clone()),
                "no etcd node left in the inventory".into(),
            ),
        },
        Selector::Spare => match &spec.node {
            Some(n) => one(
                inv.nodes_with(Role::Spare)
                    .find(|x| &x.name == n)
                    .map(|x| x.name.clone()),
                format!("{n:?} is not a spare node of the inventory"),
            ),
            None => one(
                inv.nodes_with(Role::Spare)
                    .find(|x| free(&x.name))
                    .map(|x| x.name.clone()),
                "no spare node in the inventory".into(),
            ),
        },
        Selector::Haproxy => one(
            inv.nodes_with(Role::Haproxy)
                .find(|x| free(&x.name))
                .map(|x| x.name.clone()),
            "no haproxy node in the inventory".into(),
        ),
        Selector::AllEtcd => non_empty(
            inv.nodes_with(Role::Etcd)
                .filter(|x| free(&x.name))
                .map(|x| x.name.clone())
                .collect(),
            || no_match("no etcd node in the inventory".into()),
        ),
        Selector::AllMembers => non_empty(
            members
                .iter()
                .filter(|m| free(&m.name))
                .map(|m| m.name.clone())
                .collect(),
            || no_match("the cluster reports no members".into()),
        ),
        Selector::AllReplicas => non_empty(
            members
                .iter()
                .filter(|m| is_running_replica(m) && free(&m.name))
                .map(|m| m.name.clone())
                .collect(),
            || no_match(format!("no running replica among [{}]", member_names())),
        ),
    }
}

fn non_empty(v: Vec<String>, err: impl FnOnce() -> BindError) -> Result<Vec<String>, BindError> {
    if v.is_empty() { Err(err()) } else { Ok(v) }
}

/// The node a single-node target is bound to.
pub(crate) fn single<'a>(b: &'a Bindings, target: &str) -> Option<&'a str> {
    b.get(target).and_then(|v| v.first()).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, role: &str, state: &str) -> MemberView {
        MemberView {
            name: name.into(),
            role: role.into(),
            state: state.into(),
            timeline: Some(1),
            lag_bytes: Some(0),
        }
    }

    fn scenario(targets: &str) -> Scenario {
        let text = format!("id: t\ntitle: t\ntargets:\n{targets}\nsteps: []\n");
        serde_saphyr::from_str(&text).unwrap()
    }

    fn inventory() -> Inventory {
        serde_saphyr::from_str(
            "cluster: {scope: s}\nnodes:\n  - {name: pg1, host: 10.0.0.1, roles: [patroni]}\n  - {name: pg2, host: 10.0.0.2, roles: [patroni]}\n  - {name: pg3, host: 10.0.0.3, roles: [patroni]}\n  - {name: e1, host: 10.0.0.4, roles: [etcd]}\n",
        )
        .unwrap()
    }

    #[test]
    fn binds_leader_and_distinct_replicas() {
        let s = scenario(
            "  victim: leader\n  a: { select: replica, not: [victim] }\n  b: { select: replica, not: [a] }",
        );
        let members = [
            m("pg1", "replica", "streaming"),
            m("pg2", "leader", "running"),
            m("pg3", "replica", "running"),
        ];
        let b = bind(&s, &inventory(), &members, None).unwrap();
        assert_eq!(b["victim"], vec!["pg2"]);
        assert_eq!(b["a"], vec!["pg1"]);
        assert_eq!(b["b"], vec!["pg3"]);
    }

    #[test]
    fn stopped_replicas_are_not_candidates() {
        let s = scenario("  r: replica");
        let members = [
            m("pg1", "leader", "running"),
            m("pg2", "replica", "stopped"),
        ];
        let err = bind(&s, &inventory(), &members, None).unwrap_err();
        assert!(err.to_string().contains("no running replica"), "{err}");
    }

    #[test]
    fn cycles_are_reported() {
        let s = scenario("  a: { select: replica, not: [b] }\n  b: { select: replica, not: [a] }");
        let err = bind(&s, &inventory(), &[], None).unwrap_err();
        assert!(matches!(err, BindError::Unresolvable(_)));
    }

    #[test]
    fn etcd_leader_is_the_member_etcd_names() {
        let s = scenario("  dcs: etcd_leader");
        let b = bind(&s, &inventory(), &[], Some("e1")).unwrap();
        assert_eq!(b["dcs"], vec!["e1"]);
        let err = bind(&s, &inventory(), &[], None).unwrap_err();
        assert!(
            err.to_string().contains("no etcd member that answers"),
            "{err}"
        );
    }

    #[test]
    fn all_etcd_lists_every_member() {
        let s = scenario("  dcs: all_etcd");
        let b = bind(&s, &inventory(), &[], None).unwrap();
        assert_eq!(b["dcs"], vec!["e1"]);
    }

    #[test]
    fn a_degrade_with_latency_needs_netem_on_its_target_and_loss_alone_does_not() {
        use crate::scenario::step::NodeNeed;
        let text = "id: t\ntitle: t\ntargets:\n  r: replica\nsteps:\n  - degrade: { target: r, delay: 100ms }\n  - degrade: { target: r, loss: 0.1 }\n";
        let s: Scenario = serde_saphyr::from_str(text).unwrap();
        assert_eq!(s.steps[0].node_needs(), vec![("r", NodeNeed::Netem)]);
        assert!(s.steps[1].node_needs().is_empty());
    }
}
