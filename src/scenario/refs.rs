//! What steps and conditions refer to: their kind as written in YAML, their id, and the
//! target names they use. Shared by validation and by whoever binds targets to nodes.

use super::{Condition, HaproxyCond, SqlEndpoint, Step};

/// Kinds a step may have, as written in YAML (in the model's order).
pub const STEP_KINDS: &[&str] = &[
    "signal",
    "service",
    "pg_ctl",
    "reboot",
    "poweroff",
    "power_on",
    "block",
    "isolate",
    "undo",
    "switchover",
    "failover",
    "restart",
    "reinitialize",
    "reload",
    "patch_config",
    "start_patroni",
    "sql",
    "pgbench",
    "shell",
    "expect",
    "hold",
];

/// Kinds a condition may have, as written in YAML.
pub const CONDITION_KINDS: &[&str] = &[
    "leader",
    "leader_changes",
    "timeline",
    "member",
    "lag",
    "steady_state",
    "writable",
    "api_reachable",
    "response",
    "haproxy",
    "sql",
    "pending_restart",
    "setting",
];

/// A target name used by a step or condition: the field it is written in (relative to the
/// step's or condition's body, e.g. `target` or `peers[1]`) and the name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetRef<'a> {
    /// Field path inside the step or condition body.
    pub field: String,
    /// The target name.
    pub name: &'a str,
}

fn r<'a>(field: &str, name: &'a str) -> TargetRef<'a> {
    TargetRef {
        field: field.to_owned(),
        name,
    }
}

impl Step {
    /// The step's kind, as written in YAML (`signal`, `expect`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Signal(_) => "signal",
            Step::Service(_) => "service",
            Step::PgCtl(_) => "pg_ctl",
            Step::Reboot(_) => "reboot",
            Step::Poweroff(_) => "poweroff",
            Step::PowerOn(_) => "power_on",
            Step::Block(_) => "block",
            Step::Isolate(_) => "isolate",
            Step::Undo(_) => "undo",
            Step::Switchover(_) => "switchover",
            Step::Failover(_) => "failover",
            Step::Restart(_) => "restart",
            Step::Reinitialize(_) => "reinitialize",
            Step::Reload(_) => "reload",
            Step::PatchConfig(_) => "patch_config",
            Step::StartPatroni(_) => "start_patroni",
            Step::Sql(_) => "sql",
            Step::Pgbench(_) => "pgbench",
            Step::Shell(_) => "shell",
            Step::Expect(_) => "expect",
            Step::Hold(_) => "hold",
        }
    }

    /// The step's `id`, when it has one.
    pub fn step_id(&self) -> Option<&str> {
        match self {
            Step::Signal(s) => s.id.as_deref(),
            Step::Service(s) => s.id.as_deref(),
            Step::PgCtl(s) => s.id.as_deref(),
            Step::Reboot(s)
            | Step::Poweroff(s)
            | Step::PowerOn(s)
            | Step::Isolate(s)
            | Step::StartPatroni(s) => s.id.as_deref(),
            Step::Block(s) => s.id.as_deref(),
            Step::Switchover(s) => s.id.as_deref(),
            Step::Failover(s) => s.id.as_deref(),
            Step::Restart(s) | Step::Reinitialize(s) | Step::Reload(s) => s.id.as_deref(),
            Step::PatchConfig(s) => s.id.as_deref(),
            Step::Sql(s) => s.id.as_deref(),
            Step::Shell(s) => s.id.as_deref(),
            Step::Undo(_) | Step::Pgbench(_) | Step::Expect(_) | Step::Hold(_) => None,
        }
    }

    /// Whether the step may leave a fault in place that `undo: {fault: ID}` can undo early.
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            Step::Signal(_)
                | Step::Service(_)
                | Step::Poweroff(_)
                | Step::Block(_)
                | Step::Isolate(_)
                | Step::PatchConfig(_)
        ) || matches!(self, Step::Shell(s) if s.undo.is_some())
    }

    /// Whether the step makes an HTTP call whose response a `response` condition can check.
    pub fn makes_http_call(&self) -> bool {
        matches!(
            self,
            Step::Switchover(_)
                | Step::Failover(_)
                | Step::Restart(_)
                | Step::Reinitialize(_)
                | Step::Reload(_)
                | Step::PatchConfig(_)
        )
    }

    /// Every target name the step itself uses (not those of its conditions).
    pub fn target_refs(&self) -> Vec<TargetRef<'_>> {
        let mut out = Vec::new();
        match self {
            Step::Signal(s) => out.push(r("target", &s.target)),
            Step::Service(s) => out.push(r("target", &s.target)),
            Step::PgCtl(s) => out.push(r("target", &s.target)),
            Step::Reboot(s)
            | Step::Poweroff(s)
            | Step::PowerOn(s)
            | Step::Isolate(s)
            | Step::StartPatroni(s) => out.push(r("target", &s.target)),
            Step::Block(s) => {
                out.push(r("target", &s.target));
                for (i, p) in s.peers.iter().enumerate() {
                    out.push(r(&format!("peers[{i}]"), p));
                }
            }
            Step::Switchover(s) => {
                for (f, v) in [
                    ("leader", &s.leader),
                    ("candidate", &s.candidate),
                    ("on", &s.on),
                ] {
                    if let Some(v) = v {
                        out.push(r(f, v));
                    }
                }
            }
            Step::Failover(s) => {
                out.push(r("candidate", &s.candidate));
                if let Some(v) = &s.on {
                    out.push(r("on", v));
                }
            }
            Step::Restart(s) | Step::Reinitialize(s) | Step::Reload(s) => {
                out.push(r("target", &s.target))
            }
            Step::Sql(s) => {
                if let SqlEndpoint::Target(t) = &s.on {
                    out.push(r("on", t));
                }
            }
            Step::Shell(s) => out.push(r("target", &s.target)),
            Step::Undo(_)
            | Step::PatchConfig(_)
            | Step::Pgbench(_)
            | Step::Expect(_)
            | Step::Hold(_) => {}
        }
        out
    }

    /// The conditions of an `expect` or `hold` step (empty for other kinds).
    pub fn conditions(&self) -> &[Condition] {
        match self {
            Step::Expect(e) => &e.all,
            Step::Hold(h) => &h.all,
            _ => &[],
        }
    }
}

