//! The workload against real PostgreSQL servers on loopback (throwaway, one set per test).
//!
//! Needs PostgreSQL binaries (`/usr/lib/postgresql/*/bin` or `$PGCHAOS_PG_BIN`); when run as
//! root the servers run as the `postgres` user. Every server is stopped and deleted when its
//! guard drops, also when an assertion fails.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use pgchaos::scenario::{ReaderSpec, WorkloadSpec, WriteVia, WriterSpec};
use pgchaos::workload::scratch::{ScratchServer, StopMode};
use pgchaos::workload::{
    ConnectionSettings, Endpoint, Ledger, Outcome, Progress, Workload, WorkloadError, WriteTarget,
    measure_writer_cost, verify,
};
use tokio::time::Instant;

fn server(settings: &[(&str, &str)]) -> ScratchServer {
    match ScratchServer::start_new(settings) {
        Ok(s) => s,
        Err(e) => panic!("these tests need a local PostgreSQL: {e}"),
    }
}

fn settings() -> ConnectionSettings {
    let mut s = ConnectionSettings::new("postgres", "postgres");
    s.connect_timeout = Duration::from_secs(2);
    s.statement_timeout = Duration::from_secs(2);
    s
}

fn writer(rate: u32) -> WorkloadSpec {
    WorkloadSpec {
        writer: Some(WriterSpec {
            rate,
            via: WriteVia::WritePort,
            timeout: None,
        }),
        reader: None,
    }
}

