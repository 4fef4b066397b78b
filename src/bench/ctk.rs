//! Side by side with Chaos Toolkit, the tool a user would pick instead: the same per-node
//! REST and SQL health probes, run by `chaos run` back to back (the rate it can sustain),
//! its CPU per probe, and how long each tool needs to notice a new leader after a
//! switchover made during that run.
//!
//! Chaos Toolkit's probes as a user writes them: an `http` probe `GET /patroni` per node
//! (its JSON body says the node's role) and a `process` probe running `psql -c 'select
//! pg_is_in_recovery()'` per node, one sweep over every node after the other, as the
//! experiment's method. Its CPU is the `chaos` process and everything it started
//! (`getrusage(RUSAGE_CHILDREN)`), split into start-up (an experiment of one probe) and
//! probes. The moment of the switchover is the moment etcd recorded the new leader key,
//! as pgchaos's DCS watch saw it; each tool's delay is from there to its first probe
//! answer naming the new leader.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::BenchError;
use crate::inventory::{Inventory, Role};
use crate::observe::{ObserveConfig, Observers, PgSettings, Sample, Timeline};
use crate::patroni::PatroniClient;
use crate::results::ObservationSource;
use crate::transport::Transport;

/// Where the bench looks for Chaos Toolkit's `chaos` (a venv; override with
/// `PGCHAOS_CHAOS_BIN`).
pub(crate) const DEFAULT_CHAOS_BIN: &str = "/opt/pgchaos-ctk/bin/chaos";

/// One leader change and when each tool noticed it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Notice {
    /// The new leader.
    pub leader: String,
    /// When etcd recorded it (pgchaos's DCS watch).
    pub dcs_at: DateTime<Utc>,
    /// Chaos Toolkit's first probe answer naming it (end of that probe).
    pub ctk_at: Option<DateTime<Utc>>,
    /// pgchaos's first REST sample in which the new leader says it leads (polling alone,
    /// without the watch).
    pub pgchaos_poll_at: Option<DateTime<Utc>>,
}

impl Notice {
    /// Chaos Toolkit's delay, seconds.
    pub(crate) fn ctk_delay(&self) -> Option<f64> {
        self.ctk_at.map(|t| secs(self.dcs_at, t))
    }

    /// pgchaos's polling delay, seconds.
    pub(crate) fn poll_delay(&self) -> Option<f64> {
        self.pgchaos_poll_at.map(|t| secs(self.dcs_at, t))
    }
}

fn secs(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_microseconds().unwrap_or(0) as f64 / 1e6
}

/// What Chaos Toolkit cost and achieved.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct CtkFigures {
    /// `chaos --version`.
    pub version: String,
    /// Patroni nodes probed.
    pub nodes: usize,
    /// Sweeps over every node (one REST and one SQL probe per node each).
    pub sweeps: usize,
    /// Probes that ran in the measured experiment.
    pub probes: usize,
    /// Wall time of the measured experiment, seconds.
    pub wall_seconds: f64,
    /// CPU of the measured experiment (chaos and its children), seconds.
    pub cpu_seconds: f64,
    /// CPU of an experiment with a single probe (Python start-up and one probe), seconds.
    pub startup_cpu_seconds: f64,
    /// Mean wall time of one REST probe, seconds.
    pub rest_probe_seconds: Option<f64>,
    /// Mean wall time of one SQL probe, seconds.
    pub sql_probe_seconds: Option<f64>,
    /// Leader changes during the measured experiment.
    pub notices: Vec<Notice>,
}

impl CtkFigures {
    /// CPU per probe beyond start-up, µs.
    pub(crate) fn cpu_per_probe_us(&self) -> Option<f64> {
        let probes = self.probes.checked_sub(1).filter(|p| *p > 0)? as f64;
        Some(1e6 * (self.cpu_seconds - self.startup_cpu_seconds).max(0.0) / probes)
    }

    /// Sweeps per second: samples per second per node (per source) it sustains.
    pub(crate) fn samples_per_second_per_node(&self) -> f64 {
        self.sweeps as f64 / self.wall_seconds.max(f64::EPSILON)
    }
}

