//! `pgchaos bench` against the lab, short: every section of BENCHMARKS.md has figures.
//! No speed target is asserted here: targets live in BENCHMARKS.md, never in timed tests.

mod common;

use common::{lab, pgchaos, text};

/// Whether `line` is a table row holding a decimal figure (`12.34`).
fn row_with_figure(line: &str) -> bool {
    line.starts_with('|')
        && !line.starts_with("|---")
        && line
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .any(|w| {
                let mut parts = w.split('.');
                matches!(
                    (parts.next(), parts.next(), parts.next()),
                    (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty()
                )
            })
}

#[test]
fn a_short_bench_writes_every_section_with_figures() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let (_lab, _guard) = lab();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("BENCHMARKS.md");
    let work = dir.path().join("work");
    let run = pgchaos(&[
        "bench",
        "--out",
        out.to_str().unwrap(),
        "--work-dir",
        work.to_str().unwrap(),
        "--iterations",
        "6",
        "--observe-for",
        "3s",
        "--precision-runs",
        "1",
        "--writer-for",
        "2s",
        "--large-nodes",
        "4",
        "--soak-for",
        "20s",
        "--soak-every",
        "5s",
    ]);
    assert!(
        run.status.success(),
        "pgchaos bench failed:\n{}",
        text(&run)
    );
    let md = std::fs::read_to_string(&out).expect("BENCHMARKS.md written");
    assert!(!md.contains("not measured"), "a figure is missing:\n{md}");
    for heading in [
        "## Machine",
        "## Targets",
        "## 1. SSH latency",
        "## 2. Observation rate and cost",
        "## 3. Failover time precision",
        "## 4. Overhead",
        "## 5. Writer cost",
        "## 7. Memory over a long observation",
    ] {
        let start = md
            .find(heading)
            .unwrap_or_else(|| panic!("no section {heading:?} in:\n{md}"));
        let body = &md[start + heading.len()..];
        let body = &body[..body.find("\n## ").unwrap_or(body.len())];
        if heading == "## Machine" {
            assert!(body.contains("cores, load average"), "{heading}: {body}");
            continue;
        }
        assert!(
            body.lines().any(row_with_figure),
            "{heading} has no table row with a figure:\n{body}"
        );
    }
    // Both cluster sizes, both intervals.
    for label in [
        "3 Patroni nodes + 1 spare, every 250 ms",
        "3 Patroni nodes + 1 spare, every 100 ms",
        "4 Patroni nodes + 1 spare, every 250 ms",
        "4 Patroni nodes + 1 spare, every 100 ms",
    ] {
        let line = md
            .lines()
            .find(|l| l.starts_with(&format!("| {label} |")))
            .unwrap_or_else(|| panic!("no observation row for {label}:\n{md}"));
        assert!(row_with_figure(line), "{line}");
    }
    // Both faults were compared with Patroni's log.
    for fault in [
        "| kill -9 Patroni on the leader | 1 |",
        "| systemctl stop patroni on the leader | 1 |",
    ] {
        assert!(md.contains(fault), "no comparison {fault:?}:\n{md}");
    }
    // The bench leaves the lab as it found it: 3 Patroni nodes again.
    let inv = std::fs::read_to_string(common::lab_dir().join("inventory.yml")).unwrap();
    assert!(
        inv.contains("name: pg3") && !inv.contains("name: pg5"),
        "{inv}"
    );
}

#[test]
fn figure_rows_are_recognised() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    assert!(row_with_figure("| multiplexed | 12.3 | 4 |"));
    assert!(!row_with_figure("| a | n/a | 3 |"));
    assert!(!row_with_figure("|---|---|"));
    assert!(!row_with_figure("text 1.5"));
}
