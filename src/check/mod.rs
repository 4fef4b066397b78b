//! Checks: conditions evaluated over the observation timeline, turned into verdicts with
//! evidence (what was expected, what was observed, when).
//!
//! Conditions about cluster state are evaluated on a [`World`] folded from samples.
//! Conditions that need a fresh probe (HAProxy routing, SQL, settings) are evaluated by
//! the runner, which hands the answer to [`Eval`] the same way.

mod split_brain;
mod world;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::plan::Bindings;
use crate::scenario::{Condition, MemberRole, MemberState};

pub use split_brain::{SplitBrain, find_split_brain};
pub use world::{Tri, World};

/// A condition's value at one instant, with what was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eval {
    /// Whether it holds.
    pub holds: bool,
    /// What was observed, in words.
    pub observed: String,
}

impl Eval {
    fn new(holds: bool, observed: impl Into<String>) -> Self {
        Self {
            holds,
            observed: observed.into(),
        }
    }
}

/// A recorded HTTP response of an earlier step.
#[derive(Clone, Debug)]
pub struct RecordedResponse {
    /// Status code.
    pub status: u16,
    /// Body.
    pub body: String,
}

/// What conditions are evaluated against, besides the world.
pub struct Context<'a> {
    /// Target bindings.
    pub bindings: &'a Bindings,
    /// Leader when the scenario started.
    pub leader_at_start: Option<&'a str>,
    /// Leader's timeline when the scenario started.
    pub timeline_at_start: Option<u64>,
    /// Leader changes observed since the scenario started.
    pub leader_changes: u32,
    /// Responses of earlier steps, by step id.
    pub responses: &'a BTreeMap<String, RecordedResponse>,
    /// Inventory names of the Patroni nodes expected in the cluster.
    pub patroni_nodes: &'a [String],
}

impl Context<'_> {
    fn nodes(&self, target: &str) -> Vec<String> {
        self.bindings.get(target).cloned().unwrap_or_default()
    }

    fn label(&self, target: &str) -> String {
        match self.bindings.get(target) {
            Some(n) if n.len() == 1 && n[0] == target => target.to_owned(),
            Some(n) => format!("{target} ({})", n.join(", ")),
            None => target.to_owned(),
        }
    }
}

/// Whether the condition needs a probe of its own (evaluated by the runner).
pub fn needs_probe(c: &Condition) -> bool {
    matches!(
        c,
        Condition::Haproxy(_) | Condition::Sql(_) | Condition::Setting(_)
    )
}

