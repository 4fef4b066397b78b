//! How long a scenario's steps can take: the least (holds always last their full time)
//! and the most (every wait running to its deadline).
//!
//! Two uses: `validate` refuses a scenario whose holds alone outlast `max_duration` (its
//! dead man's switches would fire mid-hold and undo the fault while the results still
//! assume it is in place), and the runner gives each switch a deadline from what the
//! scenario can still take after the fault (see [`worst_from`]).

use std::time::Duration;

use super::{Scenario, Step};

/// The least and the most time one step can take, waits only (the commands a step sends
/// are bounded by the transport's own timeout and not counted).
pub(crate) fn step_time(step: &Step) -> (Duration, Duration) {
    match step {
        Step::Hold(h) => (h.duration.get(), h.duration.get()),
        Step::Expect(e) => (Duration::ZERO, e.within.get()),
        Step::Sql(s) => (
            Duration::ZERO,
            s.within.map(|w| w.get()).unwrap_or_default(),
        ),
        Step::Pgbench(p) => (p.duration.get(), p.duration.get()),
        _ => (Duration::ZERO, Duration::ZERO),
    }
}

/// The most the steps after step `index` can take, bounded by the scenario's
/// `max_duration`.
pub(crate) fn worst_from(sc: &Scenario, index: usize) -> Duration {
    let total: Duration = sc
        .steps
        .iter()
        .skip(index + 1)
        .map(|s| step_time(s).1)
        .sum();
    total.min(sc.max_duration.get())
}

/// The first step at which the holds so far (time the scenario cannot avoid) exceed
/// `max_duration`, with that time.
pub(crate) fn first_overrun(sc: &Scenario) -> Option<(usize, Duration)> {
    let mut least = Duration::ZERO;
    for (i, s) in sc.steps.iter().enumerate() {
        least += step_time(s).0;
        if least > sc.max_duration.get() {
            return Some((i, least));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(max: &str) -> Scenario {
        serde_json::from_value(serde_json::json!({
            "id": "s", "title": "t", "max_duration": max,
            "targets": { "v": "replica" },
            "steps": [
                { "block": { "target": "v", "port": 8008 } },
                { "expect": { "within": "30s", "all": [ { "steady_state": true } ] } },
                { "hold": { "for": "20s" } },
                { "signal": { "target": "v", "process": "patroni", "signal": "STOP" } },
                { "hold": { "for": "5s" } }
            ]
        }))
        .expect("scenario")
    }

    #[test]
    fn a_switch_deadline_is_what_the_rest_of_the_scenario_can_take() {
        let sc = scenario("10m");
        assert_eq!(worst_from(&sc, 0), Duration::from_secs(55));
        assert_eq!(worst_from(&sc, 3), Duration::from_secs(5));
        assert_eq!(worst_from(&sc, 4), Duration::ZERO);
        // Never beyond max_duration.
        assert_eq!(worst_from(&scenario("40s"), 0), Duration::from_secs(40));
        assert_eq!(first_overrun(&sc), None);
        assert_eq!(
            first_overrun(&scenario("22s")),
            Some((4, Duration::from_secs(25)))
        );
    }
}
