//! The cluster's own processes on a node: how to find them (shell lookups that a signal,
//! a diagnosis and a probe all share, so they reach exactly the same processes) and since
//! when they run (new PID after a signal: restarted by its supervisor; same PID: the
//! signal had no effect).

use chrono::{DateTime, TimeDelta, Utc};

use crate::inventory::Ops;
use crate::transport::shell_quote;

/// Marker in the first line of every generated script. `pgrep -f` sees it in the command
/// line of our own `sh -c` (and of the sudo and login shell wrapping it), which lets
/// process lookups skip them. Specific enough not to appear in a daemon's command line
/// (a lab may well keep its files under a directory called `pgchaos`).
pub(crate) const SELF_MARKER: &str = "pgchaos-script";

/// The first lines of every script: a marker comment, unset variables are errors, private
/// files.
pub(crate) fn header(what: &str) -> String {
    // `what` is built from fixed words and validated tags only: no newline can get in.
    format!("# {SELF_MARKER} {what}\nset -u\numask 077\n")
}

/// Which processes a signal goes to; each variant prints the PIDs, one a line, into the
/// shell variable `pgc_pids`, or exits 1 naming what it looked for.
pub(crate) enum Lookup<'a> {
    /// `pgrep -x NAME`.
    Name(&'a str),
    /// The PID on the first line of `DATA_DIR/postmaster.pid`.
    Postmaster {
        /// The data directory.
        data_dir: &'a str,
    },
    /// `pgrep -f PATTERN`, minus our own scripts and `patronictl`.
    Daemon(&'a str),
    /// The postmaster of `DATA_DIR/postmaster.pid` and its children (owned by `user`):
    /// every process of this cluster's PostgreSQL, and no other's.
    ClusterPostgres {
        /// The data directory.
        data_dir: &'a str,
        /// Process name of the children.
        name: &'a str,
        /// OS user the children must belong to.
        user: &'a str,
    },
    /// The service's main process (`systemctl show -p MainPID`), else `fallback` (no
    /// systemd, or the service manager does not say).
    Service {
        /// The unit.
        service: &'a str,
        /// How to find it otherwise.
        fallback: Box<Lookup<'a>>,
    },
}

impl Lookup<'_> {
    /// Script setting `pgc_pids`, or exiting 1 with a message when nothing matched.
    pub(crate) fn script(&self) -> String {
        match self {
            Lookup::Name(name) => format!(
                "pgc_pids=$(pgrep -x {n})\n\
                 [ -n \"$pgc_pids\" ] || {{ echo {msg} >&2; exit 1; }}\n",
                n = shell_quote(name),
                msg = shell_quote(&format!("pgchaos: no process named {name} on this node")),
            ),
            Lookup::Postmaster { data_dir } => {
                let pidfile = format!("{}/postmaster.pid", data_dir.trim_end_matches('/'));
                format!(
                    "pgc_pids=$(head -n 1 {f} 2>/dev/null)\n\
                     case $pgc_pids in\n\
                     \x20 ''|*[!0-9]*) echo {msg} >&2; exit 1 ;;\n\
                     esac\n\
                     kill -0 \"$pgc_pids\" 2>/dev/null || {{ echo {stale} >&2; exit 1; }}\n",
                    f = shell_quote(&pidfile),
                    msg = shell_quote(&format!(
                        "pgchaos: no postmaster PID in {pidfile} (is PostgreSQL running?)"
                    )),
                    stale = shell_quote(&format!(
                        "pgchaos: the postmaster PID in {pidfile} is not running"
                    )),
                )
            }
            Lookup::ClusterPostgres {
                data_dir,
                name,
                user,
            } => format!(
                "{pm}pgc_pids=\"$pgc_pids $(pgrep -P \"$pgc_pids\" -u {u} -x {n} | tr '\\n' ' ')\"\n",
                pm = Lookup::Postmaster { data_dir }.script(),
                u = shell_quote(user),
                n = shell_quote(name),
            ),
            Lookup::Service { service, fallback } => format!(
                "pgc_pids=$(systemctl show -p MainPID --value {svc} 2>/dev/null)\n\
                 case $pgc_pids in\n\
                 \x20 ''|0|*[!0-9]*) pgc_pids= ;;\n\
                 esac\n\
                 if [ -z \"$pgc_pids\" ]; then\n{fallback}fi\n",
                svc = shell_quote(service),
                fallback = fallback.script(),
            ),
            // `pgrep -f` matches whole command lines: our own `sh -c`, the sudo and
            // login shells wrapping it carry the pattern too (they carry SELF_MARKER as
            // well, which is how they are told apart), and a default pattern like
            // `bin/patroni` also matches `bin/patronictl`. Only the daemon is wanted.
            Lookup::Daemon(pattern) => format!(
                "pgc_pids=\n\
                 for pgc_p in $(pgrep -f {pat}); do\n\
                 \x20 pgc_cmd=$(tr '\\0' ' ' <\"/proc/$pgc_p/cmdline\" 2>/dev/null) || continue\n\
                 \x20 case $pgc_cmd in *{SELF_MARKER}*|*patronictl*|'') continue ;; esac\n\
                 \x20 pgc_pids=\"$pgc_pids $pgc_p\"\n\
                 done\n\
                 [ -n \"$pgc_pids\" ] || {{ echo {msg} >&2; exit 1; }}\n",
                pat = shell_quote(pattern),
                msg = shell_quote(&format!(
                    "pgchaos: no process whose command line matches {pattern} on this node"
                )),
            ),
        }
    }
}

