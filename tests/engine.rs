//! The scenario engine against the real lab: three real scenarios and a negative one.

mod common;

use common::*;

#[test]
fn kill_9_postgres_on_the_leader_keeps_leader_and_timeline() {
    let (out, s) = run_on_lab("scenarios/runbook/primary-kill-postgres.yml", "kill9");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(s["verdict"], "passed");
    assert_eq!(
        s["before"]["leader"], s["after"]["leader"],
        "leader changed: {s:#}"
    );
    assert_eq!(
        s["before"]["timeline"], s["after"]["timeline"],
        "timeline changed"
    );
    assert_eq!(s["metrics"]["leader_changes"], 0);
}

#[test]
fn stopping_patroni_on_the_leader_fails_over_and_the_old_leader_rejoins() {
    let (out, s) = run_on_lab("scenarios/runbook/primary-stop-patroni.yml", "stop-patroni");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(s["verdict"], "passed");
    assert_ne!(s["before"]["leader"], s["after"]["leader"]);
    let before = s["before"]["timeline"].as_u64().unwrap();
    let after = s["after"]["timeline"].as_u64().unwrap();
    assert_eq!(after, before + 1);
    assert!(
        s["metrics"]["failover_seconds"].as_f64().is_some(),
        "no failover time measured"
    );
}

#[test]
fn switchover_to_a_named_replica_through_the_rest_api() {
    let (out, s) = run_on_lab("scenarios/ops/switchover.yml", "switchover");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(s["verdict"], "passed");
    assert_eq!(
        s["after"]["leader"].as_str(),
        s["targets"]["candidate"][0].as_str()
    );
}

#[test]
fn a_false_expectation_fails_clearly_and_its_fault_is_undone() {
    let (out, s) = run_on_lab("tests/scenarios/false-expectation.yml", "negative");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(s["verdict"], "failed");
    let reason = s["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("not true within 8.0s"),
        "unclear reason: {reason}"
    );
    assert!(
        reason.contains("leader is "),
        "reason does not say what was observed: {reason}"
    );
    let failed: Vec<_> = s["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .collect();
    assert!(!failed.is_empty(), "no failed check recorded");
    let victim = s["targets"]["victim"][0].as_str().unwrap().to_owned();
    assert!(
        tagged_rules(&[&victim]).is_empty(),
        "the block was not undone on {victim}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("FAILED"), "{stderr}");
}