/// What the condition expects, in words, with targets resolved.
pub fn describe(c: &Condition, ctx: &Context) -> String {
    match c {
        Condition::Leader(l) => {
            if let Some(t) = &l.is {
                format!("leader is {}", ctx.label(t))
            } else if let Some(t) = &l.is_not {
                format!("a leader exists and it is not {}", ctx.label(t))
            } else if let Some(e) = l.exists {
                if e {
                    "a leader exists".into()
                } else {
                    "no member is leader".into()
                }
            } else {
                "leader condition (empty)".into()
            }
        }
        Condition::LeaderChanges(c) => match (c.at_least, c.at_most) {
            (Some(a), Some(b)) if a == b => format!("leadership changed exactly {a} time(s)"),
            (a, b) => format!(
                "leadership changed{}{}",
                a.map(|a| format!(" at least {a} time(s)"))
                    .unwrap_or_default(),
                b.map(|b| format!(" at most {b} time(s)"))
                    .unwrap_or_default()
            ),
        },
        Condition::Timeline(t) => match (t.increased_by, t.increased_at_least) {
            (Some(0), _) => "timeline unchanged".into(),
            (Some(n), _) => format!("timeline increased by {n}"),
            (None, Some(n)) => format!("timeline increased by at least {n}"),
            _ => "timeline condition (empty)".into(),
        },
        Condition::Member(m) => {
            let mut parts = Vec::new();
            if let Some(a) = m.absent {
                parts.push(if a {
                    "absent from /cluster".to_owned()
                } else {
                    "listed in /cluster".into()
                });
            }
            if let Some(r) = m.role {
                parts.push(format!("role {}", role_word(r)));
            }
            if let Some(s) = m.state {
                parts.push(format!("state {}", state_word(s)));
            }
            if m.on_leader_timeline == Some(true) {
                parts.push("on the leader's timeline".into());
            }
            format!("member {} {}", ctx.label(&m.node), parts.join(", "))
        }
        Condition::Lag(l) => match &l.node {
            Some(n) => format!("lag of {} below {} bytes", ctx.label(n), l.below_bytes),
            None => format!("lag of every replica below {} bytes", l.below_bytes),
        },
        Condition::SteadyState(b) => {
            if *b {
                "steady state: one leader, every member running or streaming on its timeline".into()
            } else {
                "not in steady state".into()
            }
        }
        Condition::Writable(n) => format!(
            "{} {} writes (asked directly)",
            ctx.label(&n.node),
            if n.is { "accepts" } else { "does not accept" }
        ),
        Condition::ApiReachable(n) => format!(
            "REST API of {} {}",
            ctx.label(&n.node),
            if n.is { "answers" } else { "does not answer" }
        ),
        Condition::Response(r) => format!(
            "response of step {}{}{}",
            r.step,
            r.status
                .map(|s| format!(" has status {s}"))
                .unwrap_or_default(),
            r.body_contains
                .as_ref()
                .map(|b| format!(" and contains {b:?}"))
                .unwrap_or_default()
        ),
        Condition::Haproxy(h) => {
            let mut parts = Vec::new();
            if let Some(t) = &h.write_port_reaches {
                parts.push(format!("write port reaches {}", ctx.label(t)));
            }
            if h.read_port_round_robin == Some(true) {
                parts.push("read port round-robins over exactly the running replicas".into());
            }
            if let Some(t) = &h.read_port_excludes {
                parts.push(format!("read port never reaches {}", ctx.label(t)));
            }
            if let Some(t) = &h.read_port_includes {
                parts.push(format!("read port reaches {}", ctx.label(t)));
            }
            if let Some(a) = h.write_port_available {
                parts.push(if a {
                    "write port accepts queries".into()
                } else {
                    "write port unavailable".into()
                });
            }
            format!("HAProxy: {}", parts.join("; "))
        }
        Condition::Sql(s) => format!(
            "`{}` on {} returns {:?}",
            s.query,
            crate::runner::endpoint_word(&s.on),
            s.equals
        ),
        Condition::PendingRestart(n) => format!(
            "{} {} a pending restart",
            ctx.label(&n.node),
            if n.is { "has" } else { "has no" }
        ),
        Condition::Setting(s) => format!(
            "setting {} = {:?} on {}",
            s.name,
            s.equals,
            s.node
                .as_deref()
                .map(|n| ctx.label(n))
                .unwrap_or_else(|| "every member".into())
        ),
        Condition::PostgresRunning(n) => format!(
            "PostgreSQL {} on {}",
            if n.is { "runs" } else { "does not run" },
            ctx.label(&n.node)
        ),
        Condition::PostgresRestarted(n) => format!(
            "PostgreSQL on {} {} since the scenario started",
            ctx.label(&n.node),
            if n.is { "restarted" } else { "not restarted" }
        ),
        Condition::SettingsMatch(m) => format!(
            "{} has the same {} as {}",
            ctx.label(&m.node),
            m.names.join(", "),
            ctx.label(&m.with)
        ),
    }
}

fn role_word(r: MemberRole) -> &'static str {
    match r {
        MemberRole::Leader => "leader",
        MemberRole::Replica => "replica",
        MemberRole::SyncStandby => "sync_standby",
        MemberRole::StandbyLeader => "standby_leader",
    }
}

fn state_word(s: MemberState) -> &'static str {
    match s {
        MemberState::Running => "running",
        MemberState::Streaming => "streaming",
        MemberState::Stopped => "stopped",
        MemberState::Starting => "starting",
        MemberState::Failed => "failed",
    }
}

/// Whether a raw Patroni role matches the expected one (`replica` includes sync standbys).
pub fn role_matches(expected: MemberRole, raw: &str) -> bool {
    match expected {
        MemberRole::Leader => raw == "leader",
        MemberRole::Replica => matches!(raw, "replica" | "sync_standby"),
        MemberRole::SyncStandby => raw == "sync_standby",
        MemberRole::StandbyLeader => raw == "standby_leader",
    }
}

/// Whether a member's raw state matches the expected one, absorbing Patroni versions:
/// 4.x (and 3.0.4+) says `streaming` for a replica, 3.0.x says `running`. For a
/// `running` replica, streaming is inferred from it being on the leader's timeline.
pub fn state_matches(
    expected: MemberState,
    role: &str,
    raw: &str,
    on_leader_timeline: bool,
) -> bool {
    match expected {
        MemberState::Running => matches!(raw, "running" | "streaming"),
        MemberState::Streaming => {
            raw == "streaming"
                || (raw == "running"
                    && matches!(role, "replica" | "sync_standby")
                    && on_leader_timeline)
        }
        MemberState::Stopped => raw == "stopped",
        MemberState::Starting => matches!(
            raw,
            "starting"
                | "restarting"
                | "creating replica"
                | "initializing new cluster"
                | "running custom bootstrap script"
                | "stopping"
        ),
        MemberState::Failed => raw.contains("failed") || raw == "crashed",
    }
}

