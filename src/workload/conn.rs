//! One bounded connection: every wait has a deadline, and dropping it never leaves a task
//! stuck on a dead socket.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_postgres::error::Severity;
use tokio_postgres::{Client, Config};

use crate::pg::Tls;

/// Time a dropped connection gets to say goodbye (Terminate) before its task is aborted.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// A client and the task driving its socket.
pub(super) struct Conn {
    pub(super) client: Client,
    task: Option<JoinHandle<()>>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        let Some(mut task) = self.task.take() else {
            return;
        };
        // The client is dropped after this, which asks the task to close the session
        // politely; a blackholed socket could keep it waiting forever, hence the grace bound.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    if tokio::time::timeout(CLOSE_GRACE, &mut task).await.is_err() {
                        task.abort();
                    }
                });
            }
            Err(_) => task.abort(),
        }
    }
}

/// Why a connection attempt failed.
pub(super) enum ConnectError {
    /// The client reported an error.
    Pg(tokio_postgres::Error),
    /// No answer in time.
    Timeout(Duration),
}

impl ConnectError {
    /// A short description for the ledger.
    pub(super) fn describe(&self) -> String {
        match self {
            ConnectError::Pg(e) => format!("connect: {}", describe(e)),
            ConnectError::Timeout(d) => format!("connect: no answer within {d:?}"),
        }
    }
}

/// Connects, bounded by `bound` as a whole (TCP, startup, authentication, and the
/// read-write probe of a multi-host target).
pub(super) async fn connect(
    config: &Config,
    tls: &Tls,
    bound: Duration,
) -> Result<Conn, ConnectError> {
    match tokio::time::timeout(bound, config.connect(tls.connector())).await {
        Err(_) => Err(ConnectError::Timeout(bound)),
        Ok(Err(e)) => Err(ConnectError::Pg(e)),
        Ok(Ok((client, connection))) => {
            let task = tokio::spawn(async move {
                // Errors surface to the client as a closed connection; nothing to do here.
                let _ = connection.await;
            });
            Ok(Conn {
                client,
                task: Some(task),
            })
        }
    }
}

/// Runs a client future with a deadline; `None` on timeout.
pub(super) async fn bounded<T>(
    bound: Duration,
    fut: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Option<Result<T, tokio_postgres::Error>> {
    tokio::time::timeout(bound, fut).await.ok()
}

/// Whether an error proves the statement did not commit: the server answered with an
/// ERROR, which aborts the transaction. A FATAL may follow a local commit (for example
/// a backend terminated while waiting for a synchronous standby), and a lost connection says
/// nothing, so neither is definite.
pub(super) fn is_definite_failure(e: &tokio_postgres::Error) -> bool {
    e.as_db_error()
        .is_some_and(|db| db.parsed_severity() == Some(Severity::Error))
}

/// The error with its causes, on one line.
pub(super) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {} ({})", db.severity(), db.message(), db.code().code()),
        None => {
            let mut out = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                let text = s.to_string();
                if !out.contains(&text) {
                    out.push_str(": ");
                    out.push_str(&text);
                }
                source = s.source();
            }
            out
        }
    }
}
