//! The DCS observer: Patroni's leader key in etcd, watched so that a change of leader is
//! seen the moment etcd records it rather than at the next poll.
//!
//! Patroni's leader is whoever holds the leader key `<namespace>/<scope>/leader` (its value
//! is the member name; Patroni's `etcd3.py` writes it with the leader's lease). The key is
//! watched through etcd's v3 JSON gateway (`POST /v3/watch`, served by etcd 3.4 and later
//! under `/v3/`), which needs nothing beyond the HTTP client pgchaos already has. A watch
//! says nothing while nothing changes, including when etcd stops answering, so the key is
//! also read (`POST /v3/kv/range`) every [`DCS_POLL_INTERVAL`]: that read proves etcd is
//! reachable and repairs anything a broken stream missed. Every answer carries etcd's
//! revision; an answer older than what was already recorded is not applied, so a slow
//! read never turns the leader back.
//!
//! Until the key has been seen once, the observer reports the DCS as not answering: a
//! cluster whose Patroni talks to etcd through the v2 API (`etcd:` rather than `etcd3:`)
//! keeps its keys where the v3 API does not see them, and an absent key must then not be
//! read as "no leader".

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};

use super::{Sample, Timeline};
use crate::results::{Observation, ObservationSource};

/// How often the leader key is read besides the watch: often enough that a DCS that stops
/// answering is noticed well within the world's staleness window.
pub(crate) const DCS_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The node name DCS samples carry (the DCS as a whole, not one etcd member).
pub(crate) const DCS_NODE: &str = "dcs";

/// Bound on connecting to etcd and on one read of the key.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Patroni's leader key for `scope` under `namespace` (`/service` by default).
pub(crate) fn leader_key(namespace: &str, scope: &str) -> String {
    cluster_key(namespace, scope, "leader")
}

/// The key a member's HA loop writes its state to at the end of every cycle
/// (patroni/ha.py `touch_member`).
pub(crate) fn member_key(namespace: &str, scope: &str, member: &str) -> String {
    cluster_key(namespace, scope, &format!("members/{member}"))
}

fn cluster_key(namespace: &str, scope: &str, leaf: &str) -> String {
    let ns = namespace.trim_matches('/');
    if ns.is_empty() {
        format!("/{scope}/{leaf}")
    } else {
        format!("/{ns}/{scope}/{leaf}")
    }
}

/// What is known of the key: the newest revision applied and the leader it names.
#[derive(Debug, Default)]
struct KeyState {
    revision: i64,
    /// When the newest revision was applied.
    applied_at: Option<Instant>,
    leader: Option<String>,
    seen: bool,
}

/// Where the watcher reads.
#[derive(Clone, Debug)]
pub(crate) struct DcsTarget {
    /// etcd client URLs (`http://host:2379`).
    pub(crate) endpoints: Vec<String>,
    /// The leader key.
    pub(crate) key: String,
}

struct Shared {
    target: DcsTarget,
    http: reqwest::Client,
    state: Mutex<KeyState>,
    timeline: Timeline,
    live: Arc<AtomicBool>,
}

/// The two tasks of the DCS observer: the watch and the read that backs it.
/// `live` is set while the last read of the key answered and the key was seen.
pub(crate) fn spawn(
    rt: &tokio::runtime::Handle,
    target: DcsTarget,
    timeline: Timeline,
    live: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let http = match reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(REQUEST_TIMEOUT)
        .tcp_keepalive(Duration::from_secs(5))
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1)
        .build()
    {
        Ok(h) => h,
        Err(e) => {
            timeline.push(dcs_sample(
                false,
                None,
                Some(format!("failed to build the etcd client: {e}")),
            ));
            return Vec::new();
        }
    };
    let shared = Arc::new(Shared {
        target,
        http,
        state: Mutex::new(KeyState::default()),
        timeline,
        live,
    });
    vec![rt.spawn(watch(shared.clone())), rt.spawn(poll(shared))]
}

fn dcs_sample(reachable: bool, leader: Option<String>, error: Option<String>) -> Sample {
    Sample {
        observation: Observation {
            at: Utc::now(),
            node: DCS_NODE.into(),
            source: ObservationSource::Dcs,
            reachable,
            cluster_leader: leader,
            error,
            ..Default::default()
        },
        members: None,
        cluster_json: None,
    }
}

