//! Faults: for each kind, the command that injects it on a node and the one that undoes it.
//!
//! [`plan`] turns one scenario [`Step`] into an [`Action`]: the scripts the runner sends to
//! nodes (or runs locally, for power-on) and, for faults that leave something behind, an
//! [`Undo`]. Every command comes from the node's [`Ops`], so the same code drives the lab
//! and a production cluster.
//!
//! # Safety model
//! - Faults that leave the node degraded until undone (iptables rules, SIGSTOP, a stopped
//!   service, a daemon killed by a signal, a shell step with an undo) arm a node-side
//!   **dead man's switch** in the same remote command, *before* the fault is injected. It
//!   runs the undo by itself `deadman_after` later unless `disarm` cancels it first, so the
//!   node heals even when pgchaos, its SSH connection or its host dies.
//! - If the inject part fails, the same script disarms the switch, runs the undo at once
//!   and exits non-zero: a failed inject leaves nothing behind.
//! - Every undo is idempotent: the switch may have fired already, or the runner may retry.
//! - iptables rules carry the comment `pgchaos:RUN_ID:SEQ`; only rules with that tag are
//!   ever deleted, one by one with the exact spec they were inserted with. Nothing is
//!   flushed.
//! - One-shot faults (kill -9 of PostgreSQL, `pg_ctl stop`, reboot, service restart)
//!   have no undo: Patroni or the boot sequence heals them, and that is what is tested.
//!
//! # Node-side state (`/run/pgchaos`, a tmpfs: a reboot clears it with the faults)
//! For fault `SEQ` of run `RUN_ID` on node `NODE`, files `RUN_ID.SEQ.NODE.EXT`:
//! `.deadman` (PID of the switch's process group and its deadline, node clock), `.undo`
//! (the script the switch runs), `.stopped` (PIDs sent SIGSTOP, with their start times, so
//! that only those very processes are resumed), `.fired` (left by a switch that fired:
//! when and what its undo printed). See [`leftovers_script`] and [`cleanup_script`].

mod clock_step;
pub(crate) mod config;
mod degrade;
mod fill_disk;
mod leftovers;
mod netfilter;
mod partition;
pub(crate) mod pending;
mod pgbouncer;
pub(crate) mod runlock;
pub(crate) mod scheduled_switchover;
mod sh;
mod tags;
pub(crate) mod undo;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::inventory::{Inventory, Node, Ops};
// One pass, each value quoted for where it lands in the template.
use crate::scenario::{
    BlockAction, BlockStep, Direction, NodeStep, PgCtlMode, PgCtlStep, PortSide, Process, Service,
    ServiceAction, ServiceStep, ShellStep, Signal, SignalStep, Step,
};
use crate::text::template::shell as render;
use crate::transport::shell_quote;

pub use leftovers::{Leftover, cleanup_script, leftovers_script, parse_leftovers};
use netfilter::{Chain, Match, RuleSet};
use sh::{Lookup, Stem};

/// Where a command runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// On an inventory node, over SSH.
    Node(String),
    /// On the machine pgchaos runs on (power-on through IPMI, a cloud CLI, the lab).
    Local,
}

/// One script and where to run it (`sh -c SCRIPT`, through the transport).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeCommand {
    /// Where.
    pub location: Location,
    /// The POSIX sh script.
    pub script: String,
}

/// What the runner must do for one fault step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    /// What the fault does, in words: "SIGKILL every postgres process on pg1".
    pub description: String,
    /// Commands to run in order; a failure means the fault is not (fully) in place, but
    /// the runner should still register and run the undo: undos are idempotent.
    pub inject: Vec<NodeCommand>,
    /// How to undo it; `None` for one-shot actions that Patroni or a boot heals.
    pub undo: Option<Undo>,
}

/// How to undo a fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undo {
    /// What the undo does, in words.
    pub description: String,
    /// Commands to run in order, one node independently of the others (see [`undo::run`]).
    /// Each is idempotent.
    pub commands: Vec<NodeCommand>,
    /// Node-side timers that run the undo by themselves if pgchaos disappears, one per node
    /// the fault touches (a target may stand for several nodes, e.g. `all_etcd`). Each was
    /// armed by the inject command on its node before the fault; a node's `disarm` runs
    /// only after that node's undo succeeded (a disarm is idempotent and always exits 0),
    /// so a node whose undo failed keeps its switch and its undo record.
    pub deadmen: Vec<Deadman>,
}

