//! BENCHMARKS.md: every figure with how, where and when it was measured, and its target.

use std::fmt::Write;

use super::observe::ObserveFigures;
use super::overhead::TimeSplit;
use super::precision::{PrecisionFigures, TARGET_SECONDS};
use super::ssh::SshFigures;
use super::stats::Summary;
use super::{BenchReport, Measured};
use crate::workload::WriterCost;

/// Observation target: samples per second per node.
pub const TARGET_RATE: f64 = 10.0;
/// Observation target: % of one core.
pub const TARGET_CPU_PERCENT: f64 = 5.0;
/// Overhead target: pgchaos's own time, % of the wall time.
pub const TARGET_OWN_PERCENT: f64 = 2.0;

/// Renders the report.
pub fn render(r: &BenchReport) -> String {
    let mut o = String::new();
    let _ = render_into(&mut o, r);
    o
}

fn ms(s: f64) -> String {
    format!("{:.1}", s * 1000.0)
}

fn when<T>(m: &Measured<T>) -> String {
    format!("measured {}", m.machine.describe())
}

fn render_into(o: &mut String, r: &BenchReport) -> std::fmt::Result {
    writeln!(o, "# pgchaos benchmarks\n")?;
    writeln!(
        o,
        "Written by `pgchaos bench` (pgchaos {}). Rerun it to refresh every figure: \
         `pgchaos bench` (against the local lab) or `pgchaos bench --inventory FILE`. \
         The machines this runs on are shared and noisy, so figures are ratios and \
         distributions measured side by side in one run; each says when it was measured and \
         what the machine's load was then.\n",
        r.version
    )?;
    writeln!(o, "## Machine\n")?;
    writeln!(
        o,
        "- host: `{}`, CPU: {}, kernel {}",
        r.hostname,
        r.cpu_model.as_deref().unwrap_or("unknown"),
        r.kernel.as_deref().unwrap_or("unknown")
    )?;
    writeln!(
        o,
        "- pgchaos build: **{}** profile{}",
        r.profile,
        if r.profile == "debug" {
            " (unoptimised: CPU figures are higher than a release build's)"
        } else {
            ""
        }
    )?;
    writeln!(o, "- at the start: {}", r.started.describe())?;
    if let Some(f) = &r.finished {
        writeln!(o, "- at the end: {}", f.describe())?;
    }
    writeln!(o, "- cluster: inventory `{}`", r.inventory)?;
    if let Some(v) = &r.versions {
        writeln!(
            o,
            "- versions reported by the cluster: Patroni {}, PostgreSQL {}, etcd {}",
            v.patroni.as_deref().unwrap_or("?"),
            v.postgres.as_deref().unwrap_or("?"),
            v.etcd.as_deref().unwrap_or("?")
        )?;
    }
    writeln!(o, "- command: `{}`\n", r.command_line.join(" "))?;

    summary(o, r)?;
    ssh_section(o, r)?;
    observe_section(o, r)?;
    precision_section(o, r)?;
    overhead_section(o, r)?;
    writer_section(o, r)?;
    Ok(())
}

