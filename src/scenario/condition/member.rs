//! `member`: one member's role and state, as `/cluster` reports it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CheckCx, ConditionKind, Context};
use crate::check::{Eval, World};
use crate::patroni::{MemberRole, MemberState, role_matches, state_matches};
use crate::scenario::refs::TargetRef;

/// Member condition.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberCond {
    /// The target name.
    pub node: String,
    /// Expected role.
    #[serde(default)]
    pub role: Option<MemberRole>,
    /// Expected state.
    #[serde(default)]
    pub state: Option<MemberState>,
    /// The member is absent from `/cluster` (true) or present (false).
    #[serde(default)]
    pub absent: Option<bool>,
    /// Its timeline equals the leader's.
    #[serde(default)]
    pub on_leader_timeline: Option<bool>,
}

pub(crate) struct Member;

impl ConditionKind for Member {
    const NAME: &'static str = "member";
    #[cfg(test)]
    const SAMPLE: &'static str = "{node: a}";
    type Body = MemberCond;

    fn targets(m: &MemberCond) -> Vec<TargetRef<'_>> {
        vec![TargetRef::new("node", &m.node)]
    }

    fn check(m: &MemberCond, cx: &mut CheckCx<'_, '_>) {
        if m.role.is_none()
            && m.state.is_none()
            && m.absent.is_none()
            && m.on_leader_timeline.is_none()
        {
            cx.empty(
                Self::NAME,
                "`role`, `state`, `absent`, `on_leader_timeline`",
            );
        }
    }

    fn describe(m: &MemberCond, ctx: &Context) -> String {
        let mut parts = Vec::new();
        if let Some(a) = m.absent {
            parts.push(if a {
                "absent from /cluster".to_owned()
            } else {
                "listed in /cluster".into()
            });
        }
        if let Some(r) = m.role {
            parts.push(format!("role {}", r.word()));
        }
        if let Some(s) = m.state {
            parts.push(format!("state {}", s.word()));
        }
        if m.on_leader_timeline == Some(true) {
            parts.push("on the leader's timeline".into());
        }
        format!("member {} {}", ctx.label(&m.node), parts.join(", "))
    }

    fn on_timeline(m: &MemberCond, w: &World, ctx: &Context) -> Eval {
        let nodes = ctx.nodes(&m.node);
        let Some(members) = w.members() else {
            return Eval::new(false, "no /cluster view answered");
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
}
