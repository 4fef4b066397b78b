//! Runs the generated fault scripts for real, on this machine, inside a throwaway "node":
//! a network namespace (its own iptables), a PID namespace (its own process table, so a
//! `pgrep` there sees only the processes this test started) and a mount namespace with a
//! private tmpfs on /run (its own /run/pgchaos, so nothing here can touch the state of
//! another run on this machine). Never touches the host's iptables. Needs root.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use pgchaos::fault::{self, Action, FaultContext, Leftover};
use pgchaos::inventory::Inventory;
use pgchaos::scenario::Step;
use serde_json::json;

mod common;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Whether the test can run (root: namespaces); otherwise says why and skips it.
fn require_root() -> bool {
    !common::skip_unless(&[common::Need::Root])
}

/// Waits until `cond` holds, polling; panics with `what` at the deadline.
fn wait_for(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A throwaway node: network + PID + mount namespaces held open by one process.
struct Node {
    netns: String,
    holder: Option<Child>,
    /// PID (in our namespace) of the namespaces' init, the target of `nsenter`.
    init: u32,
    children: Vec<Child>,
    dir: tempfile::TempDir,
}

impl Node {
    fn new() -> Self {
        let netns = format!(
            "pgc-ft-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        run_ok(Command::new("ip").args(["netns", "add", &netns]));
        run_ok(Command::new("ip").args(["netns", "exec", &netns, "ip", "link", "set", "lo", "up"]));
        let holder = Command::new("ip")
            .args(["netns", "exec", &netns])
            .args([
                "unshare",
                "--pid",
                "--kill-child",
                "--mount-proc",
                "--propagation",
                "private",
                "sh",
                "-c",
                "mount -t tmpfs pgc-run /run && exec sleep 100000",
            ])
            .stdin(Stdio::null())
            .spawn()
            .expect("start the namespace holder");
        let mut node = Node {
            netns,
            init: 0,
            holder: Some(holder),
            children: vec![],
            dir: tempfile::tempdir().expect("temp dir"),
        };
        let upid = node.holder.as_ref().map(|c| c.id()).unwrap_or(0);
        // The holder is `unshare`; the namespaces' init is its only child, and it is ready
        // once it runs `sleep` (after mounting /run).
        let mut init = 0;
        wait_for("the namespace init", Duration::from_secs(20), || {
            let kids = std::fs::read_to_string(format!("/proc/{upid}/task/{upid}/children"))
                .unwrap_or_default();
            if let Some(pid) = kids.split_whitespace().next().and_then(|p| p.parse().ok()) {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim() == "sleep" {
                    init = pid;
                    return true;
                }
            }
            false
        });
        node.init = init;
        node
    }

    fn enter(&self) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.init.to_string(), "-p", "-m", "-n", "--"]);
        c.stdin(Stdio::null());
        c
    }

    /// Runs a script inside, as the transport would (`sh -c SCRIPT`).
    fn sh(&self, script: &str) -> Output {
        self.enter()
            .args(["sh", "-c", script])
            .output()
            .expect("run nsenter")
    }

    fn sh_ok(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(
            out.status.success(),
            "script failed ({:?}):\nstdout: {}\nstderr: {}\nscript:\n{script}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn spawn(&mut self, argv: &[&str]) {
        let child = self
            .enter()
            .args(argv)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn inside the node");
        self.children.push(child);
    }

    /// A TCP listener on 127.0.0.1:port inside, ready when this returns.
    fn listen(&mut self, port: u16) {
        let p = port.to_string();
        self.spawn(&[
            "/usr/bin/python3",
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &p,
        ]);
        wait_for("the listener", Duration::from_secs(30), || {
            self.connects(port)
        });
    }

    /// Whether a TCP connection to 127.0.0.1:port succeeds from inside. Used with REJECT
    /// rules: refused connections fail at once, nothing waits on a timeout.
    fn connects(&self, port: u16) -> bool {
        self.enter()
            .args(["bash", "-c", &format!("exec 3<>/dev/tcp/127.0.0.1/{port}")])
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    fn rules(&self) -> String {
        self.sh_ok("iptables -w -S")
    }

    fn leftovers(&self) -> Vec<Leftover> {
        fault::parse_leftovers(&self.sh_ok(&fault::leftovers_script()))
    }

    /// The state letter of process `pid` (inside).
    fn state(&self, pid: &str) -> String {
        self.sh_ok(&format!("sed 's/.*) //' /proc/{pid}/stat | cut -c1"))
            .trim()
            .to_owned()
    }

    /// A copy of `sleep` under a name nothing else uses, started inside.
    fn victim(&mut self) -> String {
        let path: PathBuf = self.dir.path().join("pgc-victim");
        std::fs::copy("/bin/sleep", &path).expect("copy sleep");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let p = path.to_string_lossy().into_owned();
        self.spawn(&[&p, "300"]);
        let mut pid = String::new();
        wait_for("the victim", Duration::from_secs(20), || {
            let out = self.sh("pgrep -x pgc-victim");
            pid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            out.status.success() && !pid.is_empty()
        });
        // It plays this cluster's postmaster: its PID is in the data directory's
        // postmaster.pid (inside the node's private /run).
        self.sh_ok(&format!(
            "mkdir -p /run/pgc-data && echo {pid} >/run/pgc-data/postmaster.pid"
        ));
        pid
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Killing unshare kills the namespaces' init (--kill-child), and with it every
        // process of the PID namespace; wait for it before deleting the network namespace.
        if let Some(mut h) = self.holder.take() {
            let _ = h.kill();
            let _ = h.wait();
        }
        let init = self.init;
        let gone = |p: u32| !Path::new(&format!("/proc/{p}")).exists();
        let start = Instant::now();
        while init != 0 && !gone(init) && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

fn run_ok(c: &mut Command) {
    let out = c.output().expect("run command");
    assert!(
        out.status.success(),
        "{c:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn inventory() -> Inventory {
    serde_json::from_value(json!({
        "cluster": { "scope": "ft" },
        "operations": { "postgres_process": "pgc-victim", "postgres_user": "root",
                        "data_dir": "/run/pgc-data" },
        "nodes": [
            { "name": "n1", "host": "127.0.0.1", "roles": ["patroni"] },
            { "name": "peer", "host": "127.0.0.2", "roles": ["patroni"] },
            { "name": "bad", "host": "no-such-host.invalid", "roles": ["patroni"] }
        ]
    }))
    .expect("inventory")
}

fn plan(step: serde_json::Value, seq: u32, deadman: Duration) -> Action {
    let mut targets = BTreeMap::new();
    targets.insert("n".to_owned(), vec!["n1".to_owned()]);
    targets.insert("peer".to_owned(), vec!["peer".to_owned()]);
    targets.insert("bad".to_owned(), vec!["bad".to_owned()]);
    let inv = inventory();
    let ctx = FaultContext {
        inventory: &inv,
        run_id: "ft-run",
        seq,
        deadman_after: deadman,
        targets: &targets,
    };
    let step: Step = serde_json::from_value(step).expect("step");
    fault::plan(&step, &ctx).expect("plan").expect("a fault")
}

fn undo(node: &Node, a: &Action) {
    let u = a.undo.as_ref().expect("an undo");
    for d in &u.deadmen {
        node.sh_ok(&d.disarm);
    }
    for c in &u.commands {
        node.sh_ok(&c.script);
    }
}

const LONG: Duration = Duration::from_secs(600);

#[test]
fn block_inject_and_undo_leave_nothing_behind() {
    if !require_root() {
        return;
    }
    let mut node = Node::new();
    node.listen(18432);
    let a = plan(
        json!({"block": {"target": "n", "port": 18432, "action": "REJECT"}}),
        1,
        LONG,
    );
    let out = node.sh_ok(&a.inject[0].script);
    assert!(out.contains("armed"), "{out}");
    assert!(!node.connects(18432), "the rule rejects connections");
    assert!(node.rules().contains("pgchaos:ft-run:1"));
    let left = node.leftovers();
    assert!(
        left.iter()
            .any(|l| matches!(l, Leftover::Deadman { alive: true, .. })),
        "{left:?}"
    );

    undo(&node, &a);
    assert!(node.connects(18432), "connections succeed after the undo");
    assert!(!node.rules().contains("pgchaos"), "{}", node.rules());
    assert_eq!(node.leftovers(), vec![], "no rule, no switch left");
    // Undo and disarm again: idempotent, both still succeed.
    undo(&node, &a);
}

#[test]
fn dead_mans_switch_removes_the_rule_by_itself() {
    if !require_root() {
        return;
    }
    let mut node = Node::new();
    node.listen(18433);
    let a = plan(
        json!({"block": {"target": "n", "port": 18433, "action": "REJECT"}}),
        2,
        Duration::from_secs(2),
    );
    node.sh_ok(&a.inject[0].script);
    assert!(!node.connects(18433));
    // pgchaos "disappears" here: nobody runs the undo.
    wait_for(
        "the switch to remove the rule",
        Duration::from_secs(60),
        || !node.rules().contains("pgchaos"),
    );
    assert!(node.connects(18433), "connections succeed again");
    wait_for("the switch to finish", Duration::from_secs(30), || {
        node.leftovers()
            .iter()
            .all(|l| matches!(l, Leftover::Fired { .. }))
    });
    let left = node.leftovers();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        matches!(left[0], Leftover::Fired { seq: 2, .. }),
        "{left:?}"
    );
    assert!(!left[0].blocks_run());
    // pgchaos comes back and undoes normally: still fine.
    let u = a.undo.as_ref().unwrap();
    let said = node.sh_ok(&u.deadmen[0].disarm);
    assert!(said.contains("had already fired"), "{said}");
    node.sh_ok(&u.commands[0].script);
    assert_eq!(node.leftovers(), vec![]);
}

#[test]
fn leftovers_are_listed_and_cleanup_removes_exactly_them() {
    if !require_root() {
        return;
    }
    let mut node = Node::new();
    node.listen(18434);
    // Someone else's rule, which cleanup must leave alone.
    node.sh_ok("iptables -w -A INPUT -p tcp --dport 9 -m comment --comment other:rule -j ACCEPT");
    let block = plan(
        json!({"block": {"target": "n", "port": 18434, "action": "REJECT", "peers": ["n"]}}),
        3,
        LONG,
    );
    let isolate = plan(json!({"isolate": {"target": "n"}}), 4, LONG);
    let pid = node.victim();
    let stop = plan(
        json!({"signal": {"target": "n", "process": "postgres", "signal": "STOP"}}),
        5,
        LONG,
    );
    // Isolation first: its loopback exception would otherwise come before the block.
    node.sh_ok(&isolate.inject[0].script);
    node.sh_ok(&block.inject[0].script);
    let out = node.sh_ok(&stop.inject[0].script);
    assert!(out.contains(&format!("sent SIGSTOP to PID {pid}")), "{out}");
    assert_eq!(node.state(&pid), "T");
    assert!(!node.connects(18434));

    // pgchaos dies here. The next run lists what is left.
    let left = node.leftovers();
    let rules = left
        .iter()
        .filter(|l| matches!(l, Leftover::Rule { run_id, .. } if run_id == "ft-run"))
        .count();
    // The block (IPv4 peer: one rule) and the isolation (4 rules per family).
    assert_eq!(rules, 1 + 8, "{left:?}");
    let switches: Vec<u32> = left
        .iter()
        .filter_map(|l| match l {
            Leftover::Deadman {
                seq, alive: true, ..
            } => Some(*seq),
            _ => None,
        })
        .collect();
    assert_eq!(switches, vec![3, 4, 5], "{left:?}");
    assert!(left.iter().any(
        |l| matches!(l, Leftover::Stopped { seq: 5, pids, .. } if pids.iter().map(u32::to_string).any(|p| p == pid))
    ), "{left:?}");
    assert!(left.iter().all(Leftover::blocks_run));

    let out = node.sh_ok(&fault::cleanup_script());
    assert!(out.contains("stopped dead man's switch"), "{out}");
    assert_eq!(node.leftovers(), vec![], "cleanup left something: {out}");
    assert_ne!(node.state(&pid), "T", "the stopped process was resumed");
    assert!(node.connects(18434));
    let rules = node.rules();
    assert!(!rules.contains("pgchaos"), "{rules}");
    assert!(rules.contains("other:rule"), "never a flush: {rules}");
    // Nothing left to do: cleanup again succeeds and says nothing is left.
    node.sh_ok(&fault::cleanup_script());
    assert_eq!(node.leftovers(), vec![]);
}

#[test]
fn sigstop_then_undo_resumes_the_same_process() {
    if !require_root() {
        return;
    }
    let mut node = Node::new();
    let pid = node.victim();
    // Another cluster's PostgreSQL on the same host: same name, same user, not ours.
    let path = node
        .dir
        .path()
        .join("pgc-victim")
        .to_string_lossy()
        .into_owned();
    node.spawn(&[&path, "301"]);
    let mut other = String::new();
    wait_for(
        "the other cluster's process",
        Duration::from_secs(20),
        || {
            other = String::from_utf8_lossy(&node.sh("pgrep -f '^/.*pgc-victim 301$'").stdout)
                .trim()
                .to_owned();
            !other.is_empty()
        },
    );
    let a = plan(
        json!({"signal": {"target": "n", "process": "postgres", "signal": "STOP"}}),
        6,
        LONG,
    );
    node.sh_ok(&a.inject[0].script);
    assert_eq!(node.state(&pid), "T");
    assert_eq!(
        node.state(&other),
        "S",
        "another cluster's process was stopped"
    );
    undo(&node, &a);
    assert_eq!(node.state(&pid), "S", "resumed (sleeping again)");
    assert_eq!(node.leftovers(), vec![]);
}

#[test]
fn signal_to_a_missing_process_fails_clearly() {
    if !require_root() {
        return;
    }
    let node = Node::new();
    let a = plan(
        json!({"signal": {"target": "n", "process": "postgres", "signal": "KILL"}}),
        7,
        LONG,
    );
    let out = node.sh(&a.inject[0].script);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no postmaster PID in /run/pgc-data/postmaster.pid"),
        "{err}"
    );
    // STOP of nothing: the switch is disarmed and nothing stays behind.
    let a = plan(
        json!({"signal": {"target": "n", "process": "postgres", "signal": "STOP"}}),
        8,
        LONG,
    );
    let out = node.sh(&a.inject[0].script);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(node.leftovers(), vec![]);
}

#[test]
fn kill_reaches_the_postmaster_named_in_postmaster_pid() {
    if !require_root() {
        return;
    }
    let mut node = Node::new();
    let pid = node.victim();
    let data = node.dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // As the node sees it: the PID inside its PID namespace.
    std::fs::write(data.join("postmaster.pid"), format!("{pid}\n/data\n")).unwrap();
    let mut inv = inventory();
    inv.operations.data_dir = Some(data.to_string_lossy().into_owned());
    let mut targets = BTreeMap::new();
    targets.insert("n".to_owned(), vec!["n1".to_owned()]);
    let ctx = FaultContext {
        inventory: &inv,
        run_id: "ft-run",
        seq: 9,
        deadman_after: LONG,
        targets: &targets,
    };
    let step: Step = serde_json::from_value(
        json!({"signal": {"target": "n", "process": "postmaster", "signal": "KILL"}}),
    )
    .unwrap();
    let a = fault::plan(&step, &ctx).unwrap().unwrap();
    let out = node.sh_ok(&a.inject[0].script);
    assert!(out.contains(&format!("sent SIGKILL to PID {pid}")), "{out}");
    wait_for("the victim to die", Duration::from_secs(20), || {
        !node.sh("pgrep -x pgc-victim").status.success()
    });
}

#[test]
fn failed_inject_is_undone_at_once_and_a_peer_that_does_not_resolve_is_refused() {
    if !require_root() {
        return;
    }
    let node = Node::new();
    // The device towards the peer already has a root qdisc of its own: the degrade's loss
    // rules go in, its qdisc cannot. The script must take the rules out again, leave no
    // switch armed, and leave the node's own qdisc alone.
    node.sh_ok("tc qdisc add dev lo root handle 1: htb");
    let a = plan(
        json!({"degrade": {"target": "n", "peers": ["peer"], "loss": 0.1, "rate": "1mbit"}}),
        10,
        LONG,
    );
    let out = node.sh(&a.inject[0].script);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("failed to inject the fault"), "{err}");
    assert!(err.contains("failed to add a qdisc to lo"), "{err}");
    assert!(!node.rules().contains("pgchaos"), "{}", node.rules());
    assert!(
        node.sh_ok("tc qdisc show dev lo")
            .contains("qdisc htb 1: root"),
        "the node's own qdisc was touched"
    );
    assert_eq!(node.leftovers(), vec![]);
    // Peers are resolved once, when the fault is planned: one that does not resolve is
    // refused before any command exists.
    let mut targets = BTreeMap::new();
    targets.insert("n".to_owned(), vec!["n1".to_owned()]);
    targets.insert("bad".to_owned(), vec!["bad".to_owned()]);
    let inv = inventory();
    let ctx = FaultContext {
        inventory: &inv,
        run_id: "ft-run",
        seq: 12,
        deadman_after: LONG,
        targets: &targets,
    };
    let step: Step =
        serde_json::from_value(json!({"block": {"target": "n", "port": 18435, "peers": ["bad"]}}))
            .expect("step");
    let e = fault::plan(&step, &ctx).expect_err("an unresolvable peer");
    assert!(e.to_string().contains("does not resolve"), "{e}");
}

#[test]
fn detached_reboot_command_returns_before_it_runs() {
    if !require_root() {
        return;
    }
    let node = Node::new();
    let marker = node.dir.path().join("rebooted");
    let mut inv = inventory();
    inv.operations.reboot = Some(format!("touch {}", marker.display()));
    let mut targets = BTreeMap::new();
    targets.insert("n".to_owned(), vec!["n1".to_owned()]);
    let ctx = FaultContext {
        inventory: &inv,
        run_id: "ft-run",
        seq: 11,
        deadman_after: LONG,
        targets: &targets,
    };
    let step: Step = serde_json::from_value(json!({"reboot": {"target": "n"}})).unwrap();
    let a = fault::plan(&step, &ctx).unwrap().unwrap();
    // Its output streams must not be held open by the detached command: reading stdout to
    // the end returns while the command is still pending.
    let mut child = node
        .enter()
        .args(["sh", "-c", &a.inject[0].script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut s = String::new();
    child.stdout.take().unwrap().read_to_string(&mut s).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(s.contains("reboot starts in 1s"), "{s}");
    wait_for("the detached command", Duration::from_secs(20), || {
        marker.exists()
    });
}

#[test]
fn patroni_lookup_finds_the_daemon_only() {
    if !require_root() {
        return;
    }
    let mut node = Node::new();
    // A fake daemon and a fake patronictl, both matching the default `bin/patroni`; the
    // script's own shell matches it too.
    let bin = node.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for name in ["patroni", "patronictl"] {
        let p = bin.join(name);
        std::fs::copy("/bin/sleep", &p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        let p = p.to_string_lossy().into_owned();
        node.spawn(&[&p, "300"]);
    }
    let pid_of = |node: &Node, name: &str| {
        let mut pid = String::new();
        wait_for(name, Duration::from_secs(20), || {
            let out = node.sh(&format!("pgrep -x {name}"));
            pid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            out.status.success() && !pid.is_empty()
        });
        pid
    };
    let daemon = pid_of(&node, "patroni");
    let ctl = pid_of(&node, "patronictl");
    let a = plan(
        json!({"signal": {"target": "n", "process": "patroni", "signal": "STOP"}}),
        12,
        LONG,
    );
    let out = node.sh_ok(&a.inject[0].script);
    assert!(
        out.contains(&format!("sent SIGSTOP to PID {daemon}\n")),
        "{out}"
    );
    assert_eq!(node.state(&daemon), "T");
    assert_eq!(node.state(&ctl), "S", "patronictl is not the daemon");
    undo(&node, &a);
    // Just resumed, it may be seen running for an instant before it sleeps again.
    wait_for("the daemon to sleep again", Duration::from_secs(10), || {
        node.state(&daemon) == "S"
    });
    assert_eq!(node.leftovers(), vec![]);
}

/// A node whose `iptables` is the legacy backend, which takes `/run/xtables.lock` (the
/// nft backend this machine defaults to ignores it). Only this node's mount namespace
/// sees the change.
fn legacy_iptables(node: &Node) {
    node.sh_ok("mount --bind /usr/sbin/xtables-legacy-multi \"$(readlink -f /usr/sbin/iptables)\"");
    assert!(
        node.sh_ok("iptables -V").contains("legacy"),
        "iptables is not the legacy backend"
    );
}

#[test]
fn an_inject_stalled_on_the_xtables_lock_times_out_and_keeps_its_switch() {
    if !require_root() {
        return;
    }
    let mut node = Node::new();
    legacy_iptables(&node);
    node.listen(18436);
    // Someone else (kube-proxy, docker, firewalld) holds the lock for a long time.
    node.spawn(&["flock", "/run/xtables.lock", "sleep", "300"]);
    wait_for("the lock to be held", Duration::from_secs(20), || {
        !node.sh("flock -n /run/xtables.lock true").status.success()
    });
    let a = plan(
        json!({"block": {"target": "n", "port": 18436, "action": "REJECT"}}),
        11,
        LONG,
    );
    let started = Instant::now();
    let out = node.sh(&a.inject[0].script);
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the inject cannot succeed: {err}");
    // iptables -w 5 for the insert, then again for the undo: bounded, not forever.
    assert!(took < Duration::from_secs(30), "took {took:?}: {err}");
    assert!(err.contains("xtables lock"), "{err}");
    assert!(err.contains("switch stays armed"), "{err}");
    // Its undo could not run either: the switch is still armed with its undo record.
    let left = node.leftovers();
    assert!(
        left.iter()
            .any(|l| matches!(l, Leftover::Deadman { alive: true, .. })),
        "{left:?}"
    );
    assert!(node.sh_ok("ls /run/pgchaos").contains(".undo"));
    // The lock is released: the undo (then the disarm) leaves nothing behind.
    // (flock and its sleep both hold the lock; they run in the node's PID namespace.)
    node.sh("pkill -x flock; pkill -x -f 'sleep 300'");
    wait_for("the lock to be free", Duration::from_secs(20), || {
        node.sh("flock -n /run/xtables.lock true").status.success()
    });
    let u = a.undo.as_ref().expect("an undo");
    node.sh_ok(&u.commands[0].script);
    node.sh_ok(&u.deadmen[0].disarm);
    assert!(!node.rules().contains("pgchaos"), "{}", node.rules());
    assert_eq!(node.leftovers(), vec![]);
}

#[test]
fn a_shell_step_succeeds_only_with_its_expected_status() {
    if !require_root() {
        return;
    }
    let node = Node::new();
    let step = |cmd: &str, want: i32| {
        plan(
            json!({"shell": {"target": "n", "command": cmd, "expect_status": want, "undo": "true"}}),
            12,
            LONG,
        )
    };
    assert!(
        node.sh(&step("exit 3", 3).inject[0].script)
            .status
            .success()
    );
    let out = node.sh(&step("exit 0", 3).inject[0].script);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exited with 0, expected 3"),
        "{out:?}"
    );
}
