//! The Patroni REST client and the observers against stand-ins on loopback: a tiny fake
//! Patroni (HTTP), a blackhole (accepts, never answers), and a throwaway PostgreSQL 15
//! (primary and streaming replica) for the SQL sampler.
//!
//! These test client mechanics only; behaviour against real Patroni is tested on the lab.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pgchaos::inventory::{Inventory, parse};
use pgchaos::observe::{ObserveConfig, Observers, PgSettings, Timeline, probe_once, sample_rates};
use pgchaos::patroni::{ApiError, PatroniClient};
use pgchaos::results::ObservationSource;
use pgchaos::transport::Transport;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------------------------------
// Fake Patroni
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
    body: String,
}

#[derive(Clone)]
enum Behaviour {
    /// Answers like a Patroni node.
    Patroni {
        patroni_status: u16,
        patroni: &'static str,
        cluster: &'static str,
    },
    /// Accepts connections and never answers.
    Blackhole,
}

struct FakeServer {
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeServer {
    fn start(listener: TcpListener, behaviour: Behaviour) -> FakeServer {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let task = tokio::spawn(async move {
            // Blackholed sockets are kept here so they stay open and silent.
            let mut held = Vec::new();
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                match &behaviour {
                    Behaviour::Blackhole => held.push(sock),
                    Behaviour::Patroni { .. } => {
                        tokio::spawn(serve(sock, behaviour.clone(), seen2.clone()));
                    }
                }
            }
        });
        FakeServer { seen, task }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve(mut sock: TcpStream, behaviour: Behaviour, seen: Arc<Mutex<Vec<Seen>>>) {
    let Behaviour::Patroni {
        patroni_status,
        patroni,
        cluster,
    } = behaviour
    else {
        return;
    };
    // Keep-alive: serve requests until the client closes.
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(p) = find(&buf, b"\r\n\r\n") {
                break p;
            }
            let mut chunk = [0u8; 4096];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default().to_owned();
        let mut parts = request_line.split(' ');
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut len = 0usize;
        let mut authorization = None;
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    "authorization" => authorization = Some(v.trim().to_owned()),
                    _ => {}
                }
            }
        }
        let body_start = head_end + 4;
        while buf.len() < body_start + len {
            let mut chunk = [0u8; 4096];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = String::from_utf8_lossy(&buf[body_start..body_start + len]).into_owned();
        buf.drain(..body_start + len);
        seen.lock().unwrap().push(Seen {
            method: method.clone(),
            path: path.clone(),
            authorization,
            body,
        });
        let (status, ctype, text) = match (method.as_str(), path.as_str()) {
            ("GET", "/patroni") => (patroni_status, "application/json", patroni.to_owned()),
            ("GET", "/cluster") => (200, "application/json", cluster.to_owned()),
            ("GET", "/primary") => (503, "application/json", patroni.to_owned()),
            ("POST", "/switchover") => (412, "text/html", "candidate does not exists".to_owned()),
            _ => (404, "text/plain", "not found".to_owned()),
        };
        let resp = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        if sock.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

const PATRONI_302_STOPPED: &str = r#"{"state": "stopped", "role": "replica",
    "dcs_last_seen": 1714644672, "patroni": {"version": "3.0.2", "scope": "demo"}}"#;
const PATRONI_41_PRIMARY: &str = r#"{"state": "running", "role": "primary",
    "xlog": {"location": 67108960}, "timeline": 3,
    "patroni": {"version": "4.1.0", "scope": "demo", "name": "a"}}"#;
const CLUSTER_41: &str = r#"{"members": [
    {"name": "a", "role": "leader", "state": "running", "timeline": 3},
    {"name": "b", "role": "replica", "state": "streaming", "timeline": 3, "lag": 0,
     "lsn": "0/4000060", "receive_lsn": "0/4000060", "replay_lsn": "0/4000060"}],
    "scope": "demo"}"#;

