//! Patroni's own features on the real lab (issue 14): a scenario of `scenarios/features/`
//! passes with its feature switched on, and the same scenario with the feature left off
//! fails, on the expectation the feature is for. A pass that would also come without the
//! feature proves nothing about it.

mod common;

use common::*;

/// The scenario at `path` with `from` replaced by `to` (each must occur), written beside
/// the test's reports.
fn variant(path: &str, name: &str, edits: &[(&str, &str)]) -> String {
    let mut yaml = std::fs::read_to_string(path).expect("the scenario");
    for (from, to) in edits {
        assert!(yaml.contains(from), "{path} no longer contains {from:?}");
        yaml = yaml.replacen(from, to, 1);
    }
    let dir = report_dir(&format!("{name}-scenario"));
    std::fs::create_dir_all(&dir).expect("a directory for the scenario");
    let out = dir.join("scenario.yml");
    std::fs::write(&out, yaml).expect("write the scenario");
    out.to_str().unwrap().to_owned()
}

/// The steps whose checks failed, in order.
fn failed_steps(s: &serde_json::Value) -> Vec<u64> {
    s["checks"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter(|c| c["passed"] == false)
                .filter_map(|c| c["step"].as_u64())
                .collect()
        })
        .unwrap_or_default()
}

/// The index of the step of the scenario at `path` whose `because` starts with `because`
/// (steps are the `  - ` items under `steps:`).
fn step_index(path: &str, because: &str) -> u64 {
    let yaml = std::fs::read_to_string(path).expect("the scenario");
    let mut lines = yaml.lines().skip_while(|l| *l != "steps:").skip(1);
    let mut index: Option<u64> = None;
    for l in lines.by_ref() {
        if !l.starts_with(' ') {
            break;
        }
        if l.starts_with("  - ") {
            index = Some(index.map_or(0, |i| i + 1));
        }
        if l.trim_start()
            .strip_prefix("because: ")
            .is_some_and(|b| b.starts_with(because))
        {
            return index.expect("a step");
        }
    }
    panic!("{path}: no step because {because:?}")
}

const PST: &str = "scenarios/features/primary-start-timeout-zero.yml";

#[test]
fn primary_start_timeout_zero_fails_over_and_the_default_restarts_in_place() {
    if skip_unless(&[Need::Root]) {
        return;
    }
    let (out, s) = run_on_lab(PST, "pst-zero");
    assert_eq!(s["verdict"], "passed", "{}\n{s}", text(&out));

    // The same scenario with `primary_start_timeout` left at its default (300 s): Patroni
    // starts the crashed primary again in place and the failover never comes.
    let off = variant(
        PST,
        "pst-default",
        &[(
            "patch: { primary_start_timeout: 0, pause: true }",
            "patch: { pause: true }",
        )],
    );
    let (out, s) = run_on_lab(&off, "pst-default");
    assert_eq!(s["verdict"], "failed", "{}\n{s}", text(&out));
    let failover = step_index(PST, "the leader finds PostgreSQL crashed");
    let failed = failed_steps(&s);
    assert_eq!(
        failed.first(),
        Some(&failover),
        "the first failed check is not the failover's: {failed:?}\n{s}"
    );
}

const PAUSE: &str = "scenarios/features/pause-stop-patroni-on-leader.yml";

#[test]
fn paused_a_stopped_patroni_leaves_its_primary_running_and_managed_it_does_not() {
    if skip_unless(&[Need::Root]) {
        return;
    }
    let (out, s) = run_on_lab(PAUSE, "pause-on");
    assert_eq!(s["verdict"], "passed", "{}\n{s}", text(&out));

    // Not paused, the same stop of Patroni shuts PostgreSQL down on the leader
    // (patroni/ha.py `Ha.shutdown`) and a replica takes over.
    let off = variant(
        PAUSE,
        "pause-off",
        &[
            ("patch: { pause: true }", "patch: { pause: null }"),
            (
                "paused: { node: members, is: true }",
                "paused: { node: members, is: false }",
            ),
        ],
    );
    let (out, s) = run_on_lab(&off, "pause-off");
    assert_eq!(s["verdict"], "failed", "{}\n{s}", text(&out));
    let paused_hold = step_index(PAUSE, "paused, nobody is promoted");
    let failed = failed_steps(&s);
    assert_eq!(
        failed.first(),
        Some(&paused_hold),
        "the first failed check is not the paused hold's: {failed:?}\n{s}"
    );
}

const STRICT: &str = "scenarios/features/sync-strict-replicas-stopped.yml";

#[test]
fn strict_synchronous_mode_holds_commits_and_plain_synchronous_mode_lets_them_proceed() {
    if skip_unless(&[Need::Root]) {
        return;
    }
    let (out, s) = run_on_lab(STRICT, "strict-on");
    assert_eq!(s["verdict"], "passed", "{}\n{s}", text(&out));
    // Commits waited, and were not acknowledged while they waited.
    assert!(
        s["workload"]["unknown"].as_u64().unwrap_or(0) > 0,
        "no write waited: {}",
        s["workload"]
    );

    // `synchronous_mode` alone: the leader goes standalone and the commits proceed.
    let off = variant(
        STRICT,
        "strict-off",
        &[(
            "patch: { synchronous_mode: true, synchronous_mode_strict: true }",
            "patch: { synchronous_mode: true }",
        )],
    );
    let (out, s) = run_on_lab(&off, "strict-off");
    assert_eq!(s["verdict"], "failed", "{}\n{s}", text(&out));
    let waits = step_index(STRICT, "with no synchronous standby left");
    let keeps_waiting = step_index(STRICT, "strict mode never switches");
    let failed = failed_steps(&s);
    assert!(
        failed
            .first()
            .is_some_and(|f| *f == waits || *f == keeps_waiting),
        "the first failed check is not about waiting commits: {failed:?}\n{s}"
    );
}
