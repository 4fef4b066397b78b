//! `pending_restart`: Patroni's `pending_restart` flag on members.

use super::{ConditionKind, Context, NodeBoolCond};
use crate::check::{Eval, World};
use crate::scenario::refs::TargetRef;

pub(crate) struct PendingRestart;

impl ConditionKind for PendingRestart {
    const NAME: &'static str = "pending_restart";
    #[cfg(test)]
    const SAMPLE: &'static str = "{node: a, is: true}";
    type Body = NodeBoolCond;

    fn targets(n: &NodeBoolCond) -> Vec<TargetRef<'_>> {
        n.targets()
    }

    fn describe(n: &NodeBoolCond, ctx: &Context) -> String {
        format!(
            "{} {} a pending restart",
            ctx.label(&n.node),
            if n.is { "has" } else { "has no" }
        )
    }

    fn on_timeline(n: &NodeBoolCond, w: &World, ctx: &Context) -> Eval {
        super::each_listed_member(w, ctx, &n.node, |m| {
            let f = m
                .get("pending_restart")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            (f == n.is, format!("pending_restart={f}"))
        })
    }
}