fn summary(o: &mut String, r: &BenchReport) -> std::fmt::Result {
    writeln!(o, "## Targets\n")?;
    writeln!(o, "| Figure | Target | Measured | Met |")?;
    writeln!(o, "|---|---|---|---|")?;
    for m in &r.observe {
        match &m.result {
            Ok(f) => {
                let worst = f.worst_rate().unwrap_or(0.0);
                let cpu = f.cpu.total_percent();
                let met = worst >= TARGET_RATE && cpu < TARGET_CPU_PERCENT;
                let why = if met {
                    "met".to_owned()
                } else if worst < TARGET_RATE && cpu >= TARGET_CPU_PERCENT {
                    "**not met** (rate and CPU)".to_owned()
                } else if worst < TARGET_RATE {
                    format!(
                        "**not met** (rate: the interval allows {:.0}/s)",
                        1.0 / f.interval.as_secs_f64()
                    )
                } else {
                    "**not met** (CPU)".to_owned()
                };
                writeln!(
                    o,
                    "| Observation, {} | ≥ {TARGET_RATE:.0} samples/s/node at < {TARGET_CPU_PERCENT:.0} % of one core | worst node {worst:.2} samples/s, {cpu:.2} % of one core | {why} |",
                    m.label
                )?;
            }
            Err(e) => writeln!(
                o,
                "| Observation, {} | ≥ {TARGET_RATE:.0} samples/s/node at < {TARGET_CPU_PERCENT:.0} % of one core | not measured: {} | not measured |",
                m.label,
                one_line(e)
            )?,
        }
    }
    match r.precision.as_ref().map(|m| &m.result) {
        Some(Ok(p)) => {
            let n = p.differences(None).len();
            let max = p.max_abs_difference();
            let mean = Summary::of(&p.differences(None)).map(|s| s.mean);
            let met = match max {
                Some(x) if x <= TARGET_SECONDS && p.incomparable() == 0 => "met".to_owned(),
                Some(x) if x <= TARGET_SECONDS => format!(
                    "met on {n} failovers; {} could not be compared",
                    p.incomparable()
                ),
                Some(_) => "**not met**".to_owned(),
                None => "not measured".to_owned(),
            };
            writeln!(
                o,
                "| Failover time precision (pgchaos − Patroni log) | within {TARGET_SECONDS} s | max \\|difference\\| {}, mean {} over {n} failovers | {met} |",
                max.map_or("n/a".into(), |x| format!("{x:.3} s")),
                mean.map_or("n/a".into(), |x| format!("{x:+.3} s")),
            )?;
        }
        Some(Err(e)) => writeln!(
            o,
            "| Failover time precision | within {TARGET_SECONDS} s | not measured: {} | not measured |",
            one_line(e)
        )?,
        None => writeln!(
            o,
            "| Failover time precision | within {TARGET_SECONDS} s | not measured | not measured |"
        )?,
    }
    for m in &r.overhead {
        match &m.result {
            Ok(s) => {
                let (lo, hi) = (s.own_percent_low(), s.own_percent_high());
                let met = if hi < TARGET_OWN_PERCENT {
                    "met"
                } else if lo >= TARGET_OWN_PERCENT {
                    "**not met**"
                } else {
                    "met if the time before the first step is counted as waiting (see §4)"
                };
                writeln!(
                    o,
                    "| pgchaos's own time, {} | < {TARGET_OWN_PERCENT:.0} % of wall time | {lo:.2} % to {hi:.2} % of {:.0} s | {met} |",
                    m.label, s.total
                )?;
            }
            Err(e) => writeln!(
                o,
                "| pgchaos's own time, {} | < {TARGET_OWN_PERCENT:.0} % | not measured: {} | not measured |",
                m.label,
                one_line(e)
            )?,
        }
    }
    match r.ssh.as_ref().map(|m| &m.result) {
        Some(Ok(s)) => writeln!(
            o,
            "| SSH: fresh `ssh` / multiplexed, median latency | none (a ratio to watch) | {:.1}× ({} ms vs {} ms) | — |",
            s.speedup(),
            ms(s.fresh.median),
            ms(s.mux.median)
        )?,
        Some(Err(e)) => writeln!(
            o,
            "| SSH latency | none | not measured: {} | — |",
            one_line(e)
        )?,
        None => writeln!(o, "| SSH latency | none | not measured | — |")?,
    }
    match r.writer.as_ref().map(|m| &m.result) {
        Some(Ok(w)) => writeln!(
            o,
            "| Writer at {}/s | none (must not distort what it measures) | {:.2} % of one core, {} µs CPU per insert | — |",
            w.rate,
            100.0 * w.core_share,
            w.cpu_per_insert_us
                .map_or("n/a".into(), |x| format!("{x:.0}"))
        )?,
        Some(Err(e)) => writeln!(o, "| Writer | none | not measured: {} | — |", one_line(e))?,
        None => writeln!(o, "| Writer | none | not measured | — |")?,
    }
    writeln!(o)
}

