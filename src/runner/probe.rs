//! Running conditions that need a probe of their own (HAProxy routing, SQL results,
//! settings): each kind probes through the narrow [`Probe`] context built here. Probes
//! open short connections, so they run at most once a second per condition while
//! waiting (every observation during a hold would hammer the cluster for nothing).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::live::Live;
use crate::check::Eval;
use crate::scenario::condition::{Probe, sql_values as probe_sql};
use crate::scenario::{Condition, SqlEndpoint};

/// Last probe result per condition, to rate-limit probes.
#[derive(Default)]
pub(crate) struct ProbeCache {
    last: BTreeMap<String, (Instant, Eval)>,
}

const PROBE_EVERY: Duration = Duration::from_secs(1);

/// What a probe may use of the running scenario.
fn probe_context<'a>(live: &'a Live<'_>, redact: &'a (dyn Fn(&str) -> String + Sync)) -> Probe<'a> {
    Probe {
        inventory: &live.engine.inventory,
        creds: &live.engine.creds,
        transport: &live.engine.transport,
        bindings: &live.bound.bindings,
        world: &live.view.world,
        started: live.started,
        redact,
    }
}

/// Runs `query` on the endpoint; returns (where, first value) for each node asked.
pub(crate) async fn sql_values(
    live: &Live<'_>,
    on: &SqlEndpoint,
    query: &str,
) -> Result<Vec<(String, Option<String>)>, String> {
    let redact = |s: &str| live.engine.redact(s);
    probe_sql(&probe_context(live, &redact), on, query).await
}

/// Evaluates a probe condition, at most once a second (`fresh`, holds) or every two
/// seconds (waits).
pub(crate) async fn evaluate(
    live: &Live<'_>,
    c: &Condition,
    cache: &mut ProbeCache,
    fresh: bool,
) -> Eval {
    let key = format!("{c:?}");
    // Holds ask for `fresh` answers, but a probe opens connections: once a second is the
    // resolution of probe conditions in holds too, while state conditions are evaluated
    // on every sample.
    let every = if fresh { PROBE_EVERY } else { PROBE_EVERY * 2 };
    if let Some((at, e)) = cache.last.get(&key)
        && at.elapsed() < every
    {
        return e.clone();
    }
    let redact = |s: &str| live.engine.redact(s);
    let e = c.probe(&probe_context(live, &redact)).await;
    cache.last.insert(key, (Instant::now(), e.clone()));
    e
}
