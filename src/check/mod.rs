//! Checks: conditions evaluated over the observation timeline, turned into verdicts with
//! evidence (what was expected, what was observed, when).
//!
//! Conditions about cluster state are evaluated on a [`World`] folded from samples; each
//! condition kind says how (`scenario/condition/`). Conditions that need a fresh probe
//! (HAProxy routing, SQL, settings) answer with an [`Eval`] the same way.

mod split_brain;
mod world;

use chrono::{DateTime, Utc};

use crate::patroni::{MemberRole, MemberState, role_matches, state_matches};

pub(crate) use split_brain::find_split_brain;
pub(crate) use world::{Tri, World};

/// A condition's value at one instant, with what was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Eval {
    /// Whether it holds.
    pub holds: bool,
    /// What was observed, in words.
    pub observed: String,
}

impl Eval {
    /// A value with what was seen.
    pub(crate) fn new(holds: bool, observed: impl Into<String>) -> Self {
        Self {
            holds,
            observed: observed.into(),
        }
    }
}

/// A recorded HTTP response of an earlier step.
#[derive(Clone, Debug)]
pub(crate) struct RecordedResponse {
    /// Status code.
    pub status: u16,
    /// Body.
    pub body: String,
}

/// Steady state: exactly one leader, running; every Patroni node of the inventory listed
/// and running/streaming as a replica on the leader's timeline (or the leader itself);
/// every member listed in good health.
pub(crate) fn steady_state(w: &World, patroni_nodes: &[String]) -> (bool, String) {
    let Some(leader) = w.leader() else {
        return (false, "no leader".into());
    };
    let Some(members) = w.members() else {
        return (false, "no /cluster view answered".into());
    };
    let lt = w.leader_timeline();
    let mut problems = Vec::new();
    // `/cluster` names the leader from the DCS key, which a node takes before its
    // PostgreSQL has finished promoting: steady means the leader really accepts writes.
    match w.writable(&leader) {
        Tri::Yes => {}
        Tri::No => problems.push(format!("leader {leader} is still read-only")),
        Tri::Unknown => problems.push(format!(
            "leader {leader} could not be asked whether it accepts writes"
        )),
    }
    for listed in members {
        let Some(m) = w.corroborated(listed) else {
            problems.push(format!(
                "{} is listed as {} {} but its REST API does not answer",
                listed.name, listed.role, listed.state
            ));
            continue;
        };
        let m = &m;
        let on_tl = lt.is_some() && m.timeline == lt;
        if m.name == leader {
            if m.role != "leader" || m.state != "running" {
                problems.push(format!("leader {} is {} {}", m.name, m.role, m.state));
            }
        } else if !(role_matches(MemberRole::Replica, &m.role)
            && state_matches(MemberState::Streaming, &m.role, &m.state, on_tl))
        {
            problems.push(format!(
                "{} is {} {} on timeline {}",
                m.name,
                m.role,
                m.state,
                m.timeline
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "?".into())
            ));
        }
    }
    for n in patroni_nodes {
        if !members.iter().any(|m| &m.name == n) {
            problems.push(format!("{n} is not listed in /cluster"));
        }
    }
    if problems.is_empty() {
        (
            true,
            format!(
                "leader {leader} on timeline {}, {} replica(s) streaming",
                lt.map(|t| t.to_string()).unwrap_or_else(|| "?".into()),
                members.len().saturating_sub(1)
            ),
        )
    } else {
        (false, problems.join("; "))
    }
}

/// Counts leadership changes along a sequence of leaders (gaps without a leader do not
/// count: A, none, A is no change; A, none, B is one).
#[derive(Clone, Debug, Default)]
pub(crate) struct LeaderTracker {
    last: Option<String>,
    changes: u32,
    first_change_at: Option<DateTime<Utc>>,
    history: Vec<(DateTime<Utc>, Option<String>)>,
}

impl LeaderTracker {
    /// Starts from the leader at scenario start.
    pub(crate) fn new(start: Option<String>) -> Self {
        Self {
            last: start,
            ..Default::default()
        }
    }

    /// Records the leader seen at `at`.
    pub(crate) fn observe(&mut self, at: DateTime<Utc>, leader: Option<String>) {
        if self.history.last().map(|(_, l)| l) != Some(&leader) {
            self.history.push((at, leader.clone()));
        }
        if let Some(l) = leader {
            if self.last.as_ref().is_some_and(|p| p != &l) {
                self.changes += 1;
                self.first_change_at.get_or_insert(at);
            }
            self.last = Some(l);
        }
    }

    /// Changes so far.
    pub(crate) fn changes(&self) -> u32 {
        self.changes
    }

    /// When a new leader was first observed.
    pub(crate) fn first_change_at(&self) -> Option<DateTime<Utc>> {
        self.first_change_at
    }

    /// Every distinct leader value with the time it was first seen.
    pub(crate) fn history(&self) -> &[(DateTime<Utc>, Option<String>)] {
        &self.history
    }
}

#[cfg(test)]
mod tests;
