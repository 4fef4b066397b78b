//! The SQL samplers: over TCP with a persistent connection, and over SSH through the
//! node's local socket when TCP fails.
//!
//! Patroni's view is not enough to judge split brain: a node that pgchaos cannot reach
//! may still accept writes from clients that can. So every node is asked directly
//! whether it is in recovery, and when TCP is cut the same question goes over SSH.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use tokio::task::JoinHandle;

use super::lsn::{lsn_to_u64, parse_timeline, timeline_from_walfile};
use super::{Sample, Timeline};
use crate::inventory::{Inventory, Node, Ops};
use crate::pg::{SetupError, Tls};
use crate::results::{Observation, ObservationSource};
use crate::secret::Secret;
use crate::transport::{Transport, shell_quote};

/// The one query both samplers run.
///
/// Columns: in recovery; the replay position on a replica or the current write position
/// on a primary; on a primary the current WAL file name (its first 8 hex digits are the
/// timeline, exact from the instant of promotion, unlike the checkpoint's timeline); on a
/// replica the timeline it receives, or the last checkpoint's when no receiver runs.
/// Every function is guarded by the recovery test because `pg_current_wal_lsn()` and
/// `pg_walfile_name()` raise errors during recovery. No quotes: it travels through a
/// shell for the SSH fallback.
pub(crate) const PROBE_QUERY: &str = "select pg_is_in_recovery(), \
(case when pg_is_in_recovery() then pg_last_wal_replay_lsn() else pg_current_wal_lsn() end)::text, \
case when pg_is_in_recovery() then null else pg_walfile_name(pg_current_wal_lsn()) end, \
case when pg_is_in_recovery() then coalesce((select received_tli from pg_stat_wal_receiver limit 1), \
(pg_control_checkpoint()).timeline_id) end";

/// PostgreSQL connection settings of the SQL samplers.
#[derive(Clone, Debug)]
pub struct PgSettings {
    /// User name.
    pub user: String,
    /// Database.
    pub database: String,
    /// Password, if any (trust/peer otherwise).
    pub password: Option<Secret>,
    /// TCP port.
    pub port: u16,
    /// Bound on connecting and on each query.
    pub timeout: Duration,
    /// `sslmode` and its TLS configuration.
    pub tls: Tls,
}

impl Default for PgSettings {
    fn default() -> Self {
        Self {
            user: "postgres".into(),
            database: "postgres".into(),
            password: None,
            port: 5432,
            timeout: Duration::from_secs(2),
            tls: Tls::default(),
        }
    }
}

impl PgSettings {
    /// The samplers' connection recipe.
    fn login(&self) -> crate::pg::Login<'_> {
        crate::pg::Login {
            user: &self.user,
            database: &self.database,
            password: self.password.as_ref(),
            tls: &self.tls,
            connect_timeout: self.timeout,
            application_name: "pgchaos-observer",
        }
    }

    /// The settings of the inventory's `cluster.postgres` section; reads the password now.
    pub fn from_inventory(inv: &Inventory) -> Result<Self, SetupError> {
        let p = &inv.cluster.postgres;
        Ok(Self {
            user: p.user.clone(),
            database: p.database.clone(),
            password: p.password.as_ref().map(|r| r.resolve()).transpose()?,
            port: p.port,
            timeout: p.timeout.get(),
            tls: Tls::from_inventory(p)?,
        })
    }
}

/// What the probe query returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SqlReading {
    /// `pg_is_in_recovery()`.
    pub in_recovery: bool,
    /// WAL position in bytes (replay position on a replica).
    pub lsn: Option<u64>,
    /// Timeline.
    pub timeline: Option<u64>,
}

impl SqlReading {
    fn into_observation(self, node: &str, source: ObservationSource) -> Observation {
        Observation {
            at: Utc::now(),
            node: node.to_owned(),
            source,
            reachable: true,
            in_recovery: Some(self.in_recovery),
            lsn: self.lsn,
            timeline: self.timeline,
            ..Default::default()
        }
    }
}

fn unreachable(node: &str, source: ObservationSource, error: String) -> Sample {
    Sample {
        observation: Observation {
            at: Utc::now(),
            node: node.to_owned(),
            source,
            reachable: false,
            error: Some(error),
            ..Default::default()
        },
        members: None,
        cluster_json: None,
    }
}

fn reading_sample(node: &str, source: ObservationSource, r: SqlReading) -> Sample {
    Sample {
        observation: r.into_observation(node, source),
        members: None,
        cluster_json: None,
    }
}

