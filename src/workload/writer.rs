//! The writer task.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tokio_postgres::Statement;

use super::conn::{self, Conn};
use super::{
    ConnectionSettings, LedgerEntry, Outcome, Shared, TABLE, WorkloadError, WriteTarget, backoff,
    lock,
};

/// Creates the table when missing and returns the first id to use (after every id in it).
pub(super) async fn prepare_table(
    target: &WriteTarget,
    settings: &ConnectionSettings,
) -> Result<i64, WorkloadError> {
    let where_ = target.to_string();
    let bound = target.connect_bound(settings);
    let c = match conn::connect(&target.config(settings), &settings.tls, bound).await {
        Ok(c) => c,
        Err(conn::ConnectError::Pg(source)) => {
            return Err(WorkloadError::Connect {
                target: where_,
                source,
            });
        }
        Err(conn::ConnectError::Timeout(timeout)) => {
            return Err(WorkloadError::Timeout {
                what: "connect",
                target: where_,
                timeout,
            });
        }
    };
    let t = settings.statement_timeout;
    let timeout = |what| WorkloadError::Timeout {
        what,
        target: where_.clone(),
        timeout: t,
    };
    let query_err = |what, source| WorkloadError::Query {
        what,
        target: where_.clone(),
        source,
    };
    // server_time is a timestamptz for people reading the table; the writer reads back
    // microseconds so it needs no date/time decoding feature.
    let ddl = format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (
            id bigint PRIMARY KEY,
            run_id text NOT NULL,
            scenario_id text NOT NULL,
            server text NOT NULL,
            cluster_name text NOT NULL,
            timeline bigint NOT NULL,
            server_time timestamptz NOT NULL
        )"
    );
    conn::bounded(t, c.client.batch_execute(&ddl))
        .await
        .ok_or_else(|| timeout("create the workload table"))?
        .map_err(|e| query_err("create the workload table", e))?;
    // An unnamed statement in one round trip: it works through a transaction pooler too
    // (see `WriteTarget::Pooled`).
    let row = conn::bounded(
        t,
        c.client.query_typed(
            &format!("SELECT coalesce(max(id), 0) + 1 FROM {TABLE}"),
            &[],
        ),
    )
    .await
    .ok_or_else(|| timeout("read the largest workload id"))?
    .map_err(|e| query_err("read the largest workload id", e))?;
    let Some(row) = row.first() else {
        return Ok(1);
    };
    row.try_get(0)
        .map_err(|e| query_err("read the largest workload id", e))
}

/// The insert: the server stamps the row with who it is, its timeline and its clock, and
/// says so in RETURNING, so the acknowledgement itself names the server that took the write.
fn insert_sql() -> String {
    format!(
        "INSERT INTO {TABLE} (id, run_id, scenario_id, server, cluster_name, timeline, server_time)
         VALUES ($1, $2, $3,
                 coalesce(host(inet_server_addr()) || ':' || inet_server_port(), 'local'),
                 current_setting('cluster_name'),
                 ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int,
                 clock_timestamp())
         RETURNING server, timeline, (extract(epoch FROM server_time) * 1000000)::bigint"
    )
}

/// The writer's state.
pub(super) struct Writer {
    pub(super) target: WriteTarget,
    pub(super) settings: ConnectionSettings,
    pub(super) run_id: String,
    pub(super) scenario_id: String,
    pub(super) next_id: i64,
    pub(super) period: Duration,
    pub(super) shared: Arc<Mutex<Shared>>,
    pub(super) stop: watch::Receiver<bool>,
}

/// Resolves once a stop is requested (or the workload is gone).
pub(super) async fn stopped(rx: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: stop as well.
    let _ = rx.wait_for(|s| *s).await;
}

