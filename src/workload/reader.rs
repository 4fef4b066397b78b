//! The reader tasks: which server answers, whether its data is as new as what the writer
//! was already promised (read-your-writes), and how often reading fails.
//!
//! One reader runs on HAProxy's read port; with `reader: {replicas: true}` one more runs
//! on each Patroni node's PostgreSQL port. Each read is one new connection and one
//! statement asking the server's address, `pg_is_in_recovery()` and the highest id of
//! this run it holds; [`super::staleness::missed`] compares that with the writer's ledger
//! as it stood when the statement was sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::conn;
use super::staleness::{Missed, missed};
use super::writer::stopped;
use super::{ConnectionSettings, Endpoint, Shared, TABLE, lock};
use crate::inventory::Node;
use crate::patroni::PatroniClient;
use crate::results::{LagCheckStats, ReadStats, StaleRead};

/// Patroni's `/replica?lag=` health check of the node a direct reader reads from.
#[derive(Clone)]
pub(crate) struct LagProbe {
    /// The REST client (the inventory's scheme, TLS and authentication).
    pub(crate) client: Arc<PatroniClient>,
    /// The node whose REST API is asked.
    pub(crate) node: Node,
    /// The `lag` value as the scenario gave it.
    pub(crate) max_lag: String,
}

impl std::fmt::Debug for LagProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LagProbe")
            .field("node", &self.node.name)
            .field("max_lag", &self.max_lag)
            .finish_non_exhaustive()
    }
}

impl LagProbe {
    /// Whether the check answered 200; `None` when it gave no answer.
    async fn healthy(&self) -> Option<bool> {
        let path = format!("/replica?lag={}", self.max_lag);
        self.client
            .health(&self.node, &path)
            .await
            .ok()
            .map(|s| s == 200)
    }
}

/// A reader on one node's PostgreSQL port.
#[derive(Clone, Debug)]
pub struct DirectReader {
    /// The node's name (the key in [`ReadStats::direct`]).
    pub node: String,
    /// Its PostgreSQL address.
    pub endpoint: Endpoint,
    /// Its `/replica?lag=` check, asked when a read is stale.
    pub(crate) lag_probe: Option<LagProbe>,
}

/// The writer's ledger, for judging reads.
pub(super) struct LedgerView {
    pub(super) shared: Arc<Mutex<Shared>>,
    pub(super) first_id: i64,
}

/// What one successful read saw.
struct Seen {
    server: String,
    in_recovery: bool,
    at: DateTime<Utc>,
    missed: Option<Missed>,
}

/// The reader's state.
pub(super) struct Reader {
    pub(super) endpoint: Endpoint,
    pub(super) settings: ConnectionSettings,
    pub(super) period: Duration,
    pub(super) stats: Arc<Mutex<ReadStats>>,
    /// Where in `stats` this reader counts: `None` for the read port, a node name for a
    /// direct reader.
    pub(super) direct: Option<String>,
    pub(super) ledger: Option<LedgerView>,
    pub(super) lag_probe: Option<LagProbe>,
    pub(super) stop: watch::Receiver<bool>,
}

impl Reader {
    /// Reads at the configured rate until stopped. Each read uses a new connection, because
    /// a load balancer spreads connections, not queries.
    pub(super) async fn run(mut self) {
        let config = self.settings.config(std::slice::from_ref(&self.endpoint));
        if let (Some(name), Some(p)) = (&self.direct, &self.lag_probe) {
            lock(&self.stats)
                .direct
                .entry(name.clone())
                .or_default()
                .lag_check = Some(LagCheckStats {
                max_lag: p.max_lag.clone(),
                ..LagCheckStats::default()
            });
        }
        let mut interval = tokio::time::interval(self.period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                biased;
                _ = stopped(&mut self.stop) => break,
                _ = interval.tick() => {}
            }
            let seen = self.read_once(&config).await;
            let healthy = match (&seen, &self.lag_probe) {
                (Some(s), Some(p)) if s.missed.is_some() => Some(p.healthy().await),
                _ => None,
            };
            let mut all = lock(&self.stats);
            let stats = match &self.direct {
                Some(name) => all.direct.entry(name.clone()).or_default(),
                None => &mut *all,
            };
            note(stats, seen.as_ref());
            if let Some(h) = healthy {
                note_lag_check(stats, h);
            }
        }
    }

    async fn read_once(&self, config: &tokio_postgres::Config) -> Option<Seen> {
        let c = conn::connect(config, &self.settings.tls, self.settings.connect_timeout)
            .await
            .ok()?;
        let server = "coalesce(host(inet_server_addr()) || ':' || inet_server_port(), 'local')";
        // The statement's snapshot is taken after it is sent: writes acknowledged before
        // `at` must be in it.
        let at = Utc::now();
        let (row, max_seen) = match &self.ledger {
            Some(l) => {
                let sql = format!(
                    "SELECT {server}, pg_is_in_recovery(), (SELECT max(id) FROM {TABLE} WHERE id >= $1)"
                );
                let row = conn::bounded(
                    self.settings.statement_timeout,
                    c.client.query_one(&sql, &[&l.first_id]),
                )
                .await?
                .ok()?;
                let max: Option<i64> = row.try_get(2).ok()?;
                (row, max)
            }
            None => {
                let sql = format!("SELECT {server}, pg_is_in_recovery()");
                let row = conn::bounded(
                    self.settings.statement_timeout,
                    c.client.query_one(&sql, &[]),
                )
                .await?
                .ok()?;
                (row, None)
            }
        };
        let in_recovery: bool = row.try_get(1).ok()?;
        // A primary is fresh by definition: it is where the writes are acknowledged.
        let missed = match &self.ledger {
            Some(l) if in_recovery => missed(&lock(&l.shared).entries, at, max_seen),
            _ => None,
        };
        Some(Seen {
            server: row.try_get(0).ok()?,
            in_recovery,
            at,
            missed,
        })
    }
}

