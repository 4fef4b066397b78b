//! What Patroni's `GET /patroni` and `GET /cluster` return, normalised across 3.0.x and 4.x.
//!
//! Parsing is deliberately tolerant: Patroni adds keys between releases and omits others
//! depending on the node's state (a stopped member has no timeline, a member without a
//! WAL position has lag `"unknown"`), so a missing or oddly typed field becomes `None`,
//! never an error. The raw JSON is always kept for reports.
//!
//! Version differences absorbed here (see FACTS.md):
//! - `/patroni` role is `master` up to 3.x and `primary` in 4.x: both become `leader`;
//! - replica state in `/cluster` is `running` before 3.0.4 and `streaming` or
//!   `in archive recovery` after (4.x `/patroni` keeps `state: running` and reports the
//!   streaming state as `replication_state`);
//! - `/cluster` has no `scope` key before 3.2.0, `/patroni` has no `patroni.name` before 4.0;
//! - `lag` is a number of bytes, or `"unknown"` when the member reported no WAL position;
//! - 4.1 adds `lsn`, `receive_lsn`, `replay_lsn` (formatted `X/Y`) and their lags.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::lsn::lsn_to_u64;

/// Normalises a role as Patroni spells it in any version.
///
/// `master`, `primary` and `leader` become `leader`; `replica`, `sync_standby`,
/// `quorum_standby`, `standby_leader` are kept; anything else is lowercased and kept
/// (4.x also knows `demoted` and `uninitialized`).
pub(crate) fn normalise_role(raw: &str) -> String {
    let r = raw.trim().to_ascii_lowercase();
    match r.as_str() {
        "master" | "primary" | "leader" => "leader".into(),
        "standby-leader" | "standby_leader" => "standby_leader".into(),
        "sync-standby" | "sync_standby" => "sync_standby".into(),
        "quorum-standby" | "quorum_standby" => "quorum_standby".into(),
        _ => r,
    }
}

/// `GET /patroni` of one node.
#[derive(Clone, Debug, PartialEq)]
pub struct PatroniStatus {
    /// PostgreSQL state as Patroni sees it (`running`, `starting`, `stopped`, ...).
    pub state: String,
    /// Role, normalised by [`normalise_role`]: `leader`, `replica`, `standby_leader`, ...
    pub role: String,
    /// Timeline, when reported.
    pub timeline: Option<u64>,
    /// Patroni's version (`patroni.version`).
    pub version: Option<String>,
    /// Patroni's scope (`patroni.scope`).
    pub scope: Option<String>,
    /// Member name (`patroni.name`, 4.x only).
    pub name: Option<String>,
    /// A restart is needed to apply configuration.
    pub pending_restart: bool,
    /// The replica is the synchronous standby (`sync_standby: true`) or a quorum standby.
    pub sync_standby: bool,
    /// Primary's current WAL position in bytes (`xlog.location`).
    pub xlog_location: Option<u64>,
    /// Replica's received WAL position in bytes (`xlog.received_location`).
    pub xlog_received: Option<u64>,
    /// Replica's replayed WAL position in bytes (`xlog.replayed_location`).
    pub xlog_replayed: Option<u64>,
    /// Replica's WAL receiver state (4.x: `streaming`, `in archive recovery`).
    pub replication_state: Option<String>,
    /// The whole body.
    pub raw: Value,
}

impl PatroniStatus {
    /// Parses a `/patroni` body. Never fails: absent fields become `None`.
    pub(crate) fn from_json(raw: Value) -> Self {
        let xlog = raw.get("xlog");
        let patroni = raw.get("patroni");
        let sync_standby = as_bool(raw.get("sync_standby")) || as_bool(raw.get("quorum_standby"));
        Self {
            state: as_string(raw.get("state")).unwrap_or_default(),
            role: as_string(raw.get("role"))
                .map(|r| normalise_role(&r))
                .unwrap_or_default(),
            timeline: as_u64(raw.get("timeline")),
            version: as_string(patroni.and_then(|p| p.get("version"))),
            scope: as_string(patroni.and_then(|p| p.get("scope"))),
            name: as_string(patroni.and_then(|p| p.get("name"))),
            pending_restart: as_bool(raw.get("pending_restart")),
            sync_standby,
            xlog_location: as_wal_position(xlog.and_then(|x| x.get("location"))),
            xlog_received: as_wal_position(xlog.and_then(|x| x.get("received_location"))),
            xlog_replayed: as_wal_position(xlog.and_then(|x| x.get("replayed_location"))),
            replication_state: as_string(raw.get("replication_state")),
            raw,
        }
    }

