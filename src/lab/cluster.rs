//! What the lab's cluster looks like, from Patroni's REST API and HAProxy's stats page:
//! readiness for `lab up` and the table of `lab status`.

use std::fmt;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use serde::Deserialize;

use super::config::{HAPROXY_STATS_PORT, PATRONI_PORT};
use super::topology::{LabState, NodeKind};

/// A minimal HTTP/1.0 GET (the lab only talks to Patroni and HAProxy on its own bridge);
/// returns the status code and the body.
pub(crate) fn http_get(
    ip: Ipv4Addr,
    port: u16,
    path: &str,
    timeout: Duration,
) -> std::io::Result<(u16, String)> {
    let addr = SocketAddr::from((ip, port));
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(
        format!("GET {path} HTTP/1.0\r\nHost: {ip}:{port}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP response")
        })?;
    let chunked = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding")
                && v.trim().eq_ignore_ascii_case("chunked")
        })
    });
    // HAProxy's stats page answers even an HTTP/1.0 request with a chunked body.
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((code, body))
}

/// The payload of a chunked HTTP body (chunk extensions and trailers ignored; a truncated
/// body yields what arrived).
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size_line, rest)) = body.split_once("\r\n") {
        let size = size_line.split(';').next().unwrap_or("").trim();
        let Ok(n) = usize::from_str_radix(size, 16) else {
            break;
        };
        if n == 0 {
            break;
        }
        let Some(chunk) = rest.get(..n) else {
            out.push_str(rest);
            break;
        };
        out.push_str(chunk);
        body = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

/// One member as `GET /cluster` reports it.
#[derive(Clone, Debug, Deserialize)]
pub struct Member {
    /// Member name.
    pub name: String,
    /// `leader`, `replica`, `sync_standby`, ...
    #[serde(default)]
    pub role: String,
    /// `running`, `streaming`, `stopped`, ...
    #[serde(default)]
    pub state: String,
    /// PostgreSQL host.
    #[serde(default)]
    pub host: String,
    /// Timeline.
    #[serde(default)]
    pub timeline: Option<u64>,
    /// Replication lag in bytes (a number, or a string like "unknown").
    #[serde(default)]
    pub lag: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct ClusterResponse {
    #[serde(default)]
    members: Vec<Member>,
}

#[derive(Debug, Deserialize)]
struct Replication {
    #[serde(default)]
    application_name: String,
    #[serde(default)]
    state: String,
}

#[derive(Debug, Deserialize)]
struct PatroniResponse {
    #[serde(default)]
    replication: Vec<Replication>,
}

const TIMEOUT: Duration = Duration::from_secs(2);

/// Members as seen by the first Patroni node that answers.
pub(crate) fn members(state: &LabState) -> Option<Vec<Member>> {
    for n in state
        .nodes
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::Patroni | NodeKind::Spare))
    {
        if let Ok((200, body)) = http_get(n.ip, PATRONI_PORT, "/cluster", TIMEOUT)
            && let Ok(c) = serde_json::from_str::<ClusterResponse>(&body)
        {
            return Some(c.members);
        }
    }
    None
}

fn is_leader(m: &Member) -> bool {
    matches!(m.role.as_str(), "leader" | "master" | "primary") && m.state == "running"
}

/// How far the cluster is from "one leader and N-1 streaming replicas".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// The leader, if any.
    pub leader: Option<String>,
    /// Replicas streaming from the leader (from the leader's `pg_stat_replication`).
    pub streaming: Vec<String>,
    /// HAProxy routes writes to the leader.
    pub haproxy_ready: bool,
}

impl Readiness {
    /// Whether the lab is ready for `wanted` Patroni members.
    pub fn ready(&self, wanted: usize) -> bool {
        self.leader.is_some() && self.streaming.len() + 1 >= wanted && self.haproxy_ready
    }
}

impl fmt::Display for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.leader {
            None => write!(f, "no leader yet"),
            Some(l) => write!(
                f,
                "leader {l}, streaming replicas [{}], HAProxy {}",
                self.streaming.join(", "),
                if self.haproxy_ready {
                    "routes writes (PgBouncer listening)"
                } else {
                    "not routing writes yet (or PgBouncer not listening)"
                }
            ),
        }
    }
}

/// Checks the cluster once.
pub fn readiness(state: &LabState) -> Readiness {
    let mut r = Readiness::default();
    let Some(members) = members(state) else {
        return r;
    };
    let Some(leader) = members.iter().find(|m| is_leader(m)) else {
        return r;
    };
    r.leader = Some(leader.name.clone());
    // /cluster says `running` for replicas before Patroni 3.0.4 even when not streaming,
    // so ask the leader which replicas actually stream from it.
    if let Ok(node) = state.node(&leader.name)
        && let Ok((200, body)) = http_get(node.ip, PATRONI_PORT, "/patroni", TIMEOUT)
        && let Ok(p) = serde_json::from_str::<PatroniResponse>(&body)
    {
        r.streaming = p
            .replication
            .into_iter()
            .filter(|x| x.state == "streaming")
            .map(|x| x.application_name)
            .filter(|n| members.iter().any(|m| &m.name == n))
            .collect();
        r.streaming.sort();
    }
    r.haproxy_ready = haproxy_routes_to(state, &leader.name) && pgbouncer_listens(state);
    r
}

