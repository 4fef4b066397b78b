//! Split brain, judged by asking each node directly (SQL over TCP, or over SSH through its
//! local socket), never by trusting `/cluster`.
//!
//! For every node, consecutive samples answering "not in recovery" form a writable
//! interval. Two nodes whose intervals overlap were both observed accepting writes at the
//! same time. Samples that could not ask the node carry no information: they neither
//! extend nor end an interval, but a silence longer than [`MAX_SILENCE`] ends it, so a
//! node that went away and came back is not assumed writable while it was gone.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::observe::Sample;
use crate::results::ObservationSource;

/// Longest silence a writable interval may span.
pub(super) const MAX_SILENCE: Duration = Duration::seconds(3);

/// Two nodes observed writable at the same time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SplitBrain {
    /// The first node.
    pub a: String,
    /// The second node.
    pub b: String,
    /// Start of the overlap.
    pub from: DateTime<Utc>,
    /// End of the overlap.
    pub to: DateTime<Utc>,
}

impl std::fmt::Display for SplitBrain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} and {} both accepted writes from {} to {} ({} ms)",
            self.a,
            self.b,
            self.from.format("%H:%M:%S%.3f"),
            self.to.format("%H:%M:%S%.3f"),
            (self.to - self.from).num_milliseconds()
        )
    }
}

/// Writable intervals of one node, in time order.
fn intervals(samples: &[&Sample]) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let mut cur: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    for s in samples {
        let o = &s.observation;
        let answer = if o.reachable { o.in_recovery } else { None };
        match (answer, cur.as_mut()) {
            (Some(false), Some((_, end))) if o.at - *end <= MAX_SILENCE => *end = o.at,
            (Some(false), _) => {
                if let Some(c) = cur.take() {
                    out.push(c);
                }
                cur = Some((o.at, o.at));
            }
            (Some(true), _) => {
                if let Some(c) = cur.take() {
                    out.push(c);
                }
            }
            (None, _) => {}
        }
    }
    out.extend(cur);
    out
}

/// Every pair of nodes observed writable at the same time.
pub(crate) fn find_split_brain(samples: &[Sample]) -> Vec<SplitBrain> {
    let mut by_node: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
    for s in samples {
        if matches!(
            s.observation.source,
            ObservationSource::Sql | ObservationSource::SqlSsh
        ) {
            by_node.entry(&s.observation.node).or_default().push(s);
        }
    }
    let ivs: Vec<(&str, Vec<_>)> = by_node
        .into_iter()
        .map(|(n, mut v)| {
            v.sort_by_key(|s| s.observation.at);
            (n, intervals(&v))
        })
        .collect();
    let mut out = Vec::new();
    for (i, (a, ia)) in ivs.iter().enumerate() {
        for (b, ib) in &ivs[i + 1..] {
            for &(s1, e1) in ia {
                for &(s2, e2) in ib {
                    let from = s1.max(s2);
                    let to = e1.min(e2);
                    if from <= to {
                        out.push(SplitBrain {
                            a: a.to_string(),
                            b: b.to_string(),
                            from,
                            to,
                        });
                    }
                }
            }
        }
    }
    out
}
