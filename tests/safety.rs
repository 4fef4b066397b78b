//! Harness safety against the real lab: pgchaos killed or interrupted in the middle of a
//! fault never leaves it in place; a wrong inventory refuses to start; secrets never leak.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const PATRONI_NODES: [&str; 3] = ["pg1", "pg2", "pg3"];

/// Starts a run holding a port block and returns once the block is on a node.
fn start_long_block(inventory: &str, dir: &std::path::Path) -> std::process::Child {
    let child = Command::new(bin())
        .args([
            "run",
            "tests/scenarios/long-block.yml",
            "--inventory",
            inventory,
            "--report-dir",
            dir.to_str().unwrap(),
            "--deadman-margin",
            "5s",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("failed to start pgchaos");
    assert!(
        eventually(Duration::from_secs(120), || !tagged_rules(&PATRONI_NODES)
            .is_empty()),
        "the block never appeared"
    );
    child
}

/// A short scenario that must run cleanly (exit 0) unless something blocks the run.
fn quick_run(inventory: &str, name: &str) -> std::process::Output {
    pgchaos(&[
        "run",
        "scenarios/poc/haproxy-ports.yml",
        "--inventory",
        inventory,
        "--report-dir",
        report_dir(name).to_str().unwrap(),
    ])
}

fn wait_exit(
    child: &mut std::process::Child,
    deadline: Duration,
) -> Option<std::process::ExitStatus> {
    let started = std::time::Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn sigkill_mid_block_the_node_heals_itself_and_a_new_run_starts_cleanly() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let (lab, _guard) = lab();
    let inv = lab.inventory.to_str().unwrap();
    let dir = report_dir("sigkill");
    let mut child = start_long_block(inv, &dir);
    child.kill().expect("SIGKILL pgchaos");
    let _ = child.wait();
    assert!(
        !tagged_rules(&PATRONI_NODES).is_empty(),
        "the rule vanished with pgchaos: nothing left to prove"
    );
    // While the fault is still in place, a new run refuses to start and names it.
    let refused = quick_run(inv, "refused");
    assert_eq!(refused.status.code(), Some(3), "{}", text(&refused));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("left by an earlier pgchaos run") && err.contains("cleanup"),
        "{err}"
    );
    // The rest of the scenario (a 30 s hold) + margin 5s: the node-side switch must remove
    // the rule by itself.
    assert!(
        eventually(Duration::from_secs(90), || tagged_rules(&PATRONI_NODES)
            .is_empty()),
        "the dead man's switch did not remove the rule: {:?}",
        tagged_rules(&PATRONI_NODES)
    );
    let out = quick_run(inv, "after-sigkill");
    assert_eq!(
        out.status.code(),
        Some(0),
        "a new run did not start cleanly: {}",
        text(&out)
    );
}

#[test]
fn cleanup_removes_what_a_killed_run_left() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let (lab, _guard) = lab();
    let inv = lab.inventory.to_str().unwrap();
    let mut child = start_long_block(inv, &report_dir("cleanup"));
    // While the run is alive, cleanup refuses (it would undo the faults under it).
    let busy = pgchaos(&["cleanup", "--inventory", inv]);
    assert_eq!(busy.status.code(), Some(3), "{}", text(&busy));
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("in progress on this machine"),
        "{}",
        text(&busy)
    );
    assert!(
        !tagged_rules(&PATRONI_NODES).is_empty(),
        "cleanup touched the running fault"
    );
    child.kill().expect("SIGKILL pgchaos");
    let _ = child.wait();
    let out = pgchaos(&["cleanup", "--inventory", inv]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        tagged_rules(&PATRONI_NODES).is_empty(),
        "cleanup left rules: {:?}",
        tagged_rules(&PATRONI_NODES)
    );
    for n in PATRONI_NODES {
        let o = on_node(n, "ls /run/pgchaos 2>/dev/null | grep -c deadman || true");
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            "0",
            "an armed switch is left on {n}"
        );
    }
    let again = quick_run(inv, "after-cleanup");
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
}