/// A persistent connection; dropping it stops its driver task.
struct Conn {
    client: tokio_postgres::Client,
    /// [`PROBE_QUERY`], prepared once per connection: every sample is then one round trip
    /// (bind and execute) instead of two (parse and describe first).
    probe: Option<tokio_postgres::Statement>,
    driver: JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

async fn connect(host: &str, pg: &PgSettings) -> Result<Conn, String> {
    let mut cfg = pg.login().config([(host, pg.port)]);
    cfg.keepalives(true).keepalives_idle(Duration::from_secs(5));
    let fut = cfg.connect(pg.tls.connector());
    let (client, connection) = tokio::time::timeout(pg.timeout, fut)
        .await
        .map_err(|_| format!("connect timeout after {:?}", pg.timeout))?
        .map_err(|e| pg_error(&e))?;
    let driver = tokio::spawn(async move {
        // The connection ends with an error when the server goes away; the next query
        // then fails and the sampler reconnects, so the error itself is not needed here.
        let _ = connection.await;
    });
    Ok(Conn {
        client,
        probe: None,
        driver,
    })
}

async fn query(conn: &mut Conn, timeout: Duration) -> Result<SqlReading, String> {
    let fut = async {
        if conn.probe.is_none() {
            conn.probe = Some(conn.client.prepare(PROBE_QUERY).await?);
        }
        let stmt = conn.probe.as_ref().expect("just prepared");
        conn.client.query_one(stmt, &[]).await
    };
    let row = tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| format!("query timeout after {timeout:?}"))?
        .map_err(|e| pg_error(&e))?;
    let in_recovery: bool = row.try_get(0).map_err(|e| pg_error(&e))?;
    let lsn: Option<String> = row.try_get(1).map_err(|e| pg_error(&e))?;
    let walfile: Option<String> = row.try_get(2).map_err(|e| pg_error(&e))?;
    let tli: Option<i32> = row.try_get(3).map_err(|e| pg_error(&e))?;
    Ok(SqlReading {
        in_recovery,
        lsn: lsn.as_deref().and_then(lsn_to_u64),
        timeline: walfile
            .as_deref()
            .and_then(timeline_from_walfile)
            .or_else(|| tli.and_then(|t| u64::try_from(t).ok()).filter(|t| *t > 0)),
    })
}

/// One probe over TCP, reusing `conn` and replacing it when it is broken.
async fn probe_tcp(
    conn: &mut Option<Conn>,
    host: &str,
    pg: &PgSettings,
) -> Result<SqlReading, String> {
    if conn.is_none() {
        *conn = Some(connect(host, pg).await?);
    }
    let c = conn.as_mut().expect("just connected");
    match query(c, pg.timeout).await {
        Ok(r) => Ok(r),
        Err(e) => {
            // Whatever failed (timeout, closed, server error), a fresh connection is the
            // only state we can trust next tick.
            *conn = None;
            Err(e)
        }
    }
}

/// Runs the probe query once against `host` over TCP with a fresh connection (preflight,
/// SQL steps that want the same facts).
pub async fn probe_once(host: &str, pg: &PgSettings) -> Result<SqlReading, String> {
    let mut conn = None;
    probe_tcp(&mut conn, host, pg).await
}

/// Samples `node` over TCP until aborted; sets `tcp_failing` while the last probe failed.
pub(crate) async fn run_tcp(
    node: Node,
    pg: Arc<PgSettings>,
    timeline: Timeline,
    interval: Duration,
    tcp_failing: Arc<AtomicBool>,
) {
    // Ticks on the clock every sampler shares, so one wake-up serves them all.
    let mut ticker = super::rest::aligned_interval(interval);
    let mut conn: Option<Conn> = None;
    let mut backoff = super::rest::Backoff::default();
    loop {
        ticker.tick().await;
        if !backoff.ready() {
            continue;
        }
        // Stamped with when the node was asked, not when it answered: the split-brain
        // check compares instants across nodes, and a slow answer still describes the
        // moment the query started.
        let asked = Utc::now();
        let mut sample = match probe_tcp(&mut conn, &node.host, &pg).await {
            Ok(r) => {
                tcp_failing.store(false, Ordering::Relaxed);
                backoff.answered();
                reading_sample(&node.name, ObservationSource::Sql, r)
            }
            Err(e) => {
                tcp_failing.store(true, Ordering::Relaxed);
                // Nothing listens on the port (the SSH fallback still asks the node over
                // its local socket every second, unaffected).
                if conn.is_none() && is_refusal(&e) {
                    backoff.refused(interval);
                } else {
                    backoff.answered();
                }
                unreachable(&node.name, ObservationSource::Sql, e)
            }
        };
        sample.observation.at = asked;
        timeline.push(sample);
    }
}

/// Whether a connect failure is a refusal (nothing listens on the port). The message is
/// `pg_error`'s, which ends with the io error's text: Rust prints `strerror` untranslated
/// with its number, and ECONNREFUSED is 111 on Linux.
fn is_refusal(message: &str) -> bool {
    message.contains("(os error 111)")
}

/// The command that runs the probe through the node's local socket.
///
/// As root it switches to the PostgreSQL OS user (peer authentication on the socket);
/// when the SSH user is not root (and not wrapped in sudo) it runs psql as itself.
pub(crate) fn ssh_probe_command(ops: &Ops, pg: &PgSettings) -> String {
    // A connect timeout: against a SIGSTOPped PostgreSQL, psql would otherwise wait for
    // ever on the socket (the transport also bounds the whole command on the node).
    let psql = format!(
        "env PGCONNECT_TIMEOUT=3 psql -h {} -p {} -d {} -XAtq -v ON_ERROR_STOP=1 -c {}",
        shell_quote(&ops.socket_dir),
        pg.port,
        shell_quote(&pg.database),
        shell_quote(PROBE_QUERY),
    );
    format!(
        "if [ \"$(id -u)\" = 0 ]; then runuser -u {} -- {psql}; else {psql}; fi",
        shell_quote(&ops.postgres_user),
    )
}