/// A dead man's switch armed on one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deadman {
    /// The node it runs on.
    pub node: String,
    /// Script cancelling it (idempotent, exits 0 whether it was armed, fired or gone).
    pub disarm: String,
    /// Its state file stem under `/run/pgchaos` (`RUN_ID.SEQ.NODE`), as leftovers show it.
    pub stem: String,
    /// When it fires, counted from the inject.
    pub after: Duration,
}

/// What [`plan`] needs besides the step.
pub struct FaultContext<'a> {
    /// The inventory (nodes, their hosts and operations).
    pub inventory: &'a Inventory,
    /// The run's id, in every iptables tag and state file (`[A-Za-z0-9_-]`, at most 64).
    pub run_id: &'a str,
    /// The fault's number in the run, unique per run.
    pub seq: u32,
    /// When dead man's switches fire (the scenario's maximum duration plus a margin).
    pub deadman_after: Duration,
    /// Target name to the node names it is bound to.
    pub targets: &'a BTreeMap<String, Vec<String>>,
}

/// Why a step cannot be turned into commands.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// The step names a target the scenario did not bind.
    #[error("failed to plan the step: target {0:?} is not bound to any node")]
    UnknownTarget(String),
    /// A target is bound to a node name the inventory does not have.
    #[error("failed to plan the step: node {0:?} is not in the inventory")]
    UnknownNode(String),
    /// Power-off (or power-on) without a way to power the node on again.
    #[error(
        "failed to plan {what} of {node}: the inventory has no `power_on` command (operations.power_on) to bring it back"
    )]
    NoPowerOn {
        /// `a power-off` or `a power-on`.
        what: &'static str,
        /// The node.
        node: String,
    },
    /// A node's `host` does not resolve to an address (rules name addresses, resolved once).
    #[error("failed to plan the step: the host {host:?} of node {node} does not resolve: {error}")]
    Resolve {
        /// The node.
        node: String,
        /// Its `host`.
        host: String,
        /// What the resolver said.
        error: String,
    },
    /// More distinct SSH ports than one iptables `multiport` match takes.
    #[error(
        "failed to plan the step: the inventory names {0} SSH ports; network faults spare at most 15"
    )]
    TooManySshPorts(usize),
    /// The two sides of a partition share a node.
    #[error("failed to plan the step: node {0} is on both sides of the partition")]
    Overlap(String),
    /// A step's values cannot be turned into a command.
    #[error("failed to plan the step: {0}")]
    Invalid(String),
    /// The run id cannot be used in iptables comments and file names.
    #[error(
        "failed to plan the step: run id {0:?} must be 1 to 64 characters among letters, digits, '_' and '-'"
    )]
    BadRunId(String),
}

/// Turns a step into commands; `None` when the step is not a fault or node command
/// (expect, hold, sql, pgbench, undo, REST operations, switchover/failover: for those
/// through patronictl see [`patronictl_switchover`] and [`patronictl_failover`], which
/// need the live leader).
pub fn plan(step: &Step, ctx: &FaultContext) -> Result<Option<Action>, FaultError> {
    check_run_id(ctx.run_id)?;
    let action = match step {
        Step::Signal(s) => signal(s, ctx)?,
        Step::Service(s) => service(s, ctx)?,
        Step::PgCtl(s) => pg_ctl(s, ctx)?,
        Step::Reboot(s) => reboot(s, ctx)?,
        Step::Poweroff(s) => poweroff(s, ctx)?,
        Step::PowerOn(s) => power_on(s, ctx)?,
        Step::Block(s) => block(s, ctx)?,
        Step::Isolate(s) => isolate(s, ctx)?,
        Step::Partition(s) => partition::plan(s, ctx)?,
        Step::Degrade(s) => degrade::plan(s, ctx)?,
        Step::FillDisk(s) => fill_disk::plan(s, ctx)?,
        Step::ClockStep(s) => clock_step::plan(s, ctx)?,
        Step::StartPatroni(s) => start_patroni(s, ctx)?,
        Step::Shell(s) => shell(s, ctx)?,
        Step::Tags(s) => tags::plan(s, ctx)?,
        Step::PgbouncerPause(_) => pgbouncer::plan(ctx)?,
        Step::Undo(_)
        | Step::Switchover(_)
        | Step::Failover(_)
        | Step::Restart(_)
        | Step::Reinitialize(_)
        | Step::Reload(_)
        | Step::PatchConfig(_)
        | Step::Sql(_)
        | Step::Pgbench(_)
        | Step::Expect(_)
        | Step::Hold(_) => return Ok(None),
    };
    Ok(Some(action))
}

