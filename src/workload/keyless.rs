//! Writes a server acknowledged while it did not hold the leader key: what a client that
//! does not ask Patroni (a libpq multi-host string, a stale connection pool) can get from
//! an old primary that HAProxy's `/primary` check would already have taken out.
//!
//! Judged against the leader key as pgchaos observed it in etcd: a write sent after the
//! key was seen moving away from this server (to another member or nobody), and
//! acknowledged by it before it was seen holding the key again, landed on a primary
//! without the lock. The key is seen a little after it moved, so this is a lower bound.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{LedgerEntry, Outcome};
use crate::results::KeylessWrites;

/// The leader key's holder over time: `(when observed, holder)`, in time order; `None`
/// holder when no key existed.
pub(crate) type KeyHistory = [(DateTime<Utc>, Option<String>)];

/// Per server, the acknowledged entries sent while the key named someone else; `None`
/// when the key was never observed (nothing can be judged). `entries` carry server names
/// as the key does (see [`super::verify::server_names`]).
pub(crate) fn writes_without_key(
    entries: &[LedgerEntry],
    key: &KeyHistory,
) -> Option<Vec<KeylessWrites>> {
    if key.is_empty() {
        return None;
    }
    let mut by: BTreeMap<&str, KeylessWrites> = BTreeMap::new();
    for e in entries {
        let Outcome::Acknowledged { at, server, .. } = &e.outcome else {
            continue;
        };
        // The holder as last observed before the write was sent; before the first
        // observation nothing is known.
        let i = key.partition_point(|(t, _)| *t <= e.sent_at);
        let Some((_, holder)) = i.checked_sub(1).map(|i| &key[i]) else {
            continue;
        };
        let holds = |(_, h): &(DateTime<Utc>, Option<String>)| h.as_deref() == Some(server);
        // Only a server that lost the key: one that had held it before the write was
        // sent, not one about to take it (a new leader promotes only after taking the
        // key, so its first writes seen before the key's move are the observer's lag),
        // and that is not seen taking it back while the write was in flight.
        let had_it = key[..i].iter().any(holds);
        let took_it_back = key[i..].iter().take_while(|(t, _)| t <= at).any(holds);
        if holder.as_deref() == Some(server.as_str()) || !had_it || took_it_back {
            continue;
        }
        let w = by.entry(server).or_insert_with(|| KeylessWrites {
            server: server.clone(),
            first_sent: e.sent_at,
            holder_then: holder.clone(),
            last_acknowledged: *at,
            rows: 0,
        });
        w.rows += 1;
        w.last_acknowledged = w.last_acknowledged.max(*at);
    }
    Some(by.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn ack(id: i64, sent: i64, server: &str) -> LedgerEntry {
        LedgerEntry {
            id,
            sent_at: t(sent),
            outcome: Outcome::Acknowledged {
                at: t(sent) + chrono::Duration::milliseconds(5),
                server: server.into(),
                timeline: 1,
                server_time: t(sent),
            },
        }
    }

    #[test]
    fn writes_sent_after_the_key_moved_are_counted_for_the_old_primary() {
        let key = [
            (t(0), Some("pg1".to_owned())),
            (t(10), None),
            (t(12), Some("pg2".to_owned())),
        ];
        let entries = [
            ack(1, 5, "pg1"),
            // The key expired, pg1 still took it; then pg2 holds it and pg1 still takes one.
            ack(2, 11, "pg1"),
            // pg2 before the key was seen with it: the observer's lag, not a keyless write.
            ack(3, 11, "pg2"),
            ack(4, 13, "pg1"),
            ack(5, 14, "pg2"),
        ];
        let w = writes_without_key(&entries, &key).expect("judged");
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].server, "pg1");
        assert_eq!(w[0].rows, 2);
        assert_eq!(w[0].first_sent, t(11));
        assert_eq!(w[0].holder_then, None);
        assert_eq!(
            w[0].last_acknowledged,
            t(13) + chrono::Duration::milliseconds(5)
        );
    }

    #[test]
    fn a_server_seen_taking_the_key_back_while_the_write_was_in_flight_is_not_counted() {
        let key = [
            (t(0), Some("pg1".to_owned())),
            (t(10), Some("pg2".to_owned())),
            (t(20), Some("pg1".to_owned())),
        ];
        let mut slow = ack(1, 19, "pg1");
        if let Outcome::Acknowledged { at, .. } = &mut slow.outcome {
            *at = t(21);
        }
        assert_eq!(writes_without_key(&[slow], &key), Some(vec![]));
    }

    #[test]
    fn without_an_observed_key_nothing_is_judged_and_before_it_nothing_counts() {
        assert_eq!(writes_without_key(&[ack(1, 5, "pg1")], &[]), None);
        let key = [(t(10), Some("pg2".to_owned()))];
        assert_eq!(
            writes_without_key(&[ack(1, 5, "pg1"), ack(2, 11, "pg2")], &key),
            Some(vec![])
        );
    }
}