fn experiment(inv: &Inventory, sweeps: usize, only_one: bool) -> Value {
    let api = &inv.cluster.patroni;
    let scheme = match api.scheme {
        crate::inventory::Scheme::Http => "http",
        crate::inventory::Scheme::Https => "https",
    };
    let pg = &inv.cluster.postgres;
    let mut method = Vec::new();
    for s in 0..sweeps {
        for n in inv.nodes_with(Role::Patroni) {
            method.push(json!({
                "type": "probe", "name": format!("rest {} {s}", n.name),
                "tolerance": 200,
                "provider": {"type": "http", "url": format!("{scheme}://{}:{}/patroni", n.host, api.port),
                    "timeout": 2}
            }));
            if only_one {
                break;
            }
            method.push(json!({
                "type": "probe", "name": format!("sql {} {s}", n.name),
                "provider": {"type": "process", "path": "psql", "timeout": 2,
                    "arguments": format!("-h {} -p {} -U {} -d {} -XAtqc 'select pg_is_in_recovery()'",
                        n.host, pg.port, pg.user, pg.database)}
            }));
        }
        if only_one {
            break;
        }
    }
    json!({"version": "1.0.0", "title": "pgchaos bench: Patroni health probes",
        "description": "one REST and one SQL probe per node, sweep after sweep",
        "method": method})
}

fn children_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Runs one experiment with `chaos run`; returns its wall time, CPU and journal.
async fn chaos_run(
    bin: &Path,
    dir: &Path,
    name: &str,
    exp: &Value,
    password: Option<&str>,
) -> Result<(f64, f64, Value), BenchError> {
    let file = dir.join(format!("{name}.json"));
    let journal = dir.join(format!("{name}-journal.json"));
    std::fs::write(&file, serde_json::to_vec_pretty(exp).unwrap_or_default())
        .map_err(|e| BenchError::io(format!("write {}", file.display()), e))?;
    let mut cmd = tokio::process::Command::new(bin);
    cmd.arg("--no-version-check")
        .arg("--log-file")
        .arg(dir.join(format!("{name}.log")))
        .arg("run")
        .arg("--journal-path")
        .arg(&journal)
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(p) = password {
        // psql reads it from the environment; the experiment file never holds it.
        cmd.env("PGPASSWORD", p);
    }
    let cpu0 = children_cpu_seconds();
    let t0 = Instant::now();
    let status = cmd
        .status()
        .await
        .map_err(|e| BenchError::Setup(format!("failed to run {}: {e}", bin.display())))?;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = children_cpu_seconds() - cpu0;
    let text = std::fs::read_to_string(&journal)
        .map_err(|e| BenchError::io(format!("read {}", journal.display()), e))?;
    let j: Value = serde_json::from_str(&text)
        .map_err(|e| BenchError::Measure(format!("bad journal {}: {e}", journal.display())))?;
    if !status.success() && j.get("status").and_then(Value::as_str) != Some("completed") {
        return Err(BenchError::Measure(format!(
            "chaos run {} exited with {status}",
            file.display()
        )));
    }
    Ok((wall, cpu, j))
}

/// One probe of a journal: node, kind, end time, and whether it says the node leads.
struct ProbeRun {
    node: String,
    sql: bool,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    leads: bool,
}

