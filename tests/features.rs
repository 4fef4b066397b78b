//! Patroni's own features on the real lab (issue 14): a scenario of `scenarios/features/`
//! passes with its feature switched on, and the same scenario with the feature left off
//! fails, on the expectation the feature is for. A pass that would also come without the
//! feature proves nothing about it.

mod common;

use std::process::Command;
use std::time::Duration;

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

/// One feature, on and off.
struct Feature {
    /// The scenario, which switches the feature on.
    path: &'static str,
    /// A short name for report directories.
    name: &'static str,
    /// Text replacements that leave the feature off.
    off: &'static [(&'static str, &'static str)],
    /// The `because` (a prefix) of the steps where the run without the feature may fail
    /// first: the expectations the feature is for.
    fails_at: &'static [&'static str],
}

/// Runs the scenario (it must pass) and its variant without the feature (it must fail,
/// first at one of `fails_at`); returns both scenario results.
fn on_and_off(f: &Feature) -> (serde_json::Value, serde_json::Value) {
    let (out, on) = run_on_lab(f.path, &format!("{}-on", f.name));
    assert_eq!(on["verdict"], "passed", "{}\n{on}", text(&out));
    let path = variant(f.path, &format!("{}-off", f.name), f.off);
    let (out, off) = run_on_lab(&path, &format!("{}-off", f.name));
    assert_eq!(off["verdict"], "failed", "{}\n{off}", text(&out));
    let expected: Vec<u64> = f.fails_at.iter().map(|b| step_index(f.path, b)).collect();
    let failed = failed_steps(&off);
    assert!(
        failed.first().is_some_and(|s| expected.contains(s)),
        "{}: the first failed check (steps {failed:?}) is not at steps {expected:?}\n{off}",
        f.name
    );
    (on, off)
}

#[test]
fn primary_start_timeout_zero_fails_over_and_the_default_restarts_in_place() {
    if skip_unless(&[Need::Root]) {
        return;
    }
    // Left at its default (300 s), Patroni starts the crashed primary again in place and
    // the failover never comes.
    on_and_off(&Feature {
        path: "scenarios/features/primary-start-timeout-zero.yml",
        name: "pst",
        off: &[(
            "patch: { primary_start_timeout: 0, pause: true }",
            "patch: { pause: true }",
        )],
        fails_at: &["the leader finds PostgreSQL crashed"],
    });
}

#[test]
fn paused_a_stopped_patroni_leaves_its_primary_running_and_managed_it_does_not() {
    if skip_unless(&[Need::Root]) {
        return;
    }
    // Not paused, the same stop of Patroni shuts PostgreSQL down on the leader
    // (patroni/ha.py `Ha.shutdown`) and a replica takes over.
    on_and_off(&Feature {
        path: "scenarios/features/pause-stop-patroni-on-leader.yml",
        name: "pause",
        off: &[
            ("patch: { pause: true }", "patch: { pause: null }"),
            (
                "paused: { node: members, is: true }",
                "paused: { node: members, is: false }",
            ),
        ],
        fails_at: &["paused, nobody is promoted"],
    });
}

#[test]
fn strict_synchronous_mode_holds_commits_and_plain_synchronous_mode_lets_them_proceed() {
    if skip_unless(&[Need::Root]) {
        return;
    }
    // `synchronous_mode` alone: the leader goes standalone and the commits proceed.
    let (on, _) = on_and_off(&Feature {
        path: "scenarios/features/sync-strict-replicas-stopped.yml",
        name: "strict",
        off: &[(
            "patch: { synchronous_mode: true, synchronous_mode_strict: true }",
            "patch: { synchronous_mode: true }",
        )],
        fails_at: &[
            "with no synchronous standby left",
            "strict mode never switches",
        ],
    });
    // Commits waited, and were not acknowledged while they waited.
    assert!(
        on["workload"]["unknown"].as_u64().unwrap_or(0) > 0,
        "no write waited: {}",
        on["workload"]
    );
}