/// A shell probe for what a step needs of a node: exits 0 where the need is met, and
/// changes nothing (preflight runs it before the first fault).
pub(crate) fn need_probe(need: crate::scenario::step::NodeNeed) -> &'static str {
    match need {
        crate::scenario::step::NodeNeed::Netem => degrade::NETEM_PROBE,
    }
}

/// Checks that `run_id` can be used in iptables tags and state file names
/// (`[A-Za-z0-9_-]`, 1 to 64 characters); [`plan`] refuses others.
pub(crate) fn check_run_id(run_id: &str) -> Result<(), FaultError> {
    let ok = !run_id.is_empty()
        && run_id.len() <= 64
        && run_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(FaultError::BadRunId(run_id.to_owned()))
    }
}

/// The iptables comment of fault `seq` of run `run_id`.
pub(crate) fn rule_tag(run_id: &str, seq: u32) -> String {
    format!("pgchaos:{run_id}:{seq}")
}

/// The nodes a target stands for, in the order the binding gave them.
fn nodes<'a>(ctx: &'a FaultContext, target: &str) -> Result<Vec<&'a Node>, FaultError> {
    let names = ctx
        .targets
        .get(target)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| FaultError::UnknownTarget(target.to_owned()))?;
    names
        .iter()
        .map(|n| {
            ctx.inventory
                .node(n)
                .ok_or_else(|| FaultError::UnknownNode(n.clone()))
        })
        .collect()
}