fn probe_runs(journal: &Value) -> Vec<ProbeRun> {
    let at = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    journal
        .get("run")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let name = r.get("activity")?.get("name")?.as_str()?;
            let mut words = name.split(' ');
            let kind = words.next()?;
            let node = words.next()?.to_owned();
            let out = r.get("output");
            let leads = if kind == "sql" {
                out.and_then(|o| o.get("stdout"))
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.trim() == "f")
            } else {
                out.and_then(|o| o.get("body"))
                    .and_then(|b| b.get("role"))
                    .and_then(Value::as_str)
                    .is_some_and(|r| matches!(r, "primary" | "master"))
            };
            Some(ProbeRun {
                node,
                sql: kind == "sql",
                start: at(r.get("start")),
                end: at(r.get("end")),
                leads,
            })
        })
        .collect()
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Measures Chaos Toolkit on `inv`'s cluster: `sweeps` sweeps, with `switchovers`
/// switchovers made through Patroni's REST API while they run.
pub(crate) async fn measure(
    inv: Arc<Inventory>,
    control_dir: &Path,
    work_dir: &Path,
    sweeps: usize,
    switchovers: usize,
) -> Result<CtkFigures, BenchError> {
    let (bin, version) = chaos_toolkit()?;
    let dir = work_dir.join("ctk");
    std::fs::create_dir_all(&dir)
        .map_err(|e| BenchError::io(format!("create {}", dir.display()), e))?;
    let settings =
        PgSettings::from_inventory(&inv).map_err(|e| BenchError::Setup(e.to_string()))?;
    let password = settings.password.as_ref().map(|p| p.expose().to_owned());
    let nodes: Vec<_> = inv.nodes_with(Role::Patroni).cloned().collect();

    let (_, startup_cpu, _) = chaos_run(
        &bin,
        &dir,
        "one-probe",
        &experiment(&inv, 1, true),
        password.as_deref(),
    )
    .await?;

    // pgchaos observes meanwhile: its DCS watch dates the changes, its REST polling is
    // the other tool's counterpart.
    let client = Arc::new(PatroniClient::new(&inv).map_err(|e| BenchError::Setup(e.to_string()))?);
    let transport = Arc::new(Transport::new(&inv, control_dir));
    let timeline = Timeline::new();
    let window = timeline.pin();
    let observers = Observers::start(
        inv.clone(),
        client.clone(),
        transport.clone(),
        settings,
        timeline.clone(),
        ObserveConfig {
            ssh_fallback: false,
            ..ObserveConfig::default()
        },
    );
    let exp = experiment(&inv, sweeps, false);
    let run = chaos_run(&bin, &dir, "sweeps", &exp, password.as_deref());
    let switch = switch_leaders(&client, &timeline, &nodes, switchovers);
    let (run, switched) = tokio::join!(run, switch);
    // The last probes may answer after the experiment's own end; nothing more to wait for.
    observers.stop().await;
    transport.close().await;
    let (wall, cpu, journal) = run?;
    let samples = timeline.since(window.start());
    let runs = probe_runs(&journal);

    let notices = notices(switched, &samples, &runs);
    let durations = |sql: bool| {
        runs.iter()
            .filter(|r| r.sql == sql)
            .filter_map(|r| Some(secs(r.start?, r.end?)))
            .collect::<Vec<_>>()
    };
    Ok(CtkFigures {
        version,
        nodes: nodes.len(),
        sweeps,
        probes: runs.len(),
        wall_seconds: wall,
        cpu_seconds: cpu,
        startup_cpu_seconds: startup_cpu,
        rest_probe_seconds: mean(&durations(false)),
        sql_probe_seconds: mean(&durations(true)),
        notices,
    })
}