#[test]
fn synchronous_node_count_two_makes_both_replicas_synchronous_and_one_does_not() {
    if skip_unless(&[Need::Root]) {
        return;
    }
    // At the default of 1 only one replica is synchronous: the run fails before its fault.
    let (on, _) = on_and_off(&Feature {
        path: "scenarios/features/sync-node-count-two-poweroff-leader.yml",
        name: "sync-two",
        off: &[("synchronous_node_count: 2 }", "synchronous_node_count: 1 }")],
        fails_at: &["Patroni names two synchronous standbys"],
    });
    assert_eq!(
        on["workload"]["lost"],
        serde_json::json!([]),
        "{}",
        on["workload"]
    );
    assert!(
        on["workload"]["acknowledged"].as_u64().unwrap_or(0) > 0,
        "{}",
        on["workload"]
    );
}

#[test]
fn maximum_lag_on_failover_keeps_lagging_replicas_from_leading_and_raised_it_does_not() {
    if skip_unless(&[Need::Root]) {
        return;
    }
    // Raised past the lag: a replica takes the expired lock, without the writes it never
    // received.
    let (_, off) = on_and_off(&Feature {
        path: "scenarios/features/max-lag-no-promotion.yml",
        name: "max-lag",
        off: &[(
            "maximum_lag_on_failover: 1048576, pause: true",
            "maximum_lag_on_failover: 1073741824, pause: true",
        )],
        fails_at: &["the leader key expires", "every replica is further behind"],
    });
    assert!(
        off["workload"]["lost"]
            .as_array()
            .is_some_and(|l| !l.is_empty()),
        "the lagging replica was promoted and nothing was lost: {}",
        off["workload"]
    );
}

const SCHEDULED: &str = "scenarios/features/scheduled-switchover.yml";