    /// The role as `/cluster` would name it: a replica that is the synchronous standby is
    /// `sync_standby`, otherwise [`PatroniStatus::role`].
    pub(crate) fn member_role(&self) -> String {
        if self.role == "replica" && self.sync_standby {
            if self.raw.get("quorum_standby").is_some() {
                "quorum_standby".into()
            } else {
                "sync_standby".into()
            }
        } else {
            self.role.clone()
        }
    }

    /// The state as `/cluster` would report it: 4.x replicas report their replication
    /// state (`streaming`) there while `/patroni` says `running`; 3.x has no replication
    /// state and says `running` everywhere.
    pub(crate) fn member_state(&self) -> String {
        match &self.replication_state {
            Some(rs) if !rs.is_empty() && self.role != "leader" => rs.clone(),
            _ => self.state.clone(),
        }
    }
}

/// What the samplers keep of `GET /patroni`: the role and state as `/cluster` would name
/// them ([`PatroniStatus::member_role`], [`PatroniStatus::member_state`]) and the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StatusFacts {
    /// [`PatroniStatus::member_role`].
    pub role: String,
    /// [`PatroniStatus::member_state`].
    pub state: String,
    /// Timeline, when reported.
    pub timeline: Option<u64>,
}

impl StatusFacts {
    /// The facts of a parsed status.
    pub(crate) fn of(s: &PatroniStatus) -> Self {
        Self {
            role: s.member_role(),
            state: s.member_state(),
            timeline: s.timeline,
        }
    }

    /// Parses a `/patroni` body for these facts only, borrowing from `body` and skipping
    /// every other field (no tree of values is built). A body that this strict reading
    /// refuses (a duplicate key, ...) is read the tolerant way, as [`PatroniStatus`] is.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, String> {
        match serde_json::from_slice::<StatusLite<'_>>(body) {
            Ok(l) => Ok(l.facts()),
            Err(_) => serde_json::from_slice::<Value>(body)
                .map(|v| Self::of(&PatroniStatus::from_json(v)))
                .map_err(|e| e.to_string()),
        }
    }
}

/// The fields of `/patroni` the samplers read, each taken as whatever JSON scalar it is.
#[derive(serde::Deserialize)]
struct StatusLite<'a> {
    #[serde(borrow, default)]
    state: Scalar<'a>,
    #[serde(borrow, default)]
    role: Scalar<'a>,
    #[serde(borrow, default)]
    timeline: Scalar<'a>,
    #[serde(borrow, default)]
    replication_state: Scalar<'a>,
    #[serde(borrow, default)]
    sync_standby: Scalar<'a>,
    #[serde(borrow, default)]
    quorum_standby: Scalar<'a>,
}

impl StatusLite<'_> {
    /// The same rules as [`PatroniStatus::from_json`], `member_role` and `member_state`.
    fn facts(&self) -> StatusFacts {
        let role = self
            .role
            .string()
            .map(|r| normalise_role(&r))
            .unwrap_or_default();
        let sync = self.sync_standby.truthy() || self.quorum_standby.truthy();
        let member_role = if role == "replica" && sync {
            if matches!(self.quorum_standby, Scalar::Missing) {
                "sync_standby".to_owned()
            } else {
                "quorum_standby".to_owned()
            }
        } else {
            role.clone()
        };
        let state = match self.replication_state.string() {
            Some(rs) if !rs.is_empty() && role != "leader" => rs,
            _ => self.state.string().unwrap_or_default(),
        };
        StatusFacts {
            role: member_role,
            state,
            timeline: self.timeline.non_negative(),
        }
    }
}

/// One JSON value, kept only when it is a scalar; strings borrowed from the body.
#[derive(Default)]
enum Scalar<'a> {
    /// The key is absent.
    #[default]
    Missing,
    Null,
    Str(std::borrow::Cow<'a, str>),
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    /// An object or an array (skipped, not built).
    Other,
}

