//! `response`: the recorded HTTP response of an earlier step.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CheckCx, ConditionKind, Context};
use crate::check::{Eval, World};
use crate::diag::list;
use crate::scenario::Step;
use crate::scenario::check::did_you_mean;

/// A recorded HTTP response.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseCond {
    /// The `id` of the step that made the call.
    pub step: String,
    /// Expected status.
    #[serde(default)]
    pub status: Option<u16>,
    /// A substring the body must contain.
    #[serde(default)]
    pub body_contains: Option<String>,
}

pub(crate) struct Response;

impl ConditionKind for Response {
    const NAME: &'static str = "response";
    #[cfg(test)]
    const SAMPLE: &'static str = "{step: s}";
    type Body = ResponseCond;

    fn check(r: &ResponseCond, cx: &mut CheckCx<'_, '_>) {
        let at = cx.base.key("step");
        let (sc, step_index) = (cx.sc, cx.step_index);
        match cx.ids.get(r.step.as_str()) {
            Some(&j) if j < step_index && sc.steps[j].makes_http_call() => {}
            Some(&j) if j < step_index => cx.c.err(
                &at,
                format!(
                    "`response` refers to steps[{j}] ({}), which makes no HTTP call",
                    sc.steps[j].kind()
                ),
                Some("accepted: the id of an earlier switchover, failover, restart, reinitialize, reload or patch_config step".into()),
            ),
            _ => {
                let earlier: Vec<&str> = sc.steps[..step_index]
                    .iter()
                    .filter(|s| s.makes_http_call())
                    .filter_map(Step::step_id)
                    .collect();
                cx.c.err(
                    &at,
                    format!(
                        "`response` refers to step {:?}, which is not the id of an earlier step (HTTP steps declared before: {})",
                        r.step,
                        list(earlier.iter().copied())
                    ),
                    Some(did_you_mean(&r.step, &earlier).unwrap_or_else(|| {
                        "give the switchover/failover/restart/... step an `id:` and refer to it".into()
                    })),
                );
            }
        }
    }

    fn describe(r: &ResponseCond, _ctx: &Context) -> String {
        format!(
            "response of step {}{}{}",
            r.step,
            r.status
                .map(|s| format!(" has status {s}"))
                .unwrap_or_default(),
            r.body_contains
                .as_ref()
                .map(|b| format!(" and contains {b:?}"))
                .unwrap_or_default()
        )
    }

    fn on_timeline(r: &ResponseCond, _w: &World, ctx: &Context) -> Eval {
        match ctx.responses.get(&r.step) {
            None => Eval::new(false, format!("step {} recorded no response", r.step)),
            Some(resp) => {
                let ok = r.status.is_none_or(|s| s == resp.status)
                    && r.body_contains
                        .as_ref()
                        .is_none_or(|b| resp.body.contains(b.as_str()));
                Eval::new(
                    ok,
                    format!("HTTP {} {}", resp.status, truncate(resp.body.trim(), 200)),
                )
            }
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}
