//! How pgchaos connects to PostgreSQL: the credentials and TLS shared by every connection
//! of a run ([`Credentials`], [`Tls`]), and short-lived connections for SQL steps and
//! probes, always bounded in time.

mod tls;

use std::time::Duration;

pub use tls::{Tls, TlsError};

use crate::inventory::Inventory;
use crate::secret::{Secret, SecretError};

/// Why the connection settings of the inventory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The password could not be read.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The TLS settings are unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// How to log in, shared by every connection of a run.
#[derive(Clone, Debug)]
pub(crate) struct Credentials {
    /// User.
    pub user: String,
    /// Database.
    pub database: String,
    /// Password, if any.
    pub password: Option<Secret>,
    /// Connect and query timeout.
    pub timeout: Duration,
    /// `sslmode` and its TLS configuration.
    pub tls: Tls,
}

impl Credentials {
    /// From the inventory (the password reference is resolved by the caller); reads the
    /// root certificate file the TLS settings name.
    pub(crate) fn new(inv: &Inventory, password: Option<Secret>) -> Result<Self, TlsError> {
        let p = &inv.cluster.postgres;
        Ok(Self {
            user: p.user.clone(),
            database: p.database.clone(),
            password,
            timeout: p.timeout.get().max(Duration::from_secs(2)),
            tls: Tls::from_inventory(p)?,
        })
    }

    /// The connection recipe of these credentials, shown as `application_name`.
    pub(crate) fn login<'a>(&'a self, application_name: &'a str) -> Login<'a> {
        Login {
            user: &self.user,
            database: &self.database,
            password: self.password.as_ref(),
            tls: &self.tls,
            connect_timeout: self.timeout,
            application_name,
        }
    }
}

/// The one PostgreSQL connection recipe: who logs in to which database, with which
/// password and `sslmode`, how long connecting may take, and the name the connection
/// shows in `pg_stat_activity`. Every connection pgchaos opens is configured by
/// [`Login::config`], so the samplers, the workload and SQL steps cannot drift apart.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Login<'a> {
    /// User.
    pub(crate) user: &'a str,
    /// Database.
    pub(crate) database: &'a str,
    /// Password, if any.
    pub(crate) password: Option<&'a Secret>,
    /// `sslmode` and its TLS configuration.
    pub(crate) tls: &'a Tls,
    /// Bound on establishing one connection (per host).
    pub(crate) connect_timeout: Duration,
    /// `application_name`.
    pub(crate) application_name: &'a str,
}

impl Login<'_> {
    /// A tokio-postgres configuration for these hosts, tried in order; connect with
    /// `self.tls.connector()`.
    pub(crate) fn config<'h>(
        &self,
        hosts: impl IntoIterator<Item = (&'h str, u16)>,
    ) -> tokio_postgres::Config {
        let mut cfg = tokio_postgres::Config::new();
        cfg.user(self.user)
            .dbname(self.database)
            .connect_timeout(self.connect_timeout)
            .application_name(self.application_name);
        self.tls.apply(&mut cfg);
        if let Some(p) = self.password {
            cfg.password(p.expose());
        }
        for (host, port) in hosts {
            cfg.host(host).port(port);
        }
        cfg
    }
}

/// Why a query gave no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SqlError {
    /// Connecting failed.
    #[error("failed to connect to {host}:{port}: {message}")]
    Connect {
        /// Host.
        host: String,
        /// Port.
        port: u16,
        /// Reason.
        message: String,
    },
    /// The query failed.
    #[error("query failed on {host}:{port}: {message}")]
    Query {
        /// Host.
        host: String,
        /// Port.
        port: u16,
        /// Reason.
        message: String,
    },
    /// No answer in time.
    #[error("no answer from {host}:{port} within {after:?}")]
    Timeout {
        /// Host.
        host: String,
        /// Port.
        port: u16,
        /// Timeout.
        after: Duration,
    },
}

/// Runs `query` (simple protocol, may hold several statements) on host:port and returns the
/// first column of the first row of the last statement that returned rows, as text.
pub(crate) async fn query_first(
    host: &str,
    port: u16,
    creds: &Credentials,
    query: &str,
) -> Result<Option<String>, SqlError> {
    let fut = async {
        let cfg = creds.login("pgchaos").config([(host, port)]);
        let (client, conn) =
            cfg.connect(creds.tls.connector())
                .await
                .map_err(|e| SqlError::Connect {
                    host: host.into(),
                    port,
                    message: short(&e),
                })?;
        let task = tokio::spawn(conn);
        let res = client.simple_query(query).await;
        drop(client);
        task.abort();
        let msgs = res.map_err(|e| SqlError::Query {
            host: host.into(),
            port,
            message: short(&e),
        })?;
        let mut value = None;
        for m in msgs {
            if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
                value = Some(r.get(0).map(str::to_owned).unwrap_or_default());
                break;
            }
        }
        Ok(value)
    };
    tokio::time::timeout(creds.timeout * 3, fut)
        .await
        .map_err(|_| SqlError::Timeout {
            host: host.into(),
            port,
            after: creds.timeout * 3,
        })?
}

fn short(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => {
            let mut s = e.to_string();
            if let Some(src) = std::error::Error::source(e) {
                s = format!("{s}: {src}");
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recipe_sets_every_field_for_every_host_in_order() {
        let (tls, password) = (Tls::default(), Secret::new("pw"));
        let login = Login {
            user: "u",
            database: "d",
            password: Some(&password),
            tls: &tls,
            connect_timeout: Duration::from_secs(3),
            application_name: "pgchaos-test",
        };
        let cfg = login.config([("a", 5432), ("b", 5433)]);
        assert_eq!(cfg.get_user(), Some("u"));
        assert_eq!(cfg.get_dbname(), Some("d"));
        assert_eq!(cfg.get_password(), Some(&b"pw"[..]));
        assert_eq!(cfg.get_connect_timeout(), Some(&Duration::from_secs(3)));
        assert_eq!(cfg.get_application_name(), Some("pgchaos-test"));
        assert_eq!(cfg.get_ports(), [5432, 5433]);
        assert_eq!(cfg.get_hosts().len(), 2);
    }
}
