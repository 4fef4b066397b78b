//! What the machine and this process are doing: CPU time (this process and the ssh
//! processes it started), peak memory, load average, core count.

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;

/// The machine a figure was measured on, at the moment it was measured.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct MachineLoad {
    /// When (UTC).
    pub at: chrono::DateTime<chrono::Utc>,
    /// Online CPUs.
    pub nproc: usize,
    /// Load average over 1, 5 and 15 minutes (none when unreadable).
    pub loadavg: Option<[f64; 3]>,
}

impl MachineLoad {
    /// The machine now.
    pub(crate) fn now() -> Self {
        Self {
            at: chrono::Utc::now(),
            nproc: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            loadavg: std::fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|s| parse_loadavg(&s)),
        }
    }

    /// `nproc 2, load 1.23 0.98 0.75, 2026-11-10 12:00 UTC`.
    pub(crate) fn describe(&self) -> String {
        let load = match self.loadavg {
            Some([a, b, c]) => format!("load average {a:.2} {b:.2} {c:.2}"),
            None => "load average unknown".into(),
        };
        format!(
            "{} cores, {load}, {}",
            self.nproc,
            self.at.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

/// Parses the first three fields of `/proc/loadavg`.
pub(crate) fn parse_loadavg(s: &str) -> Option<[f64; 3]> {
    let mut it = s.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// User and system CPU seconds of this process, all threads, from `getrusage`.
pub(crate) fn self_cpu_split() -> (f64, f64) {
    // SAFETY: getrusage only writes into the zeroed struct we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid `who` and a valid pointer.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return (0.0, 0.0);
    }
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (secs(usage.ru_utime), secs(usage.ru_stime))
}

/// CPU seconds of every live `ssh` process descending from this one (the ControlMaster
/// processes openssh starts), from `/proc/PID/stat`. `getrusage(RUSAGE_CHILDREN)` would
/// only count children that have exited, and the masters live as long as the transport.
/// Other descendants are left out on purpose: a lab this process brought up runs the whole
/// cluster under it.
pub(crate) fn ssh_descendants_cpu_seconds() -> HashMap<i32, f64> {
    let ticks = clock_ticks();
    let me = std::process::id() as i32;
    let mut parent: HashMap<i32, i32> = HashMap::new();
    let mut cpu: HashMap<i32, f64> = HashMap::new();
    let mut is_ssh: HashMap<i32, bool> = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some((ppid, user, system)) = parse_stat(&stat) {
            // A ControlMaster daemonises (`ssh -f`): its parent is init, not this process,
            // but its command line names this process's control directory.
            let ssh = command_name(&stat) == Some("ssh");
            let mine = ssh
                && std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                    let needle = format!("/tmp/pgcb-{me}-");
                    c.windows(needle.len()).any(|w| w == needle.as_bytes())
                });
            parent.insert(pid, if mine { me } else { ppid });
            is_ssh.insert(pid, ssh);
            cpu.insert(pid, (user + system) as f64 / ticks);
        }
    }
    cpu.into_iter()
        .filter(|(pid, _)| is_ssh.get(pid).copied().unwrap_or(false))
        .filter(|(pid, _)| {
            let mut p = *pid;
            // Bounded walk: a pid table changing under us must not loop forever.
            for _ in 0..64 {
                match parent.get(&p) {
                    Some(&pp) if pp == me => return true,
                    Some(&pp) if pp > 1 => p = pp,
                    _ => return false,
                }
            }
            false
        })
        .collect()
}

/// Parent pid, user ticks and system ticks from one `/proc/PID/stat` line. The command
/// name (field 2) may hold spaces and parentheses, so fields are counted after its last `)`.
pub(crate) fn parse_stat(stat: &str) -> Option<(i32, u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(3) ppid(4) ... utime(14) stime(15); index 0 is field 3.
    Some((
        f.get(1)?.parse().ok()?,
        f.get(11)?.parse().ok()?,
        f.get(12)?.parse().ok()?,
    ))
}