impl Scalar<'_> {
    /// As `as_string` reads a [`Value`].
    fn string(&self) -> Option<String> {
        match self {
            Scalar::Str(s) => Some(s.as_ref().to_owned()),
            Scalar::U64(n) => Some(n.to_string()),
            Scalar::I64(n) => Some(n.to_string()),
            Scalar::F64(f) => serde_json::Number::from_f64(*f).map(|n| n.to_string()),
            Scalar::Bool(b) => Some(b.to_string()),
            Scalar::Missing | Scalar::Null | Scalar::Other => None,
        }
    }

    /// As `as_u64` reads a [`Value`].
    fn non_negative(&self) -> Option<u64> {
        match self {
            Scalar::U64(n) => Some(*n),
            Scalar::I64(n) => u64::try_from(*n).ok(),
            Scalar::F64(f) => (*f >= 0.0).then_some(*f as u64),
            Scalar::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// As `as_bool` reads a [`Value`].
    fn truthy(&self) -> bool {
        match self {
            Scalar::Bool(b) => *b,
            Scalar::Str(s) => matches!(s.to_ascii_lowercase().as_str(), "true" | "on" | "yes"),
            _ => false,
        }
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::I64(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar::U64(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar::F64(v))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(std::borrow::Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar::Str(std::borrow::Cow::Owned(v)))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Self::Value, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Self::Value, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Scalar::Other)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// One member as a node's `GET /cluster` lists it, normalised across Patroni versions.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemberView {
    /// Member name.
    pub name: String,
    /// `leader`, `replica`, `sync_standby`, `standby_leader` (3.x `master` is `leader`).
    pub role: String,
    /// Raw state (`running`, `streaming`, `stopped`, `in archive recovery`, ...).
    pub state: String,
    /// Timeline, when reported.
    pub timeline: Option<u64>,
    /// Lag in bytes, when reported as a number.
    pub lag_bytes: Option<u64>,
}

/// Fields of a `/cluster` member that [`MemberView`] does not carry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemberExtra {
    /// `api_url`.
    pub api_url: Option<String>,
    /// PostgreSQL host as advertised.
    pub host: Option<String>,
    /// PostgreSQL port as advertised.
    pub port: Option<u16>,
    /// A restart is needed to apply configuration.
    pub pending_restart: bool,
    /// 4.1+: the member's WAL position in bytes.
    pub lsn: Option<u64>,
    /// 4.1+: received WAL position in bytes.
    pub receive_lsn: Option<u64>,
    /// 4.1+: replayed WAL position in bytes.
    pub replay_lsn: Option<u64>,
    /// Lag exactly as reported when it was not a number of bytes (`"unknown"`).
    pub lag_text: Option<String>,
    /// The member's tags.
    pub tags: Option<Value>,
}

/// `GET /cluster` as one node sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterStatus {
    /// Members, normalised, in the order Patroni lists them (by name).
    pub members: Vec<MemberView>,
    /// Extra fields by member name.
    pub extra: BTreeMap<String, MemberExtra>,
    /// `scope` (3.2.0 and later only).
    pub scope: Option<String>,
    /// The cluster is in maintenance mode (`pause: true`).
    pub paused: bool,
    /// The whole body.
    pub raw: Value,
}

impl ClusterStatus {
    /// Parses a `/cluster` body. Members without a name are skipped (Patroni always
    /// names them; a nameless one cannot be reasoned about).
    pub(crate) fn from_json(raw: Value) -> Self {
        let mut members = Vec::new();
        let mut extra = BTreeMap::new();
        if let Some(list) = raw.get("members").and_then(Value::as_array) {
            for m in list {
                let Some(name) = as_string(m.get("name")) else {
                    continue;
                };
                let lag = m.get("lag");
                members.push(MemberView {
                    name: name.clone(),
                    role: as_string(m.get("role"))
                        .map(|r| normalise_role(&r))
                        .unwrap_or_default(),
                    state: as_string(m.get("state")).unwrap_or_default(),
                    timeline: as_u64(m.get("timeline")),
                    lag_bytes: as_u64(lag),
                });
                extra.insert(
                    name,
                    MemberExtra {
                        api_url: as_string(m.get("api_url")),
                        host: as_string(m.get("host")),
                        port: as_u64(m.get("port")).and_then(|p| u16::try_from(p).ok()),
                        pending_restart: as_bool(m.get("pending_restart")),
                        lsn: as_wal_position(m.get("lsn")),
                        receive_lsn: as_wal_position(m.get("receive_lsn")),
                        replay_lsn: as_wal_position(m.get("replay_lsn")),
                        lag_text: match lag {
                            Some(v) if as_u64(Some(v)).is_none() => as_string(Some(v)),
                            _ => None,
                        },
                        tags: m.get("tags").cloned(),
                    },
                );
            }
        }
        Self {
            members,
            extra,
            scope: as_string(raw.get("scope")),
            paused: as_bool(raw.get("pause")),
            raw,
        }
    }

