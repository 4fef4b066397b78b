//! `pgchaos bench`: pgchaos measured against its own limits, side by side in one run, on
//! the machine at hand. Every figure keeps how, where and when it was measured, and
//! [`markdown::render`] writes them to BENCHMARKS.md with their targets.
//!
//! The measurements take an inventory and know nothing of the lab; the command decides
//! which clusters to measure (see `app::bench`).

pub(crate) mod ctk;
pub(crate) mod markdown;
pub(crate) mod observe;
pub(crate) mod overhead;
pub(crate) mod precision;
pub(crate) mod soak;
pub(crate) mod ssh;
pub(crate) mod stats;
pub(crate) mod sysinfo;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::inventory::Inventory;
use crate::results::Versions;
use crate::workload::{ConnectionSettings, Endpoint, WriteTarget, WriterCost};
use sysinfo::MachineLoad;

/// Why a measurement could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BenchError {
    /// Something needed before measuring is missing (secret, client).
    #[error("failed to set up the measurement: {0}")]
    Setup(String),
    /// The measurement itself failed.
    #[error("failed to measure: {0}")]
    Measure(String),
    /// An I/O error.
    #[error("failed to {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// The session a bench observes through, as `run` opens it: the inventory's password
/// resolved first.
pub(crate) fn open_session(
    inv: &Arc<Inventory>,
    control_dir: &Path,
) -> Result<crate::session::Session, BenchError> {
    let password = inv
        .cluster
        .postgres
        .password
        .as_ref()
        .map(|p| p.resolve())
        .transpose()
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    crate::session::Session::open(inv.clone(), control_dir, password)
        .map_err(|e| BenchError::Setup(format!("{e}")))
}

impl BenchError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        BenchError::Io {
            what: what.into(),
            source,
        }
    }
}

/// A figure with the machine's state when it was measured, or why it was not.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Measured<T> {
    /// What it is (`3 nodes, every 250 ms`).
    pub label: String,
    /// The machine when the measurement started.
    pub machine: MachineLoad,
    /// The figure, or why there is none.
    pub result: Result<T, String>,
}

impl<T> Measured<T> {
    /// A figure that was not measured, and why.
    pub(crate) fn skipped(label: impl Into<String>, why: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            machine: MachineLoad::now(),
            result: Err(why.into()),
        }
    }
}

/// Runs `f`, keeping the machine's state at its start and turning an error into text.
pub(crate) async fn measured<T, F>(label: impl Into<String>, f: F) -> Measured<T>
where
    F: std::future::Future<Output = Result<T, BenchError>>,
{
    let label = label.into();
    eprintln!("bench: {label}");
    let machine = MachineLoad::now();
    let result = f.await.map_err(|e| e.to_string());
    if let Err(e) = &result {
        eprintln!("bench: {label}: {e}");
    }
    Measured {
        label,
        machine,
        result,
    }
}

/// Everything `pgchaos bench` measured.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct BenchReport {
    /// pgchaos version.
    pub version: String,
    /// The command line.
    pub command_line: Vec<String>,
    /// Host name of the machine.
    pub hostname: String,
    /// CPU model, from /proc/cpuinfo.
    pub cpu_model: Option<String>,
    /// Kernel release.
    pub kernel: Option<String>,
    /// Build profile of this binary (`debug` or `release`): CPU figures depend on it.
    pub profile: &'static str,
    /// The machine when the bench started.
    pub started: MachineLoad,
    /// The machine when it ended.
    pub finished: Option<MachineLoad>,
    /// The inventory measured.
    pub inventory: String,
    /// Versions reported by the cluster (from the scenario run).
    pub versions: Option<Versions>,
    /// Latency setting: iterations.
    pub iterations: u32,
    /// SSH figures.
    pub ssh: Option<Measured<ssh::SshFigures>>,
    /// Observation figures, one per (cluster size, interval).
    pub observe: Vec<Measured<observe::ObserveFigures>>,
    /// Failover time precision.
    pub precision: Option<Measured<precision::PrecisionFigures>>,
    /// Time splits, one per run analysed.
    pub overhead: Vec<Measured<overhead::TimeSplit>>,
    /// Writer cost.
    pub writer: Option<Measured<WriterCost>>,
    /// Chaos Toolkit side by side.
    pub ctk: Option<Measured<ctk::CtkFigures>>,
    /// Memory over a long observation.
    pub soak: Option<Measured<soak::SoakFigures>>,
}

