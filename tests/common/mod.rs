//! Support for integration tests that drive the real binary against the lab.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The pgchaos binary under test.
pub(crate) fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_pgchaos")
}

/// The lab directory used by the tests.
pub(crate) fn lab_dir() -> PathBuf {
    std::env::var_os("PGCHAOS_LAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/pgchaos-lab"))
}

/// The prefix of the lab's namespaces and links (`PGCHAOS_LAB_PREFIX`, as the lab reads it).
pub(crate) fn lab_prefix() -> String {
    std::env::var("PGCHAOS_LAB_PREFIX").unwrap_or_else(|_| "pgc-".to_owned())
}

/// Runs pgchaos with `args`, with a generous deadline, and returns its output.
pub(crate) fn pgchaos(args: &[&str]) -> Output {
    run_with_deadline(Command::new(bin()).args(args), Duration::from_secs(3600))
}

/// Runs a command, killing it if it outlives `deadline` (tests must never hang).
pub(crate) fn run_with_deadline(cmd: &mut Command, deadline: Duration) -> Output {
    use std::io::Read;
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("failed to start the command");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait failed") {
            break s;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            break child.wait().expect("wait failed");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

/// The lab, brought up once per test binary (reused when already up), and a lock that
/// serialises the tests of the binary: they fault one shared cluster.
pub(crate) struct Lab {
    /// Path of the lab's inventory.
    pub inventory: PathBuf,
}

static LAB: OnceLock<Lab> = OnceLock::new();
static LOCK: Mutex<()> = Mutex::new(());

/// Which Patroni the lab runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Patroni {
    /// Debian's package (3.0.2 on Debian 12): `lab up --patroni debian`.
    Debian,
    /// 4.x from PyPI: `lab up --patroni pypi`, the lab's default.
    V4,
}

/// The lab without a watchdog, for suites that need a frozen leader to stay frozen (a
/// watchdog would reset its node). Every other suite runs on the default lab: a watchdog
/// on every Patroni node and Debian's `Restart=` settings.
pub(crate) const NO_WATCHDOG: &[&str] = &["--no-watchdog"];

/// Whether `lab up` refused because a lab of another shape is up. The diagnostic is
/// wrapped to the terminal width (and boxed), so it is compared with its words rejoined.
pub(crate) fn asks_for_lab_down(stderr: &str) -> bool {
    let flat = stderr
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    flat.contains("pgchaos lab down")
}

/// Brings the suites' lab with Debian's Patroni up, or reuses it, and takes the test lock.
pub(crate) fn lab() -> (&'static Lab, MutexGuard<'static, ()>) {
    lab_with(Patroni::Debian)
}

/// Brings the lab up with the given Patroni (rebuilding it when another version is up)
/// and takes the test lock: the tests of one binary fault one shared cluster.
pub(crate) fn lab_with(patroni: Patroni) -> (&'static Lab, MutexGuard<'static, ()>) {
    lab_shaped(patroni, &[])
}

/// [`lab_with`] with extra `lab up` flags (one shape per test binary: the first call
/// decides).
pub(crate) fn lab_shaped(
    patroni: Patroni,
    flags: &[&str],
) -> (&'static Lab, MutexGuard<'static, ()>) {
    let guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let lab = LAB.get_or_init(|| {
        let mut args = vec!["lab", "up", "--reuse", "--patroni"];
        args.push(match patroni {
            Patroni::V4 => "pypi",
            Patroni::Debian => "debian",
        });
        args.extend_from_slice(flags);
        let mut out = pgchaos(&args);
        if !out.status.success() && asks_for_lab_down(&String::from_utf8_lossy(&out.stderr)) {
            // A lab of another Patroni version (or size) is up: rebuild it.
            let down = pgchaos(&["lab", "down"]);
            assert!(
                down.status.success(),
                "pgchaos lab down failed: {}",
                text(&down)
            );
            out = pgchaos(&args);
        }
        assert!(
            out.status.success(),
            "pgchaos lab up failed:\n{}",
            text(&out)
        );
        let inventory = lab_dir().join("inventory.yml");
        assert!(
            inventory.exists(),
            "lab up did not write {}",
            inventory.display()
        );
        Lab { inventory }
    });
    (lab, guard)
}

/// Runs one scenario file against the lab into a fresh report directory; returns the
/// process output and the scenario's result from results.json.
pub(crate) fn run_on_lab(path: &str, name: &str) -> (Output, serde_json::Value) {
    // Scenario suites run against Patroni 4: Debian 12's 3.0.2 restarts a crashed primary
    // as a replica and promotes it (a new timeline), and loses writes when a frozen leader
    // resumes (fixed upstream in 3.0.3); see scenarios/README.md.
    let (lab, _guard) = lab_with(Patroni::V4);
    let dir = report_dir(name);
    let out = pgchaos(&[
        "run",
        path,
        "--inventory",
        lab.inventory.to_str().unwrap(),
        "--report-dir",
        dir.to_str().unwrap(),
    ]);
    let r = results(&dir);
    (out, r["scenarios"][0].clone())
}