impl Condition {
    /// The condition's kind, as written in YAML (`leader`, `member`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Condition::Leader(_) => "leader",
            Condition::LeaderChanges(_) => "leader_changes",
            Condition::Timeline(_) => "timeline",
            Condition::Member(_) => "member",
            Condition::Lag(_) => "lag",
            Condition::SteadyState(_) => "steady_state",
            Condition::Writable(_) => "writable",
            Condition::ApiReachable(_) => "api_reachable",
            Condition::Response(_) => "response",
            Condition::Haproxy(_) => "haproxy",
            Condition::Sql(_) => "sql",
            Condition::PendingRestart(_) => "pending_restart",
            Condition::Setting(_) => "setting",
        }
    }

    /// Every target name the condition uses. `haproxy.write_port_reaches: leader` means the
    /// current leader and is not a target name.
    pub fn target_refs(&self) -> Vec<TargetRef<'_>> {
        let mut out = Vec::new();
        match self {
            Condition::Leader(l) => {
                for (f, v) in [("is", &l.is), ("is_not", &l.is_not)] {
                    if let Some(v) = v {
                        out.push(r(f, v));
                    }
                }
            }
            Condition::Member(m) => out.push(r("node", &m.node)),
            Condition::Lag(l) => {
                if let Some(n) = &l.node {
                    out.push(r("node", n));
                }
            }
            Condition::Writable(n) | Condition::ApiReachable(n) | Condition::PendingRestart(n) => {
                out.push(r("node", &n.node))
            }
            Condition::Haproxy(HaproxyCond {
                write_port_reaches,
                read_port_excludes,
                read_port_includes,
                ..
            }) => {
                for (f, v) in [
                    ("write_port_reaches", write_port_reaches),
                    ("read_port_excludes", read_port_excludes),
                    ("read_port_includes", read_port_includes),
                ] {
                    if let Some(v) = v
                        && v != "leader"
                    {
                        out.push(r(f, v));
                    }
                }
            }
            Condition::Sql(s) => {
                if let SqlEndpoint::Target(t) = &s.on {
                    out.push(r("on", t));
                }
            }
            Condition::Setting(s) => {
                if let Some(n) = &s.node {
                    out.push(r("node", n));
                }
            }
            Condition::LeaderChanges(_)
            | Condition::Timeline(_)
            | Condition::SteadyState(_)
            | Condition::Response(_) => {}
        }
        out
    }
}
