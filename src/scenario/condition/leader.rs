//! `leader`: who leads now.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CheckCx, ConditionKind, Context};
use crate::check::{Eval, World};
use crate::scenario::refs::TargetRef;

/// Leader condition; exactly one field is set.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaderCond {
    /// The leader is this target.
    #[serde(default)]
    pub is: Option<String>,
    /// The leader is not this target (and a leader exists).
    #[serde(default)]
    pub is_not: Option<String>,
    /// A leader exists (true) or no member is leader (false).
    #[serde(default)]
    pub exists: Option<bool>,
}

pub(crate) struct Leader;

impl ConditionKind for Leader {
    const NAME: &'static str = "leader";
    #[cfg(test)]
    const SAMPLE: &'static str = "{}";
    type Body = LeaderCond;

    fn targets(l: &LeaderCond) -> Vec<TargetRef<'_>> {
        TargetRef::optional(&[("is", &l.is), ("is_not", &l.is_not)])
    }

    fn check(l: &LeaderCond, cx: &mut CheckCx<'_, '_>) {
        let n = [l.is.is_some(), l.is_not.is_some(), l.exists.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if n != 1 {
            let base = cx.base.clone();
            cx.c.err(
                &base,
                format!("`leader` condition sets {n} of `is`, `is_not`, `exists`: set exactly one"),
                None,
            );
        }
    }

    fn describe(l: &LeaderCond, ctx: &Context) -> String {
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

    fn on_timeline(l: &LeaderCond, w: &World, ctx: &Context) -> Eval {
        let leader = w.leader();
        let leader_word = || leader.clone().unwrap_or_else(|| "none".into());
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
}
