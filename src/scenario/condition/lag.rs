//! `lag`: replication lag of every replica (or one).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CheckCx, ConditionKind, Context};
use crate::check::{Eval, World};
use crate::scenario::refs::TargetRef;

/// Lag condition.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LagCond {
    /// A target, or every replica when absent.
    #[serde(default)]
    pub node: Option<String>,
    /// Every selected replica lags less than this many bytes.
    #[serde(default)]
    pub below_bytes: Option<u64>,
    /// Every selected replica lags more than this many bytes (for example past
    /// `maximum_lag_on_failover`, which Patroni compares with the same figure).
    #[serde(default)]
    pub above_bytes: Option<u64>,
}

impl LagCond {
    /// Whether a lag of `b` bytes is within the bounds.
    fn admits(&self, b: u64) -> bool {
        self.below_bytes.is_none_or(|x| b < x) && self.above_bytes.is_none_or(|x| b > x)
    }

    fn bounds(&self) -> String {
        let mut parts = Vec::new();
        if let Some(a) = self.above_bytes {
            parts.push(format!("above {a}"));
        }
        if let Some(b) = self.below_bytes {
            parts.push(format!("below {b}"));
        }
        format!("{} bytes", parts.join(" and "))
    }
}

pub(crate) struct Lag;

impl ConditionKind for Lag {
    const NAME: &'static str = "lag";
    #[cfg(test)]
    const SAMPLE: &'static str = "{below_bytes: 1}";
    type Body = LagCond;

    fn targets(l: &LagCond) -> Vec<TargetRef<'_>> {
        TargetRef::optional(&[("node", &l.node)])
    }

    fn check(l: &LagCond, cx: &mut CheckCx<'_, '_>) {
        if l.below_bytes.is_none() && l.above_bytes.is_none() {
            cx.empty(Self::NAME, "`below_bytes`, `above_bytes`");
        }
    }

    fn describe(l: &LagCond, ctx: &Context) -> String {
        match &l.node {
            Some(n) => format!("lag of {} {}", ctx.label(n), l.bounds()),
            None => format!("lag of every replica {}", l.bounds()),
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
                    ok &= l.admits(b);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(below: Option<u64>, above: Option<u64>) -> LagCond {
        LagCond {
            node: None,
            below_bytes: below,
            above_bytes: above,
        }
    }

    #[test]
    fn bounds_are_strict_on_both_sides() {
        let below = cond(Some(100), None);
        assert!(below.admits(99) && !below.admits(100));
        let above = cond(None, Some(1_048_576));
        assert!(above.admits(1_048_577) && !above.admits(1_048_576) && !above.admits(0));
        let band = cond(Some(10), Some(5));
        assert!(band.admits(7) && !band.admits(5) && !band.admits(10));
        assert_eq!(band.bounds(), "above 5 and below 10 bytes");
    }
}