impl BenchReport {
    /// An empty report for `inventory`, the machine described now.
    pub(crate) fn new(inventory: &Path, iterations: u32) -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION").into(),
            command_line: std::env::args().collect(),
            hostname: nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "unknown".into()),
            cpu_model: std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            }),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .map(|s| s.trim().to_owned()),
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            started: MachineLoad::now(),
            finished: None,
            inventory: inventory.display().to_string(),
            versions: None,
            iterations,
            ssh: None,
            observe: Vec::new(),
            precision: None,
            overhead: Vec::new(),
            writer: None,
            ctk: None,
            soak: None,
        }
    }

    /// Sections that have no figure (for the exit code).
    pub(crate) fn missing(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |name: &str, err: Option<&String>| {
            if let Some(e) = err {
                out.push(format!("{name}: {e}"));
            }
        };
        match &self.ssh {
            Some(m) => check("ssh", m.result.as_ref().err()),
            None => check("ssh", Some(&"not run".to_owned())),
        }
        for m in &self.observe {
            check(
                &format!("observation ({})", m.label),
                m.result.as_ref().err(),
            );
        }
        match &self.precision {
            Some(m) => check("precision", m.result.as_ref().err()),
            None => check("precision", Some(&"not run".to_owned())),
        }
        for m in &self.overhead {
            check(&format!("overhead ({})", m.label), m.result.as_ref().err());
        }
        match &self.writer {
            Some(m) => check("writer", m.result.as_ref().err()),
            None => check("writer", Some(&"not run".to_owned())),
        }
        match &self.ctk {
            Some(m) => check("chaos toolkit", m.result.as_ref().err()),
            None => check("chaos toolkit", Some(&"not run".to_owned())),
        }
        match &self.soak {
            Some(m) => check("memory soak", m.result.as_ref().err()),
            None => check("memory soak", Some(&"not run".to_owned())),
        }
        out
    }
}

/// Settings of the measurements.
#[derive(Clone, Debug)]
pub(crate) struct BenchOptions {
    /// Inventory of the cluster measured first.
    pub inventory: PathBuf,
    /// SSH latency pairs.
    pub iterations: u32,
    /// Length of each observation window.
    pub observe_for: Duration,
    /// Observation intervals to measure.
    pub intervals: Vec<Duration>,
    /// Runs of each failover scenario.
    pub precision_runs: u32,
    /// Length of the writer cost measurement.
    pub writer_for: Duration,
    /// The pgchaos binary (runs the scenarios).
    pub exe: PathBuf,
    /// Scratch directory (scenario files, the run's reports, control sockets).
    pub work_dir: PathBuf,
    /// results.json of an earlier full seed-matrix run to split too.
    pub matrix_results: Option<PathBuf>,
    /// Sweeps of Chaos Toolkit's probes over every node.
    pub ctk_sweeps: usize,
    /// Sections to measure (empty: all).
    pub only: Vec<String>,
    /// Length of the memory soak (zero: none).
    pub soak_for: Duration,
    /// Time between two readings of the resident set during the soak.
    pub soak_every: Duration,
}

impl BenchOptions {
    /// Whether `section` is to be measured.
    pub(crate) fn wants(&self, section: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == section)
    }
}

/// Loads an inventory for measuring.
pub(crate) fn load_inventory(path: &Path) -> Result<Arc<Inventory>, BenchError> {
    crate::inventory::load(path)
        .map(|l| Arc::new(l.inventory))
        .map_err(|e| BenchError::Setup(format!("failed to load {}: {e}", path.display())))
}

