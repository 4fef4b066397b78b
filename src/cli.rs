//! Command-line definitions (clap). No logic lives here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Prove that a Patroni-managed PostgreSQL cluster survives failure.
#[derive(Debug, Parser)]
#[command(name = "pgchaos", version, about, propagate_version = true)]
pub struct Cli {
    /// More log output (-v: debug, -vv: trace). Logs go to standard error.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check scenario files (and an inventory) without touching any node.
    Validate(ValidateArgs),
    /// List scenarios: ids, titles, tags, covered seed cases.
    List(ListArgs),
    /// Run scenarios against a cluster.
    Run(RunArgs),
    /// Print the JSON Schema of a file format.
    Schema(SchemaArgs),
    /// Re-render every report from a saved results.json.
    Report(ReportArgs),
    /// Remove pgchaos's leftover faults (tagged iptables rules, dead man's switches) from every node.
    Cleanup(CleanupArgs),
    /// The local lab: a real Patroni cluster on this machine.
    Lab(LabArgs),
    /// Measure pgchaos against its own limits (writes BENCHMARKS.md).
    Bench(BenchArgs),
}

/// `pgchaos validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Scenario files or directories (default: scenarios/).
    pub paths: Vec<PathBuf>,
    /// Also check the inventory, and that every scenario's targets can be bound to it.
    #[arg(long)]
    pub inventory: Option<PathBuf>,
}

/// `pgchaos list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Scenario files or directories (default: scenarios/).
    pub paths: Vec<PathBuf>,
    /// Print every seed case ID with the scenarios covering it; exit non-zero if one is uncovered.
    #[arg(long)]
    pub coverage: bool,
}

/// `pgchaos run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files or directories (default: scenarios/).
    pub paths: Vec<PathBuf>,
    /// The inventory describing the cluster.
    #[arg(
        long,
        short = 'i',
        required_unless_present = "lab",
        conflicts_with = "lab"
    )]
    pub inventory: Option<PathBuf>,
    /// Run against the local lab: bring it up (installing packages if needed, reusing it if
    /// it is up) and use its inventory.
    #[arg(long)]
    pub lab: bool,
    /// With --lab: which Patroni the lab runs: 4.x from PyPI (default) or Debian's package
    /// (3.0.2 on Debian 12, whose known bugs the seed matrix catches).
    #[arg(long, value_enum, requires = "lab", default_value_t = LabPatroni::Pypi)]
    pub lab_patroni: LabPatroni,
    /// Deprecated alias of `--lab-patroni pypi` (now the default).
    #[arg(long, requires = "lab", hide = true, conflicts_with = "lab_patroni")]
    pub lab_patroni4: bool,
    /// Lab directory, with --lab.
    #[arg(long, env = "PGCHAOS_LAB_DIR", default_value = "/var/lib/pgchaos-lab")]
    pub lab_dir: PathBuf,
    /// Only scenarios with this tag (repeatable).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Only the scenario with this id (repeatable).
    #[arg(long = "id")]
    pub ids: Vec<String>,
    /// Run each selected scenario N times.
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Rerun a failed scenario up to N times; a later pass is reported as flaky.
    #[arg(long, default_value_t = 0)]
    pub retries: u32,
    /// Where reports go (default: reports/<timestamp>/, with reports/latest pointing at it).
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
    /// Print, for every step, the exact command each node would run; touch nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation before faulting a cluster not marked as a lab.
    #[arg(long)]
    pub yes: bool,
    /// Margin added to a scenario's max_duration before node-side dead man's switches undo
    /// its faults by themselves.
    #[arg(long, default_value = "60s", hide = true)]
    pub deadman_margin: humantime::Duration,
}

/// `pgchaos schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which format.
    pub format: SchemaFormat,
}

/// File formats with a JSON Schema.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SchemaFormat {
    /// Scenario files.
    Scenario,
    /// Inventory files.
    Inventory,
    /// results.json.
    Results,
}

/// `pgchaos report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A results.json written by `pgchaos run`.
    pub results: PathBuf,
    /// Output directory (default: the directory of RESULTS).
    #[arg(long, conflicts_with = "verify")]
    pub out: Option<PathBuf>,
    /// Instead of rendering: check that the scenario and inventory files at hand (paths
    /// relative to the current directory, as the run recorded them) are byte for byte
    /// the ones that were run. Exit 0 when all match, 1 otherwise, listing the others.
    #[arg(long)]
    pub verify: bool,
}

