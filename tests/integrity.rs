//! The data-integrity oracle against the real lab: asynchronous replication loses
//! acknowledged writes when a lagging replica is promoted, synchronous mode does not.

mod common;

use common::*;

#[test]
fn asynchronous_failover_with_a_lagging_replica_loses_acknowledged_writes() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let (out, s) = run_on_lab("tests/scenarios/integrity-async-loss.yml", "async-loss");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(s["verdict"], "failed", "{s:#}");
    let lost = s["workload"]["lost"]
        .as_array()
        .expect("workload result")
        .len();
    assert!(lost > 0, "no lost write detected: {:#}", s["workload"]);
    let check = s["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "lost writes")
        .expect("lost writes check");
    assert_eq!(check["passed"], false);
}

#[test]
fn synchronous_mode_loses_no_acknowledged_write() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let (out, s) = run_on_lab("tests/scenarios/integrity-sync-no-loss.yml", "sync-no-loss");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(s["verdict"], "passed");
    assert_eq!(s["workload"]["lost"].as_array().map(Vec::len), Some(0));
    assert!(s["workload"]["acknowledged"].as_u64().unwrap() > 0);
}