/// Binds `ips` on one common free port (the inventory has one REST port for all nodes).
async fn bind_same_port(ips: &[&str]) -> (u16, Vec<TcpListener>) {
    for _ in 0..50 {
        let first = TcpListener::bind((ips[0], 0)).await.expect("bind loopback");
        let port = first.local_addr().unwrap().port();
        let mut all = vec![first];
        for ip in &ips[1..] {
            let addr = SocketAddr::new(ip.parse::<IpAddr>().unwrap(), port);
            match TcpListener::bind(addr).await {
                Ok(l) => all.push(l),
                Err(_) => break,
            }
        }
        if all.len() == ips.len() {
            return (port, all);
        }
    }
    panic!("no common free port on {ips:?}");
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn inventory(
    nodes: &[(&str, &str)],
    rest_port: u16,
    extra_patroni: &str,
    pg_port: u16,
) -> Inventory {
    let mut y = format!(
        "cluster:\n  scope: demo\n  patroni: {{port: {rest_port}, timeout: 300ms{extra_patroni}}}\n  postgres: {{port: {pg_port}, timeout: 500ms, sslmode: disable}}\nnodes:\n"
    );
    for (name, host) in nodes {
        y.push_str(&format!(
            "  - {{name: {name}, host: {host}, roles: [patroni]}}\n"
        ));
    }
    parse(Path::new("test-inventory.yml"), &y)
        .expect("test inventory parses")
        .inventory
}

// ---------------------------------------------------------------------------------------
// REST client mechanics
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn status_parses_503_bodies_and_sends_basic_auth() {
    let (port, mut ls) = bind_same_port(&["127.0.0.1"]).await;
    let srv = FakeServer::start(
        ls.remove(0),
        Behaviour::Patroni {
            patroni_status: 503,
            patroni: PATRONI_302_STOPPED,
            cluster: CLUSTER_41,
        },
    );
    // SAFETY: a variable name unique to this test, set before anything reads it.
    unsafe { std::env::set_var("PGCHAOS_TEST_REST_PW", "s3cret") };
    let inv = inventory(
        &[("a", "127.0.0.1")],
        port,
        ", auth: {username: patroni, password: {env: PGCHAOS_TEST_REST_PW}}",
        closed_port(),
    );
    let client = PatroniClient::new(&inv).unwrap();
    let node = &inv.nodes[0];

    let s = client
        .status(node)
        .await
        .expect("503 carries a usable body");
    assert_eq!(s.state, "stopped");
    assert_eq!(s.role, "replica");
    assert_eq!(s.version.as_deref(), Some("3.0.2"));

    let c = client.cluster(node).await.unwrap();
    assert_eq!(c.leader().map(|m| m.name.as_str()), Some("a"));
    assert_eq!(c.extra["b"].lsn, Some(0x0400_0060));

    assert_eq!(client.health(node, "/primary").await.unwrap(), 503);

    // A refusal is an answer, not an error.
    let r = client
        .switchover(node, Some("a"), Some("zz"))
        .await
        .unwrap();
    assert_eq!(r.status, 412);
    assert!(r.body.contains("candidate does not exists"));

    let seen = srv.seen();
    assert!(seen.len() >= 4);
    for s in &seen {
        assert_eq!(
            s.authorization.as_deref(),
            Some("Basic cGF0cm9uaTpzM2NyZXQ="),
            "{} {}",
            s.method,
            s.path
        );
    }
    let sw = seen.iter().find(|s| s.path == "/switchover").unwrap();
    let body: serde_json::Value = serde_json::from_str(&sw.body).unwrap();
    assert_eq!(body, serde_json::json!({"leader": "a", "candidate": "zz"}));
    // The password never shows in errors or debug output.
    assert!(!format!("{client:?}").contains("s3cret"));
}

#[tokio::test]
async fn refused_and_blackholed_nodes_fail_without_hanging() {
    let (port, mut ls) = bind_same_port(&["127.0.0.2"]).await;
    let _hole = FakeServer::start(ls.remove(0), Behaviour::Blackhole);
    // 127.0.0.3 has nothing on that port: connection refused.
    let inv = inventory(
        &[("hole", "127.0.0.2"), ("none", "127.0.0.3")],
        port,
        "",
        closed_port(),
    );
    let client = PatroniClient::new(&inv).unwrap();

    let e = client.status(&inv.nodes[0]).await.unwrap_err();
    assert!(matches!(e, ApiError::Timeout { .. }), "{e}");
    assert!(e.short().starts_with("timeout"));

    let e = client.cluster(&inv.nodes[1]).await.unwrap_err();
    assert!(matches!(e, ApiError::Connect { .. }), "{e}");
    assert!(
        e.short().to_lowercase().contains("refused"),
        "{}",
        e.short()
    );
}

// ---------------------------------------------------------------------------------------
// Observers: a blackholed node does not slow another
// ---------------------------------------------------------------------------------------

fn count(tl: &Timeline, node: &str, source: ObservationSource) -> (usize, usize) {
    let all = tl.since(0);
    let mine: Vec<_> = all
        .iter()
        .filter(|s| s.observation.node == node && s.observation.source == source)
        .collect();
    (
        mine.len(),
        mine.iter().filter(|s| s.observation.reachable).count(),
    )
}

/// Waits (on timeline pushes, with a deadline) until `cond` holds.
async fn wait_for(tl: &Timeline, deadline: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        tl.changed(Duration::from_millis(200)).await;
    }
    cond()
}

