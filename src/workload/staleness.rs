//! Whether one read missed writes the writer had already seen acknowledged, and by how long.
//!
//! The writer's ids increase with time, so a read that sees id `m` as the highest of the
//! run should also see every id acknowledged before it started that is above `m`. Lost
//! writes complicate "every id present" (an id lost in a failover is never seen again, yet
//! later ids are), so only the highest id counts: a read is stale when some write with a
//! larger id was acknowledged before it started.

use chrono::{DateTime, Utc};

use super::{LedgerEntry, Outcome};

/// What a stale read missed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Missed {
    /// Acknowledged writes (acknowledged before the read started) above the highest id it saw.
    pub(crate) count: u64,
    /// The earliest acknowledgement among them.
    pub(crate) oldest_ack: DateTime<Utc>,
}

impl Missed {
    /// How long before the read the oldest missed write had been acknowledged: how far
    /// behind what was already promised the data it showed was.
    pub(crate) fn staleness(&self, read_at: DateTime<Utc>) -> chrono::Duration {
        read_at - self.oldest_ack
    }
}

/// The acknowledged writes of `entries` (in id order, as the ledger keeps them) that a read
/// started at `read_at` and seeing `max_seen` as the highest id of the run (none: no row of
/// the run) missed; `None` when it missed none.
pub(crate) fn missed(
    entries: &[LedgerEntry],
    read_at: DateTime<Utc>,
    max_seen: Option<i64>,
) -> Option<Missed> {
    let from = max_seen.map_or(0, |m| entries.partition_point(|e| e.id <= m));
    let mut count = 0;
    let mut oldest: Option<DateTime<Utc>> = None;
    for e in &entries[from..] {
        // Sent after the read started: neither it nor any later id was acknowledged before.
        if e.sent_at >= read_at {
            break;
        }
        if let Outcome::Acknowledged { at, .. } = &e.outcome
            && *at < read_at
        {
            count += 1;
            oldest = Some(oldest.map_or(*at, |o| o.min(*at)));
        }
    }
    oldest.map(|oldest_ack| Missed { count, oldest_ack })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_700_000_000_000 + ms).expect("a time")
    }

    fn acked(id: i64, sent: i64, ack: i64) -> LedgerEntry {
        LedgerEntry {
            id,
            sent_at: t(sent),
            outcome: Outcome::Acknowledged {
                at: t(ack),
                server: "s".into(),
                timeline: 1,
                server_time: t(ack),
            },
        }
    }

    fn failed(id: i64, sent: i64) -> LedgerEntry {
        LedgerEntry {
            id,
            sent_at: t(sent),
            outcome: Outcome::Failed {
                at: t(sent + 5),
                error: "e".into(),
            },
        }
    }

    /// Ids 1..=10, one every 100 ms, each acknowledged 10 ms after it was sent.
    fn ledger() -> Vec<LedgerEntry> {
        (1..=10).map(|i| acked(i, i * 100, i * 100 + 10)).collect()
    }

    #[test]
    fn a_read_seeing_everything_acknowledged_is_fresh() {
        // At 520 ms, ids 1..=5 are acknowledged.
        assert_eq!(missed(&ledger(), t(520), Some(5)), None);
        // Seeing more than was acknowledged (an insert committed, ack in flight) is fresh too.
        assert_eq!(missed(&ledger(), t(520), Some(6)), None);
    }

    #[test]
    fn staleness_is_measured_from_the_oldest_missed_acknowledgement() {
        let m = missed(&ledger(), t(920), Some(3)).expect("stale");
        // Ids 4..=9 were acknowledged before 920 ms (9 at 910 ms).
        assert_eq!(m.count, 6);
        assert_eq!(m.oldest_ack, t(410));
        assert_eq!(m.staleness(t(920)).num_milliseconds(), 510);
    }

    #[test]
    fn a_write_acknowledged_after_the_read_started_is_not_missed() {
        // Id 5 was sent at 500 and acknowledged at 510: a read at 505 cannot be expected to see it.
        assert_eq!(missed(&ledger(), t(505), Some(4)), None);
        assert_eq!(
            missed(&ledger(), t(510), Some(4)),
            None,
            "acknowledged exactly at the read start"
        );
        assert_eq!(missed(&ledger(), t(511), Some(4)).map(|m| m.count), Some(1));
    }

    #[test]
    fn no_row_of_the_run_misses_everything_acknowledged() {
        let m = missed(&ledger(), t(300), None).expect("stale");
        assert_eq!((m.count, m.oldest_ack), (2, t(110)));
        assert_eq!(missed(&ledger(), t(105), None), None);
    }

    #[test]
    fn a_lost_write_below_the_highest_seen_id_does_not_make_a_read_stale() {
        // Id 3 failed (or was lost in a failover): a read seeing 5 but not 3 is fresh.
        let mut l = ledger();
        l[2] = failed(3, 300);
        assert_eq!(missed(&l, t(520), Some(5)), None);
        // Failed writes above the highest seen id are not missed either.
        assert_eq!(missed(&l, t(390), Some(2)), None);
        assert_eq!(missed(&l, t(420), Some(2)).map(|m| m.count), Some(1));
    }

    #[test]
    fn an_empty_ledger_misses_nothing() {
        assert_eq!(missed(&[], t(1000), None), None);
    }
}
