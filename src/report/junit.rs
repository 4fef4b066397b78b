//! `junit.xml`: the CI gate.
//!
//! Layout, and why:
//! - one `<testsuite name="pgchaos">` per run, inside `<testsuites>`. A run is what a CI
//!   job gates on; one suite keeps the counts equal to the run's, and carries the run's
//!   timestamp and duration. Scenario groups are already visible as the `classname`.
//! - one `<testcase>` per scenario (classname = group, name = scenario id). Retries of a
//!   scenario (`--retries`) fold into one testcase, following Maven Surefire's convention
//!   that Jenkins and GitLab understand: if a later attempt passed, the testcase passes
//!   with a `flakyFailure`/`flakyError` per earlier attempt; if every attempt failed, the
//!   first attempt is the `failure`/`error` and each later one a `rerunFailure`/`rerunError`.
//!   An attempt directly after a non-passed attempt of the same id, with a higher attempt
//!   number, is a retry; anything else (`--repeat`, where attempt numbers restart at 1, or
//!   an attempt after a pass) starts a new testcase, named `id (repeat N)`.
//! - The XSD (Jenkins xUnit's junit-10.xsd) does not allow `<properties>` inside a
//!   `<testcase>`, so per-scenario properties live in the suite's `<properties>`, prefixed
//!   with the testcase name (`primary-kill9.covers`), and are repeated as a header of the
//!   testcase's `system-out` for tools that only show that.
//! - The XSD's `rerunType` requires a `type` attribute and allows no `time`/`timestamp`, and
//!   `<testsuites>` has no `skipped` or `timestamp` attribute (quick-junit always writes
//!   `skipped`): we never set the report timestamp, always set a rerun `type`,
//!   never set rerun times, and remove `skipped` from `<testsuites>` after serialising.

use std::fmt::Write as _;
use std::time::Duration;

use quick_junit::{
    FlakyOrRerun, NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};

use super::ReportError;
use super::fmt;
use crate::results::{RunOutcome, RunResults, ScenarioResult, StepOutcome, Verdict};

/// Renders `junit.xml`.
pub(crate) fn render_junit(results: &RunResults) -> Result<String, ReportError> {
    let mut suite = TestSuite::new("pgchaos");
    suite.set_timestamp(results.started_at);
    suite.set_time(duration(results.started_at, results.finished_at));
    suite.add_properties(run_properties(results));

    let cases = fold_attempts(&results.scenarios);
    for case in &cases {
        let last = case.attempts[case.attempts.len() - 1];
        suite.add_properties(scenario_properties(&case.name, last, case.attempts.len()));
        suite.add_test_case(test_case(case));
    }
    let mut out = String::new();
    if let RunOutcome::Aborted { reason } = &results.outcome {
        let _ = writeln!(out, "run ABORTED: {reason}");
    } else if results.outcome == RunOutcome::Interrupted {
        let _ = writeln!(out, "run INTERRUPTED (Ctrl-C / SIGTERM)");
    } else if results.outcome == RunOutcome::Running {
        let _ = writeln!(
            out,
            "run NOT FINISHED (still running, or pgchaos was killed)"
        );
    }
    let _ = writeln!(
        out,
        "pgchaos {} run {} on cluster {} by {}: {}",
        results.pgchaos_version,
        results.run_id,
        results.cluster.scope,
        results.invoked_by,
        results.command_line.join(" ")
    );
    suite.set_system_out(out);

    let mut report = Report::new("pgchaos");
    report.set_time(duration(results.started_at, results.finished_at));
    report.add_test_suite(suite);
    let xml = report.to_string().map_err(|e| ReportError::Render {
        file: super::JUNIT_FILE,
        message: e.to_string(),
    })?;
    Ok(strip_testsuites_skipped(&xml))
}

/// One testcase: a scenario and its retries, in attempt order.
struct Case<'a> {
    name: String,
    attempts: Vec<&'a ScenarioResult>,
}

