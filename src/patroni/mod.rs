//! A client for Patroni's REST API, for Patroni 3.0.x and 4.x.
//!
//! One `reqwest` client (rustls) serves every node: connections are pooled per node and
//! every call is bounded by the inventory's `cluster.patroni.timeout`, so an unreachable
//! or blackholed node costs at most that long. Operations (switchover, restart, ...) get
//! a longer bound because Patroni answers them only once it has polled the outcome.
//! The samplers, which ask two URLs of every node ten times a second, use a lean client
//! of their own over plain HTTP ([`PatroniClient::node_http`]); HTTPS goes through here.
//!
//! An HTTP status other than 2xx from an operation is not an error here: a 412 refusal
//! is exactly what some scenarios expect, so callers get the status and the body.

pub(crate) mod identity;
mod lean;
mod model;
mod roles;

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::inventory::{Inventory, Node, Scheme};
use crate::secret::{Secret, SecretError};

pub(crate) use lean::{Answer, NodeHttp};
pub(crate) use model::{ClusterStatus, MemberView, PatroniStatus, StatusFacts};
pub(crate) use roles::{MemberRole, MemberState, role_matches, state_matches};

/// Time allowed for operations (switchover, failover, restart, reinitialize, reload,
/// config changes) when it exceeds the per-call timeout: Patroni's switchover handler
/// polls the DCS for up to twice `max(10 s, loop_wait)` before it answers.
pub(crate) const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a REST call gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The client could not be built (unreadable CA or client certificate, ...).
    #[error("failed to set up the Patroni REST client: {0}")]
    Setup(String),
    /// The basic-auth password could not be read.
    #[error("failed to read the Patroni REST API password")]
    Secret(#[from] SecretError),
    /// No answer within the timeout.
    #[error("failed to get an answer from {url} within {after:?}")]
    Timeout {
        /// The URL.
        url: String,
        /// The timeout.
        after: Duration,
    },
    /// The connection failed (refused, reset, TLS, DNS, ...).
    #[error("failed to reach {url}: {message}")]
    Connect {
        /// The URL.
        url: String,
        /// The innermost cause, short.
        message: String,
    },
    /// An HTTP status that carries no usable body for this call.
    #[error("failed to query {url}: HTTP {status}: {body}")]
    Status {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Start of the body.
        body: String,
    },
    /// The body was not the JSON expected.
    #[error("failed to parse the answer of {url}: {message}")]
    Decode {
        /// The URL.
        url: String,
        /// What was wrong.
        message: String,
    },
}

impl ApiError {
    /// A short description for observation records (no URL, innermost cause only).
    pub fn short(&self) -> String {
        match self {
            ApiError::Setup(m) => m.clone(),
            ApiError::Secret(e) => e.to_string(),
            ApiError::Timeout { after, .. } => format!("timeout after {after:?}"),
            ApiError::Connect { message, .. } => message.clone(),
            ApiError::Status { status, .. } => format!("HTTP {status}"),
            ApiError::Decode { message, .. } => format!("bad answer: {message}"),
        }
    }
}

/// An operation's answer: any HTTP status, with the body as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiResponse {
    /// HTTP status (200, 412, 503, ...).
    pub status: u16,
    /// The body (Patroni answers operations with a plain-text message).
    pub body: String,
}