#[tokio::test]
async fn blackholed_node_does_not_slow_the_healthy_one() {
    let (port, mut ls) = bind_same_port(&["127.0.0.1", "127.0.0.2"]).await;
    let _ok = FakeServer::start(
        ls.remove(0),
        Behaviour::Patroni {
            patroni_status: 200,
            patroni: PATRONI_41_PRIMARY,
            cluster: CLUSTER_41,
        },
    );
    let _hole = FakeServer::start(ls.remove(0), Behaviour::Blackhole);
    let inv = Arc::new(inventory(
        &[("a", "127.0.0.1"), ("b", "127.0.0.2")],
        port,
        "",
        closed_port(),
    ));
    let client = Arc::new(PatroniClient::new(&inv).unwrap());
    let ctl = tempfile::tempdir().unwrap();
    let transport = Arc::new(Transport::new(&inv, ctl.path()));
    let tl = Timeline::new();
    let obs = Observers::start(
        inv.clone(),
        client,
        transport,
        PgSettings::from_inventory(&inv).unwrap(),
        tl.clone(),
        ObserveConfig {
            interval: Duration::from_millis(20),
            ssh_fallback: false,
        },
    );
    // 2 nodes x (REST + SQL), no SSH fallback.
    assert_eq!(obs.task_count(), 4);

    // The blackholed node needs 300 ms per tick, the healthy one 20 ms: once the slow
    // one has a few samples, the healthy one must have many times more.
    let reached = wait_for(&tl, Duration::from_secs(60), || {
        count(&tl, "b", ObservationSource::Rest).0 >= 3
    })
    .await;
    obs.stop().await;
    assert!(reached, "the blackholed node was never sampled");

    let (a_total, a_ok) = count(&tl, "a", ObservationSource::Rest);
    let (b_total, b_ok) = count(&tl, "b", ObservationSource::Rest);
    assert_eq!(b_ok, 0, "a blackhole never answers");
    assert_eq!(a_ok, a_total, "the healthy node always answered");
    assert!(
        a_total >= 3 * b_total,
        "healthy node sampled {a_total} times, blackholed one {b_total} times"
    );

    let latest = tl.latest();
    let a = &latest[&("a".to_owned(), ObservationSource::Rest)];
    assert_eq!(a.observation.role.as_deref(), Some("leader"));
    assert_eq!(a.observation.timeline, Some(3));
    assert_eq!(a.observation.cluster_leader.as_deref(), Some("a"));
    assert_eq!(a.members.as_ref().map(Vec::len), Some(2));
    let b = &latest[&("b".to_owned(), ObservationSource::Rest)];
    assert!(b.observation.error.as_deref().unwrap().contains("timeout"));

    // SQL: nothing listens on the PostgreSQL port, so every SQL sample says unreachable.
    let (sql_total, sql_ok) = count(&tl, "a", ObservationSource::Sql);
    assert!(sql_total > 0);
    assert_eq!(sql_ok, 0);

    // Nothing is sampled after stop().
    let n = tl.len();
    tl.changed(Duration::from_millis(200)).await;
    assert_eq!(tl.len(), n);

    let rates = sample_rates(&tl.since(0));
    let ra = rates[&("a".to_owned(), ObservationSource::Rest)];
    let rb = rates[&("b".to_owned(), ObservationSource::Rest)];
    eprintln!(
        "achieved REST samples/s: healthy {:.1}, blackholed {:.1}",
        ra.per_second.unwrap_or(0.0),
        rb.per_second.unwrap_or(0.0)
    );
    assert!(ra.per_second.unwrap() > rb.per_second.unwrap());
}