fn names(nodes: &[&Node]) -> String {
    nodes
        .iter()
        .map(|n| n.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What one node must run for a fault: the pieces [`assemble`] puts together.
struct Piece {
    /// The fault itself (may `exit 1` with a message).
    inject: String,
    /// Its undo, if the fault leaves something behind.
    undo: Option<String>,
    /// Arm a dead man's switch running `undo`.
    deadman: bool,
    /// Shell functions both scripts need.
    prelude: &'static str,
}

impl Piece {
    /// A fault that leaves nothing to undo (a signal, a restart): no switch is armed.
    fn once(inject: String) -> Self {
        Self {
            inject,
            undo: None,
            deadman: false,
            prelude: "",
        }
    }

    /// A fault undone by `undo`, which a dead man's switch also runs if pgchaos does not.
    fn undone(inject: String, undo: String) -> Self {
        Self {
            inject,
            undo: Some(undo),
            deadman: true,
            prelude: "",
        }
    }

    /// The same piece with shell functions both its scripts need.
    fn with_prelude(self, prelude: &'static str) -> Self {
        Self { prelude, ..self }
    }
}

/// Builds the action from one piece per node.
fn assemble(
    ctx: &FaultContext,
    kind: &str,
    description: String,
    undo_description: impl FnOnce() -> String,
    pieces: Vec<(&Node, Piece)>,
) -> Action {
    let after = ctx.deadman_after.as_secs().max(1);
    let what = format!("{kind} {}", rule_tag(ctx.run_id, ctx.seq));
    let mut inject = Vec::new();
    let mut undo_cmds = Vec::new();
    let mut deadmen = Vec::new();
    for (node, p) in pieces {
        let stem = Stem::new(ctx.run_id, ctx.seq, &node.name);
        let mut script = sh::header(&what);
        script.push_str(p.prelude);
        match (&p.undo, p.deadman) {
            (Some(undo), true) => {
                let undo_script = format!("{}{}{undo}", sh::header(&what), p.prelude);
                script.push_str(&sh::arm(&stem, &undo_script, after));
                // The fault runs in a subshell so that its `exit` returns here, where a
                // failure is undone at once.
                let _ = write!(
                    script,
                    "(\n{inject})\n\
                     pgc_rc=$?\n\
                     if [ \"$pgc_rc\" -ne 0 ]; then\n\
                     \x20 echo \"pgchaos: failed to inject the fault (exit $pgc_rc); undoing it now\" >&2\n\
                     \x20 if (\n{undo}) >&2; then\n\
                     \x20   ( {disarm} ) >&2\n\
                     \x20 else\n\
                     \x20   echo 'pgchaos: the undo failed too: the dead man'\"'\"'s switch stays armed and retries it' >&2\n\
                     \x20 fi\n\
                     \x20 exit \"$pgc_rc\"\n\
                     fi\n",
                    inject = p.inject,
                    disarm = sh::disarm(&stem),
                );
                undo_cmds.push(NodeCommand {
                    location: Location::Node(node.name.clone()),
                    script: undo_script,
                });
                deadmen.push(Deadman {
                    node: node.name.clone(),
                    disarm: format!("{}{}", sh::header(&what), sh::disarm(&stem)),
                    stem: stem.0.clone(),
                    after: Duration::from_secs(after),
                });
            }
            (Some(undo), false) => {
                script.push_str(&p.inject);
                undo_cmds.push(NodeCommand {
                    location: Location::Node(node.name.clone()),
                    script: format!("{}{}{undo}", sh::header(&what), p.prelude),
                });
            }
            (None, _) => script.push_str(&p.inject),
        }
        inject.push(NodeCommand {
            location: Location::Node(node.name.clone()),
            script,
        });
    }
    let undo = (!undo_cmds.is_empty()).then(|| Undo {
        description: undo_description(),
        commands: undo_cmds,
        deadmen,
    });
    Action {
        description,
        inject,
        undo,
    }
}

fn sig_name(s: Signal) -> &'static str {
    match s {
        Signal::Kill => "KILL",
        Signal::Term => "TERM",
        Signal::Int => "INT",
        Signal::Quit => "QUIT",
        Signal::Hup => "HUP",
        Signal::Stop => "STOP",
        Signal::Cont => "CONT",
    }
}

/// The process name HAProxy runs under (not configurable in the inventory).
const HAPROXY_PROCESS: &str = "haproxy";

fn signal(s: &SignalStep, ctx: &FaultContext) -> Result<Action, FaultError> {
    let nodes = nodes(ctx, &s.target)?;
    let sig = sig_name(s.signal);
    let what = match s.process {
        Process::Postgres => "every postgres process",
        Process::Postmaster => "the postmaster",
        Process::Patroni => "the Patroni daemon",
        Process::Etcd => "etcd",
        Process::Haproxy => "HAProxy",
    };
    let terminating = matches!(
        s.signal,
        Signal::Kill | Signal::Term | Signal::Int | Signal::Quit
    );
    // Which service, if any, must be started again after a terminating signal: PostgreSQL
    // is restarted by Patroni, but nothing restarts a killed daemon when its unit says
    // `Restart=no` (Debian's Patroni unit does).
    let daemon_service = |ops: &Ops| -> Option<String> {
        match s.process {
            Process::Patroni => Some(ops.patroni_service.clone()),
            Process::Etcd => Some(ops.etcd_service.clone()),
            Process::Haproxy => Some(ops.haproxy_service.clone()),
            Process::Postgres | Process::Postmaster => None,
        }
    };
    let mut pieces = Vec::new();
    let mut restarts = false;
    for node in &nodes {
        let ops = ctx.inventory.ops_for(node);
        let stem = Stem::new(ctx.run_id, ctx.seq, &node.name);
        let lookup = match s.process {
            // Only this cluster's processes: another cluster's PostgreSQL or Patroni on
            // the same host (`patroni@a`, `patroni@b`), or `patroni_exporter`, is never hit.
            Process::Postgres => Lookup::ClusterPostgres {
                data_dir: &ops.data_dir,
                name: &ops.postgres_process,
                user: &ops.postgres_user,
            },
            Process::Postmaster => Lookup::Postmaster {
                data_dir: &ops.data_dir,
            },
            Process::Patroni => Lookup::Service {
                service: &ops.patroni_service,
                fallback: Box::new(Lookup::Daemon(&ops.patroni_process)),
            },
            Process::Etcd => Lookup::Service {
                service: &ops.etcd_service,
                fallback: Box::new(Lookup::Name(&ops.etcd_process)),
            },
            Process::Haproxy => Lookup::Service {
                service: &ops.haproxy_service,
                fallback: Box::new(Lookup::Name(HAPROXY_PROCESS)),
            },
        };
        let piece = if s.signal == Signal::Stop {
            Piece::undone(
                format!(
                    "{}{}{}",
                    lookup.script(),
                    sh::record_stopped(&stem),
                    sh::send(sig)
                ),
                sh::resume_recorded(&stem),
            )
            .with_prelude(sh::FN_START_TIME)
        } else if let (true, Some(service)) = (terminating, daemon_service(&ops)) {
            restarts = true;
            let vars = op_vars(node, &ops, &service);
            // keep_down: the supervisor is held before the signal and released (before the
            // service is started again) on undo, by the dead man's switch too.
            let (hold, release) = if s.keep_down {
                (
                    format!("{} || exit 1\n", render(&ops.service_keep_down, &vars)),
                    format!("{}\n", render(&ops.service_keep_down_undo, &vars)),
                )
            } else {
                (String::new(), String::new())
            };
            Piece::undone(
                format!("{hold}{}{}", lookup.script(), sh::send(sig)),
                format!("{release}{}", ensure_started(node, &ops, &service)),
            )
        } else {
            Piece::once(format!("{}{}", lookup.script(), sh::send(sig)))
        };
        pieces.push((*node, piece));
    }
    let on = names(&nodes);
    let description = format!("SIG{sig} {what} on {on}");
    let undo_description = || {
        if s.signal == Signal::Stop {
            format!("SIGCONT the processes stopped on {on}")
        } else if restarts {
            format!("start {what} on {on} again unless it already runs")
        } else {
            String::new()
        }
    };
    Ok(assemble(
        ctx,
        "signal",
        description,
        undo_description,
        pieces,
    ))
}

/// `service_is_active || service_start`: idempotent, and harmless when a later step
/// already started the service.
fn ensure_started(node: &Node, ops: &Ops, service: &str) -> String {
    let vars = op_vars(node, ops, service);
    format!(
        "if {} >/dev/null 2>&1; then\n\
         \x20 echo {already}\n\
         else\n\
         \x20 {}\n\
         fi\n",
        render(&ops.service_is_active, &vars),
        render(&ops.service_start, &vars),
        already = shell_quote(&format!("pgchaos: {service} already runs")),
    )
}

/// The placeholders of an operation template (`systemctl stop {service}`): the service,
/// and the node's `{node}`, `{host}`, `{data_dir}` and `{bin_dir}`, as the inventory
/// documents them.
fn op_vars<'a>(node: &'a Node, ops: &'a Ops, service: &'a str) -> [(&'static str, &'a str); 5] {
    [
        ("service", service),
        ("node", &node.name),
        ("host", &node.host),
        ("data_dir", &ops.data_dir),
        ("bin_dir", &ops.bin_dir),
    ]
}

