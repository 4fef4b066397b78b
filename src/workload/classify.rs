//! The integrity verdict: ledger + rows read back → [`WorkloadResult`]. Pure, no database.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::{Ledger, LedgerEntry, Outcome, Row};
use crate::results::{ReplicaCheck, ServerWindow, WorkloadResult};

/// Classifies every id of the ledger against the rows read back.
///
/// `leader` names the entry of `rows_by_node` that is the reference (the leader after
/// recovery); every other entry is a replica compared with it. A missing entry counts as an
/// empty table.
///
/// - lost: acknowledged, missing on the leader (data loss).
/// - unexpected: present on the leader without an acknowledgement. Most are unknown
///   outcomes that did commit, which is legitimate; those whose insert definitely failed are
///   also listed in `failed_present`, which is an anomaly.
/// - duplicated: an id held twice by one node, or held with different stamps (server,
///   timeline) by different nodes, or stamped by a server other than the one that
///   acknowledged it: the id was written twice.
/// - max gap: the longest time without an acknowledged write, counting from the start of
///   the workload and up to its stop, so an outage that never ended is not hidden.
/// - RTO: from `fault_at` to the first write acknowledged after the outage the fault
///   caused, whichever server took it; 0 when writes never stopped.
/// - split brain: two servers whose acknowledged writes interleave (in the ledger's single
///   clock order): both accepted writes in the same period of time.
///
/// Server windows use the client's acknowledgement times, one clock for all servers, so
/// clock skew between nodes cannot fake or hide an overlap.
pub(crate) fn classify(
    ledger: &Ledger,
    leader: &str,
    rows_by_node: &BTreeMap<String, Vec<Row>>,
    fault_at: Option<DateTime<Utc>>,
) -> WorkloadResult {
    let no_rows = Vec::new();
    let leader_rows = rows_by_node.get(leader).unwrap_or(&no_rows);
    let by_id: BTreeMap<i64, &LedgerEntry> = ledger.entries.iter().map(|e| (e.id, e)).collect();
    let acks: Vec<Ack<'_>> = ledger
        .entries
        .iter()
        .filter_map(|e| match &e.outcome {
            Outcome::Acknowledged {
                at,
                server,
                timeline,
                ..
            } => Some(Ack {
                id: e.id,
                at: *at,
                server,
                timeline: *timeline,
            }),
            _ => None,
        })
        .collect();

    let mut r = WorkloadResult {
        attempted: ledger.entries.len() as u64,
        acknowledged: acks.len() as u64,
        reference_node: Some(leader.to_owned()),
        reads: ledger.reads.clone(),
        ..WorkloadResult::default()
    };
    for e in &ledger.entries {
        match e.outcome {
            Outcome::Acknowledged { .. } => {}
            Outcome::Failed { .. } => r.failed += 1,
            Outcome::Unknown { .. } => r.unknown += 1,
        }
    }

    let on_leader: BTreeMap<i64, &Row> = leader_rows.iter().map(|row| (row.id, row)).collect();

    // Lost writes and the RPO window.
    let lost: Vec<&Ack<'_>> = acks
        .iter()
        .filter(|a| !on_leader.contains_key(&a.id))
        .collect();
    r.lost = lost.iter().map(|a| a.id).collect();
    if let (Some(first), Some(last)) = (lost.first(), lost.last()) {
        r.lost_window = Some((first.at, last.at));
        r.lost_span_seconds = Some(seconds(first.at, last.at));
    }

    // Rows nobody acknowledged.
    for id in on_leader.keys() {
        match by_id.get(id).map(|e| &e.outcome) {
            Some(Outcome::Acknowledged { .. }) => {}
            Some(Outcome::Failed { .. }) => {
                r.unexpected.push(*id);
                r.failed_present.push(*id);
            }
            Some(Outcome::Unknown { .. }) | None => r.unexpected.push(*id),
        }
    }

    r.duplicated = duplicated(&acks, rows_by_node).into_iter().collect();
    gaps(ledger, &acks, &mut r);
    rto(ledger, fault_at, &mut r);
    let windows = windows(&acks);
    r.split_brain = split_brain(&windows);
    r.servers = windows.into_iter().map(|w| w.window).collect();

    for (node, rows) in rows_by_node {
        if node == leader {
            continue;
        }
        let here: BTreeSet<i64> = rows.iter().map(|row| row.id).collect();
        r.replicas.push(ReplicaCheck {
            node: node.clone(),
            rows: here.len() as u64,
            missing: on_leader
                .keys()
                .filter(|id| !here.contains(id))
                .copied()
                .collect(),
            extra: here
                .iter()
                .filter(|id| !on_leader.contains_key(id))
                .copied()
                .collect(),
            caught_up: None,
            error: None,
        });
    }
    r
}

