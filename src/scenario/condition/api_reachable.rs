//! `api_reachable`: whether a node's REST API answers.

use super::{ConditionKind, Context, NodeBoolCond};
use crate::check::{Eval, Tri, World};
use crate::scenario::refs::TargetRef;

pub(crate) struct ApiReachable;

impl ConditionKind for ApiReachable {
    const NAME: &'static str = "api_reachable";
    #[cfg(test)]
    const SAMPLE: &'static str = "{node: a, is: true}";
    type Body = NodeBoolCond;

    fn targets(n: &NodeBoolCond) -> Vec<TargetRef<'_>> {
        n.targets()
    }

    fn describe(n: &NodeBoolCond, ctx: &Context) -> String {
        format!(
            "REST API of {} {}",
            ctx.label(&n.node),
            if n.is { "answers" } else { "does not answer" }
        )
    }

    fn on_timeline(n: &NodeBoolCond, w: &World, ctx: &Context) -> Eval {
        let nodes = ctx.nodes(&n.node);
        let mut ok = !nodes.is_empty();
        let mut seen = Vec::new();
        for x in &nodes {
            let t = w.api_reachable(x);
            seen.push(format!("{x}: {}", t.word("answers", "does not answer")));
            ok &= match t {
                Tri::Yes => n.is,
                Tri::No => !n.is,
                Tri::Unknown => false,
            };
        }
        Eval::new(ok, seen.join("; "))
    }
}
