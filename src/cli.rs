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
    /// With --lab: run the lab's Patroni 4.x from PyPI instead of Debian's package.
    #[arg(long, requires = "lab")]
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
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `pgchaos cleanup`.
#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// The inventory describing the cluster.
    #[arg(long, short = 'i')]
    pub inventory: PathBuf,
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
    /// Internal: keeps one node running across reboots.
    #[command(hide = true)]
    Keeper(LabNodeArgs),
    /// Internal: PID 1 of a node.
    #[command(hide = true)]
    Init(LabNodeArgs),
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
    /// Run Patroni 4.x from PyPI (in a venv) instead of Debian's package.
    #[arg(long)]
    pub patroni4: bool,
    /// Time allowed for the cluster to form.
    #[arg(long, default_value = "180s")]
    pub timeout: humantime::Duration,
    /// How long a rebooted node stays down (default longer than Patroni's TTL, as real
    /// hardware does).
    #[arg(long, default_value = "30s")]
    pub boot_delay: humantime::Duration,
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
    #[arg(long, default_value_t = 3)]
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
}
