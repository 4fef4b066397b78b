//! STUB (replaced by the workload branch).
#![allow(missing_docs, dead_code, unused_variables)]
use std::time::Duration;
use chrono::{DateTime, Utc};
#[derive(Clone, Debug)] pub struct Endpoint { pub host: String, pub port: u16 }
#[derive(Clone, Debug)] pub struct ConnectionSettings { pub user: String, pub database: String, pub password: Option<crate::secret::Secret>, pub connect_timeout: Duration }
pub enum WriteTarget { Single(Endpoint), MultiHost(Vec<Endpoint>) }
pub struct Workload; pub struct Ledger;
#[derive(Debug, thiserror::Error)] #[error("stub")] pub struct WorkloadError;
impl Workload {
  pub async fn start(spec: &crate::scenario::WorkloadSpec, target: WriteTarget, read: Option<Endpoint>, s: ConnectionSettings, run_id: &str, sc: &str) -> Result<Workload, WorkloadError> { Err(WorkloadError) }
  pub async fn stop(self) -> Ledger { Ledger }
}
pub async fn verify(l: &Ledger, nodes: &[(String, Endpoint)], s: &ConnectionSettings, fault_at: Option<DateTime<Utc>>) -> Result<crate::results::WorkloadResult, WorkloadError> { Err(WorkloadError) }