/// A short control-socket directory (sockets are limited to 108 bytes), removed on drop.
pub(crate) struct ControlDir(PathBuf);

impl ControlDir {
    /// Its path.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ControlDir {
    fn drop(&mut self) {
        // The masters are closed by then; a leftover socket would only be clutter.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Creates a [`ControlDir`] for one measurement.
pub(crate) fn control_dir(tag: &str) -> Result<ControlDir, BenchError> {
    let d = PathBuf::from(format!("/tmp/pgcb-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&d)
        .map_err(|e| BenchError::io(format!("create {}", d.display()), e))?;
    Ok(ControlDir(d))
}

/// Observation label: `3 Patroni nodes + 1 spare, every 250 ms`.
pub(crate) fn observe_label(nodes: usize, spares: usize, interval: Duration) -> String {
    let spares = match spares {
        0 => String::new(),
        1 => " + 1 spare".into(),
        n => format!(" + {n} spares"),
    };
    format!(
        "{nodes} Patroni nodes{spares}, every {} ms",
        interval.as_millis()
    )
}

/// Measures the cluster of `opts.inventory`: SSH, observation at every interval, writer
/// cost, failover precision and the time split of the scenario run.
pub(crate) async fn measure_cluster(opts: &BenchOptions, report: &mut BenchReport) {
    let inv = match load_inventory(&opts.inventory) {
        Ok(i) => i,
        Err(e) => {
            report.ssh = Some(Measured::skipped("SSH", e.to_string()));
            return;
        }
    };
    if opts.wants("ssh") {
        report.ssh = Some(
            measured("SSH latency and fan-out", async {
                let ctl = control_dir("ssh")?;
                ssh::measure(&inv, ctl.path(), opts.iterations).await
            })
            .await,
        );
    }
    if opts.wants("observe") {
        measure_observation(&inv, opts, report).await;
    }
    if opts.wants("ctk") {
        report.ctk = Some(
            measured("Chaos Toolkit side by side", async {
                let ctl = control_dir("ctk")?;
                ctk::measure(inv.clone(), ctl.path(), &opts.work_dir, opts.ctk_sweeps, 2).await
            })
            .await,
        );
    }
    if opts.wants("writer") {
        report.writer =
            Some(measured("writer cost at 50 inserts/s", measure_writer(&inv, opts)).await);
    }
    if !opts.wants("precision") {
        return;
    }
    let precision = measured("failover precision (scenario runs)", async {
        let ctl = control_dir("prec")?;
        precision::measure(
            &opts.exe,
            &opts.inventory,
            &inv,
            &opts.work_dir.join("precision"),
            ctl.path(),
            opts.precision_runs,
        )
        .await
    })
    .await;
    let (precision, results) = match precision.result {
        Ok((p, r)) => (
            Measured {
                label: precision.label,
                machine: precision.machine.clone(),
                result: Ok(p),
            },
            Some((precision.machine, r)),
        ),
        Err(e) => (
            Measured {
                label: precision.label,
                machine: precision.machine,
                result: Err(e),
            },
            None,
        ),
    };
    report.precision = Some(precision);
    match results {
        Some((machine, r)) => {
            report.versions = Some(r.cluster.versions.clone());
            report.overhead.push(Measured {
                label: format!(
                    "this benchmark's scenario run ({} scenario attempts)",
                    r.scenarios.len()
                ),
                machine,
                result: Ok(overhead::split(&r)),
            });
        }
        None => report.overhead.push(Measured::skipped(
            "this benchmark's scenario run",
            "the scenario run produced no results",
        )),
    }
    if let Some(p) = &opts.matrix_results {
        report.overhead.push(split_file(p));
    }
}

/// The memory soak on the cluster of `inv` at the default interval.
pub(crate) async fn measure_soak(
    inv: &Arc<Inventory>,
    opts: &BenchOptions,
    report: &mut BenchReport,
) {
    let nodes = inv.nodes_with(crate::inventory::Role::Patroni).count();
    let spares = inv.nodes_with(crate::inventory::Role::Spare).count();
    let interval = crate::observe::ObserveConfig::default().interval;
    let label = observe_label(nodes, spares, interval);
    let mut m = measured(
        format!("memory soak for {:?}, {label}", opts.soak_for),
        async {
            let ctl = control_dir("soak")?;
            soak::measure(
                inv.clone(),
                ctl.path(),
                interval,
                opts.soak_for,
                opts.soak_every,
            )
            .await
        },
    )
    .await;
    m.label = label;
    report.soak = Some(m);
}

/// The time split of a saved results.json.
pub(crate) fn split_file(path: &Path) -> Measured<overhead::TimeSplit> {
    let label = format!("seed matrix run {}", path.display());
    let read = std::fs::read_to_string(path)
        .map_err(|e| format!("failed to read {}: {e}", path.display()))
        .and_then(|t| {
            serde_json::from_str::<crate::results::RunResults>(&t)
                .map_err(|e| format!("failed to parse {}: {e}", path.display()))
        });
    match read {
        Ok(r) => Measured {
            label: format!(
                "{label} ({} scenario attempts, {})",
                r.scenarios.len(),
                r.started_at.format("%Y-%m-%d %H:%M UTC")
            ),
            machine: MachineLoad::now(),
            result: Ok(overhead::split(&r)),
        },
        Err(e) => Measured::skipped(label, e),
    }
}

/// Observation at every interval of `opts` on the cluster of `inv`.
pub(crate) async fn measure_observation(
    inv: &Arc<Inventory>,
    opts: &BenchOptions,
    report: &mut BenchReport,
) {
    let nodes = inv.nodes_with(crate::inventory::Role::Patroni).count();
    let spares = inv.nodes_with(crate::inventory::Role::Spare).count();
    for interval in &opts.intervals {
        let label = observe_label(nodes, spares, *interval);
        let mut m = measured(format!("observation, {label}"), async {
            let ctl = control_dir("obs")?;
            observe::measure(inv.clone(), ctl.path(), *interval, opts.observe_for).await
        })
        .await;
        m.label = label;
        report.observe.push(m);
    }
}

async fn measure_writer(inv: &Inventory, opts: &BenchOptions) -> Result<WriterCost, BenchError> {
    let h = inv.entrypoints.haproxy.as_ref().ok_or_else(|| {
        BenchError::Setup("the inventory has no HAProxy entry point to write through".into())
    })?;
    let target = WriteTarget::Single(Endpoint::new(h.host.clone(), h.write_port));
    let settings = ConnectionSettings::from_inventory(&inv.cluster.postgres)
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let run_id = format!("bench-{}", std::process::id());
    let dur = opts.writer_for;
    // The section before may have moved the leader (the Chaos Toolkit comparison makes a
    // switchover): HAProxy routes writes again once its health checks see the new
    // primary, so a write port that does not answer yet is asked again until a deadline.
    let deadline = Instant::now() + WRITE_PORT_DEADLINE;
    loop {
        let (t, s, id) = (target.clone(), settings.clone(), run_id.clone());
        let r = tokio::task::spawn_blocking(move || {
            crate::workload::measure_writer_cost(t, s, 50, dur, &id)
        })
        .await
        .map_err(|e| BenchError::Measure(format!("the writer benchmark thread failed: {e}")))?;
        match r {
            Ok(cost) => return Ok(cost),
            Err(e) if Instant::now() >= deadline => {
                return Err(BenchError::Measure(format!(
                    "{e} (the write port did not take writes within {WRITE_PORT_DEADLINE:?})"
                )));
            }
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

/// How long the writer benchmark waits for HAProxy's write port to take writes.
const WRITE_PORT_DEADLINE: Duration = Duration::from_secs(60);