/// Sends `sig` to a run holding a block: faults undone, reports written, exit 130.
fn interrupted_mid_scenario(sig: nix::sys::signal::Signal, name: &str) {
    let (lab, _guard) = lab();
    let inv = lab.inventory.to_str().unwrap();
    let dir = report_dir(name);
    let mut child = start_long_block(inv, &dir);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(240))
        .unwrap_or_else(|| panic!("pgchaos did not exit after {sig}"));
    assert_eq!(status.code(), Some(130), "after {sig}");
    assert!(
        tagged_rules(&PATRONI_NODES).is_empty(),
        "faults left after {sig}: {:?}",
        tagged_rules(&PATRONI_NODES)
    );
    let r = results(&dir);
    assert_eq!(r["outcome"]["kind"], "interrupted");
    assert_eq!(r["scenarios"][0]["verdict"], "interrupted");
    for f in ["junit.xml", "index.html", "summary.md"] {
        assert!(dir.join(f).exists(), "{f} was not written");
    }
}

#[test]
fn sigint_mid_scenario_undoes_faults_writes_reports_and_exits_130() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    interrupted_mid_scenario(nix::sys::signal::Signal::SIGINT, "sigint");
}

/// An operator's SSH session dropped: the shell sends SIGHUP (and stderr goes away).
#[test]
fn sighup_mid_scenario_undoes_faults_like_sigint() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    interrupted_mid_scenario(nix::sys::signal::Signal::SIGHUP, "sighup");
}

#[test]
fn an_inventory_with_the_wrong_scope_refuses_to_start() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let (lab, _guard) = lab();
    let text_inv = std::fs::read_to_string(&lab.inventory).unwrap();
    assert!(
        text_inv.contains("scope: pgchaos-lab"),
        "unexpected lab inventory:\n{text_inv}"
    );
    let wrong =
        std::env::temp_dir().join(format!("pgchaos-wrong-scope-{}.yml", std::process::id()));
    std::fs::write(
        &wrong,
        text_inv.replace("scope: pgchaos-lab", "scope: payments-prod"),
    )
    .unwrap();
    let dir = report_dir("wrong-scope");
    let out = pgchaos(&[
        "run",
        "tests/scenarios/false-expectation.yml",
        "--inventory",
        wrong.to_str().unwrap(),
        "--report-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("payments-prod") && err.contains("pgchaos-lab"),
        "{err}"
    );
    assert!(tagged_rules(&PATRONI_NODES).is_empty());
}

#[test]
fn no_output_of_a_run_contains_a_password() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let (lab, _guard) = lab();
    let inv = lab.inventory.to_str().unwrap();
    let secrets_dir = lab_dir().join("secrets");
    let mut secrets = Vec::new();
    for e in std::fs::read_dir(&secrets_dir).expect("lab secrets dir") {
        let p = e.unwrap().path();
        let v = std::fs::read_to_string(&p).unwrap().trim().to_owned();
        if v.len() >= 8 {
            secrets.push(v);
        }
    }
    assert!(
        secrets.len() >= 2,
        "expected the lab's database and API passwords in {}",
        secrets_dir.display()
    );
    let dir = report_dir("secrets");
    let out = pgchaos(&[
        "-vv",
        "run",
        "tests/scenarios/false-expectation.yml",
        "scenarios/ops/switchover.yml",
        "--inventory",
        inv,
        "--report-dir",
        dir.to_str().unwrap(),
    ]);
    let dry = pgchaos(&["-vv", "run", "scenarios", "--inventory", inv, "--dry-run"]);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    let mut haystacks = vec![
        (
            "stdout".to_owned(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ),
        (
            "stderr".to_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ),
        (
            "dry-run stdout".to_owned(),
            String::from_utf8_lossy(&dry.stdout).into_owned(),
        ),
        (
            "dry-run stderr".to_owned(),
            String::from_utf8_lossy(&dry.stderr).into_owned(),
        ),
    ];
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            haystacks.push((
                p.display().to_string(),
                String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned(),
            ));
        }
    }
    assert!(
        haystacks.iter().any(|(n, _)| n.ends_with("results.json")),
        "no results.json written"
    );
    for (name, hay) in &haystacks {
        for s in &secrets {
            assert!(!hay.contains(s.as_str()), "a password appears in {name}");
        }
    }
}