/// Counts one read (`None`: it failed) in `stats`.
fn note(stats: &mut ReadStats, seen: Option<&Seen>) {
    stats.attempted += 1;
    let Some(s) = seen else {
        stats.errors += 1;
        return;
    };
    *stats.served_by.entry(s.server.clone()).or_default() += 1;
    let server = stats.servers.entry(s.server.clone()).or_default();
    server.reads += 1;
    if !s.in_recovery {
        stats.primary_reads += 1;
    }
    let Some(m) = s.missed else {
        return;
    };
    let ms = u64::try_from(m.staleness(s.at).num_milliseconds()).unwrap_or(0);
    server.stale += 1;
    server.max_staleness_ms = Some(server.max_staleness_ms.map_or(ms, |x| x.max(ms)));
    stats.stale += 1;
    if stats.max_stale.as_ref().is_none_or(|x| ms > x.staleness_ms) {
        stats.max_stale = Some(StaleRead {
            at: s.at,
            server: s.server.clone(),
            staleness_ms: ms,
            missed: m.count,
        });
    }
}

/// Counts what `/replica?lag=` said (`None`: no answer) of a stale read's node.
fn note_lag_check(stats: &mut ReadStats, healthy: Option<bool>) {
    let Some(l) = stats.lag_check.as_mut() else {
        return;
    };
    match healthy {
        Some(true) => l.stale_but_healthy += 1,
        Some(false) => l.stale_and_unhealthy += 1,
        None => l.errors += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(server: &str, in_recovery: bool, stale_ms: Option<i64>) -> Seen {
        let at = DateTime::from_timestamp_millis(1_700_000_010_000).expect("a time");
        Seen {
            server: server.into(),
            in_recovery,
            at,
            missed: stale_ms.map(|ms| Missed {
                count: 3,
                oldest_ack: at - chrono::Duration::milliseconds(ms),
            }),
        }
    }

    #[test]
    fn reads_are_counted_per_server_with_the_stalest_kept() {
        let mut s = ReadStats::default();
        note(&mut s, Some(&seen("a:1", true, Some(400))));
        note(&mut s, Some(&seen("a:1", true, Some(1200))));
        note(&mut s, Some(&seen("b:1", true, Some(900))));
        note(&mut s, Some(&seen("b:1", true, None)));
        note(&mut s, Some(&seen("p:1", false, None)));
        note(&mut s, None);
        assert_eq!(
            (s.attempted, s.errors, s.stale, s.primary_reads),
            (6, 1, 3, 1)
        );
        assert_eq!(s.servers["a:1"].max_staleness_ms, Some(1200));
        assert_eq!((s.servers["b:1"].reads, s.servers["b:1"].stale), (2, 1));
        assert_eq!(s.servers["p:1"].max_staleness_ms, None);
        let max = s.max_stale.expect("a stale read");
        assert_eq!(
            (max.server.as_str(), max.staleness_ms, max.missed),
            ("a:1", 1200, 3)
        );
        assert_eq!(s.served_by["b:1"], 2);
    }

    #[test]
    fn lag_checks_are_counted_only_when_asked_for() {
        let mut s = ReadStats::default();
        note_lag_check(&mut s, Some(true));
        assert!(s.lag_check.is_none());
        s.lag_check = Some(LagCheckStats {
            max_lag: "1MB".into(),
            ..LagCheckStats::default()
        });
        note_lag_check(&mut s, Some(true));
        note_lag_check(&mut s, Some(true));
        note_lag_check(&mut s, Some(false));
        note_lag_check(&mut s, None);
        let l = s.lag_check.expect("asked for");
        assert_eq!(
            (l.stale_but_healthy, l.stale_and_unhealthy, l.errors),
            (2, 1, 1)
        );
    }
}