/// Evaluates a state condition on the world. Returns `None` for conditions that need a
/// probe ([`needs_probe`]).
pub fn evaluate(c: &Condition, w: &World, ctx: &Context) -> Option<Eval> {
    let leader = w.leader();
    let leader_word = || leader.clone().unwrap_or_else(|| "none".into());
    Some(match c {
        Condition::Leader(l) => {
            if let Some(t) = &l.is {
                let want = ctx.nodes(t);
                Eval::new(
                    leader.as_ref().is_some_and(|x| want.contains(x)),
                    format!("leader is {}", leader_word()),
                )
            } else if let Some(t) = &l.is_not {
                let avoid = ctx.nodes(t);
                Eval::new(
                    leader.as_ref().is_some_and(|x| !avoid.contains(x)),
                    format!("leader is {}", leader_word()),
                )
            } else if let Some(e) = l.exists {
                if !w.any_view() {
                    Eval::new(false, "no REST API answered: leadership unknown")
                } else {
                    Eval::new(
                        leader.is_some() == e,
                        format!("leader is {}", leader_word()),
                    )
                }
            } else {
                Eval::new(false, "empty leader condition")
            }
        }
        Condition::LeaderChanges(cc) => {
            let n = ctx.leader_changes;
            let ok = cc.at_least.is_none_or(|a| n >= a) && cc.at_most.is_none_or(|b| n <= b);
            Eval::new(ok, format!("{n} leader change(s)"))
        }
        Condition::Timeline(t) => match (w.leader_timeline(), ctx.timeline_at_start) {
            (Some(now), Some(start)) => {
                let diff = now as i64 - start as i64;
                let ok = match (t.increased_by, t.increased_at_least) {
                    (Some(n), _) => diff == n as i64,
                    (None, Some(n)) => diff >= n as i64,
                    _ => false,
                };
                Eval::new(ok, format!("timeline {start} -> {now}"))
            }
            (None, _) => Eval::new(false, "leader's timeline unknown (no leader observed)"),
            (_, None) => Eval::new(false, "timeline at start unknown"),
        },
        Condition::Member(m) => {
            let nodes = ctx.nodes(&m.node);
            let Some(members) = w.members() else {
                return Some(Eval::new(false, "no /cluster view answered"));
            };
            let lt = w.leader_timeline();
            let mut all = true;
            let mut seen = Vec::new();
            for n in &nodes {
                match members.iter().find(|x| &x.name == n) {
                    None => {
                        seen.push(format!("{n} absent"));
                        if m.absent != Some(true) {
                            all = false;
                        }
                    }
                    Some(listed) => {
                        // Anything but "stopped"/"failed" must be confirmed by the node itself.
                        let positive = m.role.is_some()
                            || m.on_leader_timeline == Some(true)
                            || matches!(
                                m.state,
                                Some(
                                    MemberState::Running
                                        | MemberState::Streaming
                                        | MemberState::Starting
                                )
                            );
                        let own = w.corroborated(listed);
                        if positive && own.is_none() && m.absent != Some(true) {
                            seen.push(format!(
                                "{n} listed as {} {} but its REST API does not answer",
                                listed.role, listed.state
                            ));
                            all = false;
                            continue;
                        }
                        let x = own.as_ref().unwrap_or(listed);
                        let on_tl = lt.is_some() && x.timeline == lt;
                        seen.push(format!(
                            "{n} {} {} tl {}",
                            x.role,
                            x.state,
                            x.timeline
                                .map(|t| t.to_string())
                                .unwrap_or_else(|| "?".into())
                        ));
                        let ok = m.absent != Some(true)
                            && m.role.is_none_or(|r| role_matches(r, &x.role))
                            && m.state
                                .is_none_or(|s| state_matches(s, &x.role, &x.state, on_tl))
                            && (m.on_leader_timeline != Some(true) || on_tl);
                        all &= ok;
                    }
                }
            }
            Eval::new(all && !nodes.is_empty(), seen.join("; "))
        }
        Condition::Lag(l) => {
            let Some(members) = w.members() else {
                return Some(Eval::new(false, "no /cluster view answered"));
            };
            let selected: Vec<_> = match &l.node {
                Some(t) => {
                    let nodes = ctx.nodes(t);
                    members.iter().filter(|m| nodes.contains(&m.name)).collect()
                }
                None => members.iter().filter(|m| m.role != "leader").collect(),
            };
            let mut ok = !selected.is_empty();
            let mut seen = Vec::new();
            for m in selected {
                match m.lag_bytes {
                    Some(b) => {
                        ok &= b < l.below_bytes;
                        seen.push(format!("{} lag {b}", m.name));
                    }
                    None => {
                        ok = false;
                        seen.push(format!("{} lag unknown", m.name));
                    }
                }
            }
            Eval::new(ok, seen.join("; "))
        }
        Condition::SteadyState(want) => {
            let (steady, why) = steady_state(w, ctx.patroni_nodes);
            Eval::new(steady == *want, why)
        }
        Condition::Writable(n) => {
            let nodes = ctx.nodes(&n.node);
            let mut ok = !nodes.is_empty();
            let mut seen = Vec::new();
            for x in &nodes {
                let t = w.writable(x);
                seen.push(format!("{x}: {}", tri_word(t, "writable", "read-only")));
                ok &= match t {
                    Tri::Yes => n.is,
                    Tri::No => !n.is,
                    Tri::Unknown => false,
                };
            }
            Eval::new(ok, seen.join("; "))
        }
        Condition::ApiReachable(n) => {
            let nodes = ctx.nodes(&n.node);
            let mut ok = !nodes.is_empty();
            let mut seen = Vec::new();
            for x in &nodes {
                let t = w.api_reachable(x);
                seen.push(format!(
                    "{x}: {}",
                    tri_word(t, "answers", "does not answer")
                ));
                ok &= match t {
                    Tri::Yes => n.is,
                    Tri::No => !n.is,
                    Tri::Unknown => false,
                };
            }
            Eval::new(ok, seen.join("; "))
        }
        Condition::PendingRestart(n) => {
            let nodes = ctx.nodes(&n.node);
            let Some(json) = w.cluster_json() else {
                return Some(Eval::new(false, "no /cluster view answered"));
            };
            let members = json.get("members").and_then(|m| m.as_array());
            let mut ok = !nodes.is_empty();
            let mut seen = Vec::new();
            for x in &nodes {
                let flag = members
                    .and_then(|ms| {
                        ms.iter()
                            .find(|m| m.get("name").and_then(|v| v.as_str()) == Some(x))
                    })
                    .map(|m| {
                        m.get("pending_restart")
                            .and_then(|v| v.as_bool())
                            .unwrap_or(false)
                    });
                match flag {
                    Some(f) => {
                        ok &= f == n.is;
                        seen.push(format!("{x}: pending_restart={f}"));
                    }
                    None => {
                        ok = false;
                        seen.push(format!("{x}: not listed"));
                    }
                }
            }
            Eval::new(ok, seen.join("; "))
        }
        Condition::Response(r) => match ctx.responses.get(&r.step) {
            None => Eval::new(false, format!("step {} recorded no response", r.step)),
            Some(resp) => {
                let ok = r.status.is_none_or(|s| s == resp.status)
                    && r.body_contains
                        .as_ref()
                        .is_none_or(|b| resp.body.contains(b.as_str()));
                Eval::new(
                    ok,
                    format!("HTTP {} {}", resp.status, truncate(resp.body.trim(), 200)),
                )
            }
        },
        Condition::Haproxy(_)
        | Condition::Sql(_)
        | Condition::Setting(_)
        | Condition::PostgresRunning(_)
        | Condition::PostgresRestarted(_)
        | Condition::SettingsMatch(_) => return None,
    })
}

