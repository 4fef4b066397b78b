//! Member roles and states normalised across Patroni versions, as scenarios name them,
//! and how raw `/cluster` values match them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Roles, normalised across Patroni versions (`master` is `leader`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    /// Holds the leader lock.
    Leader,
    /// A replica (including sync standby).
    Replica,
    /// The synchronous standby.
    SyncStandby,
    /// A standby cluster's leader.
    StandbyLeader,
}

/// Member states, normalised across Patroni versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberState {
    /// Running: a leader's `running`, a replica's `streaming` (4.x) or `running` (3.0).
    Running,
    /// A replica streaming from the leader (3.0: `running` with a non-null lag).
    Streaming,
    /// PostgreSQL stopped.
    Stopped,
    /// Starting, restarting, or creating a replica.
    Starting,
    /// Anything Patroni reports as failed (`start failed`, `crashed`, ...).
    Failed,
}

impl MemberRole {
    /// The role as written in scenarios.
    pub(crate) fn word(self) -> &'static str {
        match self {
            MemberRole::Leader => "leader",
            MemberRole::Replica => "replica",
            MemberRole::SyncStandby => "sync_standby",
            MemberRole::StandbyLeader => "standby_leader",
        }
    }
}

impl MemberState {
    /// The state as written in scenarios.
    pub(crate) fn word(self) -> &'static str {
        match self {
            MemberState::Running => "running",
            MemberState::Streaming => "streaming",
            MemberState::Stopped => "stopped",
            MemberState::Starting => "starting",
            MemberState::Failed => "failed",
        }
    }
}

/// Whether a raw Patroni role matches the expected one (`replica` includes sync standbys).
pub(crate) fn role_matches(expected: MemberRole, raw: &str) -> bool {
    match expected {
        MemberRole::Leader => raw == "leader",
        MemberRole::Replica => matches!(raw, "replica" | "sync_standby"),
        MemberRole::SyncStandby => raw == "sync_standby",
        MemberRole::StandbyLeader => raw == "standby_leader",
    }
}

/// Whether a member's raw state matches the expected one, absorbing Patroni versions:
/// 4.x (and 3.0.4+) says `streaming` for a replica, 3.0.x says `running`. For a
/// `running` replica, streaming is inferred from it being on the leader's timeline.
pub(crate) fn state_matches(
    expected: MemberState,
    role: &str,
    raw: &str,
    on_leader_timeline: bool,
) -> bool {
    match expected {
        MemberState::Running => matches!(raw, "running" | "streaming"),
        MemberState::Streaming => {
            raw == "streaming"
                || (raw == "running"
                    && matches!(role, "replica" | "sync_standby")
                    && on_leader_timeline)
        }
        MemberState::Stopped => raw == "stopped",
        MemberState::Starting => matches!(
            raw,
            "starting"
                | "restarting"
                | "creating replica"
                | "initializing new cluster"
                | "running custom bootstrap script"
                | "stopping"
        ),
        MemberState::Failed => raw.contains("failed") || raw == "crashed",
    }
}
