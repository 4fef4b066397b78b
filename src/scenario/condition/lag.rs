//! `lag`: replication lag of every replica (or one).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ConditionKind, Context};
use crate::check::{Eval, World};
use crate::scenario::refs::TargetRef;

/// Lag condition.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LagCond {
    /// A target, or every replica when absent.
    #[serde(default)]
    pub node: Option<String>,
    /// Maximum lag in bytes.
    pub below_bytes: u64,
}

pub(crate) struct Lag;

impl ConditionKind for Lag {
    const NAME: &'static str = "lag";
    type Body = LagCond;

    fn targets(l: &LagCond) -> Vec<TargetRef<'_>> {
        TargetRef::optional(&[("node", &l.node)])
    }

    fn describe(l: &LagCond, ctx: &Context) -> String {
        match &l.node {
            Some(n) => format!("lag of {} below {} bytes", ctx.label(n), l.below_bytes),
            None => format!("lag of every replica below {} bytes", l.below_bytes),
        }
    }

    fn on_timeline(l: &LagCond, w: &World, ctx: &Context) -> Eval {
        let Some(members) = w.members() else {
            return Eval::new(false, "no /cluster view answered");
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
}