    /// The member holding the leader key (`leader` or `standby_leader`), if any.
    pub fn leader(&self) -> Option<&MemberView> {
        self.members
            .iter()
            .find(|m| m.role == "leader" || m.role == "standby_leader")
    }

    /// The member called `name`.
    #[cfg(test)]
    pub(crate) fn member(&self, name: &str) -> Option<&MemberView> {
        self.members.iter().find(|m| m.name == name)
    }
}

/// A string field; numbers are rendered (Patroni has sent both for some fields).
fn as_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A non-negative integer field, accepting a number or a numeric string.
pub(crate) fn as_u64(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A WAL position: bytes as a number, or an `X/Y` LSN string (4.1 `/cluster`).
fn as_wal_position(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::String(s) => lsn_to_u64(s).or_else(|| s.trim().parse().ok()),
        other => as_u64(Some(other)),
    }
}

fn as_bool(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.to_ascii_lowercase().as_str(), "true" | "on" | "yes"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Shapes follow Patroni 3.0.2's api.py/utils.py (role `master`, no `patroni.name`,
    // replica state `running`, no `scope` in /cluster) and 4.1's (role `primary`,
    // `replication_state`, `scope` and LSN fields in /cluster).

    const PATRONI_302_PRIMARY: &str = r#"{
        "state": "running", "postmaster_start_time": "2024-05-02 10:11:12.123456+00:00",
        "role": "master", "server_version": 150006,
        "xlog": {"location": 50331744}, "timeline": 2,
        "replication": [{"usename": "replicator", "application_name": "pg2",
            "client_addr": "10.0.0.2", "state": "streaming", "sync_state": "async",
            "sync_priority": 0}],
        "dcs_last_seen": 1714644672, "database_system_identifier": "7364375811123456789",
        "patroni": {"version": "3.0.2", "scope": "demo"}}"#;

    const PATRONI_302_REPLICA: &str = r#"{
        "state": "running", "postmaster_start_time": "2024-05-02 10:11:13+00:00",
        "role": "replica", "server_version": 150006,
        "xlog": {"received_location": 50331744, "replayed_location": 50331700,
            "replayed_timestamp": null, "paused": false},
        "timeline": 2, "dcs_last_seen": 1714644672, "pending_restart": true,
        "database_system_identifier": "7364375811123456789",
        "patroni": {"version": "3.0.2", "scope": "demo"}}"#;

    const PATRONI_302_STOPPED: &str = r#"{
        "state": "stopped", "role": "replica", "dcs_last_seen": 1714644672,
        "patroni": {"version": "3.0.2", "scope": "demo"}}"#;

    const CLUSTER_302: &str = r#"{"members": [
        {"name": "pg1", "role": "leader", "state": "running",
         "api_url": "http://10.0.0.1:8008/patroni", "host": "10.0.0.1", "port": 5432, "timeline": 2},
        {"name": "pg2", "role": "sync_standby", "state": "running",
         "api_url": "http://10.0.0.2:8008/patroni", "host": "10.0.0.2", "port": 5432, "timeline": 2, "lag": 0},
        {"name": "pg3", "role": "replica", "state": "stopped",
         "api_url": "http://10.0.0.3:8008/patroni", "host": "10.0.0.3", "port": 5432, "lag": "unknown"}]}"#;

    const PATRONI_41_PRIMARY: &str = r#"{
        "state": "running", "postmaster_start_time": "2025-01-10 08:00:00.1+00:00",
        "role": "primary", "server_version": 150010,
        "xlog": {"location": 67108960}, "timeline": 3,
        "replication": [{"usename": "replicator", "application_name": "pg1",
            "client_addr": "10.0.0.1", "state": "streaming", "sync_state": "sync", "sync_priority": 1}],
        "dcs_last_seen": 1736496000, "database_system_identifier": "7364375811123456789",
        "patroni": {"version": "4.1.0", "scope": "demo", "name": "pg2"}}"#;

    const PATRONI_41_SYNC: &str = r#"{
        "state": "running", "role": "replica", "server_version": 150010,
        "xlog": {"received_location": 67108960, "replayed_location": 67108960,
            "replayed_timestamp": "2025-01-10 08:00:01+00:00", "paused": false},
        "sync_standby": true, "timeline": 3, "replication_state": "streaming",
        "latest_end_lsn": 67108960,
        "patroni": {"version": "4.1.0", "scope": "demo", "name": "pg1"}}"#;

    const CLUSTER_41: &str = r#"{"members": [
        {"name": "pg1", "role": "sync_standby", "state": "streaming",
         "api_url": "https://10.0.0.1:8008/patroni", "host": "10.0.0.1", "port": 5432, "timeline": 3,
         "receive_lsn": "0/4000060", "receive_lag": 0, "replay_lsn": "0/4000060", "replay_lag": 0,
         "lsn": "0/4000060", "lag": 0},
        {"name": "pg2", "role": "leader", "state": "running",
         "api_url": "https://10.0.0.2:8008/patroni", "host": "10.0.0.2", "port": 5432, "timeline": 3},
        {"name": "pg3", "role": "replica", "state": "in archive recovery",
         "api_url": "https://10.0.0.3:8008/patroni", "host": "10.0.0.3", "port": 5432, "timeline": 3,
         "receive_lsn": "unknown", "receive_lag": "unknown", "replay_lsn": "0/3000000", "replay_lag": 16777312,
         "lsn": "0/3000000", "lag": 16777312, "tags": {"nofailover": true}}],
      "scope": "demo", "pause": true}"#;

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).expect("test body is JSON")
    }

    #[test]
    fn roles_normalise_across_versions() {
        assert_eq!(normalise_role("master"), "leader");
        assert_eq!(normalise_role("primary"), "leader");
        assert_eq!(normalise_role("Leader"), "leader");
        assert_eq!(normalise_role("replica"), "replica");
        assert_eq!(normalise_role("sync_standby"), "sync_standby");
        assert_eq!(normalise_role("standby_leader"), "standby_leader");
        assert_eq!(normalise_role("quorum_standby"), "quorum_standby");
        assert_eq!(normalise_role("demoted"), "demoted");
    }

    #[test]
    fn patroni_302_primary() {
        let s = PatroniStatus::from_json(parse(PATRONI_302_PRIMARY));
        assert_eq!(s.role, "leader");
        assert_eq!(s.state, "running");
        assert_eq!(s.timeline, Some(2));
        assert_eq!(s.version.as_deref(), Some("3.0.2"));
        assert_eq!(s.scope.as_deref(), Some("demo"));
        assert_eq!(s.name, None);
        assert_eq!(s.xlog_location, Some(50331744));
        assert_eq!(s.xlog_received, None);
        assert!(!s.pending_restart);
        assert_eq!(s.member_role(), "leader");
        assert_eq!(s.member_state(), "running");
    }

    #[test]
    fn patroni_302_replica_and_stopped() {
        let s = PatroniStatus::from_json(parse(PATRONI_302_REPLICA));
        assert_eq!(s.role, "replica");
        assert_eq!(s.xlog_received, Some(50331744));
        assert_eq!(s.xlog_replayed, Some(50331700));
        assert!(s.pending_restart);
        assert_eq!(s.replication_state, None);
        assert_eq!(s.member_state(), "running");

        let s = PatroniStatus::from_json(parse(PATRONI_302_STOPPED));
        assert_eq!(s.state, "stopped");
        assert_eq!(s.timeline, None);
        assert_eq!(s.xlog_location, None);
    }

    #[test]
    fn patroni_41_primary_and_sync_standby() {
        let s = PatroniStatus::from_json(parse(PATRONI_41_PRIMARY));
        assert_eq!(s.role, "leader");
        assert_eq!(s.name.as_deref(), Some("pg2"));
        assert_eq!(s.version.as_deref(), Some("4.1.0"));
        assert_eq!(s.timeline, Some(3));

        let s = PatroniStatus::from_json(parse(PATRONI_41_SYNC));
        assert_eq!(s.role, "replica");
        assert!(s.sync_standby);
        assert_eq!(s.member_role(), "sync_standby");
        assert_eq!(s.state, "running");
        assert_eq!(s.replication_state.as_deref(), Some("streaming"));
        assert_eq!(s.member_state(), "streaming");
    }

    #[test]
    fn cluster_302() {
        let c = ClusterStatus::from_json(parse(CLUSTER_302));
        assert_eq!(c.scope, None);
        assert!(!c.paused);
        assert_eq!(c.members.len(), 3);
        assert_eq!(c.leader().map(|m| m.name.as_str()), Some("pg1"));
        let pg1 = c.member("pg1").unwrap();
        assert_eq!(pg1.lag_bytes, None);
        assert_eq!(pg1.timeline, Some(2));
        let pg2 = c.member("pg2").unwrap();
        assert_eq!(pg2.role, "sync_standby");
        assert_eq!(pg2.state, "running");
        assert_eq!(pg2.lag_bytes, Some(0));
        let pg3 = c.member("pg3").unwrap();
        assert_eq!(pg3.timeline, None);
        assert_eq!(pg3.lag_bytes, None);
        assert_eq!(c.extra["pg3"].lag_text.as_deref(), Some("unknown"));
        assert_eq!(c.extra["pg2"].port, Some(5432));
        assert_eq!(c.extra["pg2"].lsn, None);
    }

    #[test]
    fn cluster_41() {
        let c = ClusterStatus::from_json(parse(CLUSTER_41));
        assert_eq!(c.scope.as_deref(), Some("demo"));
        assert!(c.paused);
        assert_eq!(c.leader().map(|m| m.name.as_str()), Some("pg2"));
        let pg1 = c.member("pg1").unwrap();
        assert_eq!(pg1.state, "streaming");
        assert_eq!(pg1.lag_bytes, Some(0));
        assert_eq!(c.extra["pg1"].lsn, Some(0x4000060));
        let pg3 = c.member("pg3").unwrap();
        assert_eq!(pg3.state, "in archive recovery");
        assert_eq!(pg3.lag_bytes, Some(16777312));
        assert_eq!(c.extra["pg3"].receive_lsn, None);
        assert_eq!(c.extra["pg3"].replay_lsn, Some(0x3000000));
        assert_eq!(c.extra["pg3"].tags, Some(json!({"nofailover": true})));
    }

    #[test]
    fn standby_leader_counts_as_leader_of_cluster() {
        let c = ClusterStatus::from_json(json!({"members": [
            {"name": "a", "role": "standby_leader", "state": "streaming", "timeline": 4},
            {"name": "b", "role": "replica", "state": "streaming", "lag": "12"}]}));
        assert_eq!(c.leader().map(|m| m.name.as_str()), Some("a"));
        assert_eq!(c.member("b").unwrap().lag_bytes, Some(12));
    }

    #[test]
    fn status_facts_read_as_the_full_parse_does() {
        for body in [
            PATRONI_302_PRIMARY,
            PATRONI_302_REPLICA,
            PATRONI_302_STOPPED,
            PATRONI_41_PRIMARY,
            PATRONI_41_SYNC,
            r#"{"role": "replica", "sync_standby": "yes", "quorum_standby": true, "timeline": 7.0}"#,
            r#"{"role": "replica", "sync_standby": true, "quorum_standby": null, "state": 5}"#,
            r#"{"role": 5, "timeline": -3, "xlog": "no", "patroni": [], "state": {"a": [1]}}"#,
            r#"{"role": "master", "role": "replica"}"#,
            r#"{"state": "running", "replication_state": "", "role": "Primary", "timeline": "4"}"#,
            "[]",
        ] {
            let full = StatusFacts::of(&PatroniStatus::from_json(parse(body)));
            assert_eq!(StatusFacts::parse(body.as_bytes()).unwrap(), full, "{body}");
        }
        assert!(StatusFacts::parse(b"<html>").is_err());
    }

    #[test]
    fn garbage_never_panics() {
        for body in [
            json!(null),
            json!([]),
            json!({"members": 3}),
            json!({"members": [{"role": "leader"}, 5, {"name": 7, "timeline": "x"}]}),
            json!({"role": 5, "timeline": -3, "xlog": "no", "patroni": []}),
        ] {
            let c = ClusterStatus::from_json(body.clone());
            assert!(c.members.iter().all(|m| m.timeline.is_none()));
            let s = PatroniStatus::from_json(body);
            assert_eq!(s.timeline, None);
        }
    }
}