/// Parses psql's unaligned, tuples-only output of [`PROBE_QUERY`] (`t|0/3000060|0000...|`).
pub(crate) fn parse_psql_row(out: &str) -> Result<SqlReading, String> {
    let line = out
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .ok_or_else(|| "psql printed nothing".to_owned())?;
    let cols: Vec<&str> = line.split('|').collect();
    if cols.len() != 4 {
        return Err(format!("unexpected psql output: {}", short(line)));
    }
    let in_recovery = match cols[0] {
        "t" => true,
        "f" => false,
        other => return Err(format!("unexpected pg_is_in_recovery value {other:?}")),
    };
    Ok(SqlReading {
        in_recovery,
        lsn: lsn_to_u64(cols[1]),
        timeline: timeline_from_walfile(cols[2]).or_else(|| parse_timeline(cols[3])),
    })
}

/// Samples `node` over SSH every `period` while `tcp_failing` is set, until aborted.
///
/// A separate task with its own, slower pace: an SSH round trip costs more than a query,
/// and a slow SSH answer must not hold back the TCP sampler that may recover meanwhile.
pub(crate) async fn run_ssh(
    node: Node,
    ops: Ops,
    pg: Arc<PgSettings>,
    transport: Arc<Transport>,
    timeline: Timeline,
    period: Duration,
    tcp_failing: Arc<AtomicBool>,
) {
    let mut ticker = super::rest::aligned_interval(period);
    let cmd = ssh_probe_command(&ops, &pg);
    let timeout = pg.timeout.max(Duration::from_secs(3));
    loop {
        ticker.tick().await;
        if !tcp_failing.load(Ordering::Relaxed) {
            continue;
        }
        let asked = Utc::now();
        let mut sample = match transport.run_with_timeout(&node.name, &cmd, timeout).await {
            Ok(out) if out.success() => match parse_psql_row(&out.stdout) {
                Ok(r) => reading_sample(&node.name, ObservationSource::SqlSsh, r),
                Err(e) => unreachable(&node.name, ObservationSource::SqlSsh, e),
            },
            Ok(out) => unreachable(
                &node.name,
                ObservationSource::SqlSsh,
                format!(
                    "psql over SSH exited with {}: {}",
                    out.status.map_or("a signal".to_owned(), |s| s.to_string()),
                    short(out.stderr.trim())
                ),
            ),
            Err(e) => unreachable(&node.name, ObservationSource::SqlSsh, short(&e.to_string())),
        };
        sample.observation.at = asked;
        timeline.push(sample);
    }
}

/// A tokio-postgres error with its cause, on one line: its `Display` alone says only
/// "error connecting to server".
fn pg_error(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    let mut s = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    short(&s)
}

fn short(s: &str) -> String {
    let first = s.lines().next().unwrap_or_default();
    if first.len() <= 200 {
        return first.to_owned();
    }
    let mut end = 200;
    while !first.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &first[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_primary_and_replica_rows() {
        let p = parse_psql_row("f|0/3000060|000000020000000000000003|\n").unwrap();
        assert_eq!(
            p,
            SqlReading {
                in_recovery: false,
                lsn: Some(0x0300_0060),
                timeline: Some(2)
            }
        );
        let r = parse_psql_row("t|0/3000060||3\n").unwrap();
        assert!(r.in_recovery);
        assert_eq!(r.timeline, Some(3));
        let r = parse_psql_row("t|||\n").unwrap();
        assert_eq!(r.lsn, None);
        assert_eq!(r.timeline, None);
    }

    #[test]
    fn refuses_odd_output() {
        assert!(parse_psql_row("").is_err());
        assert!(parse_psql_row("psql: error: connection refused").is_err());
        assert!(parse_psql_row("x|0/1||1").is_err());
    }

    #[test]
    fn ssh_command_switches_user_and_quotes() {
        let inv: Inventory = crate::inventory::parse(
            std::path::Path::new("t.yml"),
            "cluster: {scope: demo}\noperations: {socket_dir: /run/pg sock}\nnodes: [{name: a, host: h, roles: [patroni]}]\n",
        )
        .unwrap()
        .inventory;
        let ops = inv.ops_for(&inv.nodes[0]);
        let cmd = ssh_probe_command(&ops, &PgSettings::default());
        assert!(cmd.contains(
            "runuser -u postgres -- env PGCONNECT_TIMEOUT=3 psql -h '/run/pg sock' -p 5432 -d postgres"
        ));
        assert!(cmd.contains("'select pg_is_in_recovery()"));
        assert!(!PROBE_QUERY.contains('\''));
    }
}