impl Shared {
    /// Applies what etcd said at `revision` when it is not older than what is known, and
    /// records the (possibly unchanged) state as a sample, under one lock so that the
    /// timeline's order is the order of the revisions.
    ///
    /// `read_sent` is when a range read was sent (`None` for watch events). etcd's reads
    /// are linearizable, so a read sent after the newest revision was applied that answers
    /// an older revision is not a slow answer: etcd's data was wiped and rebuilt (its
    /// revisions start again from 1, under the same cluster id), and it is believed.
    fn apply(&self, read_sent: Option<Instant>, revision: i64, leader: Option<Option<String>>) {
        let mut st = self.state.lock().expect("dcs state lock");
        if revision < st.revision
            && let (Some(sent), Some(applied)) = (read_sent, st.applied_at)
            && sent > applied
        {
            st.revision = 0;
        }
        if let Some(l) = leader
            && revision >= st.revision
        {
            st.revision = revision;
            st.applied_at = Some(Instant::now());
            if l.is_some() {
                st.seen = true;
            }
            st.leader = l;
        }
        self.live.store(st.seen, Ordering::Relaxed);
        let sample = if st.seen {
            dcs_sample(true, st.leader.clone(), None)
        } else {
            dcs_sample(
                false,
                None,
                Some(format!(
                    "leader key {} not found in etcd's v3 API: the leader comes from /cluster only",
                    self.target.key
                )),
            )
        };
        self.timeline.push(sample);
    }

    fn unreachable(&self, error: String) {
        let _guard = self.state.lock().expect("dcs state lock");
        self.live.store(false, Ordering::Relaxed);
        self.timeline.push(dcs_sample(false, None, Some(error)));
    }

    /// Reads the key from `endpoint`: etcd's revision and the leader it names.
    async fn range(&self, endpoint: &str) -> Result<(i64, Option<String>), String> {
        let fut = range_once(&self.http, endpoint, &self.target.key, parse_range);
        tokio::time::timeout(REQUEST_TIMEOUT + Duration::from_millis(100), fut)
            .await
            .map_err(|_| {
                let url = range_url(endpoint);
                format!("{url}: no answer within {REQUEST_TIMEOUT:?}")
            })?
    }
}

/// Reads the key every [`DCS_POLL_INTERVAL`], trying the endpoints in turn.
async fn poll(shared: Arc<Shared>) {
    let mut ticker = super::rest::aligned_interval(DCS_POLL_INTERVAL);
    let n = shared.target.endpoints.len().max(1);
    let mut at = 0usize;
    loop {
        ticker.tick().await;
        let Some(endpoint) = shared.target.endpoints.get(at % n) else {
            return;
        };
        let sent = Instant::now();
        match shared.range(endpoint).await {
            Ok((rev, leader)) => shared.apply(Some(sent), rev, Some(leader)),
            Err(e) => {
                at += 1;
                shared.unreachable(e);
            }
        }
    }
}

/// Watches the key, reconnecting (to the next endpoint) whenever the stream ends.
async fn watch(shared: Arc<Shared>) {
    let n = shared.target.endpoints.len().max(1);
    let mut at = 0usize;
    loop {
        let Some(endpoint) = shared.target.endpoints.get(at % n).cloned() else {
            return;
        };
        // Where to start: right after what this endpoint reports now, so that nothing
        // between the read and the watch is missed.
        let sent = Instant::now();
        let start = match shared.range(&endpoint).await {
            Ok((rev, leader)) => {
                shared.apply(Some(sent), rev, Some(leader));
                rev + 1
            }
            Err(_) => {
                // The poller reports the failure; try the next endpoint a little later.
                at += 1;
                tokio::time::sleep(DCS_POLL_INTERVAL).await;
                continue;
            }
        };
        if let Err(_e) = stream(&shared, &endpoint, start).await {
            at += 1;
        }
        // A stream that ended cleanly or not is reopened; pace reconnects so that an etcd
        // that closes every stream at once cannot make this a busy loop.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One watch stream from `start`; returns when it ends.
async fn stream(shared: &Shared, endpoint: &str, start: i64) -> Result<(), String> {
    let url = format!("{}/v3/watch", endpoint.trim_end_matches('/'));
    let body = json!({ "create_request": {
        "key": crate::base64::encode(shared.target.key.as_bytes()),
        "start_revision": start.to_string(),
    }});
    let mut resp = shared
        .http
        .post(&url)
        .json(&body)
        .send()
        .await
        .map_err(|e| innermost(&e))?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status().as_u16()));
    }
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| innermost(&e))? {
        buf.extend_from_slice(&chunk);
        // The gateway writes one JSON object per message; parse every complete one.
        let mut consumed = 0;
        let mut it = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
        while let Some(Ok(msg)) = it.next() {
            consumed = it.byte_offset();
            for (rev, leader) in watch_events(&msg)? {
                shared.apply(None, rev, Some(leader));
            }
        }
        buf.drain(..consumed);
    }
    Ok(())
}