fn service(s: &ServiceStep, ctx: &FaultContext) -> Result<Action, FaultError> {
    let nodes = nodes(ctx, &s.target)?;
    let mut pieces = Vec::new();
    let mut service_name = String::new();
    for node in &nodes {
        let ops = ctx.inventory.ops_for(node);
        let name = match s.service {
            Service::Patroni => ops.patroni_service.clone(),
            Service::Etcd => ops.etcd_service.clone(),
            Service::Haproxy => ops.haproxy_service.clone(),
        };
        let vars = op_vars(node, &ops, &name);
        let piece = match s.action {
            // A service left stopped is a broken node (a Patroni member missing, an etcd
            // member short of quorum): arm a switch that starts it again.
            ServiceAction::Stop => Piece::undone(
                format!("{}\n", render(&ops.service_stop, &vars)),
                format!("{}\n", render(&ops.service_start, &vars)),
            ),
            ServiceAction::Start => Piece::once(format!("{}\n", render(&ops.service_start, &vars))),
            ServiceAction::Restart => {
                Piece::once(format!("{}\n", render(&ops.service_restart, &vars)))
            }
        };
        service_name = name;
        pieces.push((*node, piece));
    }
    let on = names(&nodes);
    let verb = match s.action {
        ServiceAction::Stop => "stop",
        ServiceAction::Start => "start",
        ServiceAction::Restart => "restart",
    };
    let description = format!("{verb} service {service_name} on {on}");
    let undo_description = || format!("start service {service_name} on {on}");
    Ok(assemble(
        ctx,
        "service",
        description,
        undo_description,
        pieces,
    ))
}