impl ApiResponse {
    /// 2xx.
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A Patroni REST client for every node of an inventory.
#[derive(Clone)]
pub struct PatroniClient {
    http: reqwest::Client,
    scheme: &'static str,
    port: u16,
    auth: Option<(String, Secret)>,
    timeout: Duration,
    operation_timeout: Duration,
}

impl std::fmt::Debug for PatroniClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password is a `Secret`, whose Debug is redacted; list fields explicitly anyway.
        f.debug_struct("PatroniClient")
            .field("scheme", &self.scheme)
            .field("port", &self.port)
            .field("auth_user", &self.auth.as_ref().map(|(u, _)| u))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl PatroniClient {
    /// Builds the client from the inventory's `cluster.patroni` section. The password is
    /// read once, here.
    pub fn new(inv: &Inventory) -> Result<Self, ApiError> {
        let api = &inv.cluster.patroni;
        let timeout = api.timeout.get();
        let mut b = reqwest::Client::builder()
            // Lab and cluster addresses must never go through a proxy from the environment.
            .no_proxy()
            .connect_timeout(timeout)
            .timeout(timeout.max(DEFAULT_OPERATION_TIMEOUT))
            .pool_max_idle_per_host(4)
            .tcp_nodelay(true)
            .user_agent(concat!("pgchaos/", env!("CARGO_PKG_VERSION")));
        if api.scheme == Scheme::Https {
            if let Some(ca) = &api.tls.ca_file {
                let pem = std::fs::read(ca).map_err(|e| {
                    ApiError::Setup(format!("failed to read CA file {}: {e}", ca.display()))
                })?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                    ApiError::Setup(format!("failed to parse CA file {}: {e}", ca.display()))
                })?;
                b = b.tls_certs_merge(certs);
            }
            if !api.tls.verify {
                b = b.tls_danger_accept_invalid_certs(true);
            }
            match (&api.tls.client_cert, &api.tls.client_key) {
                (Some(cert), key) => {
                    let mut pem = std::fs::read(cert).map_err(|e| {
                        ApiError::Setup(format!(
                            "failed to read client certificate {}: {e}",
                            cert.display()
                        ))
                    })?;
                    if let Some(key) = key {
                        pem.push(b'\n');
                        pem.extend(std::fs::read(key).map_err(|e| {
                            ApiError::Setup(format!(
                                "failed to read client key {}: {e}",
                                key.display()
                            ))
                        })?);
                    }
                    let id = reqwest::Identity::from_pem(&pem).map_err(|e| {
                        ApiError::Setup(format!("failed to load client certificate: {e}"))
                    })?;
                    b = b.identity(id);
                }
                (None, Some(_)) => {
                    return Err(ApiError::Setup(
                        "failed to load client key: tls.client_key needs tls.client_cert".into(),
                    ));
                }
                (None, None) => {}
            }
        }
        let http = b
            .build()
            .map_err(|e| ApiError::Setup(format!("failed to build HTTP client: {e}")))?;
        let auth = match &api.auth {
            Some(a) => Some((a.username.clone(), a.password.resolve()?)),
            None => None,
        };
        Ok(Self {
            http,
            scheme: match api.scheme {
                Scheme::Http => "http",
                Scheme::Https => "https",
            },
            port: api.port,
            auth,
            timeout,
            operation_timeout: timeout.max(DEFAULT_OPERATION_TIMEOUT),
        })
    }

    /// The URL of `path` on `node`'s REST API.
    pub(crate) fn url(&self, node: &Node, path: &str) -> String {
        let host = if node.host.contains(':') && !node.host.starts_with('[') {
            format!("[{}]", node.host)
        } else {
            node.host.clone()
        };
        let sep = if path.starts_with('/') { "" } else { "/" };
        format!("{}://{}:{}{}{}", self.scheme, host, self.port, sep, path)
    }

    /// Sends one request and reads the whole body, bounded by `timeout`.
    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<(u16, String), ApiError> {
        self.send_to(method, url, url, body, timeout).await
    }

    /// [`PatroniClient::send`] to a URL of any form reqwest takes (a parsed one skips
    /// parsing on every call); `shown` names it in errors.
    async fn send_to<U: reqwest::IntoUrl>(
        &self,
        method: Method,
        url: U,
        shown: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<(u16, String), ApiError> {
        let url_str = shown;
        let mut req = self.http.request(method, url).timeout(timeout);
        if let Some((user, pass)) = &self.auth {
            req = req.basic_auth(user, Some(pass.expose()));
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let fut = async {
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let text = resp.text().await?;
            Ok::<_, reqwest::Error>((status, text))
        };
        // reqwest's own timeout covers the request; the outer one is a backstop so no
        // code path can hang a sampler.
        match tokio::time::timeout(timeout + Duration::from_millis(100), fut).await {
            Err(_) => Err(ApiError::Timeout {
                url: url_str.to_owned(),
                after: timeout,
            }),
            Ok(Err(e)) if e.is_timeout() => Err(ApiError::Timeout {
                url: url_str.to_owned(),
                after: timeout,
            }),
            Ok(Err(e)) => Err(ApiError::Connect {
                url: url_str.to_owned(),
                message: innermost(&e),
            }),
            Ok(Ok(r)) => Ok(r),
        }
    }

    /// GETs a JSON document; `ok` lists the statuses whose body is meaningful.
    async fn get_json(&self, node: &Node, path: &str, ok: &[u16]) -> Result<Value, ApiError> {
        let url = self.url(node, path);
        let (status, text) = self.send(Method::GET, &url, None, self.timeout).await?;
        if !ok.contains(&status) {
            return Err(ApiError::Status {
                url,
                status,
                body: truncate(&text, 200),
            });
        }
        serde_json::from_str(&text).map_err(|e| ApiError::Decode {
            url,
            message: e.to_string(),
        })
    }

    /// The samplers' own client for `node`: a lean HTTP/1.1 GET over one connection
    /// (see `lean`), when the REST API is plain HTTP. With HTTPS there is none and the
    /// samplers use this client (rustls, client certificates).
    pub(crate) fn node_http(&self, node: &Node) -> Option<NodeHttp> {
        (self.scheme == "http")
            .then(|| NodeHttp::new(&node.host, self.port, self.auth.as_ref(), self.timeout))
    }

    /// The parsed URL of `path` on `node`, for callers that ask the same URL again and
    /// again (the samplers).
    pub(crate) fn parsed_url(&self, node: &Node, path: &str) -> Option<reqwest::Url> {
        reqwest::Url::parse(&self.url(node, path)).ok()
    }

    /// GETs a JSON document from a parsed URL; `ok` lists the statuses whose body is
    /// meaningful.
    async fn get_json_at(&self, url: &reqwest::Url, ok: &[u16]) -> Result<Value, ApiError> {
        let shown = url.as_str();
        let (status, text) = self
            .send_to(Method::GET, url.clone(), shown, None, self.timeout)
            .await?;
        if !ok.contains(&status) {
            return Err(ApiError::Status {
                url: shown.to_owned(),
                status,
                body: truncate(&text, 200),
            });
        }
        serde_json::from_str(&text).map_err(|e| ApiError::Decode {
            url: shown.to_owned(),
            message: e.to_string(),
        })
    }

    /// [`PatroniClient::status`] at `url` (from [`PatroniClient::parsed_url`]).
    pub(crate) async fn status_at(&self, url: &reqwest::Url) -> Result<PatroniStatus, ApiError> {
        let v = self.get_json_at(url, &[200, 503]).await?;
        Ok(PatroniStatus::from_json(v))
    }

    /// [`PatroniClient::cluster`] at `url` (from [`PatroniClient::parsed_url`]).
    pub(crate) async fn cluster_at(&self, url: &reqwest::Url) -> Result<ClusterStatus, ApiError> {
        let v = self.get_json_at(url, &[200]).await?;
        Ok(ClusterStatus::from_json(v))
    }

    /// `GET /patroni`. A 503 still carries the JSON status (PostgreSQL not running), so
    /// both 200 and 503 bodies are parsed.
    pub async fn status(&self, node: &Node) -> Result<PatroniStatus, ApiError> {
        let v = self.get_json(node, "/patroni", &[200, 503]).await?;
        Ok(PatroniStatus::from_json(v))
    }

    /// `GET /cluster`, normalised, with the raw JSON kept.
    pub async fn cluster(&self, node: &Node) -> Result<ClusterStatus, ApiError> {
        let v = self.get_json(node, "/cluster", &[200]).await?;
        Ok(ClusterStatus::from_json(v))
    }

    /// `GET /history`: the cluster's timeline history as the leader wrote it into the DCS
    /// from its own history file (Patroni docs, "Cluster history endpoint"; `ha.py`
    /// `update_cluster_history`): one line per ended timeline, `[timeline, lsn, reason,
    /// timestamp, new_leader]`. Returns the timelines the lines name.
    pub(crate) async fn history(&self, node: &Node) -> Result<Vec<u64>, ApiError> {
        let v = self.get_json(node, "/history", &[200]).await?;
        Ok(v.as_array()
            .map(|lines| {
                lines
                    .iter()
                    .filter_map(|l| l.get(0).and_then(Value::as_u64))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// A health-check endpoint (`/primary`, `/replica?lag=1MB`, `/read-only`, ...): only
    /// the HTTP status, which is the answer.
    pub async fn health(&self, node: &Node, path: &str) -> Result<u16, ApiError> {
        let url = self.url(node, path);
        self.send(Method::GET, &url, None, self.timeout)
            .await
            .map(|(s, _)| s)
    }

    async fn operation(
        &self,
        method: Method,
        on: &Node,
        path: &str,
        body: &Value,
    ) -> Result<ApiResponse, ApiError> {
        let url = self.url(on, path);
        let (status, body) = self
            .send(method, &url, Some(body), self.operation_timeout)
            .await?;
        Ok(ApiResponse { status, body })
    }

    /// `POST /switchover`. Patroni 3.0.x and 4.x both read `leader` and `candidate`
    /// (`member` is an older alias of `candidate`); 3.0.x and 4.x refuse a switchover
    /// without `leader` with 400, so callers normally name it.
    pub async fn switchover(
        &self,
        on: &Node,
        leader: Option<&str>,
        candidate: Option<&str>,
    ) -> Result<ApiResponse, ApiError> {
        let body = switchover_body(leader, candidate, None);
        self.operation(Method::POST, on, "/switchover", &body).await
    }

    /// `POST /switchover` with `scheduled_at`: Patroni (3.0 and 4.x) answers 202 and its
    /// leader performs the switchover at that time, by its own clock
    /// (`Ha.should_run_scheduled_action` sleeps until it when it is less than a loop away).
    pub(crate) async fn scheduled_switchover(
        &self,
        on: &Node,
        leader: Option<&str>,
        candidate: Option<&str>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<ApiResponse, ApiError> {
        let body = switchover_body(leader, candidate, Some(at));
        self.operation(Method::POST, on, "/switchover", &body).await
    }

    /// `POST /failover` to `candidate` (Patroni requires a candidate for failover).
    pub(crate) async fn failover(
        &self,
        on: &Node,
        candidate: &str,
    ) -> Result<ApiResponse, ApiError> {
        self.operation(
            Method::POST,
            on,
            "/failover",
            &json!({ "candidate": candidate }),
        )
        .await
    }

    /// `POST /restart` (restart PostgreSQL on `on` now).
    pub(crate) async fn restart(
        &self,
        on: &Node,
        schedule: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<ApiResponse, ApiError> {
        // An empty JSON object: both versions accept it as "no conditions". A schedule is
        // an ISO 8601 timestamp with its zone (patroni/api.py `parse_schedule`), to the
        // second.
        let body = match schedule {
            Some(at) => json!({
                "schedule": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
            }),
            None => json!({}),
        };
        self.operation(Method::POST, on, "/restart", &body).await
    }

    /// `POST /reinitialize` (rebuild `on` from the leader; refused on the leader).
    pub(crate) async fn reinitialize(&self, on: &Node) -> Result<ApiResponse, ApiError> {
        self.operation(Method::POST, on, "/reinitialize", &json!({}))
            .await
    }

    /// `POST /reload` (Patroni rereads its configuration file).
    pub(crate) async fn reload(&self, on: &Node) -> Result<ApiResponse, ApiError> {
        self.operation(Method::POST, on, "/reload", &json!({}))
            .await
    }

    /// `GET /config`: the dynamic configuration stored in the DCS.
    pub(crate) async fn config(&self, on: &Node) -> Result<Value, ApiError> {
        self.get_json(on, "/config", &[200]).await
    }

    /// `PATCH /config` with a JSON merge patch (`null` removes a key).
    pub(crate) async fn patch_config(
        &self,
        on: &Node,
        patch: &Value,
    ) -> Result<ApiResponse, ApiError> {
        self.operation(Method::PATCH, on, "/config", patch).await
    }
}

/// The body of a lean answer when its status is one of `ok`, else the error naming it.
pub(crate) fn answer_body<'a>(
    http: &'a NodeHttp,
    path: &str,
    answer: &Answer,
    ok: &[u16],
) -> Result<&'a [u8], ApiError> {
    let body = http.body(answer);
    if ok.contains(&answer.status) {
        Ok(body)
    } else {
        Err(ApiError::Status {
            url: http.url(path),
            status: answer.status,
            body: truncate(&String::from_utf8_lossy(body), 200),
        })
    }
}

/// The innermost cause of an error: reqwest wraps hyper wraps io, and only the last one
/// ("Connection refused (os error 111)") says what happened.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let s = cur.to_string();
    if s.is_empty() { e.to_string() } else { s }
}

fn truncate(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// The body of `POST /switchover`; `scheduled_at` as ISO 8601 with its offset (Patroni
/// refuses a time without one).
fn switchover_body(
    leader: Option<&str>,
    candidate: Option<&str>,
    at: Option<chrono::DateTime<chrono::Utc>>,
) -> Value {
    let mut body = serde_json::Map::new();
    if let Some(l) = leader {
        body.insert("leader".into(), json!(l));
    }
    if let Some(c) = candidate {
        body.insert("candidate".into(), json!(c));
    }
    if let Some(t) = at {
        body.insert(
            "scheduled_at".into(),
            json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)),
        );
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Role;

    #[test]
    fn a_scheduled_switchover_names_its_time_with_an_offset() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-02T16:40:05.750Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let b = switchover_body(Some("pg1"), None, Some(at));
        assert_eq!(
            b,
            json!({"leader": "pg1", "scheduled_at": "2026-12-02T16:40:05+00:00"})
        );
        assert_eq!(
            switchover_body(Some("pg1"), Some("pg2"), None),
            json!({"leader": "pg1", "candidate": "pg2"})
        );
    }

    fn inv(yaml: &str) -> Inventory {
        crate::inventory::parse(std::path::Path::new("t.yml"), yaml)
            .expect("inventory parses")
            .inventory
    }

    fn node(host: &str) -> Node {
        Node {
            name: "n".into(),
            host: host.into(),
            roles: vec![Role::Patroni],
            ssh: Default::default(),
            operations: Default::default(),
        }
    }

    #[test]
    fn urls_follow_scheme_port_and_ipv6() {
        let i = inv(
            "cluster: {scope: demo, patroni: {port: 8443, scheme: https}}\nnodes: [{name: a, host: 10.0.0.1, roles: [patroni]}]\n",
        );
        let c = PatroniClient::new(&i).unwrap();
        assert_eq!(
            c.url(&node("10.0.0.1"), "/cluster"),
            "https://10.0.0.1:8443/cluster"
        );
        assert_eq!(c.url(&node("::1"), "patroni"), "https://[::1]:8443/patroni");
    }

    #[test]
    fn missing_password_is_an_error_that_names_no_value() {
        let i = inv(
            "cluster: {scope: demo, patroni: {auth: {username: u, password: {env: PGCHAOS_TEST_UNSET_PW}}}}\nnodes: [{name: a, host: h, roles: [patroni]}]\n",
        );
        let e = PatroniClient::new(&i).unwrap_err();
        assert!(matches!(e, ApiError::Secret(_)), "{e}");
    }

    #[test]
    fn debug_hides_password() {
        // SAFETY: test-only env var with a unique name, set before the client reads it.
        unsafe { std::env::set_var("PGCHAOS_TEST_PW_DEBUG", "s3cr3t-value") };
        let i = inv(
            "cluster: {scope: demo, patroni: {auth: {username: u, password: {env: PGCHAOS_TEST_PW_DEBUG}}}}\nnodes: [{name: a, host: h, roles: [patroni]}]\n",
        );
        let c = PatroniClient::new(&i).unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t-value"));
    }

    #[test]
    fn truncates_on_char_boundary() {
        assert_eq!(truncate("héllo", 2), "h...");
        assert_eq!(truncate(" ok ", 10), "ok");
    }
}