/// Whether `patronictl list` on `node` shows a scheduled switchover.
fn switchover_pending(node: &str) -> bool {
    let o = on_node(node, "patronictl -c /etc/patroni/config.yml list");
    assert!(o.status.success(), "patronictl list: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).contains("Switchover scheduled at:")
}

#[test]
fn a_scheduled_switchover_waits_for_its_time_and_is_cancelled_when_the_scenario_fails_first() {
    if skip_unless(&[Need::Root]) {
        return;
    }
    // Unscheduled, the same switchover happens at once and the hold fails.
    on_and_off(&Feature {
        path: SCHEDULED,
        name: "scheduled",
        off: &[(", scheduled_in: 40s", "")],
        fails_at: &["the leader waits for the scheduled time"],
    });

    // A scenario that fails before the time (here its hold asks for the impossible) leaves
    // no order behind: the undo cancelled it.
    let failing = variant(
        SCHEDULED,
        "scheduled-cancelled",
        &[(
            "        - leader_changes: { at_most: 0 }\n",
            "        - leader_changes: { at_most: 0 }\n        - leader: { is: candidate }\n",
        )],
    );
    let (out, s) = run_on_lab(&failing, "scheduled-cancelled");
    assert_eq!(s["verdict"], "failed", "{}\n{s}", text(&out));
    let undo = s["events"]
        .as_array()
        .and_then(|es| {
            es.iter().find(|e| {
                e["kind"] == "undo"
                    && e["description"]
                        .as_str()
                        .is_some_and(|d| d.contains("scheduled switchover"))
            })
        })
        .cloned();
    assert!(
        undo.is_some(),
        "no cancel among the events: {}",
        s["events"]
    );
    for node in ["pg1", "pg2", "pg3"] {
        assert!(
            !switchover_pending(node),
            "{node} still shows a scheduled switchover after the failed run"
        );
    }
    assert_eq!(
        s["before"]["leader"], s["after"]["leader"],
        "the leader moved: {} -> {}",
        s["before"], s["after"]
    );
}

#[test]
fn nofailover_on_every_replica_keeps_the_lock_free_and_false_lets_a_replica_lead() {
    if skip_unless(&[Need::Root]) {
        return;
    }
    // `nofailover: false` written instead: a replica takes the expired lock.
    on_and_off(&Feature {
        path: "scenarios/features/nofailover-tag.yml",
        name: "nofailover",
        off: &[
            ("set: { nofailover: true }", "set: { nofailover: false }"),
            // Patroni lists a boolean tag only when true.
            ("has: { nofailover: true }", "not: { nofailover: true }"),
        ],
        fails_at: &[
            "the leader key expires",
            "every replica is tagged nofailover",
        ],
    });
}

#[test]
fn failover_priority_picks_the_higher_of_two_equal_replicas_and_swapped_the_other_leads() {
    if skip_unless(&[Need::Root]) {
        return;
    }
    // `other` given the higher priority (3 against 2): `other` takes the lock.
    on_and_off(&Feature {
        path: "scenarios/features/failover-priority.yml",
        name: "fprio",
        off: &[
            (
                "set: { failover_priority: 1, nofailover: null }",
                "set: { failover_priority: 3, nofailover: null }",
            ),
            (
                "has: { failover_priority: 1 }",
                "has: { failover_priority: 3 }",
            ),
            (
                "not: { failover_priority: 1 }",
                "not: { failover_priority: 3 }",
            ),
        ],
        fails_at: &["the leader key expires after the TTL and of two replicas"],
    });
}

const SCHEDULED_RESTART: &str = "scenarios/features/scheduled-restart.yml";

#[test]
fn a_scheduled_restart_waits_for_its_time_and_is_cancelled_when_the_scenario_fails_first() {
    if skip_unless(&[Need::Root]) {
        return;
    }
    // Unscheduled, the restart happens at once and the hold fails.
    on_and_off(&Feature {
        path: SCHEDULED_RESTART,
        name: "sched-restart",
        off: &[(", scheduled_in: 40s", "")],
        fails_at: &["the member waits for the scheduled time"],
    });

    // A scenario that fails before the time (its hold asks for the impossible) leaves no
    // order behind: the undo cancelled it (`patronictl list` shows a "Scheduled restart"
    // column while any member holds one).
    let failing = variant(
        SCHEDULED_RESTART,
        "sched-restart-cancelled",
        &[(
            "        - postgres_restarted: { node: victim, is: false }\n",
            "        - postgres_restarted: { node: victim, is: false }\n        - leader: { exists: false }\n",
        )],
    );
    let (out, s) = run_on_lab(&failing, "sched-restart-cancelled");
    assert_eq!(s["verdict"], "failed", "{}\n{s}", text(&out));
    let cancelled = s["events"].as_array().is_some_and(|es| {
        es.iter().any(|e| {
            e["kind"] == "undo"
                && e["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("scheduled restart"))
        })
    });
    assert!(cancelled, "no cancel among the events: {}", s["events"]);
    // The member key says so from the member's next HA loop on: waited for, within a
    // deadline of several loops.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let o = on_node("pg1", "patronictl -c /etc/patroni/config.yml list");
        assert!(o.status.success(), "patronictl list: {}", text(&o));
        let listed = String::from_utf8_lossy(&o.stdout).to_string();
        if !listed.contains("Scheduled restart") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a scheduled restart is still listed after the failed run:\n{listed}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

#[test]
fn a_multi_host_writer_follows_the_lock_and_the_report_names_each_server_it_wrote_to() {
    if skip_unless(&[Need::Root]) {
        return;
    }
    // A plain run: the point is what the client sees, not a feature switched off.
    let (out, s) = run_on_lab(
        "scenarios/features/libpq-multi-host-writer.yml",
        "multi-host",
    );
    assert_eq!(s["verdict"], "passed", "{}\n{s}", text(&out));
    let servers = s["workload"]["servers"].as_array().expect("server windows");
    // The old leader took writes before the cut, the new one after: two servers, each
    // named, on consecutive timelines.
    let names: Vec<&str> = servers
        .iter()
        .filter_map(|w| w["server"].as_str())
        .collect();
    assert!(
        names.len() >= 2 && names.first() != names.last(),
        "the writes did not move to a second server: {}",
        s["workload"]
    );
    assert!(
        servers
            .iter()
            .all(|w| w["rows"].as_u64().unwrap_or(0) > 0 && w["timeline"].as_u64().is_some()),
        "a server window without rows or timeline: {}",
        s["workload"]
    );
    assert!(s["workload"]["split_brain"].is_null(), "{}", s["workload"]);
    // Judged against the leader key as observed, and empty: the old primary demoted
    // itself before its key expired, so no write landed there without the lock.
    assert_eq!(
        s["workload"]["without_leader_key"],
        serde_json::json!([]),
        "{}",
        s["workload"]
    );
}

const STALE_READS: &str = "scenarios/features/stale-reads-replication-delayed.yml";

/// The largest staleness (ms) of the stale reads in `reads` (a `ReadStats` object).
fn max_staleness_ms(reads: &serde_json::Value) -> u64 {
    reads["max_stale"]["staleness_ms"].as_u64().unwrap_or(0)
}

#[test]
fn delayed_replicas_serve_stale_reads_that_the_bound_catches_when_set_below_them() {
    if skip_unless(&[Need::Root]) {
        return;
    }
    // With the replicas applying WAL 5 s late, reads there are stale by about the delay,
    // measured per node and through the read port, and /replica?lag=1MB still calls the
    // nodes healthy; the 8 s bound holds.
    let (out, on) = run_on_lab(STALE_READS, "stale-on");
    assert_eq!(on["verdict"], "passed", "{}\n{on}", text(&out));
    let reads = &on["workload"]["reads"];
    let through_port = max_staleness_ms(reads);
    assert!(
        (1000..=8000).contains(&through_port),
        "staleness through the read port {through_port} ms: {reads}"
    );
    let direct = reads["direct"].as_object().expect("direct readers");
    let mut delayed = 0;
    for (node, r) in direct {
        if r["primary_reads"].as_u64() == r["attempted"].as_u64() {
            // The leader: every read fresh.
            assert_eq!(r["stale"], 0, "{node}: {r}");
            continue;
        }
        delayed += 1;
        assert!(
            max_staleness_ms(r) >= 1000,
            "{node}'s direct reader measured no staleness: {r}"
        );
        let healthy = r["lag_check"]["stale_but_healthy"].as_u64().unwrap_or(0);
        assert!(
            healthy > 0,
            "/replica?lag=1MB never called {node} healthy while stale: {r}"
        );
    }
    assert_eq!(delayed, 2, "two replicas read directly: {reads}");

    // The same run with the bound below what is measured fails at that verdict, and says
    // how stale the read was.
    let path = variant(
        STALE_READS,
        "stale-tight",
        &[("stale_read_max: 8s", "stale_read_max: 1s")],
    );
    let (out, tight) = run_on_lab(&path, "stale-tight");
    assert_eq!(tight["verdict"], "failed", "{}\n{tight}", text(&out));
    let failed: Vec<&serde_json::Value> = tight["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["passed"] == false)
        .collect();
    assert_eq!(
        failed.len(),
        1,
        "only the stale-read bound fails: {failed:?}"
    );
    assert_eq!(failed[0]["name"], "stale reads");
    let observed = failed[0]["observed"].as_str().unwrap_or_default();
    assert!(
        observed.starts_with("a read through the read port at ")
            && observed.contains(" s earlier")
            && observed.ends_with("; bound 1s"),
        "{observed}"
    );
}

#[test]
fn a_replica_that_catches_up_rejoins_the_read_pool_once_and_a_zero_bound_names_it() {
    if skip_unless(&[Need::Root]) {
        return;
    }
    let path = "scenarios/features/haproxy-replica-catches-up.yml";
    let (out, on) = run_on_lab(path, "flaps-on");
    assert_eq!(on["verdict"], "passed", "{}\n{on}", text(&out));
    let standby = on["targets"]["standby"][0].as_str().expect("standby bound");
    let primary = on["targets"]["primary"][0].as_str().expect("primary bound");
    let went_down = |s: &serde_json::Value, server: &str| {
        s["metrics"]["haproxy"]
            .as_array()
            .and_then(|fs| fs.iter().find(|f| f["server"] == server))
            .and_then(|f| f["went_down"].as_u64())
            .unwrap_or_else(|| panic!("no HAProxy count for {server}: {}", s["metrics"]))
    };
    // HAProxy's own count, from its stats page: out of the read pool once, and the
    // leader never out of the write pool.
    assert_eq!(went_down(&on, &format!("replicas/{standby}")), 1);
    assert_eq!(went_down(&on, &format!("primary/{primary}")), 0);

    // The same run bounded at 0 fails on that verdict and says which server went down.
    let tight = variant(
        path,
        "flaps-zero",
        &[("\n  haproxy_flaps_max: 1\n", "\n  haproxy_flaps_max: 0\n")],
    );
    let (out, off) = run_on_lab(&tight, "flaps-zero");
    assert_eq!(off["verdict"], "failed", "{}\n{off}", text(&out));
    let check = off["checks"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == "HAProxy flaps"))
        .unwrap_or_else(|| panic!("no HAProxy flaps check: {off}"));
    assert_eq!(check["passed"], false, "{check}");
    let standby = off["targets"]["standby"][0]
        .as_str()
        .expect("standby bound");
    let observed = check["observed"].as_str().unwrap_or_default();
    assert!(
        observed.contains(&format!("replicas/{standby} went down 1×")),
        "{check}"
    );
    assert_eq!(
        failed_steps(&off),
        Vec::<u64>::new(),
        "only the verdict fails: {off}"
    );
}

/// Whether a query through the lab's PgBouncer is answered within 10 s (a paused
/// PgBouncer keeps it waiting; PgBouncer 1.18 has no `SHOW STATE`, and the `paused`
/// column of `SHOW DATABASES` only reflects `PAUSE db`, not a global `PAUSE`).
fn pgbouncer_answers() -> bool {
    let inventory =
        std::fs::read_to_string(lab_dir().join("inventory.yml")).expect("the lab's inventory");
    let host = inventory
        .split("\n  pgbouncer:\n")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .and_then(|l| l.trim().strip_prefix("host: "))
        .unwrap_or_else(|| panic!("no entrypoints.pgbouncer.host in the lab's inventory"))
        .to_owned();
    let password = std::fs::read_to_string(lab_dir().join("secrets/postgres"))
        .expect("the lab's postgres password");
    let out = run_with_deadline(
        Command::new("psql")
            .arg(format!(
                "host={host} port=6432 user=postgres dbname=postgres connect_timeout=5"
            ))
            .args(["-XAtq", "-c", "select 1"])
            .env("PGPASSWORD", password.trim_end()),
        Duration::from_secs(10),
    );
    out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "1"
}

/// The writer's failed and unknown writes and its longest gap, from results.json.
fn writer_errors_and_gap(s: &serde_json::Value) -> (u64, f64) {
    let w = &s["workload"];
    let errors =
        w["failed"].as_u64().expect("failed count") + w["unknown"].as_u64().expect("unknown count");
    (errors, w["max_gap_seconds"].as_f64().expect("max gap"))
}

#[test]
fn a_pgbouncer_paused_around_a_switchover_hides_it_and_without_pause_writes_stall_or_fail() {
    if skip_unless(&[Need::Root]) {
        return;
    }
    let path = "scenarios/features/pgbouncer-paused-switchover.yml";
    let (out, on) = run_on_lab(path, "pgbouncer-on");
    assert_eq!(on["verdict"], "passed", "{}\n{on}", text(&out));
    let w = &on["workload"];
    assert!(w["acknowledged"].as_u64().unwrap_or(0) > 0, "{w}");
    assert_eq!(w["lost"].as_array().map(Vec::len), Some(0), "{w}");
    let (on_errors, on_gap) = writer_errors_and_gap(&on);
    assert_eq!(
        on_errors, 0,
        "the paused switchover cost the application errors: {w}"
    );
    assert!(
        pgbouncer_answers(),
        "the run left PgBouncer paused (or down)"
    );

    // Without PAUSE/RESUME: the same switchover under PgBouncer.
    let off_path = variant(
        path,
        "pgbouncer-off",
        &[
            ("  - pgbouncer_pause: { id: paused }\n", ""),
            ("  - undo: { fault: paused }\n", ""),
        ],
    );
    let (out, off) = run_on_lab(&off_path, "pgbouncer-off");
    let (off_errors, off_gap) = writer_errors_and_gap(&off);
    let unavailability = off["checks"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == "write unavailability"))
        .unwrap_or_else(|| panic!("no write unavailability check: {off}"));
    // PgBouncer's login through HAProxy fails during the switchover and it waits
    // `server_login_retry` (15 s) with the queries queued; or a query in flight when the
    // old primary stops fails.
    let stalled = unavailability["passed"] == false && off_gap > 12.0;
    assert!(
        off_errors > 0 || stalled,
        "without PAUSE the application saw neither errors nor a longer stall ({off_errors} errors, {off_gap:.1}s; with PAUSE {on_gap:.1}s): {}\n{}",
        off["workload"],
        text(&out)
    );
    if stalled {
        assert_eq!(off["verdict"], "failed", "{}\n{off}", text(&out));
    }
    assert!(
        pgbouncer_answers(),
        "PgBouncer does not answer after the run without PAUSE"
    );
}