/// Groups attempts into testcases (see the module comment for the rule).
fn fold_attempts(scenarios: &[ScenarioResult]) -> Vec<Case<'_>> {
    let mut cases: Vec<Case<'_>> = Vec::new();
    // For each (group, id): index into `cases` of its latest testcase, and how many.
    let mut latest: std::collections::HashMap<(&str, &str), (usize, u32)> =
        std::collections::HashMap::new();
    for s in scenarios {
        let key = (s.group.as_str(), s.id.as_str());
        if let Some(&(i, _)) = latest.get(&key) {
            let prev = cases[i].attempts[cases[i].attempts.len() - 1];
            let is_retry = !matches!(prev.verdict, Verdict::Passed | Verdict::Skipped)
                && s.attempt > prev.attempt;
            if is_retry {
                cases[i].attempts.push(s);
                continue;
            }
        }
        let n = latest.get(&key).map_or(1, |&(_, n)| n + 1);
        let name = if n == 1 {
            s.id.clone()
        } else {
            format!("{} (repeat {n})", s.id)
        };
        latest.insert(key, (cases.len(), n));
        cases.push(Case {
            name,
            attempts: vec![s],
        });
    }
    cases
}

fn test_case(case: &Case<'_>) -> TestCase {
    let first = case.attempts[0];
    let last = case.attempts[case.attempts.len() - 1];
    // A skipped trailing attempt (the run stopped before the retry) adds nothing.
    let tried: Vec<&ScenarioResult> = case
        .attempts
        .iter()
        .copied()
        .filter(|a| a.verdict != Verdict::Skipped)
        .collect();

    let (status, shown) = if tried.is_empty() {
        let mut st = TestCaseStatus::skipped();
        st.set_type("skipped");
        st.set_message(last.reason.clone().unwrap_or_else(|| "not run".to_owned()));
        (st, last)
    } else if tried[tried.len() - 1].verdict == Verdict::Passed {
        // Passed, possibly after failed attempts: flaky.
        let passed = tried[tried.len() - 1];
        let mut st = TestCaseStatus::success();
        for a in &tried[..tried.len() - 1] {
            st.add_rerun(rerun(a));
        }
        (st, passed)
    } else {
        let main = tried[0];
        let (kind, ty) = non_success(main.verdict);
        let mut st = TestCaseStatus::non_success(kind);
        st.set_type(ty);
        st.set_message(failure_message(main));
        st.set_description(failure_description(main));
        for a in &tried[1..] {
            st.add_rerun(rerun(a));
        }
        st.set_rerun_kind(FlakyOrRerun::Rerun);
        (st, main)
    };
    let _ = first;
    let mut tc = TestCase::new(case.name.as_str(), status);
    tc.set_classname(group_or_default(shown));
    tc.set_time(duration(shown.started_at, shown.finished_at));
    tc.set_system_out(transcript(shown, &case.name));
    tc
}

fn group_or_default(s: &ScenarioResult) -> &str {
    if s.group.is_empty() {
        "pgchaos"
    } else {
        &s.group
    }
}

fn non_success(v: Verdict) -> (NonSuccessKind, &'static str) {
    match v {
        Verdict::Failed => (NonSuccessKind::Failure, "check"),
        Verdict::Interrupted => (NonSuccessKind::Error, "interrupted"),
        // Error, and (defensively) anything else that is not a pass.
        _ => (NonSuccessKind::Error, "error"),
    }
}

fn rerun(a: &ScenarioResult) -> TestRerun {
    let (kind, ty) = non_success(a.verdict);
    let mut r = TestRerun::new(kind);
    r.set_type(ty);
    r.set_message(format!("attempt {}: {}", a.attempt, failure_message(a)));
    r.set_description(failure_description(a));
    r.set_system_out(transcript(a, &a.id));
    r
}

/// One line: the first failed check with expected/observed, else the reason.
fn failure_message(s: &ScenarioResult) -> String {
    if s.verdict == Verdict::Failed
        && let Some(c) = s.checks.iter().find(|c| !c.passed)
    {
        return one_line(&format!(
            "{}: expected {}; observed {}",
            c.name, c.expected, c.observed
        ));
    }
    one_line(s.reason.as_deref().unwrap_or(fmt::verdict(s.verdict)))
}

