//! `steady_state`: one leader, every other member running or streaming, one timeline.

use super::{ConditionKind, Context};
use crate::check::{Eval, World, steady_state};

pub(crate) struct SteadyState;

impl ConditionKind for SteadyState {
    const NAME: &'static str = "steady_state";
    #[cfg(test)]
    const SAMPLE: &'static str = "true";
    type Body = bool;

    fn describe(b: &bool, _ctx: &Context) -> String {
        if *b {
            "steady state: one leader, every member running or streaming on its timeline".into()
        } else {
            "not in steady state".into()
        }
    }

    fn on_timeline(want: &bool, w: &World, ctx: &Context) -> Eval {
        let (steady, why) = steady_state(w, ctx.patroni_nodes);
        Eval::new(steady == *want, why)
    }
}