/// The events of one watch message: revision and the leader after it (`None`: deleted).
/// An error when etcd cancelled the watch (compacted revision, ...).
pub(crate) fn watch_events(msg: &Value) -> Result<Vec<(i64, Option<String>)>, String> {
    let result = msg.get("result").unwrap_or(msg);
    if let Some(err) = msg.get("error") {
        return Err(format!("watch error: {err}"));
    }
    if result.get("canceled").and_then(Value::as_bool) == Some(true) {
        return Err(format!(
            "watch cancelled: {}",
            result
                .get("cancel_reason")
                .and_then(Value::as_str)
                .unwrap_or("no reason given")
        ));
    }
    let mut out = Vec::new();
    for ev in result
        .get("events")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let kv = ev.get("kv");
        let rev = kv
            .and_then(|k| k.get("mod_revision"))
            .and_then(as_i64)
            .unwrap_or(0);
        // proto3 JSON omits default values: PUT (0) has no `type`.
        let deleted = ev.get("type").and_then(Value::as_str) == Some("DELETE");
        let leader = if deleted {
            None
        } else {
            kv.and_then(|k| k.get("value"))
                .and_then(Value::as_str)
                .and_then(crate::base64::decode)
                .and_then(|v| String::from_utf8(v).ok())
        };
        out.push((rev, leader));
    }
    Ok(out)
}

/// A range answer: the store's revision and the leader named by the key, if present.
pub(crate) fn parse_range(body: &[u8]) -> Result<(i64, Option<String>), String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("bad answer: {e}"))?;
    let rev = v
        .get("header")
        .and_then(|h| h.get("revision"))
        .and_then(as_i64)
        .ok_or("bad answer: no header.revision")?;
    let leader = v
        .get("kvs")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(|kv| kv.get("value"))
        .and_then(Value::as_str)
        .and_then(crate::base64::decode)
        .and_then(|v| String::from_utf8(v).ok());
    Ok((rev, leader))
}

/// The etcd cluster that answered a range (`header.cluster_id`), and the leader the key
/// names: what the wrong-cluster guard compares.
pub(crate) fn parse_range_cluster(body: &[u8]) -> Result<(String, Option<String>), String> {
    let (_, leader) = parse_range(body)?;
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("bad answer: {e}"))?;
    let id = v
        .get("header")
        .and_then(|h| h.get("cluster_id"))
        .and_then(|i| {
            i.as_str()
                .map(str::to_owned)
                .or_else(|| i.as_u64().map(|n| n.to_string()))
        })
        .ok_or("bad answer: no header.cluster_id")?;
    Ok((id, leader))
}

/// The URL of etcd's v3 range read on `endpoint`.
fn range_url(endpoint: &str) -> String {
    format!("{}/v3/kv/range", endpoint.trim_end_matches('/'))
}

/// One `POST /v3/kv/range` of `key` on `endpoint`, its answer read by `parse`; every
/// error names the URL.
async fn range_once<T>(
    http: &reqwest::Client,
    endpoint: &str,
    key: &str,
    parse: impl FnOnce(&[u8]) -> Result<T, String>,
) -> Result<T, String> {
    let url = range_url(endpoint);
    let resp = http
        .post(&url)
        .timeout(REQUEST_TIMEOUT)
        .json(&json!({ "key": crate::base64::encode(key.as_bytes()) }))
        .send()
        .await
        .map_err(|e| format!("{url}: {}", innermost(&e)))?;
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| format!("{url}: {}", innermost(&e)))?;
    if !status.is_success() {
        return Err(format!("{url}: HTTP {}", status.as_u16()));
    }
    parse(&bytes).map_err(|e| format!("{url}: {e}"))
}

/// Reads `key` once from `endpoint`: the etcd cluster id and the leader it names.
pub(crate) async fn read_leader_once(
    endpoint: &str,
    key: &str,
) -> Result<(String, Option<String>), String> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(REQUEST_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| format!("failed to build the etcd client: {e}"))?;
    range_once(&http, endpoint, key, parse_range_cluster).await
}

/// Reads `key` once from `endpoint`: its value, `None` when the key is absent.
pub(crate) async fn read_value_once(endpoint: &str, key: &str) -> Result<Option<String>, String> {
    read_leader_once(endpoint, key).await.map(|(_, v)| v)
}

