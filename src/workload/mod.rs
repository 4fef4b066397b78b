//! The workload: a writer keeping a ledger of acknowledged ids, a reader, and the integrity verdicts.
//!
//! The writer inserts rows with unique, increasing ids into [`TABLE`], one connection, at a fixed
//! rate, the way a well-behaved application does: on any error it drops its connection and
//! reconnects after a randomised 100–500 ms backoff. Every attempted id gets a [`LedgerEntry`]:
//! acknowledged (with the server and timeline that took it), failed (definitely not committed),
//! or unknown (the connection was lost while the commit was in flight).
//!
//! After recovery, [`verify`] reads the table on the leader and on each replica and
//! [`classify`] turns ledger + rows into a [`WorkloadResult`]: lost writes (acknowledged but
//! missing: data loss), unexpected rows, duplicates, the longest write outage, RTO, and split
//! brain evidence from the data itself.
//!
//! Only one workload may write into a cluster at a time: ids start after the largest id in
//! the table when the workload starts.

mod classify;
mod conn;
mod cost;
mod keyless;
mod ledger;
mod reader;
pub mod scratch;
mod staleness;
mod verify;
mod writer;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub(crate) use classify::classify;
pub use cost::{WriterCost, measure_writer_cost};
pub(crate) use keyless::writes_without_key;
pub use ledger::{Ledger, LedgerEntry, Outcome, Row};
pub use reader::DirectReader;
pub(crate) use reader::LagProbe;

pub(crate) use verify::server_names;
pub use verify::verify;

use crate::inventory::Postgres;
use crate::pg::Tls;
use crate::results::ReadStats;
use crate::scenario::WorkloadSpec;
use crate::secret::{Secret, SecretError};

/// The table the writer fills. Created on the leader when the workload starts.
pub(crate) const TABLE: &str = "pgchaos_workload";

/// A PostgreSQL server address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl Endpoint {
    /// An endpoint from host and port.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// How the writer, reader and verifier authenticate, and how long they wait.
#[derive(Clone, Debug)]
pub struct ConnectionSettings {
    /// User name.
    pub user: String,
    /// Database.
    pub database: String,
    /// Password (none: trust, or the server does not ask).
    pub password: Option<Secret>,
    /// Bound on establishing one connection (per host for a multi-host target).
    pub connect_timeout: Duration,
    /// Bound on one statement. A blackholed server yields an unknown outcome after this long
    /// instead of a hung writer.
    pub statement_timeout: Duration,
    /// `sslmode` and its TLS configuration.
    pub tls: Tls,
}

impl ConnectionSettings {
    /// Settings with 3 s connect and statement timeouts and no password.
    pub fn new(user: impl Into<String>, database: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            database: database.into(),
            password: None,
            connect_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(3),
            tls: Tls::default(),
        }
    }

    /// Settings from the inventory's `postgres` section (resolves the password and reads
    /// the root certificate file now).
    pub(crate) fn from_inventory(pg: &Postgres) -> Result<Self, WorkloadError> {
        let password = pg
            .password
            .as_ref()
            .map(|p| p.resolve())
            .transpose()
            .map_err(WorkloadError::Secret)?;
        Ok(Self {
            user: pg.user.clone(),
            database: pg.database.clone(),
            password,
            connect_timeout: pg.timeout.get(),
            statement_timeout: pg.timeout.get(),
            tls: Tls::from_inventory(pg).map_err(WorkloadError::Tls)?,
        })
    }

    /// A tokio-postgres configuration for one or several hosts.
    fn config(&self, hosts: &[Endpoint]) -> tokio_postgres::Config {
        let login = crate::pg::Login {
            user: &self.user,
            database: &self.database,
            password: self.password.as_ref(),
            tls: &self.tls,
            connect_timeout: self.connect_timeout,
            application_name: "pgchaos-workload",
        };
        let mut config = login.config(hosts.iter().map(|h| (h.host.as_str(), h.port)));
        // Lets the kernel give up on a blackholed peer too, not only our own timers.
        config.tcp_user_timeout(self.statement_timeout);
        config
    }
}

