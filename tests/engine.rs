//! The scenario engine against the real lab: three real scenarios and a negative one.

mod common;

use common::*;

#[test]
fn kill_9_postgres_on_the_leader_keeps_leader_and_timeline() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
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
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
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
    // The new leader is seen when etcd records the leader key (the DCS watch), not at
    // the next poll: the new-leader event is that DCS observation.
    let new_leader = s["after"]["leader"].as_str().unwrap();
    let dcs_at = s["observations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["source"] == "dcs" && o["cluster_leader"] == new_leader)
        .map(|o| o["at"].clone());
    assert!(
        dcs_at.is_some(),
        "no DCS observation of {new_leader}: {s:#}"
    );
    let event_at = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "new_leader")
        .map(|e| e["at"].clone());
    assert_eq!(event_at, dcs_at, "the new leader was not dated by the DCS");
}

#[test]
fn switchover_to_a_named_replica_through_the_rest_api() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
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
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
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

#[test]
fn a_cluster_left_without_a_leader_is_reset_and_the_next_scenario_passes() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    // The lab's inventory has `operations.reset_cluster: pgchaos lab --dir DIR reset`.
    let (lab, _guard) = lab_with(Patroni::V4);
    let dir = report_dir("reset");
    let out = pgchaos(&[
        "run",
        "tests/scenarios/reset",
        "--inventory",
        lab.inventory.to_str().unwrap(),
        "--report-dir",
        dir.to_str().unwrap(),
    ]);
    let r = results(&dir);
    // The broken scenario keeps its failure; the run is not aborted.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(r["outcome"]["kind"], "failed", "{:#}", r["outcome"]);
    let s = r["scenarios"].as_array().unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0]["id"], "negative-leave-no-leader");
    assert_eq!(s[0]["verdict"], "failed");
    assert!(
        s[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("did not return to steady state"),
        "{:#}",
        s[0]["reason"]
    );
    let resets = r["resets"].as_array().unwrap();
    assert_eq!(resets.len(), 1, "{:#}", r["resets"]);
    assert_eq!(resets[0]["after_scenario"], "negative-leave-no-leader");
    assert_eq!(resets[0]["succeeded"], true, "{:#}", resets[0]);
    assert_eq!(resets[0]["command"]["exit_status"], 0);
    assert!(
        s[0]["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "reset"),
        "no reset event on the scenario's timeline"
    );
    assert_eq!(s[1]["id"], "negative-after-reset");
    assert_eq!(s[1]["verdict"], "passed", "{:#}", s[1]["reason"]);
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(html.contains("Cluster resets"));
}