/// int64 fields come as strings in proto3 JSON.
fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_namespace() {
        assert_eq!(
            member_key("/service/", "demo", "pg1"),
            "/service/demo/members/pg1"
        );
        assert_eq!(member_key("", "demo", "pg1"), "/demo/members/pg1");
        assert_eq!(leader_key("/service", "demo"), "/service/demo/leader");
        assert_eq!(leader_key("/service/", "demo"), "/service/demo/leader");
        assert_eq!(leader_key("pg", "demo"), "/pg/demo/leader");
        assert_eq!(leader_key("/", "demo"), "/demo/leader");
    }

    #[test]
    fn range_answers() {
        // Shapes as etcd 3.4's gateway answers (int64 as strings, bytes as base64).
        let present = br#"{"header":{"cluster_id":"1","member_id":"2","revision":"42","raft_term":"3"},
            "kvs":[{"key":"L3NlcnZpY2UvZGVtby9sZWFkZXI=","create_revision":"40","mod_revision":"41","version":"2","value":"cGcx","lease":"7"}],"count":"1"}"#;
        assert_eq!(parse_range(present).unwrap(), (42, Some("pg1".into())));
        let absent =
            br#"{"header":{"cluster_id":"1","member_id":"2","revision":"43","raft_term":"3"}}"#;
        assert_eq!(parse_range(absent).unwrap(), (43, None));
        assert!(parse_range(b"{}").is_err());
        assert!(parse_range(b"<html>").is_err());
        assert_eq!(
            parse_range_cluster(present).unwrap(),
            ("1".into(), Some("pg1".into()))
        );
        assert!(parse_range_cluster(br#"{"header":{"revision":"43"}}"#).is_err());
    }

    #[test]
    fn watch_messages() {
        let created: Value =
            serde_json::from_str(r#"{"result":{"header":{"revision":"42"},"created":true}}"#)
                .unwrap();
        assert_eq!(watch_events(&created).unwrap(), vec![]);
        let ev: Value = serde_json::from_str(
            r#"{"result":{"header":{"revision":"45"},"events":[
                {"type":"DELETE","kv":{"key":"x","mod_revision":"44"}},
                {"kv":{"key":"x","mod_revision":"45","value":"cGcy"}}]}}"#,
        )
        .unwrap();
        assert_eq!(
            watch_events(&ev).unwrap(),
            vec![(44, None), (45, Some("pg2".into()))]
        );
        let cancelled: Value = serde_json::from_str(
            r#"{"result":{"canceled":true,"cancel_reason":"mvcc: required revision has been compacted"}}"#,
        )
        .unwrap();
        assert!(watch_events(&cancelled).unwrap_err().contains("compacted"));
    }

    #[test]
    fn a_rebuilt_etcd_starts_its_revisions_again_and_is_believed() {
        let shared = Shared {
            target: DcsTarget {
                endpoints: vec![],
                key: "/service/demo/leader".into(),
            },
            http: reqwest::Client::new(),
            state: Mutex::new(KeyState::default()),
            timeline: Timeline::new(),
            live: Arc::new(AtomicBool::new(false)),
        };
        shared.apply(Some(Instant::now()), 5000, Some(Some("pg1".into())));
        shared.apply(None, 5001, Some(None));
        // etcd is wiped and bootstrapped again (same cluster id): revisions start from 1.
        // A read sent after 5001 was applied answers 7: that is the store now.
        shared.apply(Some(Instant::now()), 7, Some(Some("pg3".into())));
        let leader = |sh: &Shared| {
            sh.timeline
                .since(0)
                .last()
                .and_then(|s| s.observation.cluster_leader.clone())
        };
        assert_eq!(leader(&shared).as_deref(), Some("pg3"));
        // The new store's watch events after that are applied as usual.
        shared.apply(None, 8, Some(Some("pg2".into())));
        assert_eq!(leader(&shared).as_deref(), Some("pg2"));
    }

    #[test]
    fn older_answers_do_not_turn_the_leader_back() {
        let shared = Shared {
            target: DcsTarget {
                endpoints: vec![],
                key: "/service/demo/leader".into(),
            },
            http: reqwest::Client::new(),
            state: Mutex::new(KeyState::default()),
            timeline: Timeline::new(),
            live: Arc::new(AtomicBool::new(false)),
        };
        let sent = Instant::now();
        shared.apply(Some(sent), 10, Some(None));
        // Never seen: not trusted.
        let s = shared.timeline.since(0);
        assert!(!s[0].observation.reachable);
        shared.apply(Some(sent), 12, Some(Some("pg2".into())));
        // A read sent before 12 was applied, answered late.
        shared.apply(Some(sent), 11, Some(Some("pg1".into())));
        shared.apply(None, 13, Some(None));
        let leaders: Vec<_> = shared
            .timeline
            .since(1)
            .iter()
            .map(|s| {
                (
                    s.observation.reachable,
                    s.observation.cluster_leader.clone(),
                )
            })
            .collect();
        assert_eq!(
            leaders,
            vec![
                (true, Some("pg2".into())),
                (true, Some("pg2".into())),
                (true, None)
            ]
        );
    }
}