fn pg_ctl(s: &PgCtlStep, ctx: &FaultContext) -> Result<Action, FaultError> {
    let nodes = nodes(ctx, &s.target)?;
    let mode = match s.mode {
        PgCtlMode::Smart => "smart",
        PgCtlMode::Fast => "fast",
        PgCtlMode::Immediate => "immediate",
    };
    let pieces = nodes
        .iter()
        .map(|node| {
            let ops = ctx.inventory.ops_for(node);
            let piece = Piece::once(sh::pg_ctl_stop(
                &ops.postgres_user,
                &ops.bin_dir,
                &ops.data_dir,
                mode,
            ));
            (*node, piece)
        })
        .collect();
    let description = format!("pg_ctl stop -m {mode} on {}", names(&nodes));
    Ok(assemble(ctx, "pg_ctl", description, String::new, pieces))
}

fn reboot(s: &NodeStep, ctx: &FaultContext) -> Result<Action, FaultError> {
    let nodes = nodes(ctx, &s.target)?;
    let pieces = nodes
        .iter()
        .map(|node| {
            let ops = ctx.inventory.ops_for(node);
            let piece = Piece::once(format!(
                "{}echo 'pgchaos: reboot starts in 1s'\n",
                sh::detached_later(&ops.reboot)
            ));
            (*node, piece)
        })
        .collect();
    let description = format!("reboot {}", names(&nodes));
    Ok(assemble(ctx, "reboot", description, String::new, pieces))
}

fn power_on_command(node: &Node, ops: &Ops, what: &'static str) -> Result<NodeCommand, FaultError> {
    let template = ops.power_on.as_ref().ok_or_else(|| FaultError::NoPowerOn {
        what,
        node: node.name.clone(),
    })?;
    Ok(NodeCommand {
        location: Location::Local,
        script: render(template, &[("node", &node.name), ("host", &node.host)]),
    })
}

fn poweroff(s: &NodeStep, ctx: &FaultContext) -> Result<Action, FaultError> {
    let nodes = nodes(ctx, &s.target)?;
    let mut inject = Vec::new();
    let mut commands = Vec::new();
    let what = format!("poweroff {}", rule_tag(ctx.run_id, ctx.seq));
    for node in &nodes {
        let ops = ctx.inventory.ops_for(node);
        // Checked first: never power off a node nothing can power on again.
        commands.push(power_on_command(node, &ops, "a power-off")?);
        inject.push(NodeCommand {
            location: Location::Node(node.name.clone()),
            script: format!(
                "{}{}echo 'pgchaos: power-off starts in 1s'\n",
                sh::header(&what),
                sh::detached_later(&ops.poweroff)
            ),
        });
    }
    let on = names(&nodes);
    Ok(Action {
        description: format!("power off {on}"),
        inject,
        // No dead man's switch can run on a node that is off; `pgchaos cleanup` cannot see
        // it either. The power-on runs locally.
        undo: Some(Undo {
            description: format!("power on {on}"),
            commands,
            deadmen: vec![],
        }),
    })
}

fn power_on(s: &NodeStep, ctx: &FaultContext) -> Result<Action, FaultError> {
    let nodes = nodes(ctx, &s.target)?;
    let inject = nodes
        .iter()
        .map(|node| power_on_command(node, &ctx.inventory.ops_for(node), "a power-on"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Action {
        description: format!("power on {}", names(&nodes)),
        inject,
        undo: None,
    })
}

/// Every node the targets stand for, without repeats, in order.
fn nodes_of<'a>(ctx: &'a FaultContext, targets: &[String]) -> Result<Vec<&'a Node>, FaultError> {
    let mut out: Vec<&Node> = Vec::new();
    for t in targets {
        for n in nodes(ctx, t)? {
            if !out.iter().any(|o| o.name == n.name) {
                out.push(n);
            }
        }
    }
    Ok(out)
}