fn one_line(s: &str) -> String {
    s.lines().next().unwrap_or("").replace('|', "/")
}

fn row(o: &mut String, what: &str, s: &Summary) -> std::fmt::Result {
    writeln!(
        o,
        "| {what} | {} | {} | {} | {} | {} | {} |",
        ms(s.median),
        ms(s.p95),
        ms(s.min),
        ms(s.max),
        ms(s.mean),
        s.n
    )
}

fn ssh_section(o: &mut String, r: &BenchReport) -> std::fmt::Result {
    writeln!(o, "## 1. SSH latency\n")?;
    writeln!(
        o,
        "How: `true` on one node (rotating over the Patroni nodes), once over the multiplexed \
         connection pgchaos keeps open (`Transport::run`, `sh -c true` through the \
         ControlMaster) and once with a fresh `ssh` process and connection (same user, key, \
         known hosts and ssh config as the inventory, `ControlMaster=no`, `ControlPath=none`), \
         interleaved in pairs whose order alternates, {} pairs. Connections and host keys \
         are set up before timing. Fan-out: `true` on every node of the inventory at once; \
         its wall time is compared with the sum of the same command run node after node \
         (both multiplexed), and with every node at once over fresh connections.\n",
        r.iterations
    )?;
    let Some(m) = &r.ssh else {
        return writeln!(o, "Not measured.\n");
    };
    writeln!(o, "{}.\n", when(m))?;
    let s: &SshFigures = match &m.result {
        Ok(s) => s,
        Err(e) => return writeln!(o, "Not measured: {e}\n"),
    };
    writeln!(
        o,
        "| `true` | median ms | p95 ms | min ms | max ms | mean ms | n |"
    )?;
    writeln!(o, "|---|---|---|---|---|---|---|")?;
    row(o, "multiplexed (pgchaos)", &s.mux)?;
    row(o, "fresh `ssh` per command", &s.fresh)?;
    writeln!(
        o,
        "\nA fresh connection costs {:.1}× the multiplexed command at the median ({:.1}× at p95). Nodes: {}.\n",
        s.speedup(),
        s.fresh.p95 / s.mux.p95.max(f64::EPSILON),
        s.latency_nodes.join(", ")
    )?;
    writeln!(
        o,
        "| fan-out to {} nodes, {} rounds | median ms | p95 ms | min ms | max ms | mean ms | n |",
        s.fanout_nodes, s.fanout_rounds
    )?;
    writeln!(o, "|---|---|---|---|---|---|---|")?;
    row(o, "all at once, multiplexed (wall)", &s.fanout_mux_wall)?;
    row(
        o,
        "one after the other, multiplexed (sum)",
        &s.fanout_mux_sequential,
    )?;
    row(o, "all at once, fresh `ssh` (wall)", &s.fanout_fresh_wall)?;
    writeln!(
        o,
        "\nAt once takes {:.2}× the time of one after the other (median): the nodes are asked in parallel.\n",
        s.fanout_ratio()
    )
}