fn tri_word(t: Tri, yes: &str, no: &str) -> String {
    match t {
        Tri::Yes => yes.into(),
        Tri::No => no.into(),
        Tri::Unknown => "could not be asked".into(),
    }
}

/// Steady state: exactly one leader, running; every Patroni node of the inventory listed
/// and running/streaming as a replica on the leader's timeline (or the leader itself);
/// every member listed in good health.
pub fn steady_state(w: &World, patroni_nodes: &[String]) -> (bool, String) {
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
pub struct LeaderTracker {
    last: Option<String>,
    changes: u32,
    first_change_at: Option<DateTime<Utc>>,
    history: Vec<(DateTime<Utc>, Option<String>)>,
}

impl LeaderTracker {
    /// Starts from the leader at scenario start.
    pub fn new(start: Option<String>) -> Self {
        Self {
            last: start,
            ..Default::default()
        }
    }

    /// Records the leader seen at `at`.
    pub fn observe(&mut self, at: DateTime<Utc>, leader: Option<String>) {
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
    pub fn changes(&self) -> u32 {
        self.changes
    }

    /// When a new leader was first observed.
    pub fn first_change_at(&self) -> Option<DateTime<Utc>> {
        self.first_change_at
    }

    /// Every distinct leader value with the time it was first seen.
    pub fn history(&self) -> &[(DateTime<Utc>, Option<String>)] {
        &self.history
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

#[cfg(test)]
mod tests;