/// The processes of one kind found on a node.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Procs {
    /// PID and start time of each process found.
    pub pids: Vec<(u32, DateTime<Utc>)>,
}

/// What one probe found.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct PidSnapshot {
    /// When the probe ran (the node's clock is not used: ages are relative).
    pub at: DateTime<Utc>,
    /// Patroni daemons.
    pub patroni: Procs,
    /// The postmaster.
    pub postmaster: Procs,
}

/// The script printing `now UPTIME TICKS` and one `KIND PID STARTTIME` line per process
/// (start time in clock ticks since boot, field 22 of /proc/PID/stat).
pub(crate) fn probe_script(ops: &Ops) -> String {
    let each = |kind: &str, lookup: Lookup<'_>| {
        format!(
            "( {lookup}  for pgc_p in $pgc_pids; do\n\
             \x20   pgc_st=$(sed 's/.*) //' /proc/$pgc_p/stat 2>/dev/null | cut -d' ' -f20)\n\
             \x20   [ -n \"$pgc_st\" ] && echo \"{kind} $pgc_p $pgc_st\"\n\
             \x20 done ) 2>/dev/null\n",
            lookup = lookup.script(),
        )
    };
    format!(
        "{}echo \"now $(cut -d' ' -f1 /proc/uptime) $(getconf CLK_TCK)\"\n{}{}",
        header("pids"),
        each(
            "patroni",
            Lookup::Service {
                service: &ops.patroni_service,
                fallback: Box::new(Lookup::Daemon(&ops.patroni_process)),
            }
        ),
        each(
            "postmaster",
            Lookup::Postmaster {
                data_dir: &ops.data_dir
            }
        ),
    )
}

/// Parses the probe's output; `at` is when it ran.
pub(crate) fn parse(stdout: &str, at: DateTime<Utc>) -> PidSnapshot {
    let mut snap = PidSnapshot {
        at,
        ..Default::default()
    };
    let mut clock: Option<(f64, f64)> = None;
    for line in stdout.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["now", up, tck] => {
                if let (Ok(up), Ok(tck)) = (up.parse::<f64>(), tck.parse::<f64>()) {
                    clock = Some((up, tck.max(1.0)));
                }
            }
            [kind, pid, start] => {
                let (Some((up, tck)), Ok(pid), Ok(start)) =
                    (clock, pid.parse::<u32>(), start.parse::<f64>())
                else {
                    continue;
                };
                let age = (up - start / tck).max(0.0);
                let started = at - TimeDelta::milliseconds((age * 1000.0) as i64);
                match *kind {
                    "patroni" => snap.patroni.pids.push((pid, started)),
                    "postmaster" => snap.postmaster.pids.push((pid, started)),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    snap
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn start_times_are_relative_to_the_probe() {
        let at = Utc.timestamp_millis_opt(1_700_000_100_000).unwrap();
        let s = parse(
            "now 1000.50 100\npatroni 4242 99000\npostmaster 77 50\ngarbage\n",
            at,
        );
        assert_eq!(s.patroni.pids.len(), 1);
        assert_eq!(s.patroni.pids[0].0, 4242);
        // started at uptime 990 s: 10.5 s before the probe.
        assert_eq!(s.patroni.pids[0].1, at - TimeDelta::milliseconds(10_500));
        assert_eq!(s.postmaster.pids[0].0, 77);
    }

    #[test]
    fn the_script_uses_the_signal_lookups() {
        let inv = crate::inventory::parse(
            std::path::Path::new("inventory.yml"),
            "cluster: {scope: x}\nnodes:\n  - {name: pg1, host: 10.0.0.1, roles: [patroni]}\n",
        )
        .expect("a valid inventory")
        .inventory;
        let ops = inv.ops_for(&inv.nodes[0]);
        let s = probe_script(&ops);
        assert!(s.contains("pgrep -f bin/patroni"), "{s}");
        assert!(s.contains("postmaster.pid"), "{s}");
    }
}
