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
        let nodes = ctx.nodes(&n.node);
        let Some(json) = w.cluster_json() else {
            return Eval::new(false, "no /cluster view answered");
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
}