/// `pgchaos ARGS` with its own state directory (where failed undos are recorded), so
/// that records of this test never meet another run's.
fn pgchaos_with_state(state: &std::path::Path, args: &[&str]) -> std::process::Output {
    run_with_deadline(
        Command::new(bin())
            .args(args)
            .env("PGCHAOS_STATE_DIR", state),
        Duration::from_secs(900),
    )
}

/// Starts `pgchaos ARGS` with its own state directory, stderr piped for the test to read.
fn spawn_with_state(state: &std::path::Path, args: &[&str]) -> std::process::Child {
    Command::new(bin())
        .args(args)
        .env("PGCHAOS_STATE_DIR", state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("failed to start pgchaos")
}

/// Powers the node on when dropped (a no-op when it is on).
struct PowerOnAtExit<'a>(&'a str);

impl Drop for PowerOnAtExit<'_> {
    fn drop(&mut self) {
        let _ = pgchaos(&[
            "lab",
            "--dir",
            lab_dir().to_str().unwrap(),
            "power-on",
            self.0,
        ]);
    }
}

fn lab_power(what: &str, node: &str) {
    let out = pgchaos(&["lab", "--dir", lab_dir().to_str().unwrap(), what, node]);
    assert!(out.status.success(), "lab {what} {node}: {}", text(&out));
}

#[test]
fn a_node_powered_off_before_its_undo_is_named_exit_3_and_cleanup_heals_it_later() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let (lab, _guard) = lab();
    let inv = lab.inventory.to_str().unwrap();
    let state = tempfile::tempdir().unwrap();
    let dir = report_dir("undo-node-down");
    let mut child = spawn_with_state(
        state.path(),
        &[
            "run",
            "tests/scenarios/undo-node-down.yml",
            "--inventory",
            inv,
            "--report-dir",
            dir.to_str().unwrap(),
        ],
    );
    let blocked = |n: &str| !tagged_rules(&[n]).is_empty();
    let mut victims = Vec::new();
    assert!(
        eventually(Duration::from_secs(120), || {
            victims = PATRONI_NODES
                .iter()
                .copied()
                .filter(|n| blocked(n))
                .collect();
            victims.len() == 2
        }),
        "the block never reached both replicas"
    );
    let (down, up) = (victims[0], victims[1]);
    // Powered on again whatever happens below, so that a failure here does not take the
    // next tests' node with it.
    let _on = PowerOnAtExit(down);
    lab_power("power-off", down);
    let status = wait_exit(&mut child, Duration::from_secs(300)).expect("pgchaos did not finish");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(3), "{err}");
    // The reachable replica was healed; the other is named with its fault and the command.
    assert!(
        !blocked(up),
        "{up} still blocked: {:?}",
        tagged_rules(&[up])
    );
    assert!(
        err.contains(&format!("failed on {down}")) && err.contains("NOT healed"),
        "{err}"
    );
    assert!(err.contains("pgchaos cleanup --inventory"), "{err}");
    let r = results(&dir);
    assert_eq!(r["outcome"]["kind"], "aborted", "{r}");
    let reason = r["scenarios"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains(down) && reason.contains("DROP"), "{reason}");

    lab_power("power-on", down);
    assert!(
        eventually(Duration::from_secs(120), || on_node(down, "true")
            .status
            .success()),
        "{down} did not come back"
    );
    // A new run refuses while the undo is owed, naming it.
    let refused = pgchaos_with_state(
        state.path(),
        &[
            "run",
            "scenarios/poc/haproxy-ports.yml",
            "--inventory",
            inv,
            "--report-dir",
            report_dir("undo-owed").to_str().unwrap(),
        ],
    );
    assert_eq!(refused.status.code(), Some(3), "{}", text(&refused));
    let e = String::from_utf8_lossy(&refused.stderr);
    assert!(e.contains(down) && e.contains("never run since"), "{e}");
    // Cleanup runs it and forgets it.
    let out = pgchaos_with_state(state.path(), &["cleanup", "--inventory", inv]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let o = String::from_utf8_lossy(&out.stdout);
    assert!(
        o.contains(&format!("{down}: ran the undo of")),
        "cleanup did not run the owed undo: {o}"
    );
    assert!(!blocked(down));
    let left = std::fs::read_dir(state.path().join("pending"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "the record of the owed undo is still there");
}

/// The IPv4 address of lab node `node` (its namespace's own address).
fn node_ip(node: &str) -> String {
    let ns = format!("{}{node}", lab_prefix());
    let o = Command::new("ip")
        .args(["-n", &ns, "-o", "-4", "addr", "show", "scope", "global"])
        .output()
        .expect("ip addr");
    let s = String::from_utf8_lossy(&o.stdout);
    s.split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .unwrap_or_else(|| panic!("no address for {ns}: {s}"))
        .to_owned()
}

/// pgchaos-tagged iptables rules in `node`'s namespace, read without SSH (the test cuts it).
fn tagged_rules_in_netns(node: &str) -> Vec<String> {
    let ns = format!("{}{node}", lab_prefix());
    let o = Command::new("ip")
        .args(["netns", "exec", &ns, "iptables", "-w", "5", "-S"])
        .output()
        .expect("iptables in the node's namespace");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.contains("pgchaos:"))
        .map(str::to_owned)
        .collect()
}