/// An acknowledged write.
struct Ack<'a> {
    id: i64,
    at: DateTime<Utc>,
    server: &'a str,
    timeline: u64,
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}

fn duplicated(acks: &[Ack<'_>], rows_by_node: &BTreeMap<String, Vec<Row>>) -> BTreeSet<i64> {
    let mut dup = BTreeSet::new();
    let mut stamps: BTreeMap<i64, BTreeSet<(&str, u64)>> = BTreeMap::new();
    for rows in rows_by_node.values() {
        let mut seen = BTreeSet::new();
        for row in rows {
            if !seen.insert(row.id) {
                dup.insert(row.id);
            }
            stamps
                .entry(row.id)
                .or_default()
                .insert((row.server.as_str(), row.timeline));
        }
    }
    for a in acks {
        if let Some(s) = stamps.get(&a.id)
            && s.iter().any(|stamp| *stamp != (a.server, a.timeline))
        {
            dup.insert(a.id);
        }
    }
    dup.extend(
        stamps
            .into_iter()
            .filter(|(_, s)| s.len() > 1)
            .map(|(id, _)| id),
    );
    dup
}

/// The longest stretch without an acknowledged write, bounded by the workload's start and stop.
fn gaps(ledger: &Ledger, acks: &[Ack<'_>], r: &mut WorkloadResult) {
    if ledger.entries.is_empty() {
        return;
    }
    let mut points = Vec::with_capacity(acks.len() + 2);
    points.push(ledger.started_at);
    points.extend(acks.iter().map(|a| a.at));
    points.push(ledger.stopped_at);
    let mut best: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    for pair in points.windows(2) {
        let (from, to) = (pair[0], pair[1]);
        if to > from && best.is_none_or(|(bf, bt)| to - from > bt - bf) {
            best = Some((from, to));
        }
    }
    let (from, to) = best.unwrap_or((ledger.started_at, ledger.started_at));
    r.max_gap = Some((from, to));
    r.max_gap_seconds = Some(seconds(from, to));
}

/// An acknowledgement slower than this is a stall: for the client, the service was down
/// while it waited (a frozen server answers eventually, a dead one never does).
const STALL: chrono::TimeDelta = chrono::TimeDelta::seconds(1);

/// RTO: from the fault to the first acknowledged write after the outage the fault caused.
///
/// The outage starts at the first attempt after the fault that was not acknowledged, or was
/// acknowledged only after a stall; it ends with the first acknowledgement after that
/// attempt, whichever server gives it (the leader may end where it started). Writes the old
/// primary still acknowledged after the fault and before it went away are not recovery.
/// When every write after the fault was acknowledged promptly, writes never stopped: 0.
/// When the outage never ended, there is no RTO (the longest gap shows the outage).
fn rto(ledger: &Ledger, fault_at: Option<DateTime<Utc>>, r: &mut WorkloadResult) {
    let Some(fault) = fault_at else {
        return;
    };
    // From the write in flight at the fault on; an outage already under way when the fault
    // was recorded (the last outcome before it a failure) is the fault's outage too.
    let mut first = ledger
        .entries
        .iter()
        .position(|e| e.sent_at >= fault || e.outcome.at() > fault)
        .unwrap_or(ledger.entries.len());
    while first > 0
        && !matches!(
            ledger.entries[first - 1].outcome,
            Outcome::Acknowledged { .. }
        )
    {
        first -= 1;
    }
    let after: Vec<&LedgerEntry> = ledger.entries[first..].iter().collect();
    let ack_of = |e: &LedgerEntry| match &e.outcome {
        Outcome::Acknowledged { at, server, .. } => Some((*at, server.clone())),
        _ => None,
    };
    let start = after
        .iter()
        .position(|e| ack_of(e).is_none_or(|(at, _)| at - e.sent_at > STALL));
    let Some(start) = start else {
        if after.iter().any(|e| ack_of(e).is_some()) {
            r.rto_seconds = Some(0.0);
        }
        return;
    };
    r.rto_outage_start = Some(after[start].sent_at);
    if let Some((at, server)) = after[start..].iter().find_map(|e| ack_of(e)) {
        r.rto_seconds = Some(seconds(fault, at));
        r.rto_at = Some(at);
        r.rto_server = Some(server);
    }
}

/// A server window with the positions of its first and last acknowledgement.
struct Window {
    window: ServerWindow,
    first_ack: usize,
    last_ack: usize,
}

fn windows(acks: &[Ack<'_>]) -> Vec<Window> {
    let mut by_key: BTreeMap<(&str, u64), Window> = BTreeMap::new();
    for (i, a) in acks.iter().enumerate() {
        by_key
            .entry((a.server, a.timeline))
            .and_modify(|w| {
                w.window.last = a.at;
                w.window.rows += 1;
                w.last_ack = i;
            })
            .or_insert_with(|| Window {
                window: ServerWindow {
                    server: a.server.to_owned(),
                    timeline: a.timeline,
                    first: a.at,
                    last: a.at,
                    rows: 1,
                },
                first_ack: i,
                last_ack: i,
            });
    }
    let mut v: Vec<Window> = by_key.into_values().collect();
    v.sort_by_key(|w| w.first_ack);
    v
}

fn split_brain(windows: &[Window]) -> Option<String> {
    let mut evidence = Vec::new();
    for (i, a) in windows.iter().enumerate() {
        for b in &windows[i + 1..] {
            // Windows are sorted by first acknowledgement, so b starts after a; they overlap
            // when b starts before a's last acknowledgement.
            if a.window.server != b.window.server && b.first_ack < a.last_ack {
                let (a, b) = (&a.window, &b.window);
                evidence.push(format!(
                    "{} (timeline {}) acknowledged writes from {} to {} while {} (timeline {}) \
                     acknowledged writes from {} to {}",
                    a.server,
                    a.timeline,
                    a.first.to_rfc3339(),
                    a.last.to_rfc3339(),
                    b.server,
                    b.timeline,
                    b.first.to_rfc3339(),
                    b.last.to_rfc3339(),
                ));
            }
        }
    }
    if evidence.is_empty() {
        None
    } else {
        Some(format!(
            "two servers accepted writes at the same time: {}",
            evidence.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_800_000_000_000 + ms)
            .single()
            .unwrap_or_default()
    }

    fn ack(id: i64, ms: i64, server: &str, timeline: u64) -> LedgerEntry {
        LedgerEntry {
            id,
            sent_at: t(ms - 1),
            outcome: Outcome::Acknowledged {
                at: t(ms),
                server: server.into(),
                timeline,
                server_time: t(ms),
            },
        }
    }

    fn failed(id: i64, ms: i64) -> LedgerEntry {
        LedgerEntry {
            id,
            sent_at: t(ms - 1),
            outcome: Outcome::Failed {
                at: t(ms),
                error: "connect: connection refused".into(),
            },
        }
    }

    fn unknown(id: i64, ms: i64) -> LedgerEntry {
        LedgerEntry {
            id,
            sent_at: t(ms - 1),
            outcome: Outcome::Unknown {
                at: t(ms),
                error: "connection closed".into(),
            },
        }
    }

    fn ledger(entries: Vec<LedgerEntry>, stop_ms: i64) -> Ledger {
        Ledger {
            run_id: "run".into(),
            scenario_id: "sc".into(),
            target: "127.0.0.1:5000".into(),
            first_id: entries.first().map_or(1, |e| e.id),
            started_at: t(0),
            stopped_at: t(stop_ms),
            entries,
            reads: None,
        }
    }

    /// The rows a node holds for the acknowledged entries among `ids`.
    fn rows_of(l: &Ledger, ids: &[i64]) -> Vec<Row> {
        l.entries
            .iter()
            .filter(|e| ids.contains(&e.id))
            .filter_map(|e| match &e.outcome {
                Outcome::Acknowledged {
                    server,
                    timeline,
                    server_time,
                    ..
                } => Some(Row {
                    id: e.id,
                    server: server.clone(),
                    timeline: *timeline,
                    server_time: *server_time,
                }),
                _ => None,
            })
            .collect()
    }

    fn nodes(list: Vec<(&str, Vec<Row>)>) -> BTreeMap<String, Vec<Row>> {
        list.into_iter().map(|(n, r)| (n.to_owned(), r)).collect()
    }

    #[test]
    fn everything_present_means_nothing_lost() {
        let l = ledger((1..=5).map(|i| ack(i, i * 100, "a:5432", 1)).collect(), 600);
        let rows = rows_of(&l, &[1, 2, 3, 4, 5]);
        let r = classify(
            &l,
            "pg1",
            &nodes(vec![("pg1", rows.clone()), ("pg2", rows)]),
            None,
        );
        assert_eq!(r.attempted, 5);
        assert_eq!(r.acknowledged, 5);
        assert!(r.lost.is_empty());
        assert!(r.unexpected.is_empty());
        assert!(r.duplicated.is_empty());
        assert_eq!(r.lost_span_seconds, None);
        assert_eq!(r.split_brain, None);
        assert_eq!(r.replicas.len(), 1);
        assert!(r.replicas[0].missing.is_empty() && r.replicas[0].extra.is_empty());
        assert_eq!(r.servers.len(), 1);
        assert_eq!(r.servers[0].rows, 5);
        assert_eq!(r.reference_node.as_deref(), Some("pg1"));
    }

    #[test]
    fn acknowledged_writes_missing_after_failover_are_lost_with_their_span() {
        // a took 1..=6 on timeline 1; the new leader b (timeline 2) only has 1..=3.
        let mut entries: Vec<LedgerEntry> = (1..=6).map(|i| ack(i, i * 100, "a", 1)).collect();
        entries.push(failed(7, 800));
        entries.push(ack(8, 2_000, "b", 2));
        entries.push(ack(9, 2_100, "b", 2));
        let l = ledger(entries, 2_200);
        let rows = rows_of(&l, &[1, 2, 3, 8, 9]);
        let r = classify(&l, "b", &nodes(vec![("b", rows)]), Some(t(650)));
        assert_eq!(r.lost, vec![4, 5, 6]);
        assert_eq!(r.lost_window, Some((t(400), t(600))));
        assert_eq!(r.lost_span_seconds, Some(0.2));
        assert_eq!(r.failed, 1);
        // RTO: from the fault to b's first acknowledgement.
        assert_eq!(r.rto_seconds, Some(1.35));
        assert_eq!(r.rto_server.as_deref(), Some("b"));
        assert_eq!(r.split_brain, None);
        assert_eq!(r.servers.len(), 2);
    }

    #[test]
    fn unknown_outcomes_present_are_unexpected_not_lost_and_not_anomalies() {
        let l = ledger(
            vec![ack(1, 100, "a", 1), unknown(2, 200), ack(3, 300, "a", 1)],
            400,
        );
        let mut rows = rows_of(&l, &[1, 3]);
        rows.push(Row {
            id: 2,
            server: "a".into(),
            timeline: 1,
            server_time: t(150),
        });
        let r = classify(&l, "a", &nodes(vec![("a", rows)]), None);
        assert!(r.lost.is_empty());
        assert_eq!(r.unknown, 1);
        assert_eq!(r.unexpected, vec![2]);
        assert!(r.failed_present.is_empty());
        assert!(r.duplicated.is_empty());
    }

    #[test]
    fn a_failed_insert_that_is_present_is_an_anomaly() {
        let l = ledger(vec![ack(1, 100, "a", 1), failed(2, 200)], 300);
        let mut rows = rows_of(&l, &[1]);
        rows.push(Row {
            id: 2,
            server: "a".into(),
            timeline: 1,
            server_time: t(150),
        });
        let r = classify(&l, "a", &nodes(vec![("a", rows)]), None);
        assert_eq!(r.unexpected, vec![2]);
        assert_eq!(r.failed_present, vec![2]);
    }

    #[test]
    fn max_gap_is_the_longest_stretch_between_acknowledgements() {
        let l = ledger(
            vec![
                ack(1, 100, "a", 1),
                ack(2, 200, "a", 1),
                unknown(3, 300),
                failed(4, 700),
                ack(5, 1_500, "a", 1),
                ack(6, 1_600, "a", 1),
            ],
            1_700,
        );
        let rows = rows_of(&l, &[1, 2, 5, 6]);
        let r = classify(&l, "a", &nodes(vec![("a", rows)]), None);
        assert_eq!(r.max_gap, Some((t(200), t(1_500))));
        assert_eq!(r.max_gap_seconds, Some(1.3));
    }

    #[test]
    fn an_outage_lasting_until_stop_is_the_max_gap() {
        let l = ledger(vec![ack(1, 100, "a", 1), failed(2, 200)], 5_000);
        let r = classify(&l, "a", &nodes(vec![("a", rows_of(&l, &[1]))]), None);
        assert_eq!(r.max_gap, Some((t(100), t(5_000))));
    }

    #[test]
    fn rto_counts_when_the_leader_ends_where_it_started() {
        // The fault at 150 ms; writes fail from 200 ms; a takes writes again at 900 ms.
        let l = ledger(
            vec![ack(1, 100, "a", 1), failed(2, 200), ack(3, 900, "a", 1)],
            1_000,
        );
        let r = classify(
            &l,
            "a",
            &nodes(vec![("a", rows_of(&l, &[1, 3]))]),
            Some(t(150)),
        );
        assert_eq!(r.rto_seconds, Some(0.75));
        assert_eq!(r.rto_server.as_deref(), Some("a"));
        assert_eq!(r.rto_outage_start, Some(t(199)));
        assert_eq!(r.max_gap_seconds, Some(0.8));
    }

    #[test]
    fn writes_the_old_primary_takes_before_it_goes_away_are_not_recovery() {
        // The fault at 150 ms; a still acknowledges 2 and 3, then shuts down: 4..6 fail,
        // b (timeline 2) takes writes from 3 400 ms.
        let l = ledger(
            vec![
                ack(1, 100, "a", 1),
                ack(2, 200, "a", 1),
                ack(3, 250, "a", 1),
                failed(4, 300),
                unknown(5, 1_000),
                failed(6, 2_000),
                ack(7, 3_400, "b", 2),
                ack(8, 3_500, "b", 2),
            ],
            3_600,
        );
        let rows = rows_of(&l, &[1, 2, 3, 7, 8]);
        let r = classify(&l, "b", &nodes(vec![("b", rows)]), Some(t(150)));
        assert_eq!(r.rto_seconds, Some(3.25));
        assert_eq!(r.rto_at, Some(t(3_400)));
        assert_eq!(r.rto_server.as_deref(), Some("b"));
        assert_eq!(r.max_gap, Some((t(250), t(3_400))));
    }

    #[test]
    fn a_stalled_write_starts_the_outage_even_when_it_is_acknowledged() {
        // A frozen primary: write 2, sent at 199 ms, is acknowledged only at 2 500 ms.
        let l = ledger(
            vec![
                ack(1, 100, "a", 1),
                ack(2, 2_500, "a", 1),
                ack(3, 2_600, "a", 1),
            ],
            2_700,
        );
        let mut entries = l.entries.clone();
        entries[1].sent_at = t(199);
        let l = Ledger { entries, ..l };
        let r = classify(
            &l,
            "a",
            &nodes(vec![("a", rows_of(&l, &[1, 2, 3]))]),
            Some(t(150)),
        );
        assert_eq!(r.rto_seconds, Some(2.35));
        assert_eq!(r.rto_outage_start, Some(t(199)));
    }

    #[test]
    fn an_outage_under_way_when_the_fault_is_recorded_counts() {
        // The fault is recorded at 450 ms, after the crash: writes failed from 300 ms.
        let l = ledger(
            vec![
                ack(1, 100, "a", 1),
                failed(2, 300),
                failed(3, 400),
                ack(4, 900, "b", 2),
            ],
            1_000,
        );
        let r = classify(
            &l,
            "b",
            &nodes(vec![("b", rows_of(&l, &[1, 4]))]),
            Some(t(450)),
        );
        assert_eq!(r.rto_seconds, Some(0.45));
        assert_eq!(r.rto_server.as_deref(), Some("b"));
        assert_eq!(r.rto_outage_start, Some(t(299)));
    }

    #[test]
    fn rto_is_zero_when_writes_never_stopped() {
        let l = ledger((1..=10).map(|i| ack(i, i * 100, "a", 1)).collect(), 1_100);
        let r = classify(
            &l,
            "a",
            &nodes(vec![("a", rows_of(&l, &(1..=10).collect::<Vec<_>>()))]),
            Some(t(450)),
        );
        assert_eq!(r.rto_seconds, Some(0.0));
        assert_eq!(r.rto_outage_start, None);
        assert_eq!(r.max_gap_seconds, Some(0.1));
    }

    #[test]
    fn an_outage_that_never_ended_has_no_rto() {
        let l = ledger(vec![ack(1, 100, "a", 1), failed(2, 200)], 5_000);
        let r = classify(
            &l,
            "a",
            &nodes(vec![("a", rows_of(&l, &[1]))]),
            Some(t(150)),
        );
        assert_eq!(r.rto_seconds, None);
        assert_eq!(r.rto_outage_start, Some(t(199)));
        assert_eq!(r.max_gap_seconds, Some(4.9));
    }

    #[test]
    fn interleaved_acknowledgements_from_two_servers_are_split_brain() {
        // b was promoted (timeline 2) while a (timeline 1) kept accepting writes.
        let l = ledger(
            vec![
                ack(1, 100, "a", 1),
                ack(2, 200, "b", 2),
                ack(3, 300, "a", 1),
                ack(4, 400, "b", 2),
            ],
            500,
        );
        let r = classify(
            &l,
            "b",
            &nodes(vec![
                ("b", rows_of(&l, &[2, 4])),
                ("a", rows_of(&l, &[1, 3])),
            ]),
            None,
        );
        let sb = r.split_brain.unwrap_or_default();
        assert!(
            sb.contains("a (timeline 1)") && sb.contains("b (timeline 2)"),
            "{sb}"
        );
        assert_eq!(r.lost, vec![1, 3]);
        assert_eq!(r.replicas[0].extra, vec![1, 3]);
        assert_eq!(r.replicas[0].missing, vec![2, 4]);
    }

    #[test]
    fn a_clean_failover_and_failback_is_not_split_brain() {
        let l = ledger(
            vec![
                ack(1, 100, "a", 1),
                ack(2, 200, "a", 1),
                ack(3, 300, "b", 2),
                ack(4, 400, "b", 2),
                ack(5, 500, "a", 3),
            ],
            600,
        );
        let rows = rows_of(&l, &[1, 2, 3, 4, 5]);
        let r = classify(&l, "a", &nodes(vec![("a", rows)]), None);
        assert_eq!(r.split_brain, None);
        assert_eq!(r.servers.len(), 3);
        assert_eq!(
            r.servers.iter().map(|w| w.timeline).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn ids_written_twice_are_duplicated() {
        let l = ledger(vec![ack(1, 100, "a", 1), ack(2, 200, "a", 1)], 300);
        // Node b holds id 2 stamped by another server: the id was written twice.
        let mut on_b = rows_of(&l, &[1]);
        on_b.push(Row {
            id: 2,
            server: "b".into(),
            timeline: 2,
            server_time: t(250),
        });
        // And a table without a primary key could hold id 1 twice.
        let mut on_a = rows_of(&l, &[1, 2]);
        on_a.push(on_a[0].clone());
        let r = classify(&l, "a", &nodes(vec![("a", on_a), ("b", on_b)]), None);
        assert_eq!(r.duplicated, vec![1, 2]);
        assert!(r.lost.is_empty());
    }

    #[test]
    fn a_replica_missing_rows_is_reported_as_divergent() {
        let l = ledger((1..=4).map(|i| ack(i, i * 100, "a", 1)).collect(), 500);
        let r = classify(
            &l,
            "a",
            &nodes(vec![
                ("a", rows_of(&l, &[1, 2, 3, 4])),
                ("r", rows_of(&l, &[1, 2])),
            ]),
            None,
        );
        assert_eq!(r.replicas[0].node, "r");
        assert_eq!(r.replicas[0].missing, vec![3, 4]);
        assert!(r.lost.is_empty());
    }

    #[test]
    fn an_empty_ledger_has_no_gap() {
        let l = ledger(vec![], 500);
        let r = classify(&l, "a", &BTreeMap::new(), None);
        assert_eq!(r.max_gap_seconds, None);
        assert_eq!(r.attempted, 0);
    }
}