/// The `chaos` executable (`PGCHAOS_CHAOS_BIN`, or the default venv's) and its version.
fn chaos_toolkit() -> Result<(PathBuf, String), BenchError> {
    let bin = std::env::var_os("PGCHAOS_CHAOS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CHAOS_BIN));
    let version = std::process::Command::new(&bin)
        .arg("--version")
        .output()
        .map_err(|e| {
            BenchError::Setup(format!(
                "Chaos Toolkit not found at {} ({e}): python3 -m venv /opt/pgchaos-ctk && /opt/pgchaos-ctk/bin/pip install chaostoolkit",
                bin.display()
            ))
        })?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    Ok((bin, version))
}

/// Makes `switchovers` switchovers through Patroni's REST API, a few seconds apart, each
/// from the leader the timeline shows to another Patroni node; the new leaders.
async fn switch_leaders(
    client: &PatroniClient,
    timeline: &Timeline,
    nodes: &[crate::inventory::Node],
    switchovers: usize,
) -> Vec<String> {
    let mut done = Vec::new();
    for _ in 0..switchovers {
        // Let the tools settle on the current leader first.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let leader = current_leader(timeline);
        let Some(leader) = leader else { continue };
        let Some(candidate) = nodes.iter().find(|n| n.name != leader) else {
            continue;
        };
        let Some(on) = nodes.iter().find(|n| n.name == leader) else {
            continue;
        };
        if let Ok(r) = client
            .switchover(on, Some(&leader), Some(&candidate.name))
            .await
            && r.is_success()
        {
            done.push(candidate.name.clone());
        }
    }
    done
}

/// For each switchover, when etcd recorded the new leader and when Chaos Toolkit's probes
/// and pgchaos's REST polling first saw it.
fn notices(switched: Vec<String>, samples: &[Sample], runs: &[ProbeRun]) -> Vec<Notice> {
    let mut notices = Vec::new();
    for leader in switched {
        let Some(dcs_at) = samples
            .iter()
            .filter(|s| s.observation.source == ObservationSource::Dcs)
            .filter(|s| s.observation.cluster_leader.as_deref() == Some(leader.as_str()))
            .filter(|s| notices.iter().all(|n: &Notice| s.observation.at > n.dcs_at))
            .map(|s| s.observation.at)
            .next()
        else {
            continue;
        };
        let ctk_at = runs
            .iter()
            .filter(|r| r.node == leader && r.leads)
            .filter_map(|r| r.end)
            .find(|t| *t >= dcs_at);
        let pgchaos_poll_at = samples
            .iter()
            .filter(|s| s.observation.source == ObservationSource::Rest)
            .filter(|s| s.observation.node == leader && s.observation.at >= dcs_at)
            .find(|s| s.observation.role.as_deref() == Some("leader"))
            .map(|s| s.observation.at);
        notices.push(Notice {
            leader,
            dcs_at,
            ctk_at,
            pgchaos_poll_at,
        });
    }
    notices
}

fn current_leader(timeline: &Timeline) -> Option<String> {
    timeline
        .latest()
        .into_iter()
        .find(|((_, src), s)| *src == ObservationSource::Dcs && s.observation.reachable)
        .and_then(|(_, s)| s.observation.cluster_leader)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_probes_say_who_leads() {
        let j = json!({"run": [
            {"activity": {"name": "rest pg1 0"}, "start": "2026-12-01T21:52:51.091367+00:00",
             "end": "2026-12-01T21:52:51.101658+00:00",
             "output": {"status": 200, "body": {"role": "primary"}}},
            {"activity": {"name": "sql pg2 0"}, "start": "2026-12-01T21:52:51.102038+00:00",
             "end": "2026-12-01T21:52:51.226197+00:00", "output": {"status": 0, "stdout": "t\n"}},
            {"activity": {"name": "sql pg1 0"}, "output": {"status": 0, "stdout": "f\n"}}]});
        let r = probe_runs(&j);
        assert_eq!(r.len(), 3);
        assert!(r[0].leads && !r[0].sql);
        assert!(!r[1].leads && r[1].sql);
        assert!(r[2].leads && r[2].end.is_none());
        assert!((secs(r[0].start.unwrap(), r[0].end.unwrap()) - 0.010291).abs() < 1e-6);
    }

    #[test]
    fn experiments_probe_every_node_and_hold_no_password() {
        let inv = crate::inventory::parse(
            std::path::Path::new("t.yml"),
            "cluster: {scope: demo, postgres: {password: {env: PGCHAOS_NOT_SET}}}\nnodes: [{name: a, host: h1, roles: [patroni]}, {name: b, host: h2, roles: [patroni]}, {name: s, host: h3, roles: [spare]}]\n",
        )
        .unwrap()
        .inventory;
        let e = experiment(&inv, 3, false);
        assert_eq!(e["method"].as_array().unwrap().len(), 12);
        assert_eq!(e["method"][0]["provider"]["url"], "http://h1:8008/patroni");
        assert!(!e.to_string().contains("PGCHAOS_NOT_SET"));
        assert_eq!(
            experiment(&inv, 3, true)["method"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }
}