/// Whether PgBouncer (beside HAProxy) accepts connections.
fn pgbouncer_listens(state: &LabState) -> bool {
    pgbouncer_status(state).is_none_or(|(_, up)| up)
}

/// PgBouncer's address (on the HAProxy node) and whether it accepts TCP connections.
pub(crate) fn pgbouncer_status(state: &LabState) -> Option<(Ipv4Addr, bool)> {
    let h = state.nodes_of(NodeKind::Haproxy).next()?;
    let addr = std::net::SocketAddr::from((h.ip, super::config::PGBOUNCER_PORT));
    Some((
        h.ip,
        std::net::TcpStream::connect_timeout(&addr, TIMEOUT).is_ok(),
    ))
}

/// Whether HAProxy's write listener has exactly `leader` UP.
fn haproxy_routes_to(state: &LabState, leader: &str) -> bool {
    let Some(h) = state.nodes_of(NodeKind::Haproxy).next() else {
        return true;
    };
    let Ok((200, csv)) = http_get(h.ip, HAPROXY_STATS_PORT, "/;csv", TIMEOUT) else {
        return false;
    };
    let Some(servers) = crate::haproxy::parse(&csv) else {
        return false;
    };
    let up: Vec<&str> = servers
        .iter()
        .filter(|s| s.proxy == "primary" && s.status == "UP")
        .map(|s| s.server.as_str())
        .collect();
    up == [leader]
}

/// `lab status`: members, their state, and which nodes are down.
pub struct Status {
    /// Members reported by Patroni (none when no node answered).
    pub members: Option<Vec<Member>>,
    /// Nodes and whether each runs (`None`: powered off).
    pub nodes: Vec<(String, Ipv4Addr, NodeKind, NodePower)>,
    /// PgBouncer's address and whether it accepts connections (`None`: no HAProxy node).
    pub pgbouncer: Option<(Ipv4Addr, bool)>,
}

/// A node's power state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodePower {
    /// Its init runs.
    On,
    /// Powered off (poweroff or `lab power-off`); waits for `lab power-on`.
    Off,
    /// Between two boots (rebooting), or its keeper is gone.
    Down,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.members {
            None => writeln!(f, "no Patroni node answers on its REST API")?,
            Some(members) => {
                let rows: Vec<[String; 6]> = members
                    .iter()
                    .map(|m| {
                        let lag = match &m.lag {
                            Some(serde_json::Value::Number(n)) => {
                                let mb = n.as_f64().unwrap_or(0.0) / 1048576.0;
                                format!("{mb:.0}")
                            }
                            Some(serde_json::Value::String(s)) => s.clone(),
                            _ => String::new(),
                        };
                        [
                            m.name.clone(),
                            m.host.clone(),
                            m.role.clone(),
                            m.state.clone(),
                            m.timeline.map(|t| t.to_string()).unwrap_or_default(),
                            lag,
                        ]
                    })
                    .collect();
                let head = ["Member", "Host", "Role", "State", "TL", "Lag in MB"];
                let mut w = head.map(str::len);
                for r in &rows {
                    for (i, c) in r.iter().enumerate() {
                        w[i] = w[i].max(c.len());
                    }
                }
                let line = |f: &mut fmt::Formatter<'_>, cells: &[&str]| -> fmt::Result {
                    write!(f, "|")?;
                    for (i, c) in cells.iter().enumerate() {
                        write!(f, " {c:<width$} |", width = w[i])?;
                    }
                    writeln!(f)
                };
                let sep = |f: &mut fmt::Formatter<'_>| -> fmt::Result {
                    write!(f, "+")?;
                    for x in w {
                        write!(f, "{}+", "-".repeat(x + 2))?;
                    }
                    writeln!(f)
                };
                writeln!(f, "+ Cluster: pgchaos-lab")?;
                sep(f)?;
                line(f, &head)?;
                sep(f)?;
                for r in &rows {
                    line(f, &r.iter().map(String::as_str).collect::<Vec<_>>())?;
                }
                sep(f)?;
            }
        }
        let off: Vec<&str> = self
            .nodes
            .iter()
            .filter(|n| n.3 == NodePower::Off)
            .map(|n| n.0.as_str())
            .collect();
        let down: Vec<&str> = self
            .nodes
            .iter()
            .filter(|n| n.3 == NodePower::Down)
            .map(|n| n.0.as_str())
            .collect();
        writeln!(
            f,
            "nodes: {}",
            self.nodes
                .iter()
                .map(|n| format!("{} {}", n.0, n.1))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        if !off.is_empty() {
            writeln!(
                f,
                "powered off: {} (pgchaos lab power-on NODE)",
                off.join(", ")
            )?;
        }
        if !down.is_empty() {
            writeln!(f, "down (rebooting or keeper gone): {}", down.join(", "))?;
        }
        if let Some((ip, up)) = self.pgbouncer {
            let port = super::config::PGBOUNCER_PORT;
            let state = if up { "listening" } else { "not listening" };
            writeln!(f, "pgbouncer: {ip}:{port} {state}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunked_body_is_joined_and_a_plain_one_kept() {
        assert_eq!(
            dechunk("5\r\n# pxn\r\n7;x=1\r\name,svn\r\n0\r\n\r\n"),
            "# pxname,svn"
        );
        assert_eq!(dechunk("4\r\nab"), "ab", "truncated: what arrived");
        assert_eq!(dechunk(""), "");
    }
}