impl Writer {
    /// Inserts at the configured rate until stopped.
    pub(super) async fn run(mut self) {
        let config = self.target.config(&self.settings);
        let bound = self.target.connect_bound(&self.settings);
        let sql = insert_sql();
        let mut interval = tokio::time::interval(self.period);
        // A late tick (slow insert, reconnect) is skipped, not made up for with a burst.
        interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let pooled = matches!(self.target, WriteTarget::Pooled(_));
        let mut session: Option<(Conn, Option<Statement>)> = None;
        loop {
            tokio::select! {
                biased;
                _ = stopped(&mut self.stop) => break,
                _ = interval.tick() => {}
            }
            let id = self.next_id;
            self.next_id += 1;
            let sent_at = Utc::now();

            // A connection known to be closed would fail before sending anything: that is a
            // definite failure of the reconnect, not an unknown commit.
            if session.as_ref().is_some_and(|(c, _)| c.client.is_closed()) {
                session = None;
            }
            let (c, stmt) = match session.take() {
                Some(s) => s,
                None => match self.open(&config, bound, &sql, pooled).await {
                    Ok(s) => s,
                    Err(error) => {
                        self.record(
                            id,
                            sent_at,
                            Outcome::Failed {
                                at: Utc::now(),
                                error,
                            },
                        );
                        if self.pause().await {
                            break;
                        }
                        continue;
                    }
                },
            };
            let t = self.settings.statement_timeout;
            let answer = match &stmt {
                Some(stmt) => {
                    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
                        [&id, &self.run_id, &self.scenario_id];
                    conn::bounded(t, c.client.query_opt(stmt, &params)).await
                }
                None => {
                    let insert = insert_unnamed(&c, &sql, id, &self.run_id, &self.scenario_id);
                    conn::bounded(t, insert).await
                }
            };
            let outcome = match answer {
                Some(Ok(Some(row))) => acknowledged(&row),
                // INSERT ... RETURNING always returns its row: without it nothing says
                // whether the write committed.
                Some(Ok(None)) => Outcome::Unknown {
                    at: Utc::now(),
                    error: "the insert returned no row".into(),
                },
                Some(Err(e)) if conn::is_definite_failure(&e) => Outcome::Failed {
                    at: Utc::now(),
                    error: conn::describe(&e),
                },
                Some(Err(e)) => Outcome::Unknown {
                    at: Utc::now(),
                    error: conn::describe(&e),
                },
                None => Outcome::Unknown {
                    at: Utc::now(),
                    error: format!("no answer within {t:?}"),
                },
            };
            let ok = outcome.is_acknowledged();
            self.record(id, sent_at, outcome);
            if ok {
                session = Some((c, stmt));
            } else {
                // Any error: drop the session (a read-only server or a dead socket will not
                // get better) and reconnect after a backoff, as an application would.
                drop(c);
                if self.pause().await {
                    break;
                }
            }
        }
    }

    /// Connects and, unless `pooled`, prepares the insert once for the session.
    async fn open(
        &self,
        config: &tokio_postgres::Config,
        bound: Duration,
        sql: &str,
        pooled: bool,
    ) -> Result<(Conn, Option<Statement>), String> {
        let c = conn::connect(config, &self.settings.tls, bound)
            .await
            .map_err(|e| e.describe())?;
        if pooled {
            return Ok((c, None));
        }
        let t = self.settings.statement_timeout;
        match conn::bounded(t, c.client.prepare(sql)).await {
            Some(Ok(stmt)) => Ok((c, Some(stmt))),
            Some(Err(e)) => Err(format!("prepare: {}", conn::describe(&e))),
            None => Err(format!("prepare: no answer within {t:?}")),
        }
    }

    fn record(&self, id: i64, sent_at: DateTime<Utc>, outcome: Outcome) {
        lock(&self.shared).record(LedgerEntry {
            id,
            sent_at,
            outcome,
        });
    }

    /// Waits the reconnect backoff; true when a stop was requested meanwhile.
    async fn pause(&mut self) -> bool {
        tokio::select! {
            biased;
            _ = stopped(&mut self.stop) => true,
            _ = tokio::time::sleep(backoff()) => false,
        }
    }
}

/// One insert as an unnamed statement (Parse, Bind, Execute, Sync in one round trip), for
/// a transaction pooler; its RETURNING row.
async fn insert_unnamed(
    c: &Conn,
    sql: &str,
    id: i64,
    run_id: &str,
    scenario_id: &str,
) -> Result<Option<tokio_postgres::Row>, tokio_postgres::Error> {
    use tokio_postgres::types::Type;
    let rows = c
        .client
        .query_typed(
            sql,
            &[
                (&id, Type::INT8),
                (&run_id, Type::TEXT),
                (&scenario_id, Type::TEXT),
            ],
        )
        .await?;
    Ok(rows.into_iter().next())
}

/// The acknowledgement, from the RETURNING row.
fn acknowledged(row: &tokio_postgres::Row) -> Outcome {
    let at = Utc::now();
    let decoded = (|| -> Result<(String, i64, i64), tokio_postgres::Error> {
        Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
    })();
    match decoded {
        Ok((server, timeline, micros)) => Outcome::Acknowledged {
            at,
            server,
            timeline: u64::try_from(timeline).unwrap_or(0),
            server_time: DateTime::from_timestamp_micros(micros).unwrap_or(at),
        },
        // The commit succeeded (the whole response arrived) but the stamp is unreadable: the
        // row exists, yet without knowing its server the entry cannot count as acknowledged.
        Err(e) => Outcome::Unknown {
            at,
            error: format!("committed, but the acknowledgement could not be decoded: {e}"),
        },
    }
}