/// Polls the workload's counters until `cond` holds; fails the test after a generous deadline.
async fn wait_for(w: &Workload, what: &str, cond: impl Fn(&Progress) -> bool) -> Progress {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = w.progress();
        if cond(&p) {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {p:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn acknowledged_ids(ledger: &Ledger) -> Vec<i64> {
    ledger
        .entries
        .iter()
        .filter(|e| e.outcome.is_acknowledged())
        .map(|e| e.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_writes_are_all_present_and_reads_name_their_server() {
    let pg = server(&[]);
    let mut spec = writer(50);
    spec.reader = Some(ReaderSpec {
        rate: 20,
        replicas: false,
        lag_check: None,
    });
    let w = Workload::start(
        &spec,
        WriteTarget::Single(pg.endpoint()),
        Some(pg.endpoint()),
        settings(),
        "run-steady",
        "steady",
    )
    .await
    .expect("start the workload");
    wait_for(&w, "100 acknowledged writes", |p| p.acknowledged >= 100).await;
    let ledger = w.stop().await;

    let ids: Vec<i64> = ledger.entries.iter().map(|e| e.id).collect();
    assert!(
        ids.windows(2).all(|p| p[1] == p[0] + 1),
        "ids increase by one"
    );
    let r = verify(&ledger, &[("pg".into(), pg.endpoint())], &settings(), None)
        .await
        .expect("verify");
    assert!(r.acknowledged >= 100);
    assert_eq!((r.failed, r.unknown), (0, 0), "{:?}", ledger.entries);
    assert!(r.lost.is_empty(), "lost {:?}", r.lost);
    assert!(r.unexpected.is_empty() && r.duplicated.is_empty());
    assert_eq!(r.split_brain, None);
    let me = format!("127.0.0.1:{}", pg.port());
    assert_eq!(r.servers.len(), 1);
    // Reported under the node's name: its address is the one the server saw itself on.
    assert_eq!(r.servers[0].server, "pg");
    assert_eq!(r.servers[0].timeline, 1);
    assert_eq!(r.servers[0].rows, r.acknowledged);
    let reads = r.reads.expect("reader statistics");
    assert!(reads.attempted > 0);
    assert_eq!(reads.errors, 0);
    assert_eq!(reads.served_by.get(&me).copied(), Some(reads.attempted));
    // Every read was answered by the primary that took the writes: fresh by definition.
    assert_eq!((reads.primary_reads, reads.stale), (reads.attempted, 0));
    assert_eq!(reads.servers[&me].reads, reads.attempted);
    assert!(reads.max_stale.is_none() && reads.direct.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_and_restart_loses_nothing_and_shows_as_the_longest_gap() {
    let pg = server(&[]);
    let w = Workload::start(
        &writer(50),
        WriteTarget::Single(pg.endpoint()),
        None,
        settings(),
        "run-crash",
        "crash",
    )
    .await
    .expect("start the workload");
    wait_for(&w, "20 acknowledged writes", |p| p.acknowledged >= 20).await;

    tokio::task::block_in_place(|| pg.stop(StopMode::Immediate)).expect("crash the server");
    let down_since = Utc::now();
    let before = w.progress();
    wait_for(&w, "the writer to notice", |p| {
        p.failed + p.unknown > before.failed + before.unknown
    })
    .await;
    let restarting_at = Utc::now();
    tokio::task::block_in_place(|| pg.start()).expect("restart the server");
    let back = w.progress();
    wait_for(&w, "20 more acknowledged writes", |p| {
        p.acknowledged >= back.acknowledged + 20
    })
    .await;
    let ledger = w.stop().await;

    let r = verify(&ledger, &[("pg".into(), pg.endpoint())], &settings(), None)
        .await
        .expect("verify");
    for e in ledger
        .entries
        .iter()
        .filter(|e| !e.outcome.is_acknowledged())
    {
        eprintln!("id {}: {:?}", e.id, e.outcome);
    }
    eprintln!(
        "gap {:?} s, outage {down_since}..{restarting_at}",
        r.max_gap_seconds
    );
    assert!(
        r.failed + r.unknown > 0,
        "the outage left no trace in the ledger"
    );
    assert!(r.lost.is_empty(), "lost {:?}", r.lost);
    // The server was down from `down_since` to `restarting_at` at least: no write could be
    // acknowledged in between, so the longest gap covers that window.
    let (gap_from, gap_to) = r.max_gap.expect("a gap");
    assert!(
        gap_from <= down_since && gap_to >= restarting_at,
        "gap {gap_from}..{gap_to} does not cover the outage {down_since}..{restarting_at}"
    );
    let outage = (restarting_at - down_since).num_microseconds().unwrap_or(0) as f64 / 1e6;
    assert!(r.max_gap_seconds.unwrap_or(0.0) >= outage);
    // Every unknown outcome is either present (committed) or not: never lost.
    let present: BTreeSet<i64> = r.unexpected.iter().copied().collect();
    assert!(r.failed_present.is_empty(), "{:?}", r.failed_present);
    for e in &ledger.entries {
        if let Outcome::Failed { .. } = e.outcome {
            assert!(!present.contains(&e.id));
        }
    }
    // Same server, same timeline after a crash restart: one window, no split brain, no RTO.
    assert_eq!(r.split_brain, None);
    assert_eq!(r.servers.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_server_yields_unknown_outcomes_not_a_hung_writer() {
    let pg = server(&[]);
    let w = Workload::start(
        &writer(50),
        WriteTarget::Single(pg.endpoint()),
        None,
        settings(),
        "run-hang",
        "hang",
    )
    .await
    .expect("start the workload");
    wait_for(&w, "20 acknowledged writes", |p| p.acknowledged >= 20).await;
    // Stopped processes behave like a blackholed host: the statement in flight never
    // answers, and new connections are accepted by the kernel but never served.
    pg.freeze().expect("freeze the server");
    let before = w.progress();
    let timed_out = wait_for(&w, "a statement timeout and a connect timeout", |p| {
        p.unknown > before.unknown && p.failed > before.failed
    })
    .await;
    pg.thaw().expect("thaw the server");
    wait_for(&w, "20 more acknowledged writes", |p| {
        p.acknowledged >= timed_out.acknowledged + 20
    })
    .await;
    let ledger = w.stop().await;

    let hung: Vec<&str> = ledger
        .entries
        .iter()
        .filter_map(|e| match &e.outcome {
            Outcome::Unknown { error, .. } => Some(error.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        hung.iter().any(|e| e.contains("no answer within")),
        "{hung:?}"
    );
    let r = verify(&ledger, &[("pg".into(), pg.endpoint())], &settings(), None)
        .await
        .expect("verify");
    eprintln!("unknown {hung:?}; unexpected {:?}", r.unexpected);
    // The hung insert resumed on thaw and may have committed: unexpected, never lost.
    assert!(r.lost.is_empty(), "lost {:?}", r.lost);
    assert!(r.failed_present.is_empty(), "{:?}", r.failed_present);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_over_to_a_stale_copy_reports_the_lost_writes() {
    let a = server(&[]);
    let w = Workload::start(
        &writer(50),
        WriteTarget::Single(a.endpoint()),
        None,
        settings(),
        "run-loss",
        "loss",
    )
    .await
    .expect("start the workload");
    let early = wait_for(&w, "20 acknowledged writes", |p| p.acknowledged >= 20).await;
    // b: a copy of a as of now, which will never see a's later writes.
    let b = tokio::task::block_in_place(|| a.clone_now()).expect("clone the server");
    let cloned = w.progress();
    wait_for(&w, "20 writes after the copy", |p| {
        p.acknowledged >= cloned.acknowledged + 20
    })
    .await;
    let fault_at = Utc::now();
    let ledger = w.stop().await;

    // "Fail over" to b: it is the leader verification trusts; a is the old node.
    let r = verify(
        &ledger,
        &[("b".into(), b.endpoint()), ("a".into(), a.endpoint())],
        &settings(),
        Some(fault_at),
    )
    .await
    .expect("verify");
    let acked = acknowledged_ids(&ledger);
    assert!(!r.lost.is_empty(), "writes after the copy must be lost");
    assert!(r.lost.len() >= 20 - 1, "lost {:?}", r.lost);
    // The lost writes are exactly the acknowledged ones after some point: a suffix.
    let first_lost = r.lost[0];
    let suffix: Vec<i64> = acked
        .iter()
        .copied()
        .filter(|id| *id >= first_lost)
        .collect();
    assert_eq!(r.lost, suffix);
    // Writes acknowledged before the copy started survived.
    assert!(
        acked[..early.acknowledged as usize]
            .iter()
            .all(|id| !r.lost.contains(id))
    );
    assert!(r.lost_span_seconds.unwrap_or(0.0) > 0.0);
    // The old node holds exactly what the new leader lacks.
    let old = r
        .replicas
        .iter()
        .find(|c| c.node == "a")
        .expect("a compared");
    assert!(r.lost.iter().all(|id| old.extra.contains(id)));
    assert!(old.missing.is_empty());
    // Only a ever took writes: data loss, but no split brain.
    assert_eq!(r.split_brain, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_replica_is_compared_once_caught_up() {
    let primary = server(&[]);
    let replica = tokio::task::block_in_place(|| primary.standby()).expect("a standby");
    let w = Workload::start(
        &writer(50),
        WriteTarget::Single(primary.endpoint()),
        None,
        settings(),
        "run-replica",
        "replica",
    )
    .await
    .expect("start the workload");
    wait_for(&w, "50 acknowledged writes", |p| p.acknowledged >= 50).await;
    let ledger = w.stop().await;
    let r = verify(
        &ledger,
        &[
            ("primary".into(), primary.endpoint()),
            ("replica".into(), replica.endpoint()),
        ],
        &settings(),
        None,
    )
    .await
    .expect("verify");
    assert!(r.lost.is_empty());
    let check = &r.replicas[0];
    assert_eq!(check.node, "replica");
    assert_eq!(check.caught_up, Some(true));
    assert_eq!(check.error, None);
    assert!(
        check.missing.is_empty() && check.extra.is_empty(),
        "{check:?}"
    );
    assert_eq!(check.rows, r.acknowledged);
}

/// RTO where the leader ends where it started: the server crashes and comes back in place.
/// The RTO is the outage (to the first write acknowledged after it), not the milliseconds
/// until the first write after the fault, and it is at least the longest gap between
/// acknowledged writes (issue 11).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_place_measures_the_outage_as_rto_on_the_same_server() {
    let pg = server(&[]);
    let w = Workload::start(
        &writer(50),
        WriteTarget::Single(pg.endpoint()),
        None,
        settings(),
        "run-inplace",
        "inplace",
    )
    .await
    .expect("start the workload");
    let before = wait_for(&w, "20 acknowledged writes", |p| p.acknowledged >= 20).await;
    let fault_at = Utc::now();
    tokio::task::block_in_place(|| pg.stop(StopMode::Immediate)).expect("crash the server");
    wait_for(&w, "a write that fails", |p| {
        p.failed + p.unknown > before.failed + before.unknown
    })
    .await;
    tokio::task::block_in_place(|| pg.start()).expect("start it again");
    let back = wait_for(&w, "writes after the restart", |p| {
        p.last_ack.as_ref().is_some_and(|(at, _)| *at > fault_at)
    })
    .await;
    wait_for(&w, "20 more writes", |p| {
        p.acknowledged >= back.acknowledged + 20
    })
    .await;
    let ledger = w.stop().await;
    let r = verify(
        &ledger,
        &[("inplace".into(), pg.endpoint())],
        &settings(),
        Some(fault_at),
    )
    .await
    .expect("verify");
    assert_eq!(r.rto_server.as_deref(), Some("inplace"), "{r:?}");
    let rto = r.rto_seconds.expect("an RTO");
    let gap = r.max_gap_seconds.expect("a longest gap");
    let end = r.rto_at.expect("RTO end");
    let outage = r.rto_outage_start.expect("an outage");
    // The RTO ends after the outage, not at a write the server took before it went away.
    assert!(outage >= fault_at && end > outage, "{r:?}");
    assert!(
        rto >= (end - outage).num_milliseconds() as f64 / 1000.0,
        "{r:?}"
    );
    assert!(
        rto > 0.0 && rto + 0.5 >= gap,
        "RTO {rto} s against the longest write gap {gap} s"
    );
    assert!(r.lost.is_empty(), "lost {:?}", r.lost);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_moves_writes_to_a_new_timeline_and_measures_rto() {
    let old = server(&[]);
    let new = tokio::task::block_in_place(|| old.standby()).expect("a standby");
    let target = WriteTarget::MultiHost(vec![old.endpoint(), new.endpoint()]);
    let w = Workload::start(&writer(50), target, None, settings(), "run-promo", "promo")
        .await
        .expect("start the workload");
    wait_for(&w, "20 acknowledged writes", |p| p.acknowledged >= 20).await;
    // The leader crashes and the standby is promoted: a failover done by hand.
    tokio::task::block_in_place(|| old.stop(StopMode::Immediate)).expect("crash the leader");
    let fault_at = Utc::now();
    tokio::task::block_in_place(|| new.promote()).expect("promote the standby");
    let new_name = format!("127.0.0.1:{}", new.port());
    wait_for(&w, "20 writes on the new leader", |p| {
        p.last_ack.as_ref().is_some_and(|(_, s)| *s == new_name) && p.acknowledged >= 40
    })
    .await;
    let ledger = w.stop().await;

    let r = verify(
        &ledger,
        &[("new".into(), new.endpoint())],
        &settings(),
        Some(fault_at),
    )
    .await
    .expect("verify");
    let old_name = format!("127.0.0.1:{}", old.port());
    let windows: Vec<(&str, u64)> = r
        .servers
        .iter()
        .map(|w| (w.server.as_str(), w.timeline))
        .collect();
    // The old leader is not among the nodes read: it keeps its address.
    assert_eq!(windows, vec![(old_name.as_str(), 1), ("new", 2)]);
    assert_eq!(r.split_brain, None);
    assert_eq!(r.rto_server.as_deref(), Some("new"));
    let rto_at = r.rto_at.expect("an RTO");
    assert!(rto_at > fault_at);
    assert!(r.rto_seconds.unwrap_or(0.0) > 0.0);
    // Asynchronous replication may lose the old leader's last writes, nothing else.
    for id in &r.lost {
        let entry = ledger
            .entries
            .iter()
            .find(|e| e.id == *id)
            .expect("in the ledger");
        match &entry.outcome {
            Outcome::Acknowledged { server, .. } => assert_eq!(server, &old_name),
            other => panic!("lost id {id} was not acknowledged: {other:?}"),
        }
    }
    eprintln!(
        "lost after promotion: {:?}, rto {:?}",
        r.lost, r.rto_seconds
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_leader_taking_writes_again_is_split_brain() {
    let old = server(&[]);
    let new = tokio::task::block_in_place(|| old.standby()).expect("a standby");
    // The old leader first: once it is back, a reconnecting writer prefers it.
    let target = WriteTarget::MultiHost(vec![old.endpoint(), new.endpoint()]);
    let w = Workload::start(&writer(50), target, None, settings(), "run-sb", "sb")
        .await
        .expect("start the workload");
    wait_for(&w, "20 acknowledged writes", |p| p.acknowledged >= 20).await;
    tokio::task::block_in_place(|| old.stop(StopMode::Immediate)).expect("crash the leader");
    tokio::task::block_in_place(|| new.promote()).expect("promote the standby");
    let new_name = format!("127.0.0.1:{}", new.port());
    let on_new = wait_for(&w, "writes on the new leader", |p| {
        p.last_ack.as_ref().is_some_and(|(_, s)| *s == new_name)
    })
    .await;
    wait_for(&w, "10 more writes", |p| {
        p.acknowledged >= on_new.acknowledged + 10
    })
    .await;
    // The old leader comes back as a primary (nothing demotes it here), and the writer's
    // session on the new leader is cut: it reconnects to the old one.
    tokio::task::block_in_place(|| old.start()).expect("restart the old leader");
    let (client, connection) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            new.port()
        ),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect to the new leader");
    tokio::spawn(connection);
    client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = 'pgchaos-workload'",
            &[],
        )
        .await
        .expect("cut the writer's session");
    let old_name = format!("127.0.0.1:{}", old.port());
    let back = w.progress();
    wait_for(&w, "writes on the old leader again", |p| {
        p.acknowledged > back.acknowledged
            && p.last_ack.as_ref().is_some_and(|(_, s)| *s == old_name)
    })
    .await;
    let ledger = w.stop().await;

    let r = verify(
        &ledger,
        &[
            ("new".into(), new.endpoint()),
            ("old".into(), old.endpoint()),
        ],
        &settings(),
        None,
    )
    .await
    .expect("verify");
    let evidence = r.split_brain.expect("split brain detected");
    assert!(
        evidence.contains("old (timeline 1)") && evidence.contains("new (timeline 2)"),
        "{evidence}"
    );
    // What the old leader took after coming back is not on the new leader.
    assert!(!r.lost.is_empty());
    let old_check = r
        .replicas
        .iter()
        .find(|c| c.node == "old")
        .expect("compared");
    assert_eq!(old_check.caught_up, None, "the old leader is not a replica");
    assert!(r.lost.iter().all(|id| old_check.extra.contains(id)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_host_target_writes_only_to_the_writable_server() {
    let read_only = server(&[("default_transaction_read_only", "on")]);
    let writable = server(&[]);
    let target = WriteTarget::MultiHost(vec![read_only.endpoint(), writable.endpoint()]);
    let w = Workload::start(&writer(50), target, None, settings(), "run-mh", "mh")
        .await
        .expect("start the workload");
    wait_for(&w, "20 acknowledged writes", |p| p.acknowledged >= 20).await;
    let ledger = w.stop().await;

    let expected = format!("127.0.0.1:{}", writable.port());
    for e in &ledger.entries {
        match &e.outcome {
            Outcome::Acknowledged { server, .. } => assert_eq!(server, &expected),
            other => panic!("id {} was not acknowledged: {other:?}", e.id),
        }
    }
    let r = verify(
        &ledger,
        &[
            ("writable".into(), writable.endpoint()),
            ("read-only".into(), read_only.endpoint()),
        ],
        &settings(),
        None,
    )
    .await
    .expect("verify");
    assert!(r.lost.is_empty());
    // The read-only server never got the table, let alone rows.
    let ro = r
        .replicas
        .iter()
        .find(|c| c.node == "read-only")
        .expect("compared");
    assert_eq!(ro.rows, 0);
    assert_eq!(ro.missing.len() as u64, r.acknowledged);
}

#[tokio::test]
async fn starting_against_a_closed_port_is_an_error_not_a_hang() {
    // Bind then release a port so nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let result = Workload::start(
        &writer(10),
        WriteTarget::Single(Endpoint::new("127.0.0.1", port)),
        None,
        settings(),
        "run-closed",
        "closed",
    )
    .await;
    match result {
        Err(WorkloadError::Connect { target, .. }) => {
            assert_eq!(target, format!("127.0.0.1:{port}"));
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
}

#[test]
fn the_writer_costs_little_cpu_per_insert() {
    let pg = server(&[]);
    let cost = measure_writer_cost(
        WriteTarget::Single(pg.endpoint()),
        settings(),
        50,
        Duration::from_secs(3),
        "run-cost",
    )
    .expect("measure");
    eprintln!("writer cost at 50/s: {cost:?}");
    assert!(cost.acknowledged > 0);
    assert_eq!(cost.attempted, cost.acknowledged);
    let per_insert = cost.cpu_per_insert_us.expect("a figure");
    assert!(per_insert > 0.0);
    // Far below a core: the writer must not be what the scenario measures.
    assert!(cost.core_share < 0.5, "{cost:?}");
}