/// Runs a command on a lab node over SSH (through `pgchaos lab ssh`).
pub(crate) fn on_node(node: &str, cmd: &str) -> Output {
    run_with_deadline(
        Command::new(bin()).args(["lab", "ssh", node, cmd]),
        Duration::from_secs(60),
    )
}

/// Polls `f` until it returns true or `deadline` passes; returns whether it did.
pub(crate) fn eventually(deadline: Duration, mut f: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    loop {
        if f() {
            return true;
        }
        if started.elapsed() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A fresh report directory for one test.
pub(crate) fn report_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pgchaos-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Reads and parses results.json in `dir`.
pub(crate) fn results(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("results.json"))
        .unwrap_or_else(|e| panic!("no results.json in {}: {e}", dir.display()));
    serde_json::from_str(&text).expect("results.json is JSON")
}

/// Every pgchaos-tagged iptables rule on every lab node.
pub(crate) fn tagged_rules(nodes: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for n in nodes {
        let o = on_node(n, "iptables -S");
        for l in String::from_utf8_lossy(&o.stdout).lines() {
            if l.contains("pgchaos:") {
                out.push(format!("{n}: {l}"));
            }
        }
    }
    out
}

/// Text of a process output, for assertion messages.
pub(crate) fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// What a test needs from the machine beyond cargo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// Root: the lab builds network namespaces.
    Root,
    /// Headless Chromium, to open reports as a person would.
    Chromium,
    /// xmllint, to validate junit.xml against the XSD.
    Xmllint,
    /// The JUnit schema in `../shared/schemas/` beside the repository (CI has it there).
    JunitSchema,
}

impl Need {
    /// Why the machine falls short, or `None` when it has what is needed.
    fn missing(self) -> Option<&'static str> {
        match self {
            // SAFETY: geteuid has no preconditions.
            Need::Root => (unsafe { libc::geteuid() } != 0)
                .then_some("root (network namespaces; run `sudo cargo test`)"),
            Need::Chromium => find_tool("chromium")
                .is_none()
                .then_some("chromium (apt-get install chromium)"),
            Need::Xmllint => find_tool("xmllint")
                .is_none()
                .then_some("xmllint (apt-get install libxml2-utils)"),
            Need::JunitSchema => (!junit_xsd_path().is_file())
                .then_some("the JUnit schema ../shared/schemas/junit-10.xsd beside the repository"),
        }
    }
}

/// Whether the calling test must be skipped because the machine lacks what it needs. Says
/// so in one line on the terminal (once per test binary and reason) and returns true; the
/// test then returns early. Under CI (`CI` set) the suites must run: a missing
/// requirement fails the test instead.
pub(crate) fn skip_unless(needs: &[Need]) -> bool {
    use std::io::Write;
    static SAID: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let missing: Vec<&'static str> = needs.iter().filter_map(|n| n.missing()).collect();
    if missing.is_empty() {
        return false;
    }
    let needs = format!(
        "tests/{}.rs needs {}",
        env!("CARGO_CRATE_NAME"),
        missing.join(" and ")
    );
    if std::env::var_os("CI").is_some() {
        panic!("{needs}; CI is set, so this suite must run here, not be skipped");
    }
    let line = format!("{needs}: skipped");
    let mut said = SAID.lock().unwrap_or_else(|p| p.into_inner());
    if !missing.iter().all(|m| said.contains(m)) {
        said.extend(missing.iter().copied());
        // Written to the terminal directly: the test harness captures `eprintln!`.
        let _ = writeln!(std::io::stderr(), "{line}");
    }
    true
}

fn find_tool(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/usr/local/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// The path of an installed tool, or a failure saying which package to install.
pub(crate) fn tool(name: &str, package: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} is not installed: apt-get install {package}");
}

/// The JUnit schema Jenkins' xUnit plugin validates against: `../shared/schemas/junit-10.xsd`
/// beside the repository (where CI has it), and nowhere else.
pub(crate) fn junit_xsd() -> PathBuf {
    let p = junit_xsd_path();
    assert!(
        p.is_file(),
        "the JUnit schema is missing: expected {} (the shared/ directory beside the \
         repository, as CI has it; copy junit-10.xsd there to run this test)",
        p.display()
    );
    p
}

fn junit_xsd_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/schemas/junit-10.xsd")
}

/// Validates a junit.xml with xmllint against [`junit_xsd`]; returns xmllint's output on failure.
pub(crate) fn validate_junit(junit: &Path) -> Result<(), String> {
    let out = Command::new(tool("xmllint", "libxml2-utils"))
        .args(["--noout", "--schema"])
        .arg(junit_xsd())
        .arg(junit)
        .output()
        .expect("failed to run xmllint");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Opens `url` in headless Chromium with `extra` flags (e.g. `--dump-dom`,
/// `--screenshot=PATH`), as an auditor's browser would, bounded in time.
pub(crate) fn chromium(url: &str, extra: &[&str]) -> Output {
    let chromium = tool("chromium", "chromium");
    let profile = tempfile::tempdir().unwrap();
    // `timeout` bounds a browser that would hang; Chromium exits by itself when done.
    Command::new("timeout")
        .arg("120")
        .arg(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1400,2400",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("failed to start chromium")
}
