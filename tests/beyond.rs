//! The faults beyond the runbooks (`partition`, `degrade`, `fill_disk`) on the real lab,
//! checked from outside pgchaos: the iptables rules, the qdisc and the filler file are on
//! the nodes while the scenario holds them, and gone after its undo; with pgchaos killed
//! in the middle, the nodes' dead man's switches remove them by themselves.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const PATRONI_NODES: [&str; 3] = ["pg1", "pg2", "pg3"];
const SCENARIO: &str = "tests/scenarios/beyond-faults.yml";

/// What the three faults leave on the Patroni nodes, as the nodes themselves show it.
#[derive(Debug, Default)]
struct Seen {
    /// `NODE: RULE` for every pgchaos-tagged iptables or ip6tables rule.
    rules: Vec<String>,
    /// `NODE: QDISC` for every root htb qdisc (pgchaos's handles are 7000-7fff).
    qdiscs: Vec<String>,
    /// `NODE: FILE` for every filler file on the data filesystem.
    fills: Vec<String>,
}

impl Seen {
    fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.qdiscs.is_empty() && self.fills.is_empty()
    }

    /// All three kinds are in place: partition rules (no `statistic`), loss rules
    /// (`statistic`), the qdisc and the filler.
    fn all_in_place(&self) -> bool {
        self.rules.iter().any(|r| !r.contains("statistic"))
            && self.rules.iter().any(|r| r.contains("-m statistic"))
            && !self.qdiscs.is_empty()
            && !self.fills.is_empty()
    }
}

fn seen() -> Seen {
    let mut s = Seen::default();
    for n in PATRONI_NODES {
        let o = on_node(
            n,
            "iptables -S; ip6tables -S; echo '#tc'; tc qdisc show; echo '#fill'; ls /var/lib/postgresql",
        );
        let mut section = "rules";
        for l in String::from_utf8_lossy(&o.stdout).lines() {
            match l {
                "#tc" => section = "tc",
                "#fill" => section = "fill",
                _ => match section {
                    "rules" if l.contains("pgchaos:") => s.rules.push(format!("{n}: {l}")),
                    "tc" if l.starts_with("qdisc htb 7") => s.qdiscs.push(format!("{n}: {l}")),
                    "fill" if l.starts_with("pgchaos-fill.") => s.fills.push(format!("{n}: {l}")),
                    _ => {}
                },
            }
        }
    }
    s
}

