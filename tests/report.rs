//! `pgchaos report`, driven through the real binary, and its output checked the way a
//! person would: junit.xml against the XSD Jenkins uses (xmllint), index.html opened in
//! headless Chromium (DOM dump and a screenshot).
//!
//! Needs `xmllint` (Debian libxml2-utils) and `chromium`, and the JUnit schema in
//! `../shared/schemas/` beside the repository. Without xmllint or Chromium the tests that
//! need them say so in one line and skip, except under CI (`CI` set), where they fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::tool;

const FIXTURES: [&str; 3] = ["failed-run", "interrupted-run", "aborted-run"];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/results")
        .join(format!("{name}.json"))
}

fn pgchaos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pgchaos"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("failed to start pgchaos")
}

fn render(name: &str, out: &Path) {
    let o = pgchaos(&[
        "report",
        fixture(name).to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        o.status.success(),
        "pgchaos report {name} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    for f in ["results.json", "junit.xml", "index.html", "summary.md"] {
        assert!(out.join(f).is_file(), "{name}: {f} missing");
        assert!(
            String::from_utf8_lossy(&o.stdout).contains(f),
            "{name}: {f} not listed on stdout"
        );
    }
}

fn xsd() -> PathBuf {
    common::junit_xsd()
}

#[test]
fn every_fixture_renders_and_junit_validates_against_the_xsd() {
    if common::skip_unless(&[common::Need::Xmllint, common::Need::JunitSchema]) {
        return;
    }
    let xmllint = tool("xmllint", "libxml2-utils");
    let xsd = xsd();
    for name in FIXTURES {
        let dir = tempfile::tempdir().unwrap();
        render(name, dir.path());
        let o = Command::new(&xmllint)
            .args(["--noout", "--schema"])
            .arg(&xsd)
            .arg(dir.path().join("junit.xml"))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{name}: junit.xml does not validate:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );

        // results.json round-trips: re-rendering from the written file gives the same JSON.
        let written = std::fs::read_to_string(dir.path().join("results.json")).unwrap();
        let again = tempfile::tempdir().unwrap();
        let o = pgchaos(&[
            "report",
            dir.path().join("results.json").to_str().unwrap(),
            "--out",
            again.path().to_str().unwrap(),
        ]);
        assert!(o.status.success());
        assert_eq!(
            written,
            std::fs::read_to_string(again.path().join("results.json")).unwrap()
        );
    }
}

#[test]
fn junit_maps_verdicts_retries_and_properties() {
    let dir = tempfile::tempdir().unwrap();
    render("failed-run", dir.path());
    let xml = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    // 4 attempts, 3 testcases: standby-kill9 failed then passed -> one flaky testcase.
    assert_eq!(xml.matches("<testcase ").count(), 3, "{xml}");
    assert!(xml.contains("<testcase name=\"standby-kill9\" classname=\"runbook-standby\""));
    assert!(xml.contains("<flakyFailure "));
    assert!(xml.contains("<failure message=\"old leader pg1 rejoins as a streaming replica"));
    assert!(xml.contains("name=\"ops-switchover.covers\" value=\"ops/switchover\""));
    assert!(xml.contains("name=\"ops-switchover.failover_seconds\" value=\"2.000\""));
    assert!(xml.contains("pg1$ sudo -u postgres patronictl -c /etc/patroni/config.yml list"));

    let dir = tempfile::tempdir().unwrap();
    render("aborted-run", dir.path());
    let xml = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(xml.contains("type=\"error\""));
    assert!(xml.contains("<skipped message=\"not run: the run was aborted\""));
    assert!(xml.contains("name=\"abort_reason\""));
}

#[test]
fn summary_is_short_and_names_the_failed_check() {
    let dir = tempfile::tempdir().unwrap();
    render("failed-run", dir.path());
    let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(md.starts_with("## ❌ pgchaos: FAILED"));
    assert!(md.contains("| Scenario | Verdict | Failover | Write unavailability | Covers |"));
    assert!(md.contains("check *old leader pg1 rejoins as a streaming replica*"));
    assert!(md.lines().count() < 30, "{md}");

    let dir = tempfile::tempdir().unwrap();
    render("interrupted-run", dir.path());
    let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(md.starts_with("## ⚠️ pgchaos: INTERRUPTED"), "{md}");
    assert!(md.contains("check *no lost writes*: expected 0 lost; observed not evaluated"));
}

