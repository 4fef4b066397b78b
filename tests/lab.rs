//! The lab, faulted for real: every test drives the real `pgchaos` binary against one
//! shared lab (brought up once per test binary with `lab up --reuse`), one test at a time,
//! and restores the lab's steady state (a leader and every replica streaming) before it
//! releases it. Needs root on Linux.

mod common;

use common::asks_for_lab_down;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use pgchaos::lab::{self, LabState};

const BIN: &str = env!("CARGO_BIN_EXE_pgchaos");

fn dir() -> PathBuf {
    std::env::var_os("PGCHAOS_LAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(lab::DEFAULT_DIR))
}

/// Runs `pgchaos ARGS` under `timeout`, so no test can hang on it.
fn pgchaos(limit_s: u32, args: &[&str]) -> Output {
    Command::new("timeout")
        .arg(limit_s.to_string())
        .arg(BIN)
        .arg("lab")
        .arg("--dir")
        .arg(dir())
        .args(args)
        .output()
        .expect("failed to run pgchaos")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs a shell command on a node over SSH.
fn ssh(node: &str, cmd: &str) -> Output {
    pgchaos(60, &["ssh", node, cmd])
}

fn ssh_ok(node: &str, cmd: &str) -> String {
    let out = ssh(node, cmd);
    assert!(
        out.status.success(),
        "`{cmd}` on {node} failed: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Polls `cond` until it holds; panics with `what` after `limit`.
fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn tcp_open(ip: std::net::Ipv4Addr, port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from((ip, port)), Duration::from_secs(2)).is_ok()
}

/// Exclusive use of the shared lab for one test.
struct Lab {
    state: LabState,
    _guard: MutexGuard<'static, ()>,
}

impl Lab {
    fn get() -> Lab {
        static SERIAL: Mutex<()> = Mutex::new(());
        static UP: OnceLock<Result<(), String>> = OnceLock::new();
        // A test that panicked poisons the mutex; the next one still restores the lab.
        let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        assert!(
            nix::unistd::geteuid().is_root(),
            "the lab tests need root (network namespaces)"
        );
        UP.get_or_init(|| {
            // Debian's Patroni 3.0.2, explicitly (the lab's default is 4.x), with the
            // default watchdog and Debian's Restart= settings.
            // PGCHAOS_TEST_PATRONI4=1 runs the suite against Patroni 4.x from PyPI.
            let patroni4 = std::env::var_os("PGCHAOS_TEST_PATRONI4").is_some_and(|v| v == "1");
            let args = vec![
                "up",
                "--reuse",
                "--patroni",
                if patroni4 { "pypi" } else { "debian" },
            ];
            let mut out = pgchaos(600, &args);
            if !out.status.success() && asks_for_lab_down(&text(&out.stderr)) {
                // Another suite left a lab of another Patroni version: rebuild it.
                let down = pgchaos(120, &["down"]);
                assert!(
                    down.status.success(),
                    "lab down failed: {}",
                    text(&down.stderr)
                );
                out = pgchaos(600, &args);
            }
            if out.status.success() {
                Ok(())
            } else {
                Err(format!("lab up failed: {}", text(&out.stderr)))
            }
        })
        .clone()
        .expect("the lab could not be brought up");
        let state = LabState::load(&dir()).expect("lab state");
        let lab = Lab {
            state,
            _guard: guard,
        };
        lab.wait_steady(Duration::from_secs(120));
        lab
    }

    fn readiness(&self) -> lab::Readiness {
        lab::cluster::readiness(&self.state)
    }

    /// A leader, every other member streaming, HAProxy routing writes.
    fn wait_steady(&self, limit: Duration) {
        for n in &self.state.nodes {
            if lab::is_powered_off(&self.state.dir, &n.name) {
                lab::power_on(&self.state.dir, &n.name).expect("power on");
            }
        }
        let wanted = self.state.patroni_nodes;
        wait_until("a leader and every replica streaming", limit, || {
            self.readiness().ready(wanted)
        });
    }

    /// A replica streaming from the leader, and the other Patroni members.
    fn pick_replica(&self) -> (String, Vec<String>) {
        let r = self.readiness();
        let victim = r.streaming.first().expect("a streaming replica").clone();
        let others = self
            .state
            .nodes_of(lab::NodeKind::Patroni)
            .map(|n| n.name.clone())
            .filter(|n| *n != victim)
            .collect();
        (victim, others)
    }

    /// `node` streams: the leader lists it in pg_stat_replication and its own WAL
    /// receiver says so (either alone could be stale right after a fault).
    fn streams(&self, node: &str) -> bool {
        self.readiness().streaming.iter().any(|n| n == node)
            && ssh(
                node,
                "runuser -u postgres -- psql -h /var/run/postgresql -Atc \"select status from pg_stat_wal_receiver\"",
            )
            .stdout
            .starts_with(b"streaming")
    }

    fn ip(&self, node: &str) -> std::net::Ipv4Addr {
        self.state.node(node).expect("node").ip
    }

    fn init_pid(&self, node: &str) -> Option<String> {
        std::fs::read_to_string(self.state.node_dir(node).join("init.pid")).ok()
    }
}

#[test]
fn inventory_is_accepted_by_the_loader() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let lab = Lab::get();
    let out = pgchaos(30, &["inventory"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let loaded = pgchaos::inventory::parse(Path::new("lab.yml"), &text(&out.stdout))
        .expect("the lab inventory must load");
    let inv = loaded.inventory;
    assert_eq!(inv.cluster.scope, "pgchaos-lab");
    assert!(inv.cluster.lab);
    assert_eq!(inv.nodes.len(), lab.state.nodes.len());
    assert_eq!(inv.nodes_with(pgchaos::inventory::Role::Spare).count(), 1);
    assert_eq!(inv.nodes_with(pgchaos::inventory::Role::Etcd).count(), 3);
    // The secrets it points at exist and are not world-readable.
    let pw = inv.cluster.postgres.password.expect("password ref");
    assert!(!pw.resolve().expect("secret").expose().is_empty());
    assert!(lab::inventory_path(&dir()).exists());
}

#[test]
fn up_again_without_reuse_is_refused() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let _lab = Lab::get();
    let out = pgchaos(60, &["up"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("already up"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn ssh_reaches_every_node_under_its_own_hostname() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let lab = Lab::get();
    for n in &lab.state.nodes {
        let out = ssh_ok(&n.name, "hostname; cat /proc/1/cmdline | tr '\\0' ' '");
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some(n.name.as_str()));
        // Its own process table: PID 1 is the node's init.
        assert!(lines.next().unwrap_or("").contains("init"), "{out}");
    }
}

#[test]
fn killing_postgres_on_one_node_leaves_the_others_running() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let lab = Lab::get();
    let (victim, others) = lab.pick_replica();
    let pid_file = "head -1 /var/lib/postgresql/15/main/postmaster.pid";
    let before = ssh_ok(&victim, pid_file);
    let other_pids: Vec<String> = others.iter().map(|o| ssh_ok(o, pid_file)).collect();
    ssh_ok(&victim, "pkill -9 -x postgres");
    for (o, pid) in others.iter().zip(&other_pids) {
        ssh_ok(o, "pgrep -x postgres");
        assert_eq!(&ssh_ok(o, pid_file), pid, "postgres on {o} was touched");
    }
    // Patroni starts it again.
    wait_until(
        "postgres to restart on the victim",
        Duration::from_secs(60),
        || {
            let out = ssh(
                &victim,
                &format!("pgrep -x postgres >/dev/null && {pid_file}"),
            );
            out.status.success() && text(&out.stdout) != before
        },
    );
    lab.wait_steady(Duration::from_secs(90));
}

#[test]
fn an_iptables_drop_blocks_that_node_only() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let lab = Lab::get();
    let (victim, others) = lab.pick_replica();
    let rule = "INPUT -p tcp --dport 5432 -m comment --comment pgchaos-test -j DROP";
    ssh_ok(&victim, &format!("iptables -A {rule}"));
    let blocked = !tcp_open(lab.ip(&victim), 5432);
    let open: Vec<bool> = others.iter().map(|o| tcp_open(lab.ip(o), 5432)).collect();
    ssh_ok(&victim, &format!("iptables -D {rule}"));
    assert!(blocked, "5432 on {victim} should be blocked");
    assert!(
        open.iter().all(|o| *o),
        "5432 elsewhere should be open: {open:?}"
    );
    assert!(!ssh_ok(&victim, "iptables -S").contains("pgchaos-test"));
    // The host's own rules are never touched.
    let host = Command::new("iptables")
        .arg("-S")
        .output()
        .expect("iptables");
    assert!(!text(&host.stdout).contains("pgchaos-test"));
    assert!(tcp_open(lab.ip(&victim), 5432));
    lab.wait_steady(Duration::from_secs(60));
}

#[test]
fn systemctl_stop_patroni_stops_postgres_and_start_brings_it_back() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let lab = Lab::get();
    let (victim, _) = lab.pick_replica();
    ssh_ok(&victim, "systemctl stop patroni");
    let active = ssh(&victim, "systemctl is-active patroni");
    assert_eq!(
        active.status.code(),
        Some(3),
        "is-active must exit 3 when stopped"
    );
    assert_eq!(text(&active.stdout).trim(), "inactive");
    let pg = ssh(&victim, "pgrep -x postgres");
    assert_eq!(
        pg.status.code(),
        Some(1),
        "postgres must be stopped with Patroni"
    );
    ssh_ok(&victim, "systemctl start patroni");
    assert_eq!(
        ssh_ok(&victim, "systemctl is-active patroni").trim(),
        "active"
    );
    wait_until(
        "the replica to stream again",
        Duration::from_secs(90),
        || lab.streams(&victim),
    );
    lab.wait_steady(Duration::from_secs(60));
}

#[test]
fn a_killed_patroni_comes_back_by_itself_unless_a_drop_in_says_restart_no() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let lab = Lab::get();
    let (victim, _) = lab.pick_replica();
    let main_pid = || {
        text(&ssh(&victim, "systemctl show -p MainPID --value patroni").stdout)
            .trim()
            .to_owned()
    };
    assert_eq!(
        ssh_ok(&victim, "systemctl show -p Restart --value patroni").trim(),
        "on-failure",
        "Debian 12's patroni.service says Restart=on-failure"
    );
    let before = main_pid();
    assert_ne!(before, "0", "patroni runs");
    // Restart=on-failure: the supervisor starts it again (RestartSec=100ms).
    ssh_ok(&victim, "pkill -9 -f 'bin/[p]atroni'");
    wait_until("a new Patroni main PID", Duration::from_secs(10), || {
        let now = main_pid();
        !now.is_empty() && now != "0" && now != before
    });
    let journal = ssh_ok(&victim, "cat /var/log/pgchaos-systemd.log");
    assert!(
        journal.contains("patroni.service: Main process exited, code=killed, status=9/KILL")
            && journal.contains("patroni.service: Scheduled restart job"),
        "the restart is in the journal:\n{journal}"
    );

    // A runtime drop-in, as a fault keeping Patroni down does on a real systemd host.
    ssh_ok(
        &victim,
        "mkdir -p /run/systemd/system/patroni.service.d && \
         printf '[Service]\\nRestart=no\\n' > /run/systemd/system/patroni.service.d/pgchaos.conf && \
         systemctl daemon-reload",
    );
    assert_eq!(
        ssh_ok(&victim, "systemctl show -p Restart --value patroni").trim(),
        "no"
    );
    ssh_ok(&victim, "pkill -9 -f 'bin/[p]atroni'");
    // `inactive`, not `activating`: the supervisor decided not to restart and is gone,
    // so nothing can bring Patroni back.
    wait_until("patroni inactive", Duration::from_secs(10), || {
        text(&ssh(&victim, "systemctl is-active patroni").stdout).trim() == "inactive"
    });
    assert_eq!(
        ssh(&victim, "pgrep -f 'bin/[p]atroni'").status.code(),
        Some(1),
        "Patroni stays dead with Restart=no"
    );
    ssh_ok(
        &victim,
        "rm -r /run/systemd/system/patroni.service.d && systemctl daemon-reload && systemctl start patroni",
    );
    assert_eq!(
        ssh_ok(&victim, "systemctl show -p Restart --value patroni").trim(),
        "on-failure"
    );
    lab.wait_steady(Duration::from_secs(90));
}

#[test]
fn a_frozen_patroni_leader_is_reset_by_its_watchdog() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let lab = Lab::get();
    let leader = lab.readiness().leader.expect("a leader");
    let log_path = lab
        .state
        .node_dir(&leader)
        .join("fs/log/pgchaos-watchdog.log");
    let events = |p: &Path| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
            .filter(|e| ["armed", "disarmed", "unexpected-close", "reset"].contains(&e.as_str()))
            .collect()
    };
    // Patroni arms the watchdog on the leader (mode: required) with ttl - safety_margin.
    let timeout = lab.state.timings.ttl - 5;
    wait_until(
        "the leader's watchdog armed",
        Duration::from_secs(10),
        || events(&log_path).last().map(String::as_str) == Some("armed"),
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains(&format!(" timeout {timeout} s")),
        "Patroni sets the timeout to ttl - safety_margin:\n{log}"
    );
    let resets_before = events(&log_path).iter().filter(|e| *e == "reset").count();
    let init_before = lab.init_pid(&leader).expect("init pid");

    ssh_ok(&leader, "pkill -STOP -f 'bin/[p]atroni'");
    let frozen = Instant::now();
    wait_until(
        "the watchdog to reset the frozen leader",
        Duration::from_secs(u64::from(timeout) + 15),
        || events(&log_path).iter().filter(|e| *e == "reset").count() > resets_before,
    );
    let after = frozen.elapsed().as_secs_f64();
    // The last keepalive came at most one loop_wait before the freeze.
    let earliest = f64::from(timeout - lab.state.timings.loop_wait) - 1.0;
    assert!(
        after >= earliest && after <= f64::from(timeout) + 3.0,
        "reset {after:.1} s after the freeze, expected about {timeout} s"
    );
    // Every process of the node died at once: its PID 1 is gone.
    wait_until("the node's init to end", Duration::from_secs(10), || {
        lab.init_pid(&leader).as_deref() != Some(init_before.as_str())
    });
    let keeper = std::fs::read_to_string(lab.state.node_dir(&leader).join("keeper.log")).unwrap();
    assert!(
        keeper.contains("watchdog reset"),
        "the keeper records the reset:\n{keeper}"
    );
    // The node boots again after the boot delay; the reset is then reported on the node
    // by the inventory's watchdog_log operation.
    lab.wait_steady(Duration::from_secs(150));
    let reported = ssh_ok(&leader, "pgchaos-watchdog-log");
    assert!(
        reported.lines().count() > resets_before
            && reported
                .lines()
                .all(|l| l.split_whitespace().nth(1) == Some("reset")),
        "pgchaos-watchdog-log prints the resets:\n{reported}"
    );
}