/// Where the writer sends its inserts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteTarget {
    /// One address, typically HAProxy's write port.
    Single(Endpoint),
    /// Several hosts tried in order with `target_session_attrs=read-write`, as libpq
    /// applications do: the first one that accepts writes wins.
    MultiHost(Vec<Endpoint>),
    /// A transaction pooler (PgBouncer with `pool_mode = transaction`): one address, and
    /// no named prepared statements. Between transactions such a pooler may hand the
    /// session to another server connection, where a statement prepared earlier does not
    /// exist; PgBouncer only tracks them from 1.21 (`max_prepared_statements`), and
    /// Debian 12 ships 1.18. So every insert is parsed, bound and executed as one unnamed
    /// statement in one round trip (tokio-postgres `query_typed`), as applications are
    /// told to do behind such a pooler (PgBouncer docs, features.html, "SQL feature map
    /// for pooling modes").
    Pooled(Endpoint),
}

impl WriteTarget {
    fn hosts(&self) -> &[Endpoint] {
        match self {
            WriteTarget::Single(e) | WriteTarget::Pooled(e) => std::slice::from_ref(e),
            WriteTarget::MultiHost(v) => v,
        }
    }

    fn config(&self, settings: &ConnectionSettings) -> tokio_postgres::Config {
        let mut config = settings.config(self.hosts());
        if matches!(self, WriteTarget::MultiHost(_)) {
            config.target_session_attrs(tokio_postgres::config::TargetSessionAttrs::ReadWrite);
        }
        config
    }

    /// Bound on one connection attempt: libpq's connect_timeout applies per host, plus the
    /// read-write probe for a multi-host target.
    fn connect_bound(&self, settings: &ConnectionSettings) -> Duration {
        match self {
            WriteTarget::Single(_) | WriteTarget::Pooled(_) => settings.connect_timeout,
            WriteTarget::MultiHost(v) => {
                settings.connect_timeout * u32::try_from(v.len().max(1)).unwrap_or(u32::MAX)
                    + settings.statement_timeout
            }
        }
    }
}

impl fmt::Display for WriteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteTarget::Single(e) => write!(f, "{e}"),
            WriteTarget::Pooled(e) => write!(f, "{e} (transaction pooler)"),
            WriteTarget::MultiHost(v) => {
                let hosts: Vec<String> = v.iter().map(|e| e.to_string()).collect();
                write!(f, "{} (read-write)", hosts.join(","))
            }
        }
    }
}