/// The command name (field 2) of a `/proc/PID/stat` line.
pub(crate) fn command_name(stat: &str) -> Option<&str> {
    Some(&stat[stat.find('(')? + 1..stat.rfind(')')?])
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// Resets this process's peak resident set size (`VmHWM`) so that the next reading covers
/// only what follows. Returns whether the kernel accepted it (Linux 4.0+).
pub(crate) fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Peak resident set size of this process since start or the last reset, in KiB.
pub(crate) fn peak_rss_kib() -> Option<u64> {
    status_field("VmHWM:")
}

/// Current resident set size of this process, in KiB.
pub(crate) fn rss_kib() -> Option<u64> {
    status_field("VmRSS:")
}

fn status_field(name: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_status_kib(&s, name)
}

/// A `kB` field of `/proc/self/status`.
pub(crate) fn parse_status_kib(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// CPU used by this process and its live descendants over a window, as a share of one core.
pub(crate) struct CpuMeter {
    started: Instant,
    own: f64,
    own_system: f64,
    children: HashMap<i32, f64>,
}

/// What a [`CpuMeter`] measured.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub(crate) struct CpuUse {
    /// Wall-clock seconds of the window.
    pub wall_seconds: f64,
    /// CPU seconds of this process.
    pub own_cpu_seconds: f64,
    /// CPU seconds of its `ssh` descendants (ControlMasters) within the window.
    pub children_cpu_seconds: f64,
    /// Of `own_cpu_seconds`, the kernel's share (system calls, and the network stack's
    /// work on the packets this process sends).
    pub own_system_seconds: f64,
}

impl CpuUse {
    /// CPU of this process as % of one core.
    pub(crate) fn own_percent(&self) -> f64 {
        100.0 * self.own_cpu_seconds / self.wall_seconds.max(f64::EPSILON)
    }

    /// CPU of this process and its descendants as % of one core.
    pub(crate) fn total_percent(&self) -> f64 {
        100.0 * (self.own_cpu_seconds + self.children_cpu_seconds)
            / self.wall_seconds.max(f64::EPSILON)
    }
}

impl CpuMeter {
    /// Starts measuring now.
    pub(crate) fn start() -> Self {
        let (user, system) = self_cpu_split();
        Self {
            children: ssh_descendants_cpu_seconds(),
            own: user + system,
            own_system: system,
            started: Instant::now(),
        }
    }

    /// CPU used since [`CpuMeter::start`]. A descendant that started within the window
    /// counts from zero.
    pub(crate) fn stop(&self) -> CpuUse {
        let (user, system) = self_cpu_split();
        let own = user + system - self.own;
        let wall = self.started.elapsed().as_secs_f64();
        let children = ssh_descendants_cpu_seconds()
            .into_iter()
            .map(|(pid, c)| c - self.children.get(&pid).copied().unwrap_or(0.0))
            .filter(|d| *d > 0.0)
            .sum();
        CpuUse {
            wall_seconds: wall,
            own_cpu_seconds: own.max(0.0),
            children_cpu_seconds: children,
            own_system_seconds: (system - self.own_system).max(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loadavg_fields() {
        assert_eq!(
            parse_loadavg("1.25 0.50 0.10 2/345 6789\n"),
            Some([1.25, 0.5, 0.1])
        );
        assert_eq!(parse_loadavg("garbage"), None);
    }

    #[test]
    fn stat_with_a_hostile_command_name() {
        let line = "123 (ssh (mux) x) S 45 123 123 0 -1 4194304 100 0 0 0 17 4 0 0 20 0 1 0 1 1 1";
        assert_eq!(parse_stat(line), Some((45, 17, 4)));
        assert_eq!(command_name(line), Some("ssh (mux) x"));
        assert_eq!(parse_stat("no parens"), None);
    }

    #[test]
    fn status_fields_in_kib() {
        let s = "Name:\tpgchaos\nVmHWM:\t   12345 kB\nVmRSS:\t    2345 kB\n";
        assert_eq!(parse_status_kib(s, "VmHWM:"), Some(12345));
        assert_eq!(parse_status_kib(s, "VmRSS:"), Some(2345));
        assert_eq!(parse_status_kib(s, "VmPeak:"), None);
    }

    #[test]
    fn this_process_uses_cpu_and_memory() {
        let meter = CpuMeter::start();
        // Burn a little CPU so the meter has something to see.
        let mut x = 0u64;
        let until = Instant::now() + std::time::Duration::from_millis(50);
        while Instant::now() < until {
            x = x.wrapping_mul(31).wrapping_add(1);
        }
        std::hint::black_box(x);
        let used = meter.stop();
        assert!(used.own_cpu_seconds > 0.0, "{used:?}");
        assert!(used.wall_seconds >= 0.05);
        assert!(rss_kib().unwrap_or(0) > 0);
        assert!(peak_rss_kib().unwrap_or(0) >= rss_kib().unwrap_or(0) / 2);
    }
}
