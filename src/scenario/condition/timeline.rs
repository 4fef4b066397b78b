//! `timeline`: the leader's timeline relative to the start of the scenario.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CheckCx, ConditionKind, Context};
use crate::check::{Eval, World};

/// Timeline condition.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimelineCond {
    /// The leader's timeline minus the one at start equals this (0: unchanged).
    #[serde(default)]
    pub increased_by: Option<u32>,
    /// At least this many.
    #[serde(default)]
    pub increased_at_least: Option<u32>,
}

pub(crate) struct Timeline;

impl ConditionKind for Timeline {
    const NAME: &'static str = "timeline";
    #[cfg(test)]
    const SAMPLE: &'static str = "{}";
    type Body = TimelineCond;

    fn check(x: &TimelineCond, cx: &mut CheckCx<'_, '_>) {
        if x.increased_by.is_none() && x.increased_at_least.is_none() {
            cx.empty(Self::NAME, "`increased_by`, `increased_at_least`");
        }
    }

    fn describe(t: &TimelineCond, _ctx: &Context) -> String {
        match (t.increased_by, t.increased_at_least) {
            (Some(0), _) => "timeline unchanged".into(),
            (Some(n), _) => format!("timeline increased by {n}"),
            (None, Some(n)) => format!("timeline increased by at least {n}"),
            _ => "timeline condition (empty)".into(),
        }
    }

    fn on_timeline(t: &TimelineCond, w: &World, ctx: &Context) -> Eval {
        match (w.leader_timeline(), ctx.timeline_at_start) {
            (Some(now), Some(start)) => {
                let diff = now as i64 - start as i64;
                let ok = match (t.increased_by, t.increased_at_least) {
                    (Some(n), _) => diff == n as i64,
                    (None, Some(n)) => diff >= n as i64,
                    _ => false,
                };
                Eval::new(ok, format!("timeline {start} -> {now}"))
            }
            (None, _) => Eval::new(false, "leader's timeline unknown (no leader observed)"),
            (_, None) => Eval::new(false, "timeline at start unknown"),
        }
    }
}
