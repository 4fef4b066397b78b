//! Reading the table back after recovery.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tokio_postgres::error::SqlState;

use super::conn::{self, Conn};
use super::{ConnectionSettings, Endpoint, Ledger, Outcome, Row, TABLE, WorkloadError, classify};
use crate::results::{ReplicaCheck, WorkloadResult};

/// How long [`verify`] waits for a replica to replay the leader's WAL position before
/// reading it anyway (and reporting it as not caught up).
pub(crate) const CATCH_UP_DEADLINE: Duration = Duration::from_secs(30);

/// Interval between two catch-up checks on a replica.
const CATCH_UP_POLL: Duration = Duration::from_millis(100);

/// Reads the table on every node and classifies the ledger (see [`classify`]).
///
/// A server that stamped rows as `address:port` equal to one of `nodes`' endpoints is
/// reported under that node's name (an inventory that lists nodes by IP gets names in the
/// report; others keep the address).
///
/// `nodes[0]` is the reference: the leader after recovery. Every other node is a replica:
/// it is read once it has replayed the leader's current WAL position (or after
/// [`CATCH_UP_DEADLINE`]); a replica that cannot be read is reported in
/// `WorkloadResult::replicas` with its error, while an unreadable leader is an error.
pub async fn verify(
    ledger: &Ledger,
    nodes: &[(String, Endpoint)],
    settings: &ConnectionSettings,
    fault_at: Option<DateTime<Utc>>,
) -> Result<WorkloadResult, WorkloadError> {
    let ((leader, leader_ep), replicas) = nodes.split_first().ok_or(WorkloadError::NoNodes)?;
    let c = connect(leader_ep, settings).await?;
    let leader_rows = rows(&c, leader_ep, settings, ledger).await?;
    let lsn: String = query_one(
        &c,
        leader_ep,
        settings,
        "read the leader's WAL position",
        "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
         ELSE pg_current_wal_lsn() END)::text",
        &[],
    )
    .await?
    .try_get(0)
    .map_err(|source| WorkloadError::Query {
        what: "read the leader's WAL position",
        target: leader_ep.to_string(),
        source,
    })?;
    drop(c);

    let mut rows_by_node = BTreeMap::new();
    rows_by_node.insert(leader.clone(), leader_rows);
    let mut status: BTreeMap<String, (Option<bool>, Option<String>)> = BTreeMap::new();
    for (name, ep) in replicas {
        match read_replica(ep, settings, ledger, &lsn).await {
            Ok((rows, caught_up)) => {
                rows_by_node.insert(name.clone(), rows);
                status.insert(name.clone(), (caught_up, None));
            }
            Err(e) => {
                status.insert(name.clone(), (None, Some(error_chain(&e))));
            }
        }
    }

    let names = server_names(nodes);
    let mut named = ledger.clone();
    names.rename_entries(&mut named.entries);
    for rows in rows_by_node.values_mut() {
        for row in rows.iter_mut() {
            names.rename(&mut row.server);
        }
    }
    let mut result = classify(&named, leader, &rows_by_node, fault_at);
    for check in &mut result.replicas {
        if let Some((caught_up, _)) = status.get(&check.node) {
            check.caught_up = *caught_up;
        }
    }
    for (node, (_, error)) in status {
        if error.is_some() {
            result.replicas.push(ReplicaCheck {
                node,
                error,
                ..ReplicaCheck::default()
            });
        }
    }
    Ok(result)
}

/// Node names by the `address:port` a server sees itself on.
pub(crate) struct ServerNames(BTreeMap<String, String>);

/// Servers are reported by node name where the address the server saw itself on is a
/// node's (an inventory that lists nodes by IP gets names in the report; others keep the
/// address).
pub(crate) fn server_names(nodes: &[(String, Endpoint)]) -> ServerNames {
    ServerNames(
        nodes
            .iter()
            .map(|(name, ep)| (format!("{}:{}", ep.host, ep.port), name.clone()))
            .collect(),
    )
}

impl ServerNames {
    fn rename(&self, server: &mut String) {
        if let Some(name) = self.0.get(server.as_str()) {
            server.clone_from(name);
        }
    }