#[test]
fn postgres_data_lives_on_a_size_limited_filesystem() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let lab = Lab::get();
    let (node, _) = lab.pick_replica();
    let df = ssh_ok(&node, "df -P -k /var/lib/postgresql/15/main | tail -n 1");
    let fields: Vec<&str> = df.split_whitespace().collect();
    let kib: u64 = fields[1].parse().expect("df size");
    let want = lab.state.data_size_mib * 1024;
    assert!(
        kib <= want && kib > want * 8 / 10,
        "the data directory's filesystem holds {kib} KiB, expected about {want}: {df}"
    );
    assert!(
        fields[0].starts_with("/dev/loop") && fields[5] == "/var/lib/postgresql",
        "a loop-mounted filesystem of the node's own: {df}"
    );
    // Only in the node's mount namespace: the host does not see it.
    let host = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(!host.contains(" /var/lib/postgresql "), "{host}");
}

#[test]
fn reboot_brings_a_replica_back_streaming_without_its_rules() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let lab = Lab::get();
    let (victim, _) = lab.pick_replica();
    let before = lab.init_pid(&victim).expect("init pid");
    ssh_ok(
        &victim,
        "iptables -A INPUT -p tcp --dport 9 -m comment --comment pgchaos-test -j DROP",
    );
    // The session dies with the node: its exit status is not meaningful.
    let _ = ssh(&victim, "reboot");
    wait_until(
        "the node to boot again",
        lab.state.boot_delay + Duration::from_secs(60),
        || {
            lab.init_pid(&victim).is_some_and(|p| p != before)
                && ssh(&victim, "hostname").status.success()
        },
    );
    assert!(!ssh_ok(&victim, "iptables -S").contains("pgchaos-test"));
    wait_until(
        "the rebooted replica to stream",
        Duration::from_secs(120),
        || lab.streams(&victim),
    );
    lab.wait_steady(Duration::from_secs(60));
}