fn observe_section(o: &mut String, r: &BenchReport) -> std::fmt::Result {
    writeln!(o, "## 2. Observation rate and cost\n")?;
    writeln!(
        o,
        "How: the observers `pgchaos run` uses (`observe::Observers`: per node, one REST \
         sampler doing `GET /patroni` and `GET /cluster` each tick, one SQL sampler over TCP, \
         the SSH fallback armed) run alone in the bench process for the whole window, \
         against a healthy cluster. Spare nodes (no Patroni running) are observed as in a run, \
         so their failing samples (and SSH fallback) are in the CPU figure, but rates and \
         unreachable counts are of the Patroni nodes. Rates are `observe::sample_rates` over the window \
         (samples − 1 over the time between the first and the last), per node and source; \
         one REST sample is two HTTP requests. CPU is `getrusage(RUSAGE_SELF)` user + \
         system over wall time (every thread of pgchaos), plus the CPU of the `ssh` \
         ControlMaster processes pgchaos started, from `/proc/PID/stat` (only those: when \
         the bench built the lab, the whole cluster runs under it); shown as % of one \
         core. Peak RSS is `VmHWM` after resetting it (`/proc/self/clear_refs`) at the start \
         of the window; the timeline keeps every sample of a run (with its raw `/cluster` \
         JSON) in memory, so it grows with the window and the number of nodes. The default interval is 250 ms (4 samples/s); 100 ms is what the \
         10 samples/s target needs. The larger cluster is the lab rebuilt with more \
         Patroni nodes (`lab up --nodes N`) when the bench runs against the lab.\n"
    )?;
    writeln!(
        o,
        "| cluster, interval | REST samples/s/node min / median | SQL samples/s/node min / median | CPU % of one core: pgchaos (+ ssh masters) | peak RSS MiB | unreachable samples | window s | machine |"
    )?;
    writeln!(o, "|---|---|---|---|---|---|---|---|")?;
    for m in &r.observe {
        let f: &ObserveFigures = match &m.result {
            Ok(f) => f,
            Err(e) => {
                writeln!(
                    o,
                    "| {} | not measured: {} | | | | | | |",
                    m.label,
                    one_line(e)
                )?;
                continue;
            }
        };
        let pair = |s: Option<Summary>| {
            s.map_or("n/a".into(), |s| format!("{:.2} / {:.2}", s.min, s.median))
        };
        writeln!(
            o,
            "| {} | {} | {} | {:.2} ({:.2}) | {} | {} | {:.1} | {} |",
            m.label,
            pair(f.rest()),
            pair(f.sql()),
            f.cpu.own_percent(),
            f.cpu.total_percent(),
            f.peak_rss_kib
                .map_or("n/a".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
            f.unreachable,
            f.cpu.wall_seconds,
            m.machine.describe()
        )?;
    }
    writeln!(o)
}

fn precision_section(o: &mut String, r: &BenchReport) -> std::fmt::Result {
    writeln!(o, "## 3. Failover time precision\n")?;
    writeln!(
        o,
        "How: `pgchaos run` (the binary, as a user runs it) on the two scenarios in \
         `benches/scenarios/` (embedded in the binary): SIGKILL Patroni on the leader, and \
         `systemctl stop patroni` on the leader; each waits for a new leader, then starts \
         Patroni again and waits for the old leader to stream from the new one. pgchaos's \
         figure is `metrics.failover_seconds` from results.json (fault → first observation \
         of a new leader). Ground truth: the timestamp of Patroni's log line \"promoted self \
         to leader by acquiring session lock\" (from the log excerpts in results.json, or the \
         node's log over SSH when the excerpt misses it; read in the node's time zone from \
         `date +%z`, millisecond resolution) minus the start time of the fault step's command \
         in results.json. Difference = pgchaos − truth: positive when pgchaos saw the new \
         leader later than Patroni logged it. On the lab every node shares the host's clock; \
         on remote nodes clock skew adds to the difference.\n"
    )?;
    let Some(m) = &r.precision else {
        return writeln!(o, "Not measured.\n");
    };
    writeln!(o, "{}.\n", when(m))?;
    let p: &PrecisionFigures = match &m.result {
        Ok(p) => p,
        Err(e) => return writeln!(o, "Not measured: {e}\n"),
    };
    writeln!(
        o,
        "| fault | failovers | mean difference s | max \\|difference\\| s | pgchaos failover s (median) | Patroni log s (median) |"
    )?;
    writeln!(o, "|---|---|---|---|---|---|")?;
    for fault in p.faults() {
        let d = p.differences(Some(&fault));
        let of = |f: fn(&super::precision::FailoverSample) -> Option<f64>| {
            Summary::of(
                &p.samples
                    .iter()
                    .filter(|s| s.fault == fault)
                    .filter_map(f)
                    .collect::<Vec<_>>(),
            )
        };
        let measured = of(|s| s.measured_seconds);
        let truth = of(|s| s.truth_seconds);
        let abs = Summary::of(&d.iter().map(|x| x.abs()).collect::<Vec<_>>());
        writeln!(
            o,
            "| {fault} | {} | {} | {} | {} | {} |",
            d.len(),
            Summary::of(&d).map_or("n/a".into(), |s| format!("{:+.3}", s.mean)),
            abs.map_or("n/a".into(), |s| format!("{:.3}", s.max)),
            measured.map_or("n/a".into(), |s| format!("{:.3}", s.median)),
            truth.map_or("n/a".into(), |s| format!("{:.3}", s.median)),
        )?;
    }
    writeln!(
        o,
        "\nEvery failover ({} runs of each scenario; reports in `{}`):\n",
        p.runs_per_fault,
        p.report_dir.display()
    )?;
    writeln!(
        o,
        "| # | fault | verdict | leader before → promoted (log) / observed | fault command started (UTC) | pgchaos s | Patroni log s | difference s |"
    )?;
    writeln!(o, "|---|---|---|---|---|---|---|---|")?;
    for (i, s) in p.samples.iter().enumerate() {
        let f = |x: Option<f64>| x.map_or("n/a".into(), |x| format!("{x:.3}"));
        writeln!(
            o,
            "| {} | {} | {:?} | {} → {} / {} | {} | {} | {} | {} |",
            i + 1,
            s.fault,
            s.verdict,
            s.old_leader.as_deref().unwrap_or("?"),
            s.promoted_node.as_deref().unwrap_or("(no log line)"),
            s.new_leader.as_deref().unwrap_or("(none observed)"),
            s.fault_at
                .map_or("?".into(), |t| t.format("%H:%M:%S%.3f").to_string()),
            f(s.measured_seconds),
            f(s.truth_seconds),
            s.difference().map_or("n/a".into(), |x| format!("{x:+.3}")),
        )?;
    }
    writeln!(o)
}

fn overhead_section(o: &mut String, r: &BenchReport) -> std::fmt::Result {
    writeln!(
        o,
        "## 4. Overhead: waiting on the cluster vs pgchaos's own time\n"
    )?;
    writeln!(
        o,
        "How: the runner does not time itself, so the split is computed from the timestamps \
         in results.json. *Waiting*: `expect` and `hold` steps (conditions not yet true, \
         holds) and recovery (end of the last step to the `recovered` event). *Actions*: \
         the commands of fault, undo and operation steps as they ran on the nodes (their \
         recorded durations, SSH included), and REST/SQL operation steps whole. *Before \
         steps*: scenario start to its first step: the steady-state wait, binding targets \
         and starting the workload, which results.json does not separate; the own-time \
         share is given counting it as waiting (low) and as pgchaos's (high). *Own*: the \
         rest of the run's wall time: around commands, between steps, after recovery \
         (workload verification, Patroni log collection), between scenarios (writing \
         reports), preflight. There are no fixed sleeps in the runner: every wait is a \
         condition polled with a deadline.\n"
    )?;
    writeln!(
        o,
        "| run | scenarios | wall s | waiting s | actions s | before steps s | own s | own % (low – high) |"
    )?;
    writeln!(o, "|---|---|---|---|---|---|---|---|")?;
    for m in &r.overhead {
        let s: &TimeSplit = match &m.result {
            Ok(s) => s,
            Err(e) => {
                writeln!(
                    o,
                    "| {} | not measured: {} | | | | | | |",
                    m.label,
                    one_line(e)
                )?;
                continue;
            }
        };
        writeln!(
            o,
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} ({:.2}; {:.2}) | {:.2} – {:.2} |",
            m.label,
            s.scenarios,
            s.total,
            s.waiting,
            s.actions,
            s.before_steps,
            s.own,
            s.after_recovery,
            s.outside_scenarios,
            s.own_percent_low(),
            s.own_percent_high()
        )?;
    }
    writeln!(o)
}

