//! `writable`: whether a node accepts writes, asked directly.

use super::{ConditionKind, Context, NodeBoolCond};
use crate::check::{Eval, Tri, World};
use crate::scenario::refs::TargetRef;

pub(crate) struct Writable;

impl ConditionKind for Writable {
    const NAME: &'static str = "writable";
    #[cfg(test)]
    const SAMPLE: &'static str = "{node: a, is: true}";
    type Body = NodeBoolCond;

    fn targets(n: &NodeBoolCond) -> Vec<TargetRef<'_>> {
        n.targets()
    }

    fn describe(n: &NodeBoolCond, ctx: &Context) -> String {
        format!(
            "{} {} writes (asked directly)",
            ctx.label(&n.node),
            if n.is { "accepts" } else { "does not accept" }
        )
    }

    fn on_timeline(n: &NodeBoolCond, w: &World, ctx: &Context) -> Eval {
        let nodes = ctx.nodes(&n.node);
        let mut ok = !nodes.is_empty();
        let mut seen = Vec::new();
        for x in &nodes {
            let t = w.writable(x);
            seen.push(format!("{x}: {}", t.word("writable", "read-only")));
            ok &= match t {
                Tri::Yes => n.is,
                Tri::No => !n.is,
                Tri::Unknown => false,
            };
        }
        Eval::new(ok, seen.join("; "))
    }
}
