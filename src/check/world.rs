//! The cluster as the freshest samples show it at one instant.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::observe::{MemberView, Sample};
use crate::results::{Observation, ObservationSource};

/// A yes/no answer that may be unknown (the node could not be asked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tri {
    /// Yes.
    Yes,
    /// No.
    No,
    /// Could not be determined.
    Unknown,
}

impl Tri {
    /// `yes` or `no` in words, or that the node could not be asked.
    pub(crate) fn word(self, yes: &str, no: &str) -> String {
        match self {
            Tri::Yes => yes.into(),
            Tri::No => no.into(),
            Tri::Unknown => "could not be asked".into(),
        }
    }
}

/// Folds samples in time order and answers questions about "now".
///
/// A sample older than the staleness window no longer counts: a sampler stuck on a
/// blackholed node must not keep reporting that node's last known state as current.
#[derive(Clone, Debug)]
pub(crate) struct World {
    stale_after: Duration,
    now: Option<DateTime<Utc>>,
    rest: BTreeMap<String, Sample>,
    sql: BTreeMap<String, Observation>,
    ssh: BTreeMap<String, Observation>,
    dcs: Option<Observation>,
}

impl World {
    /// An empty world; samples older than `stale_after` (relative to the newest) are ignored.
    pub(crate) fn new(stale_after: Duration) -> Self {
        Self {
            stale_after,
            now: None,
            rest: BTreeMap::new(),
            sql: BTreeMap::new(),
            ssh: BTreeMap::new(),
            dcs: None,
        }
    }

    /// Folds one sample in.
    pub(crate) fn apply(&mut self, s: &Sample) {
        let o = &s.observation;
        if self.now.is_none_or(|n| o.at > n) {
            self.now = Some(o.at);
        }
        match o.source {
            ObservationSource::Rest => {
                self.rest.insert(o.node.clone(), s.clone());
            }
            ObservationSource::Sql => {
                self.sql.insert(o.node.clone(), o.clone());
            }
            ObservationSource::SqlSsh => {
                self.ssh.insert(o.node.clone(), o.clone());
            }
            ObservationSource::Dcs => self.dcs = Some(o.clone()),
            // etcd's own health and HAProxy's pools are for the reports and verdicts; the
            // `etcd` and `haproxy` conditions ask them directly.
            ObservationSource::Etcd | ObservationSource::Haproxy => {}
        }
    }

    /// Time of the newest sample folded in.
    pub(crate) fn now(&self) -> Option<DateTime<Utc>> {
        self.now
    }

    fn fresh(&self, at: DateTime<Utc>) -> bool {
        match self.now {
            Some(now) => (now - at)
                .to_std()
                .map(|d| d <= self.stale_after)
                .unwrap_or(true),
            None => false,
        }
    }

    /// The node's own REST sample, if fresh and answered.
    pub(crate) fn rest(&self, node: &str) -> Option<&Sample> {
        self.rest
            .get(node)
            .filter(|s| s.observation.reachable && self.fresh(s.observation.at))
    }

    /// Whether the node's REST API answered in its freshest sample.
    pub(crate) fn api_reachable(&self, node: &str) -> Tri {
        match self.rest.get(node) {
            Some(s) if self.fresh(s.observation.at) => {
                if s.observation.reachable {
                    Tri::Yes
                } else {
                    Tri::No
                }
            }
            _ => Tri::Unknown,
        }
    }

    /// The holder of the leader key as the DCS says it, when the DCS answers; else the
    /// leader named by most fresh `/cluster` views, on a tie the one whose own API says
    /// it leads. `None`: no leader key, no view names a leader, or no view answered.
    pub(crate) fn leader(&self) -> Option<String> {
        // The leader key is what makes a Patroni node leader (Patroni's ha.py acquires
        // and renews it); `/cluster` views only relay it, from each node's DCS cache.
        if let Some(d) = &self.dcs
            && d.reachable
            && self.fresh(d.at)
        {
            return d.cluster_leader.clone();
        }
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for s in self.rest.values() {
            if s.observation.reachable
                && self.fresh(s.observation.at)
                && let Some(l) = s.observation.cluster_leader.as_deref()
            {
                *votes.entry(l).or_default() += 1;
            }
        }
        let best = votes.values().copied().max()?;
        let tied: Vec<&str> = votes
            .iter()
            .filter(|(_, v)| **v == best)
            .map(|(k, _)| *k)
            .collect();
        if tied.len() == 1 {
            return Some(tied[0].to_owned());
        }
        tied.into_iter()
            .find(|n| {
                self.rest(n)
                    .is_some_and(|s| s.observation.role.as_deref() == Some("leader"))
            })
            .map(str::to_owned)
    }

