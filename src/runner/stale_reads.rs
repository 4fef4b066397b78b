//! The `stale_read_max` verdict: the largest staleness of a read through HAProxy's read
//! port, from the reader's statistics (see [`crate::results::ReadStats`]).
//!
//! Only the read port is judged: it is what an application reading there sees. The direct
//! replica readers are reported beside it, not judged, because a scenario that delays one
//! replica on purpose expects that replica to be stale. A verdict whose data is missing
//! (no workload result, no reader, no successful read through the read port) fails: a
//! check that did not run does not pass.

use chrono::Utc;

use crate::duration::HumanDuration;
use crate::results::{CheckResult, WorkloadResult};

/// The check for `stale_read_max: max`. `name_of` turns a server address
/// (`host:port`, as the server sees itself) into a node name for the message.
pub(crate) fn stale_read_check(
    max: HumanDuration,
    result: Option<&WorkloadResult>,
    workload_error: Option<&str>,
    name_of: &dyn Fn(&str) -> String,
) -> CheckResult {
    let bound_ms = u64::try_from(max.get().as_millis()).unwrap_or(u64::MAX);
    let (passed, observed) = match (result, result.and_then(|r| r.reads.as_ref())) {
        (None, _) => (
            false,
            format!(
                "no workload result: stale reads were not checked{}",
                workload_error
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ),
        ),
        (Some(_), None) => (
            false,
            "no reader ran: staleness was not measured".to_owned(),
        ),
        (Some(_), Some(r)) if r.attempted == r.errors => (
            false,
            format!(
                "no read through the read port succeeded ({} attempted): staleness unknown",
                r.attempted
            ),
        ),
        (Some(_), Some(r)) => match &r.max_stale {
            None => (
                true,
                format!(
                    "no stale read in {} read(s) through the read port",
                    r.attempted - r.errors
                ),
            ),
            Some(s) => {
                let what = format!(
                    "a read through the read port at {}.{} on {} missed {} write(s) acknowledged {:.1} s earlier ({} of {} reads stale)",
                    s.at.format("%H:%M:%S"),
                    s.at.timestamp_subsec_millis() / 100,
                    name_of(&s.server),
                    s.missed,
                    s.staleness_ms as f64 / 1000.0,
                    r.stale,
                    r.attempted - r.errors
                );
                if s.staleness_ms <= bound_ms {
                    (true, format!("largest staleness: {what}"))
                } else {
                    (false, format!("{what}; bound {max}"))
                }
            }
        },
    };
    CheckResult {
        name: "stale reads".into(),
        step: None,
        passed,
        expected: format!("reads through the read port at most {max} stale"),
        observed,
        at: Some(Utc::now()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{ReadStats, StaleRead};

    fn result(reads: Option<ReadStats>) -> WorkloadResult {
        WorkloadResult {
            reads,
            ..WorkloadResult::default()
        }
    }

    fn stale(ms: u64) -> ReadStats {
        ReadStats {
            attempted: 10,
            errors: 1,
            stale: 4,
            max_stale: Some(StaleRead {
                at: chrono::DateTime::from_timestamp_millis(1_764_743_201_200).expect("a time"),
                server: "10.0.0.13:5432".into(),
                staleness_ms: ms,
                missed: 86,
            }),
            ..ReadStats::default()
        }
    }

    fn name(a: &str) -> String {
        if a == "10.0.0.13:5432" {
            "pg3".into()
        } else {
            a.into()
        }
    }

    #[test]
    fn staleness_over_the_bound_fails_naming_the_read() {
        let c = stale_read_check(
            HumanDuration::from_secs(2),
            Some(&result(Some(stale(4300)))),
            None,
            &name,
        );
        assert!(!c.passed);
        assert_eq!(
            c.observed,
            "a read through the read port at 06:26:41.2 on pg3 missed 86 write(s) acknowledged 4.3 s earlier (4 of 9 reads stale); bound 2s"
        );
    }

    #[test]
    fn staleness_within_the_bound_passes() {
        let c = stale_read_check(
            HumanDuration::from_secs(5),
            Some(&result(Some(stale(4300)))),
            None,
            &name,
        );
        assert!(c.passed, "{}", c.observed);
        assert!(
            c.observed.starts_with("largest staleness: "),
            "{}",
            c.observed
        );
        let fresh = ReadStats {
            attempted: 3,
            ..ReadStats::default()
        };
        let c = stale_read_check(
            HumanDuration::from_secs(1),
            Some(&result(Some(fresh))),
            None,
            &name,
        );
        assert!(c.passed);
        assert_eq!(
            c.observed,
            "no stale read in 3 read(s) through the read port"
        );
    }

    #[test]
    fn missing_data_never_passes() {
        let b = HumanDuration::from_secs(5);
        let no_result = stale_read_check(b, None, Some("no HAProxy"), &name);
        assert!(!no_result.passed);
        assert!(no_result.observed.contains("no HAProxy"));
        let no_reader = stale_read_check(b, Some(&result(None)), None, &name);
        assert!(!no_reader.passed);
        assert!(no_reader.observed.contains("no reader ran"));
        let all_failed = ReadStats {
            attempted: 7,
            errors: 7,
            ..ReadStats::default()
        };
        let c = stale_read_check(b, Some(&result(Some(all_failed))), None, &name);
        assert!(!c.passed);
        assert!(
            c.observed
                .contains("no read through the read port succeeded (7 attempted)")
        );
    }
}