/// Why the workload could not start or be verified.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// Connecting failed.
    #[error("failed to connect to {target}")]
    Connect {
        /// Where.
        target: String,
        /// The client error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A statement failed.
    #[error("failed to {what} on {target}")]
    Query {
        /// What was being done.
        what: &'static str,
        /// Where.
        target: String,
        /// The client error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A connection or statement did not finish in time.
    #[error("failed to {what} on {target}: no answer within {timeout:?}")]
    Timeout {
        /// What was being done.
        what: &'static str,
        /// Where.
        target: String,
        /// The bound.
        timeout: Duration,
    },
    /// The spec asks for a reader but no read port was given.
    #[error("failed to start the reader: the workload has a reader but no read port is known")]
    NoReadPort,
    /// A rate of zero.
    #[error("failed to start the workload: a rate must be at least 1 per second")]
    ZeroRate,
    /// Verification needs at least the leader.
    #[error("failed to verify the workload: no node to read the table from")]
    NoNodes,
    /// The TLS settings are unusable.
    #[error("failed to configure the workload's TLS")]
    Tls(#[source] crate::pg::TlsError),
    /// The password could not be read.
    #[error("failed to read the database password")]
    Secret(#[source] SecretError),
    /// A local command (test servers) failed.
    #[error("failed to {what}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Counters of a running workload, for progress display and for tests that wait on them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Ids attempted.
    pub attempted: u64,
    /// Acknowledged.
    pub acknowledged: u64,
    /// Failed before commit.
    pub failed: u64,
    /// Outcome unknown.
    pub unknown: u64,
    /// The last acknowledged write: client time and server.
    pub last_ack: Option<(DateTime<Utc>, String)>,
}

/// Reads a running workload's counters from elsewhere (see [`Workload::progress_handle`]).
#[derive(Clone, Debug)]
pub(crate) struct ProgressHandle(Arc<Mutex<Shared>>);

impl ProgressHandle {
    /// Counters now.
    pub(crate) fn get(&self) -> Progress {
        lock(&self.0).progress.clone()
    }
}

/// State the writer task shares with [`Workload`]: the ledger survives even if the task dies.
#[derive(Debug, Default)]
struct Shared {
    entries: Vec<LedgerEntry>,
    progress: Progress,
}

impl Shared {
    fn record(&mut self, entry: LedgerEntry) {
        let p = &mut self.progress;
        p.attempted += 1;
        match &entry.outcome {
            Outcome::Acknowledged { at, server, .. } => {
                p.acknowledged += 1;
                p.last_ack = Some((*at, server.clone()));
            }
            Outcome::Failed { .. } => p.failed += 1,
            Outcome::Unknown { .. } => p.unknown += 1,
        }
        self.entries.push(entry);
    }
}

/// Locks, recovering the data if a task panicked while holding the lock (the ledger is
/// append-only, so it is consistent at every point).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running workload. Dropping it without [`Workload::stop`] aborts its tasks.
#[derive(Debug)]
pub struct Workload {
    run_id: String,
    scenario_id: String,
    target: String,
    started_at: DateTime<Utc>,
    first_id: i64,
    shared: Arc<Mutex<Shared>>,
    reads: Arc<Mutex<ReadStats>>,
    stop: watch::Sender<bool>,
    writer: Option<JoinHandle<()>>,
    readers: Vec<JoinHandle<()>>,
}

impl Workload {
    /// Creates [`TABLE`] if needed through the write target, then starts the writer (and the
    /// reader when the spec has one).
    ///
    /// `spec.writer.via` is the caller's business: it chose `target` accordingly.
    pub async fn start(
        spec: &WorkloadSpec,
        target: WriteTarget,
        read_port: Option<Endpoint>,
        settings: ConnectionSettings,
        run_id: &str,
        scenario_id: &str,
    ) -> Result<Workload, WorkloadError> {
        Self::start_with_direct(
            spec,
            target,
            read_port,
            Vec::new(),
            settings,
            run_id,
            scenario_id,
        )
        .await
    }

    /// [`Workload::start`], with a reader on each of `direct` as well (when the spec has
    /// a reader): `reader: {replicas: true}`.
    pub async fn start_with_direct(
        spec: &WorkloadSpec,
        target: WriteTarget,
        read_port: Option<Endpoint>,
        direct: Vec<DirectReader>,
        settings: ConnectionSettings,
        run_id: &str,
        scenario_id: &str,
    ) -> Result<Workload, WorkloadError> {
        if spec.writer.as_ref().is_some_and(|w| w.rate == 0)
            || spec.reader.as_ref().is_some_and(|r| r.rate == 0)
        {
            return Err(WorkloadError::ZeroRate);
        }
        if spec.reader.is_some() && read_port.is_none() {
            return Err(WorkloadError::NoReadPort);
        }
        let shared = Arc::new(Mutex::new(Shared::default()));
        let reads = Arc::new(Mutex::new(ReadStats::default()));
        let (stop, stop_rx) = watch::channel(false);

        let first_id = match &spec.writer {
            Some(_) => writer::prepare_table(&target, &settings).await?,
            None => 1,
        };
        // The writer waits for one insert as long as the scenario says its application
        // would (a query queued in a paused PgBouncer is late, not failed).
        let writer_settings = match spec.writer.as_ref().and_then(|w| w.timeout) {
            Some(t) => ConnectionSettings {
                statement_timeout: t.get(),
                ..settings.clone()
            },
            None => settings.clone(),
        };
        // Before the tasks start, so no acknowledgement predates the start of the ledger.
        let started_at = Utc::now();
        let writer = match &spec.writer {
            Some(w) => {
                let task = writer::Writer {
                    target: target.clone(),
                    settings: writer_settings,
                    run_id: run_id.to_owned(),
                    scenario_id: scenario_id.to_owned(),
                    next_id: first_id,
                    period: Duration::from_secs(1) / w.rate,
                    shared: Arc::clone(&shared),
                    stop: stop_rx.clone(),
                };
                Some(tokio::spawn(task.run()))
            }
            None => None,
        };
        let mut readers = Vec::new();
        if let (Some(r), Some(port)) = (&spec.reader, read_port) {
            // Reads are judged against the ledger only when there is a writer to fill it.
            let reader = |endpoint, direct, lag_probe| reader::Reader {
                endpoint,
                settings: settings.clone(),
                period: Duration::from_secs(1) / r.rate,
                stats: Arc::clone(&reads),
                direct,
                ledger: spec.writer.as_ref().map(|_| reader::LedgerView {
                    shared: Arc::clone(&shared),
                    first_id,
                }),
                lag_probe,
                stop: stop_rx.clone(),
            };
            readers.push(tokio::spawn(reader(port, None, None).run()));
            for d in direct {
                let task = reader(d.endpoint, Some(d.node), d.lag_probe);
                readers.push(tokio::spawn(task.run()));
            }
        }
        Ok(Workload {
            run_id: run_id.to_owned(),
            scenario_id: scenario_id.to_owned(),
            target: target.to_string(),
            started_at,
            first_id,
            shared,
            reads,
            stop,
            writer,
            readers,
        })
    }

    /// Counters so far.
    pub fn progress(&self) -> Progress {
        lock(&self.shared).progress.clone()
    }

    /// A handle that reads the counters while the workload runs (a live status line).
    pub(crate) fn progress_handle(&self) -> ProgressHandle {
        ProgressHandle(self.shared.clone())
    }

    /// Stops writing and reading (an insert in flight completes or times out first) and
    /// returns the ledger.
    pub async fn stop(mut self) -> Ledger {
        // Receivers may already be gone if a task ended; nothing to signal then.
        let _ = self.stop.send(true);
        if let Some(w) = self.writer.take() {
            // A panicked writer still left its entries in the shared ledger.
            let _ = w.await;
        }
        let readers = std::mem::take(&mut self.readers);
        let reads = if readers.is_empty() {
            None
        } else {
            for r in readers {
                let _ = r.await;
            }
            Some(lock(&self.reads).clone())
        };
        let entries = std::mem::take(&mut lock(&self.shared).entries);
        Ledger {
            run_id: self.run_id.clone(),
            scenario_id: self.scenario_id.clone(),
            target: self.target.clone(),
            first_id: self.first_id,
            started_at: self.started_at,
            stopped_at: Utc::now(),
            entries,
            reads,
        }
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        if let Some(w) = &self.writer {
            w.abort();
        }
        for r in &self.readers {
            r.abort();
        }
    }
}

/// A 100–500 ms delay, different for each call: an application's reconnect backoff.
fn backoff() -> Duration {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded randomly per instance; enough jitter without a rand dependency.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    Duration::from_millis(100 + h.finish() % 401)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_within_bounds() {
        for _ in 0..1000 {
            let b = backoff();
            assert!(b >= Duration::from_millis(100) && b <= Duration::from_millis(500));
        }
    }

    #[test]
    fn endpoint_display_brackets_ipv6() {
        assert_eq!(Endpoint::new("::1", 5432).to_string(), "[::1]:5432");
        assert_eq!(Endpoint::new("10.0.0.1", 5000).to_string(), "10.0.0.1:5000");
    }

    #[test]
    fn settings_debug_hides_password() {
        let mut s = ConnectionSettings::new("u", "d");
        s.password = Some(Secret::new("hunter2"));
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn require_tls_is_honoured_not_downgraded() {
        let pg = Postgres {
            sslmode: crate::inventory::SslMode::Require,
            ..Postgres::default()
        };
        let s = ConnectionSettings::from_inventory(&pg).expect("require needs no file");
        let cfg = s.config(&[Endpoint::new("10.0.0.1", 5432)]);
        assert_eq!(cfg.get_ssl_mode(), tokio_postgres::config::SslMode::Require);
    }
}