/// This machine's packets to `ip`'s SSH port dropped, on pgchaos's side of the link, until
/// dropped.
struct SshCut(Vec<String>);

impl SshCut {
    fn new(ip: &str) -> Self {
        let rule: Vec<String> = [
            "OUTPUT",
            "-d",
            ip,
            "-p",
            "tcp",
            "--dport",
            "22",
            "-m",
            "comment",
            "--comment",
            "pgchaos-test-ssh-cut",
            "-j",
            "DROP",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let st = Command::new("iptables")
            .args(["-w", "5", "-I"])
            .args(&rule)
            .status()
            .expect("iptables on this machine");
        assert!(st.success(), "could not cut SSH to {ip}");
        SshCut(rule)
    }
}

impl Drop for SshCut {
    fn drop(&mut self) {
        let _ = Command::new("iptables")
            .args(["-w", "5", "-D"])
            .args(&self.0)
            .status();
    }
}

#[test]
fn ssh_cut_from_pgchaos_side_mid_fault_the_switch_heals_the_node_and_exit_3_names_it() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let (lab, _guard) = lab();
    let inv = lab.inventory.to_str().unwrap();
    let state = tempfile::tempdir().unwrap();
    let dir = report_dir("ssh-cut");
    let mut child = spawn_with_state(
        state.path(),
        &[
            "run",
            "tests/scenarios/long-block.yml",
            "--inventory",
            inv,
            "--report-dir",
            dir.to_str().unwrap(),
            "--deadman-margin",
            "5s",
        ],
    );
    let mut victim = None;
    assert!(
        eventually(Duration::from_secs(120), || {
            victim = PATRONI_NODES
                .iter()
                .copied()
                .find(|n| !tagged_rules_in_netns(n).is_empty());
            victim.is_some()
        }),
        "the block never appeared"
    );
    let victim = victim.unwrap();
    // Mid-hold, pgchaos loses SSH to the node (its control connection included): the
    // node itself is fine, only the harness cannot reach it any more.
    let cut = SshCut::new(&node_ip(victim));
    let status = wait_exit(&mut child, Duration::from_secs(300)).expect("pgchaos did not finish");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!("failed on {victim}")) && err.contains("NOT healed"),
        "{err}"
    );
    assert!(err.contains("pgchaos cleanup --inventory"), "{err}");
    // With SSH still cut, the node's own switch (armed before the block, its deadline the
    // rest of the scenario plus the 5 s margin) removes the rule.
    assert!(
        eventually(Duration::from_secs(90), || tagged_rules_in_netns(victim)
            .is_empty()),
        "the dead man's switch did not heal {victim}: {:?}",
        tagged_rules_in_netns(victim)
    );
    drop(cut);
    // The undo pgchaos could not run is owed: cleanup runs it (a no-op by now) and forgets
    // it; then a run starts cleanly.
    let out = pgchaos_with_state(state.path(), &["cleanup", "--inventory", inv]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let left = std::fs::read_dir(state.path().join("pending"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "the record of the owed undo is still there");
    let after = pgchaos_with_state(
        state.path(),
        &[
            "run",
            "scenarios/poc/haproxy-ports.yml",
            "--inventory",
            inv,
            "--report-dir",
            report_dir("after-ssh-cut").to_str().unwrap(),
        ],
    );
    assert_eq!(after.status.code(), Some(0), "{}", text(&after));
}
