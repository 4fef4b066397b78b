//! Watchdog resets during a scenario, as events: a node whose watchdog fired was reset
//! (every process killed, the host rebooted), which is what a watchdog is for and what a
//! report must show. Read through the inventory's `operations.watchdog_log`, which prints
//! one reset a line, each starting with its RFC 3339 time; a host that cannot tell has
//! no such operation and nothing is claimed.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::live::Live;
use crate::results::{Event, EventKind};

impl Live<'_> {
    /// Adds an event for every watchdog reset of a Patroni node since `since`.
    pub(crate) async fn watchdog_resets(&mut self, since: DateTime<Utc>) {
        let inv = self.engine.inventory.clone();
        for name in self.engine.patroni_nodes.clone() {
            let Some(node) = inv.node(&name) else {
                continue;
            };
            let Some(cmd) = inv.ops_for(node).watchdog_log else {
                continue;
            };
            match self
                .engine
                .transport
                .run_with_timeout(&name, &cmd, Duration::from_secs(15))
                .await
            {
                Ok(out) if out.status == Some(0) => {
                    self.record
                        .events
                        .extend(resets_since(&out.stdout, since, &name));
                }
                Ok(out) => self.record.events.push(super::event(
                    EventKind::WatchdogReset,
                    Some(&name),
                    format!(
                        "could not read the watchdog log on {name}: exit {:?}: {}",
                        out.status,
                        out.stderr.lines().next().unwrap_or_default()
                    ),
                )),
                Err(e) => self.record.events.push(super::event(
                    EventKind::WatchdogReset,
                    Some(&name),
                    format!(
                        "could not read the watchdog log on {name}: {}",
                        e.to_string().lines().next().unwrap_or_default()
                    ),
                )),
            }
        }
    }
}

/// The resets in `log` (one a line: an RFC 3339 time, then free text) at or after `since`.
fn resets_since(log: &str, since: DateTime<Utc>, node: &str) -> Vec<Event> {
    log.lines()
        .filter_map(|line| {
            let (at, rest) = line.trim().split_once(char::is_whitespace)?;
            let at = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
            (at >= since).then(|| Event {
                at,
                kind: EventKind::WatchdogReset,
                node: Some(node.to_owned()),
                description: format!(
                    "{node} reset by its watchdog: {}",
                    // The lab's log names the event first; the free text is what matters.
                    rest.trim().trim_start_matches("reset").trim_start()
                ),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn only_resets_in_the_window_become_events() {
        let log = "2026-12-01T21:59:09.684Z reset no keepalive for 15.0 s (timeout 15 s)\n\
                   garbage line\n\
                   2026-12-01T22:10:00.000Z reset no keepalive for 15.1 s (timeout 15 s)\n";
        let since = Utc.with_ymd_and_hms(2026, 12, 1, 22, 0, 0).unwrap();
        let ev = resets_since(log, since, "pg1");
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].kind, EventKind::WatchdogReset);
        assert_eq!(ev[0].node.as_deref(), Some("pg1"));
        assert_eq!(
            ev[0].description,
            "pg1 reset by its watchdog: no keepalive for 15.1 s (timeout 15 s)"
        );
    }
}