/// Rules of a block step, in insertion order, for peers resolved to addresses (both
/// families when there is none).
fn block_rules(s: &BlockStep, tag: &str, peers: &[std::net::IpAddr]) -> RuleSet {
    let chain = match s.direction {
        Direction::Inbound => Chain::Input,
        Direction::Outbound => Chain::Output,
    };
    let target = match s.action {
        BlockAction::Drop => "DROP",
        // Plain REJECT (ICMP port unreachable), as the runbooks do.
        BlockAction::Reject => "REJECT",
    };
    let flag = match s.port_is {
        PortSide::Destination => "--dport",
        PortSide::Source => "--sport",
    };
    let spec: Vec<String> = ["-p", "tcp", flag, &s.port.to_string(), "-j", target]
        .iter()
        .map(|w| (*w).to_owned())
        .collect();
    // The SSH port itself is refused by validation; a block names one port, so no SSH
    // exception is needed.
    let mut set = RuleSet::new(tag, &[]);
    if peers.is_empty() {
        set.add(chain, None, &spec);
    } else {
        for p in peers {
            set.add(chain, Some(*p), &spec);
        }
    }
    set
}

fn block(s: &BlockStep, ctx: &FaultContext) -> Result<Action, FaultError> {
    let nodes = nodes(ctx, &s.target)?;
    let peers = netfilter::addresses_of(&nodes_of(ctx, &s.peers)?)?;
    let tag = rule_tag(ctx.run_id, ctx.seq);
    let rules = block_rules(s, &tag, &peers);
    let pieces = nodes.iter().map(|n| (*n, rules.piece())).collect();
    let verb = match s.action {
        BlockAction::Drop => "DROP",
        BlockAction::Reject => "REJECT",
    };
    let (dir, prep) = match s.direction {
        Direction::Inbound => ("inbound", "from"),
        Direction::Outbound => ("outbound", "to"),
    };
    let side = match s.port_is {
        PortSide::Destination => "",
        PortSide::Source => " (source port)",
    };
    let mut description = format!("{verb} {dir} tcp/{}{side} on {}", s.port, names(&nodes));
    if !s.peers.is_empty() {
        let _ = write!(description, " {prep} {}", s.peers.join(", "));
    }
    let undo_description = || format!("remove the netfilter rules tagged {tag}");
    Ok(assemble(
        ctx,
        "block",
        description,
        undo_description,
        pieces,
    ))
}

/// Rules isolating a node: everything but loopback and SSH is dropped, both directions,
/// both families. Only DROP rules, none of which matches loopback or SSH: the host's own
/// rules (fail2ban, allow-lists) still decide about those, as they did before. An ACCEPT
/// inserted ahead of them would open SSH to anyone for the fault's duration.
fn isolate_rules(tag: &str, ssh_ports: &[u16]) -> RuleSet {
    let mut set = RuleSet::new(tag, ssh_ports);
    for chain in [Chain::Input, Chain::Output] {
        set.drop_all_but_ssh(&Match {
            chain,
            peer: None,
            not_loopback: true,
            extra: &[],
        });
    }
    set
}

fn isolate(s: &NodeStep, ctx: &FaultContext) -> Result<Action, FaultError> {
    let nodes = nodes(ctx, &s.target)?;
    let tag = rule_tag(ctx.run_id, ctx.seq);
    let rules = isolate_rules(&tag, &netfilter::ssh_ports(ctx)?);
    let pieces = nodes.iter().map(|n| (*n, rules.piece())).collect();
    let description = format!(
        "isolate {} from the network (all but SSH and loopback, both directions, IPv4 and IPv6)",
        names(&nodes)
    );
    let undo_description = || format!("remove the netfilter rules tagged {tag}");
    Ok(assemble(
        ctx,
        "isolate",
        description,
        undo_description,
        pieces,
    ))
}

