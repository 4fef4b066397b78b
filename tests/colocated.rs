//! A cluster whose etcd members run on the Patroni hosts (`lab up --etcd colocated`):
//! a minority/majority partition with the leader on the minority side (issue 13).

mod common;

use common::*;

#[test]
fn split_one_against_two_only_the_majority_side_accepts_writes() {
    if common::skip_unless(&[common::Need::Root]) {
        return;
    }
    let (lab, _guard) = lab_shaped(Patroni::V4, &["--etcd", "colocated"]);
    let dir = report_dir("colocated-split");
    let out = pgchaos(&[
        "run",
        "scenarios/beyond/colocated-minority-majority.yml",
        "--inventory",
        lab.inventory.to_str().unwrap(),
        "--report-dir",
        dir.to_str().unwrap(),
    ]);
    let r = results(&dir);
    let s = &r["scenarios"][0];
    assert_eq!(s["verdict"], "passed", "{}\n{s}", text(&out));
    let check = |name: &str| {
        s["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"].as_str().is_some_and(|n| n.contains(name)))
            .unwrap_or_else(|| panic!("no check {name:?}: {s}"))
            .clone()
    };
    // Judged, not assumed: one node at a time accepted writes, and the old leader ended
    // as a replica of the majority's leader.
    assert_eq!(check("split brain")["passed"], true, "{s}");
    let old = s["targets"]["primary"][0].as_str().expect("the old leader");
    let leader = s["after"]["leader"].as_str().unwrap_or_default();
    assert!(!leader.is_empty() && leader != old, "{s}");
    // The partition is gone from every node.
    assert!(
        tagged_rules(&["pg1", "pg2", "pg3"]).is_empty(),
        "{:?}",
        tagged_rules(&["pg1", "pg2", "pg3"])
    );
    // A loss is measured and shown, never hidden because no bound was asked for.
    let lost = s["workload"]["lost"].as_array().map_or(0, |l| l.len());
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert_eq!(
        lost > 0,
        summary.contains("not bounded by the scenario"),
        "{lost} lost; {summary}"
    );
}
