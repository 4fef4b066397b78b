//! The lab's life cycle: `lab down` is idempotent and removes everything, even after a
//! `lab up` killed half-way. A separate test binary, because it tears the lab down (cargo
//! runs test binaries one after the other). Needs root on Linux.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

/// The prefix of the lab's namespaces and links (`PGCHAOS_LAB_PREFIX`, as the lab reads it).
fn lab_prefix() -> String {
    std::env::var("PGCHAOS_LAB_PREFIX").unwrap_or_else(|_| "pgc-".to_owned())
}

const BIN: &str = env!("CARGO_BIN_EXE_pgchaos");

fn dir() -> PathBuf {
    std::env::var_os("PGCHAOS_LAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(pgchaos::lab::DEFAULT_DIR))
}

fn lab(args: &[&str]) -> Command {
    let mut c = Command::new("timeout");
    c.arg("300")
        .arg(BIN)
        .arg("lab")
        .arg("--dir")
        .arg(dir())
        .args(args);
    c
}

fn run(args: &[&str]) -> Output {
    lab(args).output().expect("failed to run pgchaos")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Names of network namespaces and links carrying the lab's prefix.
fn leftovers() -> Vec<String> {
    let ns = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip");
    let links = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .expect("ip");
    let mut out: Vec<String> = text(&ns.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&lab_prefix()))
        .map(|n| format!("netns {n}"))
        .collect();
    out.extend(
        text(&links.stdout)
            .lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(|n| n.trim().split('@').next().unwrap_or("").to_owned())
            .filter(|n| n.starts_with(&lab_prefix()))
            .map(|n| format!("link {n}")),
    );
    out
}

/// Keepers and inits of this lab (other labs on the machine, with their own
/// PGCHAOS_LAB_DIR, are not ours to judge).
fn lab_processes() -> Vec<String> {
    let out = Command::new("pgrep")
        .args(["-af", "lab --dir"])
        .output()
        .expect("pgrep");
    let ours = format!("lab --dir {} ", dir().display());
    text(&out.stdout)
        .lines()
        .filter(|l| l.contains(&ours))
        .filter(|l| l.contains(" keeper ") || l.contains(" init "))
        .map(str::to_owned)
        .collect()
}

fn assert_nothing_left() {
    assert_eq!(leftovers(), Vec::<String>::new());
    assert!(!dir().exists(), "{} still exists", dir().display());
    assert_eq!(lab_processes(), Vec::<String>::new());
}

#[test]
fn down_is_idempotent_and_cleans_a_killed_up() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let down = run(&["down"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert_nothing_left();
    let again = run(&["down"]);
    assert!(
        again.status.success(),
        "second down: {}",
        text(&again.stderr)
    );

    // Kill `lab up` once it has started the nodes, before the cluster is ready.
    let mut up = lab(&["up"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("lab up");
    let deadline = Instant::now() + Duration::from_secs(120);
    while lab_processes()
        .iter()
        .filter(|p| p.contains(" keeper "))
        .count()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "lab up never started its keepers"
        );
        assert!(
            up.try_wait().expect("wait").is_none(),
            "lab up ended before being killed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // `timeout` forwards the signal it receives; SIGKILL the real `lab up` instead.
    let killed = Command::new("pkill")
        .args(["-KILL", "-f", "^[^ ]*pgchaos lab --dir [^ ]* up$"])
        .status()
        .expect("pkill");
    assert!(killed.success(), "no `lab up` to kill");
    let _ = up.wait();
    assert!(
        !leftovers().is_empty(),
        "the killed up should have left a half-built lab"
    );

    let down = run(&["down"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert_nothing_left();
    let again = run(&["down"]);
    assert!(
        again.status.success(),
        "second down: {}",
        text(&again.stderr)
    );
    assert_nothing_left();
}

#[test]
fn refuses_to_build_where_nodes_could_not_see_the_lab() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let out = Command::new(BIN)
        .args(["lab", "--dir", "/tmp/pgchaos-lab-test", "up"])
        .output()
        .expect("pgchaos");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("/tmp"), "{}", text(&out.stderr));
}