// ---------------------------------------------------------------------------------------
// SQL sampler against a throwaway PostgreSQL 15
// ---------------------------------------------------------------------------------------

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// PostgreSQL instances in a temporary directory, stopped when dropped.
struct PgLab {
    dir: tempfile::TempDir,
    datadirs: Vec<PathBuf>,
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Runs a PostgreSQL tool, as the postgres OS user when we are root (PostgreSQL refuses
/// to run as root).
fn pg_tool(tool: &str, args: &[&str]) -> std::process::Output {
    let path = format!("{PG_BIN}/{tool}");
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", &path]);
        c
    } else {
        Command::new(&path)
    };
    let out = cmd.args(args).output().expect("run a PostgreSQL tool");
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl PgLab {
    fn new() -> Option<PgLab> {
        if std::env::var_os("PGCHAOS_SKIP_PG_TESTS").is_some() {
            eprintln!("PGCHAOS_SKIP_PG_TESTS is set: skipping the PostgreSQL test");
            return None;
        }
        assert!(
            Path::new(PG_BIN).join("initdb").exists(),
            "PostgreSQL 15 is needed at {PG_BIN} (apt-get install postgresql-15), \
             or set PGCHAOS_SKIP_PG_TESTS=1"
        );
        let dir = tempfile::Builder::new()
            .prefix("pgchaos-pg")
            .tempdir()
            .unwrap();
        if is_root() {
            let pg = nix::unistd::User::from_name("postgres")
                .unwrap()
                .expect("the postgres OS user exists");
            nix::unistd::chown(dir.path(), Some(pg.uid), Some(pg.gid)).unwrap();
        }
        Some(PgLab {
            dir,
            datadirs: Vec::new(),
        })
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn configure(&self, data: &str, listen: &str, port: u16, sock: &str) {
        std::fs::create_dir_all(sock).unwrap();
        if is_root() {
            let pg = nix::unistd::User::from_name("postgres").unwrap().unwrap();
            nix::unistd::chown(Path::new(sock), Some(pg.uid), Some(pg.gid)).unwrap();
        }
        let conf = format!(
            "\nlisten_addresses = '{listen}'\nport = {port}\nunix_socket_directories = '{sock}'\nfsync = off\n"
        );
        let path = Path::new(data).join("postgresql.conf");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&conf);
        std::fs::write(&path, text).unwrap();
    }

    fn start(&mut self, data: &str) {
        let log = format!("{data}.log");
        pg_tool(
            "pg_ctl",
            &["-D", data, "-l", &log, "-w", "-t", "60", "start"],
        );
        self.datadirs.push(PathBuf::from(data));
    }
}

impl Drop for PgLab {
    fn drop(&mut self) {
        for d in self.datadirs.iter().rev() {
            let path = format!("{PG_BIN}/pg_ctl");
            let d = d.display().to_string();
            let args = ["-D", d.as_str(), "-m", "immediate", "-w", "stop"];
            let _ = if is_root() {
                Command::new("runuser")
                    .args(["-u", "postgres", "--", &path])
                    .args(args)
                    .output()
            } else {
                Command::new(&path).args(args).output()
            };
        }
    }
}

#[tokio::test]
async fn sql_sampler_reads_primary_replica_and_promotion() {
    let Some(mut lab) = PgLab::new() else {
        return;
    };
    // Primary on 127.0.0.1:P, replica on 127.0.0.2:P, a blackhole on 127.0.0.3:P: the
    // inventory has one PostgreSQL port for every node.
    let (port, mut ls) = bind_same_port(&["127.0.0.1", "127.0.0.2", "127.0.0.3"]).await;
    let hole_listener = ls.pop().unwrap();
    drop(ls); // free the port on .1 and .2 for PostgreSQL
    let _hole = FakeServer::start(hole_listener, Behaviour::Blackhole);

    let primary = lab.path("primary");
    pg_tool(
        "initdb",
        &["-D", &primary, "-A", "trust", "-U", "postgres", "--no-sync"],
    );
    lab.configure(&primary, "127.0.0.1", port, &lab.path("sock1"));
    lab.start(&primary);

    let replica = lab.path("replica");
    let port_s = port.to_string();
    pg_tool(
        "pg_basebackup",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port_s,
            "-U",
            "postgres",
            "-D",
            &replica,
            "-R",
            "-X",
            "stream",
        ],
    );
    lab.configure(&replica, "127.0.0.2", port, &lab.path("sock2"));
    lab.start(&replica);

    let pg = PgSettings {
        port,
        timeout: Duration::from_millis(500),
        tls: pgchaos::pg::Tls::disabled(),
        ..Default::default()
    };

    let p = probe_once("127.0.0.1", &pg).await.expect("primary answers");
    assert!(!p.in_recovery);
    assert_eq!(p.timeline, Some(1));
    assert!(p.lsn.unwrap() > 0);

    let r = probe_once("127.0.0.2", &pg).await.expect("replica answers");
    assert!(r.in_recovery);
    assert_eq!(r.timeline, Some(1));
    assert!(r.lsn.is_some());

    let e = probe_once("127.0.0.3", &pg).await.unwrap_err();
    assert!(e.contains("timeout"), "{e}");

    // Continuous sampling of all three; the blackhole must not hold back the others.
    let inv = Arc::new(inventory(
        &[
            ("p", "127.0.0.1"),
            ("r", "127.0.0.2"),
            ("hole", "127.0.0.3"),
        ],
        closed_port(),
        "",
        port,
    ));
    let client = Arc::new(PatroniClient::new(&inv).unwrap());
    let ctl = tempfile::tempdir().unwrap();
    let transport = Arc::new(Transport::new(&inv, ctl.path()));
    let tl = Timeline::new();
    let obs = Observers::start(
        inv.clone(),
        client,
        transport,
        pg.clone(),
        tl.clone(),
        ObserveConfig {
            interval: Duration::from_millis(20),
            ssh_fallback: false,
        },
    );

    let got = wait_for(&tl, Duration::from_secs(60), || {
        count(&tl, "hole", ObservationSource::Sql).0 >= 3
    })
    .await;
    assert!(got, "the blackholed node was never sampled");

    // Promote the replica: it must leave recovery on timeline 2, while the old primary
    // still says timeline 1 and not in recovery (two writable nodes: what the split-brain
    // check must see).
    pg_tool("pg_ctl", &["-D", &replica, "-w", "-t", "60", "promote"]);
    let promoted = wait_for(&tl, Duration::from_secs(60), || {
        tl.latest()
            .get(&("r".to_owned(), ObservationSource::Sql))
            .is_some_and(|s| s.observation.in_recovery == Some(false))
    })
    .await;
    obs.stop().await;
    assert!(promoted, "the promotion was never observed");

    let latest = tl.latest();
    let r = &latest[&("r".to_owned(), ObservationSource::Sql)].observation;
    assert_eq!(r.timeline, Some(2));
    let p = &latest[&("p".to_owned(), ObservationSource::Sql)].observation;
    assert_eq!((p.in_recovery, p.timeline), (Some(false), Some(1)));

    let (p_total, p_ok) = count(&tl, "p", ObservationSource::Sql);
    let (h_total, h_ok) = count(&tl, "hole", ObservationSource::Sql);
    assert_eq!(p_ok, p_total, "the primary always answered");
    assert_eq!(h_ok, 0);
    assert!(
        p_total >= 3 * h_total,
        "primary sampled {p_total} times, blackholed node {h_total} times"
    );

    // WAL positions of the primary never go backwards between samples.
    let lsns: Vec<u64> = tl
        .since(0)
        .iter()
        .filter(|s| s.observation.node == "p" && s.observation.source == ObservationSource::Sql)
        .filter_map(|s| s.observation.lsn)
        .collect();
    assert!(lsns.windows(2).all(|w| w[0] <= w[1]));

    let rates = sample_rates(&tl.since(0));
    eprintln!(
        "achieved SQL samples/s: primary {:.1}, blackholed {:.1}",
        rates[&("p".to_owned(), ObservationSource::Sql)]
            .per_second
            .unwrap_or(0.0),
        rates[&("hole".to_owned(), ObservationSource::Sql)]
            .per_second
            .unwrap_or(0.0)
    );
}

// ---------------------------------------------------------------------------------------
// SSH fallback against a throwaway sshd on loopback
// ---------------------------------------------------------------------------------------

/// An sshd on 127.0.0.1 accepting one generated key, killed when dropped.
struct Sshd {
    child: std::process::Child,
    port: u16,
    key: PathBuf,
    known_hosts: PathBuf,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sshd {
    fn start() -> Sshd {
        let dir = tempfile::Builder::new()
            .prefix("pgchaos-ssh")
            .tempdir()
            .unwrap();
        let d = dir.path();
        for (name, comment) in [("host", "host"), ("client", "client")] {
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
                .arg(d.join(name))
                .output()
                .expect("ssh-keygen runs");
            assert!(out.status.success(), "ssh-keygen failed");
        }
        std::fs::copy(d.join("client.pub"), d.join("authorized_keys")).unwrap();
        // sshd's privilege separation directory (absent where no sshd ever ran).
        std::fs::create_dir_all("/run/sshd").unwrap();
        let port = closed_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host\nAuthorizedKeysFile {d}/authorized_keys\n\
             PidFile {d}/sshd.pid\nStrictModes no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUsePAM no\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("sshd starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not listen within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::fs::write(d.join("ssh_config"), "").unwrap();
        Sshd {
            child,
            port,
            key: d.join("client"),
            known_hosts: d.join("known_hosts"),
            config: d.join("ssh_config"),
            _dir: dir,
        }
    }
}

#[tokio::test]
async fn ssh_fallback_reads_a_node_cut_off_over_tcp() {
    if !is_root() || !Path::new("/usr/sbin/sshd").exists() {
        // The fallback switches to the postgres user with runuser, which needs root; the
        // lab tests cover it where this cannot run.
        eprintln!("skipping: needs root and /usr/sbin/sshd");
        return;
    }
    let Some(mut lab) = PgLab::new() else {
        return;
    };
    let sshd = Sshd::start();
    let (port, ls) = bind_same_port(&["127.0.0.1"]).await;
    drop(ls);
    let primary = lab.path("primary");
    pg_tool(
        "initdb",
        &["-D", &primary, "-A", "trust", "-U", "postgres", "--no-sync"],
    );
    let sock = lab.path("sock");
    lab.configure(&primary, "127.0.0.1", port, &sock);
    lab.start(&primary);

    // "cut" is reached at 127.0.0.3, where nothing listens (as if its PostgreSQL port
    // were rejected), but its SSH goes to the host that runs the server: the fallback
    // must find the server through the local socket.
    let ssh = format!(
        "ssh: {{host: 127.0.0.1, port: {}, user: root, key: {}, known_hosts: {}, config_file: {}, host_key_checking: accept-new}}, operations: {{socket_dir: {sock}}}",
        sshd.port,
        sshd.key.display(),
        sshd.known_hosts.display(),
        sshd.config.display()
    );
    let y = format!(
        "cluster:\n  scope: demo\n  patroni: {{port: {}, timeout: 300ms}}\n  postgres: {{port: {port}, timeout: 500ms, sslmode: disable}}\nnodes:\n  - {{name: p, host: 127.0.0.1, roles: [patroni], {ssh}}}\n  - {{name: cut, host: 127.0.0.3, roles: [patroni], {ssh}}}\n",
        closed_port()
    );
    let inv = Arc::new(
        parse(Path::new("test-inventory.yml"), &y)
            .expect("test inventory parses")
            .inventory,
    );
    let client = Arc::new(PatroniClient::new(&inv).unwrap());
    let ctl = tempfile::tempdir().unwrap();
    let transport = Arc::new(Transport::new(&inv, ctl.path()));
    let tl = Timeline::new();
    let obs = Observers::start(
        inv.clone(),
        client,
        transport.clone(),
        PgSettings::from_inventory(&inv).unwrap(),
        tl.clone(),
        ObserveConfig {
            interval: Duration::from_millis(50),
            ssh_fallback: true,
        },
    );
    assert_eq!(obs.task_count(), 6);
    let got = wait_for(&tl, Duration::from_secs(60), || {
        tl.since(0).iter().any(|s| {
            s.observation.node == "cut"
                && s.observation.source == ObservationSource::SqlSsh
                && s.observation.reachable
        })
    })
    .await;
    obs.stop().await;
    transport.close().await;
    let ssh_samples: Vec<_> = tl
        .since(0)
        .into_iter()
        .filter(|s| s.observation.source == ObservationSource::SqlSsh)
        .collect();
    assert!(
        got,
        "no SSH fallback sample answered: {:?}",
        ssh_samples.last()
    );

    let s = ssh_samples
        .iter()
        .find(|s| s.observation.reachable)
        .unwrap();
    assert_eq!(s.observation.node, "cut");
    assert_eq!(s.observation.in_recovery, Some(false));
    assert_eq!(s.observation.timeline, Some(1));
    assert!(s.observation.lsn.is_some());
    // The node reachable over TCP is never asked over SSH, and the fallback runs far
    // less often than the TCP sampler.
    assert!(ssh_samples.iter().all(|s| s.observation.node == "cut"));
    let (tcp_total, tcp_ok) = count(&tl, "cut", ObservationSource::Sql);
    assert_eq!(tcp_ok, 0);
    assert!(tcp_total > ssh_samples.len());
}