/// `pgchaos cleanup`.
#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// The inventory describing the cluster.
    #[arg(long, short = 'i')]
    pub inventory: PathBuf,
    /// Clean even while a run against this cluster is in progress on this machine
    /// (its faults are undone under it).
    #[arg(long)]
    pub yes: bool,
}

/// `pgchaos lab`.
#[derive(Debug, Args)]
pub struct LabArgs {
    /// Lab command.
    #[command(subcommand)]
    pub command: LabCommand,
    /// Directory holding the lab's state.
    #[arg(
        long,
        global = true,
        env = "PGCHAOS_LAB_DIR",
        default_value = "/var/lib/pgchaos-lab"
    )]
    pub dir: PathBuf,
}

/// Lab subcommands.
#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Build and start the lab; wait for a leader and streaming replicas.
    Up(LabUpArgs),
    /// Stop and remove everything the lab created. Idempotent.
    Down,
    /// A patronictl-like table of the lab.
    Status,
    /// Print the lab's inventory YAML.
    Inventory,
    /// A shell, or one command, on a node.
    Ssh(LabSshArgs),
    /// Power a node on (out-of-band control).
    PowerOn(LabNodeArgs),
    /// Cut a node's power (every process dies at once).
    PowerOff(LabNodeArgs),
    /// Rebuild the cluster in place: every node powered off, PostgreSQL and etcd data
    /// wiped, every node booted; waits for a new leader and streaming replicas. The lab
    /// inventory's `operations.reset_cluster`.
    Reset(LabResetArgs),
    /// Internal: keeps one node running across reboots.
    #[command(hide = true)]
    Keeper(LabNodeArgs),
    /// Internal: PID 1 of a node.
    #[command(hide = true)]
    Init(LabNodeArgs),
}

/// Which Patroni the lab runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LabPatroni {
    /// Patroni 4.x from PyPI, in a venv at /opt/pgchaos-patroni4.
    Pypi,
    /// Debian's package (3.0.2 on Debian 12).
    Debian,
}

/// A size in MiB: `512`, `512M`, `1G`.
fn parse_mib(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'G' | 'g')) => (&t[..i], 1024),
        Some((i, 'M' | 'm')) => (&t[..i], 1),
        _ => (t, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a size in MiB (e.g. 512M, 1G)"))?;
    let mib = n * mult;
    if mib != 0 && mib < 64 {
        return Err(format!(
            "{text:?} is too small: PostgreSQL needs at least 64M (0 means unlimited)"
        ));
    }
    Ok(mib)
}

/// `pgchaos lab up`.
#[derive(Debug, Args)]
pub struct LabUpArgs {
    /// Number of Patroni nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Reuse a lab that is already up instead of failing.
    #[arg(long)]
    pub reuse: bool,
    /// Which Patroni to run: 4.x from PyPI in a venv (default), or Debian's package (3.0.2
    /// on Debian 12).
    #[arg(long, value_enum, default_value_t = LabPatroni::Pypi)]
    pub patroni: LabPatroni,
    /// Deprecated alias of `--patroni pypi` (now the default).
    #[arg(long, hide = true, conflicts_with = "patroni")]
    pub patroni4: bool,
    /// No watchdog device on the nodes (Patroni `watchdog.mode: off`), as labs before
    /// pgchaos 0.2 were built.
    #[arg(long)]
    pub no_watchdog: bool,
    /// Whether a service that dies comes back by itself: `debian` follows Debian 12's units
    /// (patroni `Restart=on-failure`, etcd `on-abnormal`, haproxy `always`); `no` leaves
    /// every dead service dead until started.
    #[arg(long, value_enum, default_value_t = crate::lab::RestartPolicy::Debian)]
    pub restart: crate::lab::RestartPolicy,
    /// Size of the filesystem holding each Patroni node's PostgreSQL data, in MiB (a
    /// loop-mounted ext4 image; suffixes M and G accepted); 0 keeps the data on the host's
    /// root filesystem.
    #[arg(long, default_value = "4G", value_parser = parse_mib)]
    pub data_size: u64,
    /// Where etcd runs: three nodes of its own (`separate`), or one member on each Patroni
    /// node (`colocated`, for partitions that cut a node from its peers and the DCS alike).
    #[arg(long, value_enum, default_value_t = crate::lab::EtcdPlacement::Separate)]
    pub etcd: crate::lab::EtcdPlacement,
    /// Time allowed for the cluster to form.
    #[arg(long, default_value = "180s")]
    pub timeout: humantime::Duration,
    /// How long a rebooted node stays down (default longer than Patroni's TTL, as real
    /// hardware does).
    #[arg(long, default_value = "30s")]
    pub boot_delay: humantime::Duration,
}