fn start_patroni(s: &NodeStep, ctx: &FaultContext) -> Result<Action, FaultError> {
    let nodes = nodes(ctx, &s.target)?;
    let pieces = nodes
        .iter()
        .map(|node| {
            let ops = ctx.inventory.ops_for(node);
            let vars = op_vars(node, &ops, &ops.patroni_service);
            let piece = Piece {
                inject: format!(
                    "{} || exit 1\n{}\n",
                    render(&ops.service_enable, &vars),
                    render(&ops.service_start, &vars)
                ),
                // Stopping it again returns the node to a spare, so that the scenario can
                // be repeated and later scenarios see the topology they expect. A
                // graceful stop removes the member from the DCS. It stays enabled at boot
                // (the inventory has no disable command). Not a fault: no switch.
                undo: Some(format!("{}\n", render(&ops.service_stop, &vars))),
                deadman: false,
                prelude: "",
            };
            (*node, piece)
        })
        .collect();
    let on = names(&nodes);
    let description = format!("enable and start Patroni on {on}");
    let undo_description = || format!("stop Patroni on {on} (a spare again)");
    Ok(assemble(
        ctx,
        "start_patroni",
        description,
        undo_description,
        pieces,
    ))
}

fn shell(s: &ShellStep, ctx: &FaultContext) -> Result<Action, FaultError> {
    let nodes = nodes(ctx, &s.target)?;
    let deadman = s.undo.is_some();
    // User commands run without `set -u`: they were written for a plain shell.
    let user = |c: &str| format!("set +u\n{c}\n");
    // The step succeeds when the command exits with `expect_status` (default 0); any other
    // status fails the inject (and so undoes it at once).
    let want = s.expect_status.unwrap_or(0);
    let inject = format!(
        "(\n{cmd})\n\
         pgc_st=$?\n\
         if [ \"$pgc_st\" -ne {want} ]; then echo \"pgchaos: the command exited with $pgc_st, expected {want}\" >&2; exit 1; fi\n",
        cmd = user(&s.command)
    );
    let pieces = nodes
        .iter()
        .map(|n| {
            let piece = Piece {
                inject: inject.clone(),
                undo: s.undo.as_deref().map(user),
                deadman,
                prelude: "",
            };
            (*n, piece)
        })
        .collect();
    let on = names(&nodes);
    let description = format!("run on {on}: {}", s.command);
    let undo_description = || format!("run on {on}: {}", s.undo.as_deref().unwrap_or(""));
    Ok(assemble(
        ctx,
        "shell",
        description,
        undo_description,
        pieces,
    ))
}

/// `patronictl switchover` run on node `on` (for `via: patronictl`): `--force`, the
/// inventory's scope as the cluster name, and the leader and candidate when given (member
/// names, which are inventory node names). Works with Patroni 3.0 and 4.x.
pub(crate) fn patronictl_switchover(
    inventory: &Inventory,
    on: &str,
    leader: Option<&str>,
    candidate: Option<&str>,
) -> Result<NodeCommand, FaultError> {
    let mut args = String::from("switchover --force");
    if let Some(l) = leader {
        let _ = write!(args, " --leader {}", shell_quote(l));
    }
    if let Some(c) = candidate {
        let _ = write!(args, " --candidate {}", shell_quote(c));
    }
    patronictl(inventory, on, "switchover", &args)
}

/// `patronictl failover --candidate C --force SCOPE` run on node `on`. No `--leader`:
/// Patroni 4 rejects it for failover.
pub(crate) fn patronictl_failover(
    inventory: &Inventory,
    on: &str,
    candidate: &str,
) -> Result<NodeCommand, FaultError> {
    let args = format!("failover --force --candidate {}", shell_quote(candidate));
    patronictl(inventory, on, "failover", &args)
}

fn patronictl(
    inventory: &Inventory,
    on: &str,
    what: &str,
    args: &str,
) -> Result<NodeCommand, FaultError> {
    let node = inventory
        .node(on)
        .ok_or_else(|| FaultError::UnknownNode(on.to_owned()))?;
    let ops = inventory.ops_for(node);
    Ok(NodeCommand {
        location: Location::Node(on.to_owned()),
        script: format!(
            "{}{} {args} {}\n",
            sh::header(&format!("patronictl {what}")),
            ops.patronictl,
            shell_quote(&inventory.cluster.scope)
        ),
    })
}

#[cfg(test)]
mod tests;