#[test]
fn default_out_is_the_results_directory() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.json");
    std::fs::copy(fixture("interrupted-run"), &results).unwrap();
    let o = pgchaos(&["report", results.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    assert!(html.contains("INTERRUPTED"));
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("missing.json", None, "failed to read results file"),
        (
            "garbage.json",
            Some("{not json"),
            "failed to parse results file",
        ),
        (
            "future.json",
            Some(r#"{"schema_version": 2, "run_id": "x"}"#),
            "schema_version is 2, this pgchaos reads version 1",
        ),
        (
            "noversion.json",
            Some(r#"{"run_id": "x"}"#),
            "schema_version is missing",
        ),
        (
            "incomplete.json",
            Some(r#"{"schema_version": 1, "run_id": "x"}"#),
            "missing field",
        ),
    ];
    for (file, content, message) in cases {
        let p = dir.path().join(file);
        if let Some(c) = content {
            std::fs::write(&p, c).unwrap();
        }
        let o = pgchaos(&["report", p.to_str().unwrap()]);
        // miette wraps long lines; compare with the wrapping undone.
        let stderr: String = String::from_utf8_lossy(&o.stderr)
            .replace('│', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(o.status.code(), Some(2), "{file}: {stderr}");
        assert!(stderr.contains(message), "{file}: {stderr}");
        assert!(!dir.path().join("index.html").exists());
    }
}

/// Opens index.html in headless Chromium, as an auditor would, and checks what is drawn.
#[test]
fn html_report_renders_in_a_browser() {
    if common::skip_unless(&[common::Need::Chromium]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    render("failed-run", dir.path());
    let url = format!("file://{}", dir.path().join("index.html").display());
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let png = shots.join("failed-run.png");
    let _ = std::fs::remove_file(&png);

    let browser = |extra: &[&str]| common::chromium(&url, extra);

    let dom = browser(&["--dump-dom"]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("data-outcome=\"failed\""),
        "outcome banner missing"
    );
    for (id, verdict) in [
        ("ops-switchover", "failed"),
        ("standby-kill9", "failed"),
        ("standby-kill9", "passed"),
        ("primary-kill9", "passed"),
    ] {
        assert!(
            dom.contains(&format!(
                "data-scenario=\"{id}\" data-verdict=\"{verdict}\""
            )),
            "{id} {verdict} section missing"
        );
    }
    // The first scenario section is the failed one.
    let first = dom.find("data-scenario=").unwrap();
    assert!(dom[first..].starts_with("data-scenario=\"ops-switchover\""));
    // The SVG timeline: one lane per node, leader and stopped segments, event markers.
    assert!(dom.contains("<svg class=\"timeline\""));
    for node in ["pg1", "pg2", "pg3"] {
        assert!(dom.contains(&format!("class=\"lane\" data-node=\"{node}\"")));
    }
    assert!(dom.contains("class=\"seg leader\""));
    assert!(dom.contains("class=\"seg stopped\""));
    assert!(dom.contains("class=\"marker m-leader\""));
    assert!(dom.contains("class=\"gap\""));

    let shot = browser(&[&format!("--screenshot={}", png.display())]);
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let bytes = std::fs::read(&png).expect("no screenshot written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(bytes.len() > 50_000, "screenshot suspiciously small");
    eprintln!("screenshot: {}", png.display());
}

#[test]
fn verify_says_whether_the_files_at_hand_are_those_that_ran() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("inventory.yml"), "cluster: {scope: demo}\n").unwrap();
    std::fs::create_dir(d.join("scenarios")).unwrap();
    std::fs::write(d.join("scenarios/a.yml"), "id: a\n").unwrap();
    // SHA-256 of the bytes above (sha256sum).
    let sha = |p: &Path| {
        let o = Command::new("sha256sum").arg(p).output().unwrap();
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let mut r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("failed-run")).unwrap()).unwrap();
    r["provenance"]["inventory"] = serde_json::json!({
        "path": "inventory.yml", "sha256": sha(&d.join("inventory.yml"))});
    r["provenance"]["scenarios"] = serde_json::json!([
        {"path": "scenarios/a.yml", "sha256": sha(&d.join("scenarios/a.yml"))},
        {"path": "scenarios/b.yml", "sha256": "00"}]);
    let results = d.join("results.json");
    std::fs::write(&results, r.to_string()).unwrap();
    let verify = || {
        Command::new(env!("CARGO_BIN_EXE_pgchaos"))
            .args(["report", "--verify", results.to_str().unwrap()])
            .current_dir(d)
            .output()
            .unwrap()
    };
    // b.yml is missing.
    let o = verify();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("missing: scenarios/b.yml"), "{out}");
    assert!(out.contains("ok: inventory.yml"), "{out}");

    let mut r2 = r.clone();
    r2["provenance"]["scenarios"].as_array_mut().unwrap().pop();
    std::fs::write(&results, r2.to_string()).unwrap();
    let o = verify();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    std::fs::write(d.join("scenarios/a.yml"), "id: a\nsteps: []\n").unwrap();
    let o = verify();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("changed: scenarios/a.yml"), "{out}");
}