/// Every failed check, with expected, observed and when; then the reason.
fn failure_description(s: &ScenarioResult) -> String {
    let mut out = String::new();
    if let Some(r) = &s.reason {
        let _ = writeln!(out, "{}: {r}", fmt::verdict(s.verdict));
    }
    for c in s.checks.iter().filter(|c| !c.passed) {
        let _ = writeln!(out, "failed check: {}", c.name);
        let _ = writeln!(out, "  expected: {}", c.expected);
        let _ = writeln!(out, "  observed: {}", c.observed);
        let _ = writeln!(
            out,
            "  when:     {}",
            c.at.map_or_else(|| "not recorded".to_owned(), fmt::rfc3339)
        );
    }
    out
}

fn run_properties(r: &RunResults) -> Vec<Property> {
    let mut p = vec![
        Property::new("run_id", r.run_id.as_str()),
        Property::new("pgchaos_version", r.pgchaos_version.as_str()),
        Property::new("outcome", fmt::outcome(&r.outcome)),
        Property::new("cluster.scope", r.cluster.scope.as_str()),
        Property::new("cluster.lab", r.cluster.lab.to_string()),
        Property::new("cluster.inventory", r.cluster.inventory.as_str()),
        Property::new(
            "cluster.nodes",
            r.cluster
                .nodes
                .iter()
                .map(|n| format!("{}={}", n.name, n.host))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Property::new("invoked_by", r.invoked_by.as_str()),
        Property::new("command_line", r.command_line.join(" ")),
    ];
    if let RunOutcome::Aborted { reason } = &r.outcome {
        p.push(Property::new("abort_reason", one_line(reason)));
    }
    let accepted = r
        .scenarios
        .iter()
        .filter(|s| s.passed_with_accepted_risk())
        .count();
    if accepted > 0 {
        p.push(Property::new(
            "accepted_risks",
            format!("{accepted} scenario(s) passed only because the inventory accepts a risk"),
        ));
    }
    let v = &r.cluster.versions;
    for (k, val) in [
        ("version.patroni", &v.patroni),
        ("version.postgres", &v.postgres),
        ("version.etcd", &v.etcd),
        ("cluster.watchdog", &v.watchdog),
    ] {
        p.push(Property::new(k, val.as_deref().unwrap_or("not observed")));
    }
    for (node, val) in &v.patroni_by_node {
        p.push(Property::new(
            format!("version.patroni.{node}"),
            val.as_str(),
        ));
    }
    // Audit evidence: the build and every file as run (`pgchaos report --verify`).
    let prov = &r.provenance;
    p.push(Property::new("build_commit", prov.build_commit.as_str()));
    if let Some(f) = &prov.inventory {
        p.push(Property::new(
            format!("sha256.inventory.{}", f.path),
            f.sha256.as_str(),
        ));
    }
    for f in &prov.scenarios {
        p.push(Property::new(
            format!("sha256.scenario.{}", f.path),
            f.sha256.as_str(),
        ));
    }
    for (i, x) in r.resets.iter().enumerate() {
        p.push(Property::new(
            format!("reset.{}", i + 1),
            one_line(&format!(
                "after {} (attempt {}): {} — {}",
                x.after_scenario,
                x.attempt,
                x.reason,
                if x.succeeded {
                    "steady state again"
                } else {
                    "reset failed"
                }
            )),
        ));
    }
    p
}

/// `(name, value)` pairs describing one attempt, shared by the properties and system-out.
fn scenario_facts(s: &ScenarioResult, attempts: usize) -> Vec<(&'static str, String)> {
    let opt = |x: Option<f64>| x.map_or_else(|| "not measured".to_owned(), |v| format!("{v:.3}"));
    let opt_s = |x: &Option<String>| x.clone().unwrap_or_else(|| "none".to_owned());
    let opt_u = |x: Option<u64>| x.map_or_else(|| "unknown".to_owned(), |v| v.to_string());
    let mut facts = vec![
        ("verdict", fmt::verdict(s.verdict).to_owned()),
        ("attempts", attempts.to_string()),
        ("covers", s.covers.join(" ")),
        (
            "targets",
            s.targets
                .iter()
                .map(|(k, v)| format!("{k}={}", v.join(",")))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        ("leader_before", opt_s(&s.before.leader)),
        ("timeline_before", opt_u(s.before.timeline)),
        ("leader_after", opt_s(&s.after.leader)),
        ("timeline_after", opt_u(s.after.timeline)),
        ("failover_seconds", opt(s.metrics.failover_seconds)),
        ("recovery_seconds", opt(s.metrics.recovery_seconds)),
        ("write_unavailable_seconds", opt(fmt::unavailable(s))),
        ("leader_changes", s.metrics.leader_changes.to_string()),
    ];
    // An accepted risk is a finding, never a plain pass: named beside the verdict.
    for f in &s.accepted_risks {
        facts.insert(
            1,
            (
                "accepted_risk",
                one_line(&format!(
                    "ACCEPTED RISK {} (inventory accepts up to {}: {}): {}",
                    f.risk, f.bound, f.reason, f.observed
                )),
            ),
        );
    }
    facts
}

fn scenario_properties(name: &str, s: &ScenarioResult, attempts: usize) -> Vec<Property> {
    scenario_facts(s, attempts)
        .into_iter()
        .map(|(k, v)| Property::new(format!("{name}.{k}"), v))
        .collect()
}

/// The step transcript of one attempt: facts, checks, then every step with its commands.
fn transcript(s: &ScenarioResult, name: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "scenario {name}: {} (attempt {}, {})",
        s.title, s.attempt, s.file
    );
    for (k, v) in scenario_facts(s, 1) {
        if k != "attempts" {
            let _ = writeln!(o, "{k:<26} {v}");
        }
    }
    let _ = writeln!(o, "{:<26} {}", "documented", one_line(&s.documented));
    let _ = writeln!(o, "{:<26} {}", "observed", one_line(&s.observed));
    if let Some(r) = &s.reason {
        let _ = writeln!(o, "{:<26} {}", "reason", one_line(r));
    }
    if !s.checks.is_empty() {
        let _ = writeln!(o, "\nchecks:");
        let mut checks: Vec<_> = s.checks.iter().collect();
        checks.sort_by_key(|c| c.passed);
        for c in checks {
            let _ = writeln!(
                o,
                "  [{}] {}: expected {}; observed {}{}",
                if c.passed { "pass" } else { "FAIL" },
                c.name,
                c.expected,
                c.observed,
                c.at.map(|t| format!(" (at {})", fmt::rfc3339(t)))
                    .unwrap_or_default()
            );
        }
    }
    if !s.steps.is_empty() {
        let _ = writeln!(o, "\nsteps:");
    }
    for st in &s.steps {
        let outcome = match st.outcome {
            StepOutcome::Ok => "ok",
            StepOutcome::Failed => "FAILED",
            StepOutcome::Error => "ERROR",
            StepOutcome::Skipped => "skipped",
        };
        let _ = writeln!(
            o,
            "  [{}] {} {}: {} ({} -> {})",
            st.index,
            st.kind,
            st.description,
            outcome,
            fmt::clock(st.started_at),
            fmt::clock(st.finished_at)
        );
        if let Some(d) = &st.detail {
            let _ = writeln!(o, "      {}", one_line(d));
        }
        for c in &st.commands {
            let status = match (c.exit_status, &c.error) {
                (Some(code), _) => format!("exit {code}"),
                (None, Some(e)) => format!("no exit status: {e}"),
                (None, None) => "no exit status".to_owned(),
            };
            let _ = writeln!(
                o,
                "      {}$ {}    [{status}, {} ms]",
                c.node, c.command, c.duration_ms
            );
            for line in c.stdout.lines() {
                let _ = writeln!(o, "        | {line}");
            }
            for line in c.stderr.lines() {
                let _ = writeln!(o, "        ! {line}");
            }
        }
    }
    o
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn duration(a: chrono::DateTime<chrono::Utc>, b: chrono::DateTime<chrono::Utc>) -> Duration {
    Duration::from_millis(u64::try_from((b - a).num_milliseconds()).unwrap_or(0))
}

/// Removes the `skipped` attribute of the root `<testsuites>` element, which the XSD does
/// not declare (the per-suite `skipped` count stays).
fn strip_testsuites_skipped(xml: &str) -> String {
    let Some(start) = xml.find("<testsuites") else {
        return xml.to_owned();
    };
    let Some(len) = xml[start..].find('>') else {
        return xml.to_owned();
    };
    let tag = &xml[start..start + len];
    let Some(a) = tag.find(" skipped=\"") else {
        return xml.to_owned();
    };
    let value_start = a + " skipped=\"".len();
    let Some(b) = tag[value_start..].find('"') else {
        return xml.to_owned();
    };
    let mut out = String::with_capacity(xml.len());
    out.push_str(&xml[..start + a]);
    out.push_str(&xml[start + value_start + b + 1..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::report::test_fixture as fixture;

    #[test]
    fn retries_that_end_in_a_pass_are_flaky() {
        let r = fixture("failed-run");
        let xml = render_junit(&r).unwrap();
        // standby-kill9: attempt 1 failed, attempt 2 passed -> one testcase, flakyFailure.
        assert_eq!(xml.matches("name=\"standby-kill9\"").count(), 1, "{xml}");
        assert!(xml.contains("<flakyFailure"), "{xml}");
        assert!(xml.contains("message=\"attempt 1: pg3 streaming again within 20 s"));
        assert!(!xml.contains("<rerunFailure"));
        // 3 testcases, 1 failure (ops-switchover).
        assert!(xml.contains("tests=\"3\""), "{xml}");
        assert!(xml.contains("failures=\"1\""), "{xml}");
    }

    #[test]
    fn retries_that_all_fail_are_rerun_failures() {
        let mut r = fixture("failed-run");
        // Make the second attempt of standby-kill9 fail too.
        let idx = r
            .scenarios
            .iter()
            .position(|s| s.id == "standby-kill9" && s.attempt == 2)
            .unwrap();
        r.scenarios[idx].verdict = Verdict::Failed;
        let xml = render_junit(&r).unwrap();
        assert!(xml.contains("<rerunFailure"), "{xml}");
        assert!(!xml.contains("<flakyFailure"));
        assert!(xml.contains("failures=\"2\""));
        assert_eq!(xml.matches("name=\"standby-kill9\"").count(), 1);
    }

    #[test]
    fn repeats_are_separate_testcases() {
        let mut r = fixture("failed-run");
        // A pass followed by another attempt 1 of the same id: a repetition, not a retry.
        let mut again = r.scenarios[0].clone();
        again.attempt = 1;
        r.scenarios.push(again);
        let xml = render_junit(&r).unwrap();
        assert!(xml.contains("name=\"primary-kill9 (repeat 2)\""), "{xml}");
        assert!(xml.contains("tests=\"4\""));
    }

    #[test]
    fn failure_carries_expected_observed_when() {
        let xml = render_junit(&fixture("failed-run")).unwrap();
        assert!(xml.contains("<failure type=\"check\"") || xml.contains("type=\"check\""));
        assert!(xml.contains("expected: pg1 role replica, state running/streaming within 30 s"));
        assert!(xml.contains("when:     2026-11-22T09:35:05.300Z"), "{xml}");
        assert!(xml.contains("name=\"ops-switchover.leader_after\" value=\"pg2\""));
        assert!(xml.contains("name=\"version.patroni\" value=\"3.0.2\""));
        assert!(xml.contains("pg1$ pkill -9 -x postgres"));
    }

    #[test]
    fn interrupted_and_skipped() {
        let xml = render_junit(&fixture("interrupted-run")).unwrap();
        assert!(
            xml.contains("type=\"interrupted\">interrupted: interrupted by SIGINT"),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<skipped message=\"not run: the run was interrupted\" type=\"skipped\"/>"
            ),
            "{xml}"
        );
        assert!(xml.contains("run INTERRUPTED"));
        assert!(!xml.contains("<testsuites name=\"pgchaos\" tests=\"2\" skipped="));
    }

    #[test]
    fn strips_only_the_root_skipped() {
        let x = "<?xml?>\n<testsuites name=\"p\" tests=\"1\" skipped=\"0\" failures=\"0\">\n<testsuite skipped=\"0\">";
        assert_eq!(
            strip_testsuites_skipped(x),
            "<?xml?>\n<testsuites name=\"p\" tests=\"1\" failures=\"0\">\n<testsuite skipped=\"0\">"
        );
    }
}