#[test]
fn poweroff_keeps_a_node_down_until_power_on() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let lab = Lab::get();
    let (victim, _) = lab.pick_replica();
    let ip = lab.ip(&victim);
    let _ = ssh(&victim, "poweroff");
    wait_until("the node to go down", Duration::from_secs(30), || {
        !tcp_open(ip, 22)
    });
    // Longer than a reboot's boot delay: a powered-off node does not come back by itself.
    let hold = Instant::now() + lab.state.boot_delay + Duration::from_secs(10);
    while Instant::now() < hold {
        assert!(!tcp_open(ip, 22), "{victim} came back without power-on");
        std::thread::sleep(Duration::from_millis(250));
    }
    let status = pgchaos(30, &["status"]);
    assert!(text(&status.stdout).contains(&format!("powered off: {victim}")));
    let on = pgchaos(60, &["power-on", &victim]);
    assert!(on.status.success(), "{}", text(&on.stderr));
    wait_until("sshd on the node", Duration::from_secs(60), || {
        tcp_open(ip, 22)
    });
    wait_until("the node to stream again", Duration::from_secs(120), || {
        lab.streams(&victim)
    });
    lab.wait_steady(Duration::from_secs(60));
}

#[test]
fn power_off_from_the_host_is_a_hard_cut() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let lab = Lab::get();
    let (victim, _) = lab.pick_replica();
    let off = pgchaos(60, &["power-off", &victim]);
    assert!(off.status.success(), "{}", text(&off.stderr));
    // Every process of the node is gone at once, sshd included.
    let ns = format!("{}{victim}", common::lab_prefix());
    wait_until(
        "the node's processes to die",
        Duration::from_secs(10),
        || {
            let out = Command::new("ip")
                .args(["netns", "pids", &ns])
                .output()
                .expect("ip");
            text(&out.stdout).trim().is_empty()
        },
    );
    assert!(!tcp_open(lab.ip(&victim), 22));
    let on = pgchaos(60, &["power-on", &victim]);
    assert!(on.status.success(), "{}", text(&on.stderr));
    wait_until("the node to stream again", Duration::from_secs(120), || {
        lab.streams(&victim)
    });
    lab.wait_steady(Duration::from_secs(60));
}

#[test]
fn status_shows_every_member() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let lab = Lab::get();
    let out = pgchaos(30, &["status"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    for n in lab.state.nodes_of(lab::NodeKind::Patroni) {
        assert!(table.contains(&format!("| {} ", n.name)), "{table}");
    }
    assert!(
        table.contains("leader") || table.contains("Leader"),
        "{table}"
    );
}

#[test]
fn the_spare_has_patroni_configured_but_not_running() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let lab = Lab::get();
    let spare = lab
        .state
        .nodes_of(lab::NodeKind::Spare)
        .next()
        .expect("spare")
        .name
        .clone();
    assert_eq!(
        ssh(&spare, "systemctl is-active patroni").status.code(),
        Some(3)
    );
    assert_eq!(
        ssh(&spare, "systemctl is-enabled patroni").status.code(),
        Some(1)
    );
    ssh_ok(&spare, "test -s /etc/patroni/config.yml");
    assert_eq!(ssh(&spare, "pgrep -x postgres").status.code(), Some(1));
}
