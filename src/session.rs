//! A session with one cluster: the SSH transport, Patroni's REST client, PostgreSQL
//! credentials and the observation timeline, built once by [`Session::open`] for every
//! command that talks to the cluster (`run`, `bench`).

use std::path::Path;
use std::sync::Arc;

use crate::inventory::Inventory;
use crate::observe::{ObserveConfig, Observers, PgSettings, Timeline};
use crate::patroni::{ApiError, PatroniClient};
use crate::pg::{Credentials, TlsError};
use crate::secret::Secret;
use crate::transport::Transport;

/// Why a session could not be built (before anything is contacted).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    /// Patroni's REST client (its TLS files).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// PostgreSQL's TLS settings.
    #[error(transparent)]
    Pg(#[from] TlsError),
}

/// Everything a command needs to talk to the cluster. Cheap to share (`Arc`s).
pub(crate) struct Session {
    /// The inventory.
    pub inventory: Arc<Inventory>,
    /// SSH to the nodes (control sockets under the control directory).
    pub transport: Arc<Transport>,
    /// Patroni's REST API.
    pub client: Arc<PatroniClient>,
    /// PostgreSQL credentials.
    pub creds: Credentials,
    /// The timeline observers append to.
    pub timeline: Timeline,
}

impl Session {
    /// Builds the clients; nothing is contacted yet.
    pub(crate) fn open(
        inventory: Arc<Inventory>,
        control_dir: &Path,
        pg_password: Option<Secret>,
    ) -> Result<Self, SessionError> {
        let transport = Arc::new(Transport::new(&inventory, control_dir));
        let client = Arc::new(PatroniClient::new(&inventory)?);
        let creds = Credentials::new(&inventory, pg_password)?;
        Ok(Self {
            inventory,
            transport,
            client,
            creds,
            timeline: Timeline::new(),
        })
    }

    /// How observers connect to PostgreSQL.
    pub(crate) fn pg_settings(&self) -> PgSettings {
        PgSettings {
            user: self.creds.user.clone(),
            database: self.creds.database.clone(),
            password: self.creds.password.clone(),
            port: self.inventory.cluster.postgres.port,
            timeout: self.creds.timeout,
            tls: self.creds.tls.clone(),
        }
    }

    /// Starts observing every node into the session's timeline.
    pub(crate) fn observe(&self, config: ObserveConfig) -> Observers {
        Observers::start(
            self.inventory.clone(),
            self.client.clone(),
            self.transport.clone(),
            self.pg_settings(),
            self.timeline.clone(),
            config,
        )
    }

    /// Closes the SSH connections.
    pub(crate) async fn close(&self) {
        self.transport.close().await;
    }
}