fn writer_section(o: &mut String, r: &BenchReport) -> std::fmt::Result {
    writeln!(o, "## 5. Writer cost\n")?;
    writeln!(
        o,
        "How: `workload::measure_writer_cost`: the scenario writer alone on its own thread, \
         inserting at 50/s through HAProxy's write port, its thread's CPU from \
         `getrusage(RUSAGE_THREAD)` (the writer and its connection driver, nothing else).\n"
    )?;
    let Some(m) = &r.writer else {
        return writeln!(o, "Not measured.\n");
    };
    writeln!(o, "{}.\n", when(m))?;
    let w: &WriterCost = match &m.result {
        Ok(w) => w,
        Err(e) => return writeln!(o, "Not measured: {e}\n"),
    };
    writeln!(
        o,
        "| rate /s | wall s | attempted | acknowledged | CPU user s | CPU system s | CPU per insert µs | % of one core |"
    )?;
    writeln!(o, "|---|---|---|---|---|---|---|---|")?;
    writeln!(
        o,
        "| {} | {:.1} | {} | {} | {:.3} | {:.3} | {} | {:.2} |\n",
        w.rate,
        w.wall_seconds,
        w.attempted,
        w.acknowledged,
        w.cpu_user_seconds,
        w.cpu_system_seconds,
        w.cpu_per_insert_us
            .map_or("n/a".into(), |x| format!("{x:.0}")),
        100.0 * w.core_share
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::sysinfo::{CpuUse, MachineLoad};
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn ok<T>(label: &str, v: T) -> Measured<T> {
        Measured {
            label: label.into(),
            machine: MachineLoad::now(),
            result: Ok(v),
        }
    }

    #[test]
    fn targets_say_met_or_not_met_from_the_figures() {
        let mut r = BenchReport::new(std::path::Path::new("inv.yml"), 10);
        let obs = |interval_ms: u64, rate: f64, cpu: f64| ObserveFigures {
            nodes: 4,
            spares: 0,
            interval: Duration::from_millis(interval_ms),
            machine: MachineLoad::now(),
            cpu: CpuUse {
                wall_seconds: 10.0,
                own_cpu_seconds: cpu / 10.0,
                children_cpu_seconds: 0.0,
            },
            peak_rss_kib: Some(20480),
            rss_kib: Some(10240),
            rest_per_node: BTreeMap::from([("pg1".into(), rate)]),
            sql_per_node: BTreeMap::from([("pg1".into(), rate)]),
            unreachable: 0,
            ssh_samples: 0,
        };
        r.observe
            .push(ok("4 nodes, every 250 ms", obs(250, 3.9, 1.0)));
        r.observe
            .push(ok("4 nodes, every 100 ms", obs(100, 9.95, 2.0)));
        r.observe
            .push(ok("8 nodes, every 100 ms", obs(100, 10.0, 3.0)));
        r.overhead.push(ok(
            "run",
            TimeSplit {
                scenarios: 2,
                total: 100.0,
                waiting: 95.0,
                actions: 3.0,
                before_steps: 0.5,
                own: 1.5,
                after_recovery: 0.5,
                outside_scenarios: 0.5,
            },
        ));
        let md = render(&r);
        assert!(
            md.contains("| Observation, 4 nodes, every 250 ms |"),
            "{md}"
        );
        assert!(
            md.contains("**not met** (rate: the interval allows 4/s)"),
            "{md}"
        );
        let line = md
            .lines()
            .find(|l| l.contains("Observation, 8 nodes"))
            .unwrap();
        assert!(line.ends_with("| met |"), "{line}");
        assert!(
            md.contains("1.50 % to 2.00 % of 100 s | met if the time before"),
            "{md}"
        );
        for h in [
            "## 1. SSH",
            "## 2. Observation",
            "## 3. Failover",
            "## 4. Overhead",
            "## 5. Writer",
        ] {
            assert!(md.contains(h), "missing {h}");
        }
        // Sections without figures say so rather than show numbers.
        assert!(md.contains("| Failover time precision | within 0.25 s | not measured |"));
    }
}
