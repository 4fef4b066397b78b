//! The writer's ledger and the rows read back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::results::ReadStats;

/// Everything the writer attempted, in order (ids increase with time).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Ledger {
    /// Run id stamped on every row.
    pub run_id: String,
    /// Scenario id stamped on every row.
    pub scenario_id: String,
    /// Where the writer wrote (display form, no secrets).
    pub target: String,
    /// The first id the writer would use.
    pub first_id: i64,
    /// When writing started.
    pub started_at: DateTime<Utc>,
    /// When writing stopped.
    pub stopped_at: DateTime<Utc>,
    /// One entry per attempted id, in id order.
    pub entries: Vec<LedgerEntry>,
    /// Reader statistics, when a reader ran.
    pub reads: Option<ReadStats>,
}

/// One attempted id.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct LedgerEntry {
    /// The row id.
    pub id: i64,
    /// When the attempt started (client clock).
    pub sent_at: DateTime<Utc>,
    /// How it ended.
    pub outcome: Outcome,
}

/// The outcome of one attempted insert.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Outcome {
    /// The commit was acknowledged: the row must survive.
    Acknowledged {
        /// When the acknowledgement arrived (client clock, the one clock all entries share).
        at: DateTime<Utc>,
        /// The server that took it (`address:port` as the server sees itself).
        server: String,
        /// Its timeline at the time.
        timeline: u64,
        /// The server's clock at insert time.
        server_time: DateTime<Utc>,
    },
    /// Definitely not committed: no connection, or the server answered with an error
    /// (read-only, ...) that aborts the transaction.
    Failed {
        /// When the failure was known.
        at: DateTime<Utc>,
        /// Why.
        error: String,
    },
    /// The connection was lost or timed out while the commit was in flight, or the server
    /// ended the session (FATAL) possibly after committing: the row may or may not exist.
    Unknown {
        /// When the outcome became unknowable.
        at: DateTime<Utc>,
        /// What happened.
        error: String,
    },
}

impl Outcome {
    /// When the outcome was known.
    pub(crate) fn at(&self) -> DateTime<Utc> {
        match self {
            Outcome::Acknowledged { at, .. }
            | Outcome::Failed { at, .. }
            | Outcome::Unknown { at, .. } => *at,
        }
    }

    /// Whether the commit was acknowledged.
    pub fn is_acknowledged(&self) -> bool {
        matches!(self, Outcome::Acknowledged { .. })
    }
}

/// One row of the workload table as read back from a node.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct Row {
    /// The id.
    pub id: i64,
    /// The server that took the insert.
    pub server: String,
    /// Its timeline.
    pub timeline: u64,
    /// The server's clock at insert time.
    pub server_time: DateTime<Utc>,
}
