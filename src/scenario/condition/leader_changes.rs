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

impl CountCond {
    /// Whether `n` is within the bounds.
    pub(crate) fn admits(&self, n: u32) -> bool {
        self.at_least.is_none_or(|a| n >= a) && self.at_most.is_none_or(|b| n <= b)
    }

    /// The bounds in words after `what` (`leadership changed at most 1 time(s)`).
    pub(crate) fn words(&self, what: &str, unit: &str) -> String {
        match (self.at_least, self.at_most) {
            (Some(a), Some(b)) if a == b => format!("{what} exactly {a}{unit}"),
            (a, b) => format!(
                "{what}{}{}",
                a.map(|a| format!(" at least {a}{unit}"))
                    .unwrap_or_default(),
                b.map(|b| format!(" at most {b}{unit}")).unwrap_or_default()
            ),
        }
    }
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
        c.words("leadership changed", " time(s)")
    }

    fn on_timeline(cc: &CountCond, _w: &World, ctx: &Context) -> Eval {
        let n = ctx.leader_changes;
        Eval::new(cc.admits(n), format!("{n} leader change(s)"))
    }
}