    /// Whether any fresh REST view answered at all.
    pub(crate) fn any_view(&self) -> bool {
        self.rest
            .values()
            .any(|s| s.observation.reachable && self.fresh(s.observation.at))
    }

    /// The member list: the leader's own view if fresh, else the newest fresh view.
    pub(crate) fn members(&self) -> Option<&[MemberView]> {
        if let Some(l) = self.leader()
            && let Some(m) = self.rest(&l).and_then(|s| s.members.as_deref())
        {
            return Some(m);
        }
        self.rest
            .values()
            .filter(|s| s.observation.reachable && self.fresh(s.observation.at))
            .filter(|s| s.members.is_some())
            .max_by_key(|s| s.observation.at)
            .and_then(|s| s.members.as_deref())
    }

    /// The raw `/cluster` JSON matching [`World::members`].
    pub(crate) fn cluster_json(&self) -> Option<&serde_json::Value> {
        if let Some(l) = self.leader()
            && let Some(j) = self.rest(&l).and_then(|s| s.cluster_json.as_deref())
        {
            return Some(j);
        }
        self.rest
            .values()
            .filter(|s| s.observation.reachable && self.fresh(s.observation.at))
            .filter(|s| s.cluster_json.is_some())
            .max_by_key(|s| s.observation.at)
            .and_then(|s| s.cluster_json.as_deref())
    }

    /// A member as the node itself reports it (role, state and timeline from its own
    /// fresh `GET /patroni`), or `None` when its REST API does not answer. `/cluster` alone
    /// is not enough: a dead node's member key outlives it until the TTL expires, with
    /// its last state (`streaming`) still in it.
    pub(crate) fn corroborated(&self, view: &MemberView) -> Option<MemberView> {
        let own = &self.rest(&view.name)?.observation;
        Some(MemberView {
            name: view.name.clone(),
            role: own.role.clone().unwrap_or_else(|| view.role.clone()),
            state: own.state.clone().unwrap_or_else(|| view.state.clone()),
            timeline: own.timeline.or(view.timeline),
            lag_bytes: view.lag_bytes,
        })
    }

    /// [`World::members`], each as the node itself reports it where its REST API answers
    /// ([`World::corroborated`]), else as listed. Steady state judges members this way, so
    /// targets are bound this way too: the leader's `/cluster` listing can still carry a
    /// replica's previous state ("starting") after the replica reports "streaming".
    pub(crate) fn members_as_reported(&self) -> Vec<MemberView> {
        self.members()
            .unwrap_or_default()
            .iter()
            .map(|m| self.corroborated(m).unwrap_or_else(|| m.clone()))
            .collect()
    }

    /// One member's entry in [`World::members`].
    pub(crate) fn member(&self, node: &str) -> Option<&MemberView> {
        self.members()?.iter().find(|m| m.name == node)
    }

    /// The leader's timeline, as the leader itself reports it (`/cluster` carries the
    /// timeline its member key had at its last update, which lags behind a promotion).
    pub(crate) fn leader_timeline(&self) -> Option<u64> {
        let l = self.leader()?;
        self.rest(&l)
            .and_then(|s| s.observation.timeline)
            .or_else(|| self.member(&l).and_then(|m| m.timeline))
    }

    /// Whether the node accepts writes, asked directly: SQL over TCP, else over SSH.
    pub(crate) fn writable(&self, node: &str) -> Tri {
        for o in [self.sql.get(node), self.ssh.get(node)]
            .into_iter()
            .flatten()
        {
            if o.reachable
                && self.fresh(o.at)
                && let Some(r) = o.in_recovery
            {
                return if r { Tri::No } else { Tri::Yes };
            }
        }
        Tri::Unknown
    }

    /// Nodes seen by any source.
    pub(crate) fn nodes(&self) -> impl Iterator<Item = &String> {
        self.rest
            .keys()
            .chain(self.sql.keys())
            .chain(self.ssh.keys())
    }
}
