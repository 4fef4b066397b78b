//! `watchdog_reset`: whether a node was reset by its watchdog since the scenario began,
//! from the inventory's `operations.watchdog_log` (one reset a line, each starting with
//! its RFC 3339 time). With a watchdog, a primary whose Patroni stops feeding it (frozen,
//! hung on its own PostgreSQL) is reset before its leader key expires (Patroni docs,
//! "Watchdog support": the timeout is `ttl - safety_margin`), so it cannot go on
//! accepting writes after a replica is promoted. A host without the operation cannot
//! tell, and the condition is not met.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::{ConditionKind, Context, NodeAnswer, NodeBoolCond, Probe};
use crate::check::Eval;
use crate::scenario::refs::TargetRef;

pub(crate) struct WatchdogReset;

impl ConditionKind for WatchdogReset {
    const NAME: &'static str = "watchdog_reset";
    #[cfg(test)]
    const SAMPLE: &'static str = "{node: a, is: true}";
    const PROBE: bool = true;
    type Body = NodeBoolCond;

    fn targets(n: &NodeBoolCond) -> Vec<TargetRef<'_>> {
        n.targets()
    }

    fn describe(n: &NodeBoolCond, ctx: &Context) -> String {
        format!(
            "{} {} by its watchdog since the scenario started",
            ctx.label(&n.node),
            if n.is { "was reset" } else { "was not reset" }
        )
    }

    async fn probe(c: &NodeBoolCond, p: &Probe<'_>) -> Eval {
        // The log's times are the node's clock: a few seconds of slack for skew.
        let began = Utc::now()
            - TimeDelta::from_std(p.started.elapsed()).unwrap_or_default()
            - TimeDelta::seconds(5);
        let script = |name: &str, node: Option<&crate::inventory::Node>| {
            let Some(node) = node else {
                return Err(NodeAnswer {
                    holds: false,
                    seen: None,
                });
            };
            p.inventory.ops_for(node).watchdog_log.ok_or_else(|| {
                NodeAnswer::new(
                    false,
                    format!("{name}: cannot tell (the inventory has no operations.watchdog_log)"),
                )
            })
        };
        let read = |name: &str, _, out: super::SshOutcome| match out {
            Ok(o) if o.success() => {
                let resets = resets_since(&o.stdout, began);
                NodeAnswer::new(
                    (resets > 0) == c.is,
                    format!("{name}: {resets} watchdog reset(s)"),
                )
            }
            Ok(o) => NodeAnswer::new(
                false,
                format!(
                    "{name}: the watchdog log could not be read: {}",
                    (p.redact)(o.stderr.lines().next().unwrap_or_default())
                ),
            ),
            // A node being reset does not answer: not yet known.
            Err(e) => NodeAnswer::new(false, format!("{name}: {}", (p.redact)(&e.to_string()))),
        };
        p.ask_each_node(&c.node, Duration::from_secs(10), script, read)
            .await
    }
}

/// How many lines of `log` start with a time at or after `since`.
fn resets_since(log: &str, since: DateTime<Utc>) -> usize {
    log.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
        .filter(|t| t.with_timezone(&Utc) >= since)
        .count()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn counts_only_resets_in_the_window() {
        let log = "2026-12-01T21:59:09.684Z reset no keepalive for 15.0 s (timeout 15 s)\n\
                   not a time\n\
                   2026-12-01T23:11:45.245Z reset no keepalive for 15.0 s (timeout 15 s)\n";
        let since = Utc.with_ymd_and_hms(2026, 12, 1, 23, 0, 0).unwrap();
        assert_eq!(resets_since(log, since), 1);
        assert_eq!(resets_since("", since), 0);
    }
}
