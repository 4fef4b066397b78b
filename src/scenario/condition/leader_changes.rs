//! `leader_changes`: how many times leadership changed since the scenario started.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CheckCx, ConditionKind, Context};
use crate::check::{Eval, World};

/// Count bounds.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CountCond {
    /// At most.
    #[serde(default)]
    pub at_most: Option<u32>,
    /// At least.
    #[serde(default)]
    pub at_least: Option<u32>,
}

pub(crate) struct LeaderChanges;

impl ConditionKind for LeaderChanges {
    const NAME: &'static str = "leader_changes";
    #[cfg(test)]
    const SAMPLE: &'static str = "{}";
    type Body = CountCond;

    fn check(x: &CountCond, cx: &mut CheckCx<'_, '_>) {
        if x.at_most.is_none() && x.at_least.is_none() {
            cx.empty(Self::NAME, "`at_most`, `at_least`");
        }
    }

    fn describe(c: &CountCond, _ctx: &Context) -> String {
        match (c.at_least, c.at_most) {
            (Some(a), Some(b)) if a == b => format!("leadership changed exactly {a} time(s)"),
            (a, b) => format!(
                "leadership changed{}{}",
                a.map(|a| format!(" at least {a} time(s)"))
                    .unwrap_or_default(),
                b.map(|b| format!(" at most {b} time(s)"))
                    .unwrap_or_default()
            ),
        }
    }

    fn on_timeline(cc: &CountCond, _w: &World, ctx: &Context) -> Eval {
        let n = ctx.leader_changes;
        let ok = cc.at_least.is_none_or(|a| n >= a) && cc.at_most.is_none_or(|b| n <= b);
        Eval::new(ok, format!("{n} leader change(s)"))
    }
}
