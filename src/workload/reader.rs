//! The reader task: which server answers on the read port, and how often it fails.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::conn;
use super::writer::stopped;
use super::{ConnectionSettings, Endpoint, lock};
use crate::results::ReadStats;

/// The reader's state.
pub(super) struct Reader {
    pub(super) endpoint: Endpoint,
    pub(super) settings: ConnectionSettings,
    pub(super) period: Duration,
    pub(super) stats: Arc<Mutex<ReadStats>>,
    pub(super) stop: watch::Receiver<bool>,
}

impl Reader {
    /// Reads at the configured rate until stopped. Each read uses a new connection, because
    /// a load balancer spreads connections, not queries.
    pub(super) async fn run(mut self) {
        let config = self.settings.config(std::slice::from_ref(&self.endpoint));
        let mut interval = tokio::time::interval(self.period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                biased;
                _ = stopped(&mut self.stop) => break,
                _ = interval.tick() => {}
            }
            let served_by = self.read_once(&config).await;
            let mut stats = lock(&self.stats);
            stats.attempted += 1;
            match served_by {
                Some(server) => *stats.served_by.entry(server).or_default() += 1,
                None => stats.errors += 1,
            }
        }
    }

    async fn read_once(&self, config: &tokio_postgres::Config) -> Option<String> {
        let c = conn::connect(config, &self.settings.tls, self.settings.connect_timeout)
            .await
            .ok()?;
        let sql = "SELECT coalesce(host(inet_server_addr()) || ':' || inet_server_port(), 'local')";
        let row = conn::bounded(
            self.settings.statement_timeout,
            c.client.query_one(sql, &[]),
        )
        .await?
        .ok()?;
        row.try_get(0).ok()
    }
}