fn start(inventory: &str, dir: &std::path::Path) -> std::process::Child {
    Command::new(bin())
        .args([
            "run",
            SCENARIO,
            "--inventory",
            inventory,
            "--report-dir",
            dir.to_str().unwrap(),
            "--deadman-margin",
            "5s",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("failed to start pgchaos")
}

#[test]
fn partition_degrade_and_fill_disk_are_on_the_nodes_while_held_and_gone_after_undo() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let (lab, _guard) = lab_with(Patroni::V4);
    assert!(seen().is_empty(), "leftovers before the run: {:?}", seen());
    let dir = report_dir("beyond-in-place");
    let child = start(lab.inventory.to_str().unwrap(), &dir);
    let mut during = Seen::default();
    let in_place = eventually(Duration::from_secs(90), || {
        during = seen();
        during.all_in_place()
    });
    let out = child.wait_with_output().expect("pgchaos ran");
    assert!(
        in_place,
        "the faults never were all in place: {during:?}\n{}",
        text(&out)
    );
    // The partition is by address both ways between the two replicas, SSH left out of
    // every DROP, and no ACCEPT anywhere.
    assert!(
        during.rules.iter().all(
            |r| r.contains("-j DROP") && (r.contains("! -p tcp") || r.contains("! --ports 22"))
        ),
        "{:?}",
        during.rules
    );
    assert!(during.rules.iter().any(|r| r.contains("-A INPUT -s 10.")));
    assert!(during.rules.iter().any(|r| r.contains("-A OUTPUT -d 10.")));
    assert!(
        during.fills.len() == 1 && during.qdiscs.len() == 1,
        "{during:?}"
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&dir);
    assert_eq!(
        r["scenarios"][0]["verdict"], "passed",
        "{}",
        r["scenarios"][0]
    );
    let after = seen();
    assert!(after.is_empty(), "left after the undo: {after:?}");
}

#[test]
fn killed_mid_fault_the_dead_mans_switches_remove_all_three() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let (lab, _guard) = lab_with(Patroni::V4);
    let dir = report_dir("beyond-killed");
    let mut child = start(lab.inventory.to_str().unwrap(), &dir);
    assert!(
        eventually(Duration::from_secs(90), || seen().all_in_place()),
        "the faults never were all in place: {:?}",
        seen()
    );
    child.kill().expect("SIGKILL pgchaos");
    let _ = child.wait();
    assert!(
        seen().all_in_place(),
        "the faults vanished with pgchaos: nothing left to prove"
    );
    // The rest of the scenario (a 25 s hold) + margin 5 s: the switches must heal the
    // nodes by themselves.
    let mut left = Seen::default();
    let healed = eventually(Duration::from_secs(90), || {
        left = seen();
        left.is_empty()
    });
    assert!(healed, "the dead man's switches did not remove: {left:?}");
    // Nothing is left for a cleanup either: no armed switch, no undo record, no filler
    // record; each switch that fired says its undo exited 0.
    for n in PATRONI_NODES {
        let o = on_node(
            n,
            "ls /run/pgchaos 2>/dev/null; for f in /run/pgchaos/*.fired; do [ -f \"$f\" ] && tail -n 1 \"$f\"; done; true",
        );
        let listing = String::from_utf8_lossy(&o.stdout).to_string();
        for l in listing.lines() {
            assert!(
                !(l.ends_with(".deadman") || l.ends_with(".undo") || l.ends_with(".fill")),
                "{n}: left {l}\n{listing}"
            );
            if l.starts_with("exit ") {
                assert_eq!(l, "exit 0", "{n}: a switch's undo failed\n{listing}");
            }
        }
    }
    // `pgchaos cleanup` clears the records of the switches that fired.
    let out = pgchaos(&[
        "cleanup",
        "--inventory",
        lab.inventory.to_str().unwrap(),
        "--yes",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn latency_on_a_kernel_without_netem_is_refused_in_preflight_naming_node_and_step() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let (lab, _guard) = lab_with(Patroni::V4);
    // The lab's nodes share this machine's kernel: ask it the way the probe does.
    let netem = Command::new("unshare")
        .args([
            "-n",
            "sh",
            "-c",
            "ip link set lo up && tc qdisc add dev lo root netem delay 1ms",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let dir = report_dir("beyond-latency");
    let out = pgchaos(&[
        "run",
        "tests/scenarios/latency.yml",
        "--inventory",
        lab.inventory.to_str().unwrap(),
        "--report-dir",
        dir.to_str().unwrap(),
    ]);
    let all = text(&out);
    if netem {
        assert_eq!(out.status.code(), Some(0), "{all}");
    } else {
        assert_eq!(out.status.code(), Some(3), "{all}");
        // The report says why, unwrapped (the terminal's copy is wrapped to its width).
        let r = results(&dir);
        let why = r["outcome"]["reason"].as_str().unwrap_or_default();
        assert_eq!(r["outcome"]["kind"], "aborted", "{r}");
        assert!(
            why.starts_with("preflight failed")
                && why.contains("has no tc netem")
                && why.contains("needed by beyond-latency-on-a-replica (step 1)"),
            "{why}"
        );
        // Refused before the first scenario: no step ran, so nothing was touched.
        assert!(!all.contains("step 1/2"), "{all}");
    }
    assert!(seen().is_empty(), "left on the nodes: {:?}", seen());
}

#[test]
fn a_frozen_etcd_leader_is_replaced_and_patroni_rides_through() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let (lab, _guard) = lab_with(Patroni::V4);
    let dir = report_dir("beyond-etcd-leader");
    let out = pgchaos(&[
        "run",
        "scenarios/beyond/etcd-leader-frozen.yml",
        "--inventory",
        lab.inventory.to_str().unwrap(),
        "--report-dir",
        dir.to_str().unwrap(),
    ]);
    let r = results(&dir);
    let s = &r["scenarios"][0];
    assert_eq!(s["verdict"], "passed", "{}\n{s}", text(&out));
    // The target was etcd's own leader, and the condition saw another one take over.
    let targets = text(&out);
    let frozen = targets
        .lines()
        .find_map(|l| l.split("dcs_leader=").nth(1))
        .and_then(|t| t.split_whitespace().next())
        .expect("the dcs_leader binding is printed")
        .to_owned();
    assert!(frozen.starts_with("etcd"), "{frozen}");
    let steps = s["steps"].as_array().expect("steps");
    let elected = steps[1]["detail"].as_str().unwrap_or_default();
    assert!(
        elected.contains("etcd leader etcd")
            && !elected.contains(&format!("etcd leader {frozen} ")),
        "{elected}"
    );
    // Resumed: nothing of the fault is left on the node (no stopped etcd).
    let o = on_node(&frozen, "ps -o stat= -C etcd");
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains('T'),
        "etcd still stopped on {frozen}"
    );
}

#[test]
fn a_scenario_needing_colocated_etcd_is_skipped_not_passed_on_separate_etcd() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let (lab, _guard) = lab_with(Patroni::V4);
    let dir = report_dir("beyond-not-applicable");
    let out = pgchaos(&[
        "run",
        "scenarios/beyond/colocated-minority-majority.yml",
        "scenarios/poc/haproxy-ports.yml",
        "--inventory",
        lab.inventory.to_str().unwrap(),
        "--report-dir",
        dir.to_str().unwrap(),
    ]);
    // The applicable scenario ran and passed; the other was not run, and says why.
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&dir);
    let colocated = r["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "beyond-colocated-minority-majority")
        .expect("the colocated scenario is in the results");
    assert_eq!(colocated["verdict"], "skipped", "{colocated}");
    let reason = colocated["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("not applicable to this cluster")
            && reason.contains("requires.etcd: colocated")
            && reason.contains("etcd1"),
        "{reason}"
    );
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(junit.contains("<skipped"), "{junit}");
    // Alone, it is refused: nothing to run is not a pass.
    let alone = pgchaos(&[
        "run",
        "scenarios/beyond/colocated-minority-majority.yml",
        "--inventory",
        lab.inventory.to_str().unwrap(),
        "--report-dir",
        report_dir("beyond-not-applicable-alone").to_str().unwrap(),
    ]);
    assert_eq!(alone.status.code(), Some(2), "{}", text(&alone));
    assert!(
        String::from_utf8_lossy(&alone.stderr).contains("no selected scenario applies"),
        "{}",
        text(&alone)
    );
}