    /// Renames the server of every acknowledged entry.
    pub(crate) fn rename_entries(&self, entries: &mut [super::LedgerEntry]) {
        for e in entries {
            if let Outcome::Acknowledged { server, .. } = &mut e.outcome {
                self.rename(server);
            }
        }
    }
}

async fn read_replica(
    ep: &Endpoint,
    settings: &ConnectionSettings,
    ledger: &Ledger,
    lsn: &str,
) -> Result<(Vec<Row>, Option<bool>), WorkloadError> {
    let c = connect(ep, settings).await?;
    let deadline = Instant::now() + CATCH_UP_DEADLINE;
    let caught_up = loop {
        let row = query_one(
            &c,
            ep,
            settings,
            "check replay progress",
            "SELECT pg_is_in_recovery(), \
             coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, false)",
            &[&lsn],
        )
        .await?;
        let decode = |source| WorkloadError::Query {
            what: "check replay progress",
            target: ep.to_string(),
            source,
        };
        let in_recovery: bool = row.try_get(0).map_err(decode)?;
        let replayed: bool = row.try_get(1).map_err(decode)?;
        if !in_recovery {
            // Not a replica (a diverged primary, a stand-alone server): nothing to wait for.
            break None;
        }
        if replayed {
            break Some(true);
        }
        if Instant::now() >= deadline {
            break Some(false);
        }
        tokio::time::sleep(CATCH_UP_POLL).await;
    };
    Ok((rows(&c, ep, settings, ledger).await?, caught_up))
}

async fn connect(ep: &Endpoint, settings: &ConnectionSettings) -> Result<Conn, WorkloadError> {
    let config = settings.config(std::slice::from_ref(ep));
    conn::connect(&config, &settings.tls, settings.connect_timeout)
        .await
        .map_err(|e| match e {
            conn::ConnectError::Pg(source) => WorkloadError::Connect {
                target: ep.to_string(),
                source,
            },
            conn::ConnectError::Timeout(timeout) => WorkloadError::Timeout {
                what: "connect",
                target: ep.to_string(),
                timeout,
            },
        })
}

async fn query_one(
    c: &Conn,
    ep: &Endpoint,
    settings: &ConnectionSettings,
    what: &'static str,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<tokio_postgres::Row, WorkloadError> {
    conn::bounded(settings.statement_timeout, c.client.query_one(sql, params))
        .await
        .ok_or_else(|| WorkloadError::Timeout {
            what,
            target: ep.to_string(),
            timeout: settings.statement_timeout,
        })?
        .map_err(|source| WorkloadError::Query {
            what,
            target: ep.to_string(),
            source,
        })
}

async fn rows(
    c: &Conn,
    ep: &Endpoint,
    settings: &ConnectionSettings,
    ledger: &Ledger,
) -> Result<Vec<Row>, WorkloadError> {
    const WHAT: &str = "read the workload table";
    let err = |source| WorkloadError::Query {
        what: WHAT,
        target: ep.to_string(),
        source,
    };
    let sql = format!(
        "SELECT id, server, timeline, (extract(epoch FROM server_time) * 1000000)::bigint
         FROM {TABLE} WHERE run_id = $1 AND scenario_id = $2 ORDER BY id"
    );
    // Reading a large table can take longer than one observation query.
    let bound = settings.statement_timeout.max(Duration::from_secs(10));
    let found = conn::bounded(
        bound,
        c.client.query(&sql, &[&ledger.run_id, &ledger.scenario_id]),
    )
    .await
    .ok_or_else(|| WorkloadError::Timeout {
        what: WHAT,
        target: ep.to_string(),
        timeout: bound,
    })?;
    let found = match found {
        Ok(rows) => rows,
        // No table: nothing of the workload reached this node.
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => return Ok(Vec::new()),
        Err(e) => return Err(err(e)),
    };
    found
        .iter()
        .map(|r| {
            let micros: i64 = r.try_get(3)?;
            let timeline: i64 = r.try_get(2)?;
            Ok(Row {
                id: r.try_get(0)?,
                server: r.try_get(1)?,
                timeline: u64::try_from(timeline).unwrap_or(0),
                server_time: DateTime::from_timestamp_micros(micros).unwrap_or_default(),
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(err)
}

/// An error and its causes on one line (no secrets: client errors never carry passwords).
fn error_chain(e: &WorkloadError) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