/// `pgchaos lab reset`.
#[derive(Debug, Args)]
pub struct LabResetArgs {
    /// Time allowed for the new cluster to form.
    #[arg(long, default_value = "180s")]
    pub timeout: humantime::Duration,
}

/// A node argument.
#[derive(Debug, Args)]
pub struct LabNodeArgs {
    /// Node name.
    pub node: String,
}

/// `pgchaos lab ssh`.
#[derive(Debug, Args)]
pub struct LabSshArgs {
    /// Node name.
    pub node: String,
    /// Command to run (default: an interactive shell).
    #[arg(trailing_var_arg = true)]
    pub command: Vec<String>,
}

/// `pgchaos bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The inventory (default: the lab's).
    #[arg(long, short = 'i')]
    pub inventory: Option<PathBuf>,
    /// Where to write the results.
    #[arg(long, default_value = "BENCHMARKS.md")]
    pub out: PathBuf,
    /// Iterations for latency measurements.
    #[arg(long, default_value_t = 100)]
    pub iterations: u32,
    /// Lab directory, when no --inventory is given.
    #[arg(long, env = "PGCHAOS_LAB_DIR", default_value = "/var/lib/pgchaos-lab")]
    pub lab_dir: PathBuf,
    /// Length of each observation window.
    #[arg(long, default_value = "30s")]
    pub observe_for: humantime::Duration,
    /// Runs of each failover scenario (precision).
    #[arg(long, default_value_t = 5)]
    pub precision_runs: u32,
    /// Patroni nodes of the larger lab observed after the first cluster (0: skip). Only
    /// without --inventory: the lab is rebuilt, then restored.
    #[arg(long, default_value_t = 7)]
    pub large_nodes: usize,
    /// Length of the writer cost measurement.
    #[arg(long, default_value = "10s")]
    pub writer_for: humantime::Duration,
    /// results.json of a full seed-matrix run whose time split to report too.
    #[arg(long)]
    pub matrix_results: Option<PathBuf>,
    /// Where the scenario runs' reports go.
    #[arg(long, default_value = "reports/bench")]
    pub work_dir: PathBuf,
    /// Measure only these sections (ssh, observe, ctk, writer, precision, large, soak; default
    /// all). Sections left out are reported as not measured.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Sweeps of Chaos Toolkit's probes over every node (side by side with pgchaos); the
    /// run must outlast the two switchovers made during it (about 4 s apart each).
    #[arg(long, default_value_t = 100)]
    pub ctk_sweeps: usize,
    /// Length of the memory soak: the observers with scenario windows held one after the
    /// other, the resident set read every --soak-every (on the larger lab when it is
    /// built, else on the cluster measured). Section `soak`.
    #[arg(long, default_value = "10m")]
    pub soak_for: humantime::Duration,
    /// Time between two readings of the resident set during the soak.
    #[arg(long, default_value = "1m")]
    pub soak_every: humantime::Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(args: &[&str]) -> Result<LabUpArgs, clap::Error> {
        let mut argv = vec!["pgchaos", "lab", "up"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv)?.command {
            Command::Lab(LabArgs {
                command: LabCommand::Up(u),
                ..
            }) => Ok(u),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn lab_up_defaults_and_options() {
        let d = up(&[]).unwrap();
        assert_eq!(d.patroni, LabPatroni::Pypi);
        assert!(!d.no_watchdog && !d.patroni4);
        assert_eq!(d.restart, crate::lab::RestartPolicy::Debian);
        assert_eq!(d.data_size, 4096);
        assert_eq!(d.etcd, crate::lab::EtcdPlacement::Separate);
        let o = up(&[
            "--patroni",
            "debian",
            "--no-watchdog",
            "--restart",
            "no",
            "--data-size",
            "1G",
            "--etcd",
            "colocated",
        ])
        .unwrap();
        assert_eq!(o.patroni, LabPatroni::Debian);
        assert!(o.no_watchdog);
        assert_eq!(o.restart, crate::lab::RestartPolicy::No);
        assert_eq!(o.data_size, 1024);
        assert_eq!(o.etcd, crate::lab::EtcdPlacement::Colocated);
        // The old flag still parses (hidden alias of the default).
        assert!(up(&["--patroni4"]).unwrap().patroni4);
        assert_eq!(up(&["--data-size", "0"]).unwrap().data_size, 0);
        assert!(up(&["--data-size", "10M"]).is_err(), "too small");
        assert!(up(&["--data-size", "lots"]).is_err());
    }
}
