//! `index.html`: one self-contained file for an audit.
//!
//! The page is rendered with minijinja from a template embedded in the binary; the
//! template's name ends in `.html`, so minijinja escapes every value for HTML (there is no
//! `|safe` in the template). All layout decisions (failed first, which `<details>` start
//! open, the chart geometry) are made here in Rust, where they are tested; the template
//! only lays them out. Inline CSS and SVG only; a few lines of optional JS open every
//! `<details>` before printing.

use serde::Serialize;

use super::ReportError;
use super::fmt;
use super::timeline::{self, Chart};
use crate::results::{
    CheckResult, CommandRecord, RunOutcome, RunResults, ScenarioResult, StepOutcome, StepRecord,
    Verdict, WorkloadResult,
};

const TEMPLATE: &str = include_str!("templates/index.html");

/// Renders `index.html`.
pub(crate) fn render_html(results: &RunResults) -> Result<String, ReportError> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_filter("n", |v: f64| format!("{v:.1}"));
    let err = |e: minijinja::Error| ReportError::Render {
        file: super::HTML_FILE,
        message: format!("{e:#}"),
    };
    env.add_template("index.html", TEMPLATE).map_err(err)?;
    let view = view(results);
    env.get_template("index.html")
        .and_then(|t| t.render(minijinja::Value::from_serialize(&view)))
        .map_err(err)
}

#[derive(Serialize)]
struct View {
    generator: String,
    outcome: &'static str,
    outcome_line: String,
    outcome_detail: String,
    run: RunView,
    counts: Vec<Count>,
    total: usize,
    scenarios: Vec<ScenarioView>,
}

#[derive(Serialize)]
struct RunView {
    run_id: String,
    scope: String,
    lab: bool,
    inventory: String,
    started: String,
    finished: String,
    duration: String,
    invoked_by: String,
    command_line: String,
    versions: Vec<(&'static str, String)>,
    nodes: Vec<NodeView>,
    audit: AuditView,
    resets: Vec<ResetView>,
}

/// What an auditor checks: the build and the files as run (see `pgchaos report --verify`).
#[derive(Serialize)]
struct AuditView {
    pgchaos_version: String,
    build_commit: String,
    /// `(role, path, sha256)`.
    files: Vec<(&'static str, String, String)>,
    /// `(node, Patroni version)`.
    patroni_by_node: Vec<(String, String)>,
}

#[derive(Serialize)]
struct ResetView {
    at: String,
    after: String,
    reason: String,
    command: String,
    outcome: String,
    output: String,
}

#[derive(Serialize)]
struct NodeView {
    name: String,
    host: String,
    roles: String,
}

#[derive(Serialize)]
struct Count {
    verdict: &'static str,
    n: usize,
}

#[derive(Serialize)]
struct ScenarioView {
    anchor: String,
    id: String,
    label: String,
    title: String,
    group: String,
    file: String,
    attempt: u32,
    /// "attempt 1 of 2; a later attempt passed (flaky)" when the id ran more than once.
    attempts_note: Option<String>,
    /// Some attempt of this id passed and another did not.
    flaky: bool,
    verdict: &'static str,
    /// Accepted risks that showed up (not held against the verdict: the inventory accepts them).
    accepted_risks: Vec<String>,
    reason: Option<String>,
    tags: Vec<String>,
    covers: Vec<String>,
    documented: String,
    observed: String,
    started: String,
    finished: String,
    duration: String,
    targets: Vec<(String, String)>,
    before: String,
    after: String,
    leader_changed: bool,
    failover: String,
    recovery: String,
    unavailable: String,
    checks: Vec<CheckView>,
    failed_checks: usize,
    metrics: Vec<(&'static str, String)>,
    workload: Option<Vec<(&'static str, String, bool)>>,
    steps: Vec<StepView>,
    chart: Option<Chart>,
    snapshots: Vec<SnapshotView>,
    /// Node, log text, number of lines.
    logs: Vec<(String, String, usize)>,
}

#[derive(Serialize)]
struct CheckView {
    name: String,
    passed: bool,
    expected: String,
    observed: String,
    at: String,
    step: Option<usize>,
}

#[derive(Serialize)]
struct StepView {
    index: usize,
    kind: String,
    description: String,
    outcome: &'static str,
    offset: String,
    duration: String,
    detail: Option<String>,
    commands: Vec<CommandView>,
    open: bool,
}

#[derive(Serialize)]
struct CommandView {
    node: String,
    command: String,
    status: String,
    ok: bool,
    at: String,
    duration: String,
    stdout: String,
    stderr: String,
}

#[derive(Serialize)]
struct SnapshotView {
    label: &'static str,
    present: bool,
    leader: Option<String>,
    members: Option<Vec<MemberRow>>,
    raw: Option<String>,
}

#[derive(Serialize)]
struct MemberRow {
    name: String,
    role: String,
    role_class: &'static str,
    state: String,
    state_bad: bool,
    host: String,
    timeline: String,
    lag: String,
}

fn view(r: &RunResults) -> View {
    let (outcome_detail, outcome) = match &r.outcome {
        RunOutcome::Running => (
            "the run had not finished when this report was written: it is still running, or \
             pgchaos was killed (node-side dead man's switches undo its faults). Results are partial."
                .to_owned(),
            "running",
        ),
        RunOutcome::Passed => ("every scenario passed".to_owned(), "passed"),
        RunOutcome::Failed => ("at least one scenario did not pass".to_owned(), "failed"),
        RunOutcome::Aborted { .. } => (
            "the run stopped early; scenarios after this point were not run.".to_owned(),
            "aborted",
        ),
        RunOutcome::Interrupted => (
            "the run was interrupted (Ctrl-C / SIGTERM); faults in progress were undone. \
             Results are partial."
                .to_owned(),
            "interrupted",
        ),
    };
    let node_order: Vec<String> = r.cluster.nodes.iter().map(|n| n.name.clone()).collect();
    let v = &r.cluster.versions;
    let not_observed = || "not observed".to_owned();
    View {
        generator: format!("pgchaos {}", r.pgchaos_version),
        outcome,
        outcome_line: fmt::outcome_line(&r.outcome),
        outcome_detail,
        run: RunView {
            run_id: r.run_id.clone(),
            scope: r.cluster.scope.clone(),
            lab: r.cluster.lab,
            inventory: r.cluster.inventory.clone(),
            started: fmt::datetime(r.started_at),
            finished: fmt::datetime(r.finished_at),
            duration: fmt::secs(fmt::between(r.started_at, r.finished_at)),
            invoked_by: r.invoked_by.clone(),
            command_line: r.command_line.join(" "),
            versions: vec![
                ("Patroni", v.patroni.clone().unwrap_or_else(not_observed)),
                (
                    "PostgreSQL",
                    v.postgres.clone().unwrap_or_else(not_observed),
                ),
                ("etcd", v.etcd.clone().unwrap_or_else(not_observed)),
                ("Watchdog", v.watchdog.clone().unwrap_or_else(not_observed)),
            ],
            nodes: r
                .cluster
                .nodes
                .iter()
                .map(|n| NodeView {
                    name: n.name.clone(),
                    host: n.host.clone(),
                    roles: n.roles.join(", "),
                })
                .collect(),
            audit: audit_view(r),
            resets: r.resets.iter().map(reset_view).collect(),
        },
        counts: fmt::VERDICTS
            .iter()
            .map(|v| Count {
                verdict: fmt::verdict(*v),
                n: r.scenarios.iter().filter(|s| s.verdict == *v).count(),
            })
            .collect(),
        total: r.scenarios.len(),
        scenarios: fmt::failed_first(&r.scenarios)
            .into_iter()
            .map(|i| scenario(i, &r.scenarios, &node_order))
            .collect(),
    }
}

fn audit_view(r: &RunResults) -> AuditView {
    let p = &r.provenance;
    let mut files: Vec<(&'static str, String, String)> = p
        .inventory
        .iter()
        .map(|f| ("inventory", f.path.clone(), f.sha256.clone()))
        .collect();
    files.extend(
        p.scenarios
            .iter()
            .map(|f| ("scenario", f.path.clone(), f.sha256.clone())),
    );
    let or_unknown = |s: &str| {
        if s.is_empty() {
            "not recorded".to_owned()
        } else {
            s.to_owned()
        }
    };
    AuditView {
        pgchaos_version: or_unknown(&p.pgchaos_version),
        build_commit: or_unknown(&p.build_commit),
        files,
        patroni_by_node: r
            .cluster
            .versions
            .patroni_by_node
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect(),
    }
}

fn reset_view(x: &crate::results::ClusterReset) -> ResetView {
    let c = &x.command;
    let mut output = String::new();
    for (name, text) in [("stdout", &c.stdout), ("stderr", &c.stderr)] {
        if !text.trim().is_empty() {
            output.push_str(&format!("{name}:\n{}\n", text.trim_end()));
        }
    }
    if let Some(e) = &c.error {
        output.push_str(&format!("error: {e}\n"));
    }
    ResetView {
        at: fmt::datetime(x.at),
        after: format!("{} (attempt {})", x.after_scenario, x.attempt),
        reason: x.reason.clone(),
        command: c.command.clone(),
        outcome: if x.succeeded {
            format!("steady state after {}", fmt::secs(x.seconds))
        } else {
            format!("FAILED after {}", fmt::secs(x.seconds))
        },
        output,
    }
}

fn scenario(i: usize, all: &[ScenarioResult], node_order: &[String]) -> ScenarioView {
    let s = &all[i];
    let (flaky, attempts_note) = attempts(s, all);
    let mut checks: Vec<&CheckResult> = s.checks.iter().collect();
    checks.sort_by_key(|c| c.passed);
    let m = &s.metrics;
    ScenarioView {
        anchor: format!("s{i}"),
        id: s.id.clone(),
        label: fmt::scenario_label(s),
        title: s.title.clone(),
        group: s.group.clone(),
        file: s.file.clone(),
        attempt: s.attempt,
        attempts_note,
        flaky,
        verdict: fmt::verdict(s.verdict),
        accepted_risks: s
            .accepted_risks
            .iter()
            .map(|f| {
                format!(
                    "{}: {} — accepted by the inventory up to {} ({})",
                    f.risk, f.observed, f.bound, f.reason
                )
            })
            .collect(),
        reason: s.reason.clone(),
        tags: s.tags.clone(),
        covers: s.covers.clone(),
        documented: s.documented.clone(),
        observed: s.observed.clone(),
        started: fmt::datetime(s.started_at),
        finished: fmt::clock(s.finished_at),
        duration: fmt::secs(fmt::between(s.started_at, s.finished_at)),
        targets: s
            .targets
            .iter()
            .map(|(k, v)| (k.clone(), v.join(", ")))
            .collect(),
        before: fmt::leader_tl(&s.before),
        after: fmt::leader_tl(&s.after),
        leader_changed: s.before.leader != s.after.leader,
        failover: fmt::opt_secs(m.failover_seconds),
        recovery: fmt::opt_secs(m.recovery_seconds),
        unavailable: fmt::opt_secs(fmt::unavailable(s)),
        failed_checks: s.checks.iter().filter(|c| !c.passed).count(),
        checks: checks.into_iter().map(|c| check_view(s, c)).collect(),
        metrics: metrics(s),
        workload: s.workload.as_ref().map(workload_rows),
        steps: s.steps.iter().map(|st| step(s, st)).collect(),
        chart: timeline::chart(s, node_order),
        snapshots: [
            ("Before the first fault", &s.snapshots.before),
            ("Worst moment", &s.snapshots.worst),
            ("After recovery", &s.snapshots.after),
        ]
        .into_iter()
        .map(|(label, v)| snapshot(label, v.as_ref()))
        .collect(),
        logs: s
            .logs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone(), v.lines().count()))
            .collect(),
    }
}

/// Whether the scenario's id both passed and failed over its attempts, and a note listing
/// every attempt's verdict when it ran more than once.
fn attempts(s: &ScenarioResult, all: &[ScenarioResult]) -> (bool, Option<String>) {
    let same: Vec<&ScenarioResult> = all
        .iter()
        .filter(|o| o.id == s.id && o.group == s.group)
        .collect();
    let flaky = same.iter().any(|o| o.verdict == Verdict::Passed)
        && same
            .iter()
            .any(|o| matches!(o.verdict, Verdict::Failed | Verdict::Error));
    let note = (same.len() > 1).then(|| {
        let verdicts: Vec<String> = same
            .iter()
            .map(|o| format!("#{} {}", o.attempt, fmt::verdict(o.verdict)))
            .collect();
        format!(
            "{} attempts of this scenario: {}{}",
            same.len(),
            verdicts.join(", "),
            if flaky { " (flaky)" } else { "" }
        )
    });
    (flaky, note)
}

/// The scenario's measured times, as label and value.
fn metrics(s: &ScenarioResult) -> Vec<(&'static str, String)> {
    let m = &s.metrics;
    let mut metrics = vec![
        (
            "Failover (fault → new leader)",
            fmt::opt_secs(m.failover_seconds),
        ),
        (
            "Recovery (fault → steady state)",
            fmt::opt_secs(m.recovery_seconds),
        ),
        ("Write unavailability", fmt::opt_secs(fmt::unavailable(s))),
        ("Leader changes", m.leader_changes.to_string()),
    ];
    if let Some(sps) = m.samples_per_second {
        metrics.push(("Samples per second per node", format!("{sps:.1}")));
    }
    metrics
}

/// The workload's rows (label, value, whether it is bad news).
fn workload_rows(w: &WorkloadResult) -> Vec<(&'static str, String, bool)> {
    let ids = |v: &[i64]| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            let mut s: Vec<String> = v.iter().take(20).map(i64::to_string).collect();
            if v.len() > 20 {
                s.push(format!("… ({} in all)", v.len()));
            }
            s.join(", ")
        }
    };
    let mut rows = vec![
        ("Writes attempted", w.attempted.to_string(), false),
        ("Acknowledged", w.acknowledged.to_string(), false),
        ("Failed before commit", w.failed.to_string(), false),
        ("Commit outcome unknown", w.unknown.to_string(), false),
        (
            "Lost (acknowledged, missing)",
            ids(&w.lost),
            !w.lost.is_empty(),
        ),
        (
            "Unexpected (not acknowledged, present)",
            ids(&w.unexpected),
            !w.unexpected.is_empty(),
        ),
        ("Duplicated", ids(&w.duplicated), !w.duplicated.is_empty()),
        (
            "Longest gap between writes",
            fmt::opt_secs(w.max_gap_seconds),
            false,
        ),
        (
            "RTO (fault → first write after the outage)",
            fmt::opt_secs(w.rto_seconds),
            false,
        ),
    ];
    if let Some(span) = w.lost_span_seconds {
        rows.push(("RPO (span of lost writes)", fmt::secs(span), true));
    }
    if let Some(sb) = &w.split_brain {
        rows.push(("Split brain", sb.clone(), true));
    }
    for sv in &w.servers {
        rows.push((
            "Writes taken by",
            format!(
                "{} on timeline {}: {} rows, {} → {}",
                sv.server,
                sv.timeline,
                sv.rows,
                fmt::clock(sv.first),
                fmt::clock(sv.last)
            ),
            false,
        ));
    }
    match &w.without_leader_key {
        None => {}
        Some(k) if k.is_empty() => rows.push((
            "Writes without the leader key",
            "none: every acknowledged write went to the key's holder".to_owned(),
            false,
        )),
        Some(k) => {
            for kw in k {
                rows.push(("Writes without the leader key", fmt::keyless_line(kw), true));
            }
        }
    }
    if let Some(rd) = &w.reads {
        let by: Vec<String> = rd
            .served_by
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        rows.push((
            "Reads",
            format!(
                "{} attempted, {} errors; served by {}",
                rd.attempted,
                rd.errors,
                if by.is_empty() {
                    "none".to_owned()
                } else {
                    by.join(", ")
                }
            ),
            false,
        ));
        rows.push(("Stale reads (read port)", fmt::read_staleness(rd), false));
        for (node, d) in &rd.direct {
            rows.push((
                "Stale reads (direct)",
                format!("{node}: {}", fmt::read_staleness(d)),
                false,
            ));
        }
    }
    rows
}

/// One check as the report shows it, its time relative to the scenario's start.
fn check_view(s: &ScenarioResult, c: &CheckResult) -> CheckView {
    CheckView {
        name: c.name.clone(),
        passed: c.passed,
        expected: c.expected.clone(),
        observed: c.observed.clone(),
        at: c.at.map_or_else(
            || "not recorded".to_owned(),
            |t| {
                format!(
                    "{} (+{:.1} s)",
                    fmt::clock(t),
                    fmt::between(s.started_at, t)
                )
            },
        ),
        step: c.step,
    }
}

fn step(s: &ScenarioResult, st: &StepRecord) -> StepView {
    let outcome = match st.outcome {
        StepOutcome::Ok => "ok",
        StepOutcome::Failed => "failed",
        StepOutcome::Error => "error",
        StepOutcome::Skipped => "skipped",
    };
    let commands: Vec<CommandView> = st.commands.iter().map(command).collect();
    StepView {
        index: st.index,
        kind: st.kind.clone(),
        description: st.description.clone(),
        outcome,
        offset: format!("+{:.1} s", fmt::between(s.started_at, st.started_at)),
        duration: fmt::secs(fmt::between(st.started_at, st.finished_at)),
        detail: st.detail.clone(),
        // Open what an auditor must read: a step that did not succeed, or whose commands did not.
        open: st.outcome != StepOutcome::Ok || commands.iter().any(|c| !c.ok),
        commands,
    }
}

fn command(c: &CommandRecord) -> CommandView {
    let (status, ok) = match (c.exit_status, &c.error) {
        (Some(0), _) => ("exit 0".to_owned(), true),
        (Some(n), _) => (format!("exit {n}"), false),
        (None, Some(e)) => (format!("no exit status: {e}"), false),
        (None, None) => ("no exit status".to_owned(), false),
    };
    CommandView {
        node: c.node.clone(),
        command: c.command.clone(),
        status,
        ok,
        at: fmt::clock(c.started_at),
        duration: format!("{} ms", c.duration_ms),
        stdout: c.stdout.clone(),
        stderr: c.stderr.clone(),
    }
}

fn snapshot(label: &'static str, v: Option<&serde_json::Value>) -> SnapshotView {
    let Some(v) = v else {
        return SnapshotView {
            label,
            present: false,
            leader: None,
            members: None,
            raw: None,
        };
    };
    let members = v.get("members").and_then(|m| m.as_array()).map(|ms| {
        ms.iter()
            .map(|m| {
                let s = |k: &str| match m.get(k) {
                    Some(serde_json::Value::String(x)) => x.clone(),
                    Some(serde_json::Value::Null) | None => String::new(),
                    Some(x) => x.to_string(),
                };
                let role = s("role");
                let state = s("state");
                let role_class = match role.as_str() {
                    "leader" | "master" | "primary" | "standby_leader" => "leader",
                    "replica" | "sync_standby" => "replica",
                    _ => "unknown",
                };
                MemberRow {
                    name: s("name"),
                    state_bad: !matches!(
                        state.as_str(),
                        "running" | "streaming" | "in archive recovery"
                    ),
                    role,
                    role_class,
                    state,
                    host: match (s("host"), s("port")) {
                        (h, p) if !p.is_empty() => format!("{h}:{p}"),
                        (h, _) => h,
                    },
                    timeline: s("timeline"),
                    lag: s("lag"),
                }
            })
            .collect::<Vec<_>>()
    });
    let leader = members.as_ref().and_then(|ms| {
        ms.iter()
            .find(|m| m.role_class == "leader")
            .map(|m| m.name.clone())
    });
    SnapshotView {
        label,
        present: true,
        // When the shape is unexpected, show the JSON itself rather than nothing.
        raw: members
            .is_none()
            .then(|| serde_json::to_string_pretty(v).unwrap_or_default()),
        leader,
        members,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::report::test_fixture as fixture;

    #[test]
    fn failed_scenarios_come_first_and_failed_checks_first() {
        let r = fixture("failed-run");
        let v = view(&r);
        let order: Vec<&str> = v.scenarios.iter().map(|s| s.verdict).collect();
        assert_eq!(order, ["failed", "failed", "passed", "passed"]);
        let sw = &v.scenarios[0];
        assert_eq!(sw.id, "ops-switchover");
        assert!(!sw.checks[0].passed);
        assert!(sw.checks[1..].iter().all(|c| c.passed));
        assert!(sw.steps.iter().find(|s| s.index == 4).unwrap().open);
        assert!(!sw.steps.iter().find(|s| s.index == 0).unwrap().open);
        assert!(!sw.flaky && sw.attempts_note.is_none());
        let retried = v
            .scenarios
            .iter()
            .find(|s| s.id == "standby-kill9")
            .unwrap();
        assert!(retried.flaky);
        assert_eq!(
            retried.attempts_note.as_deref(),
            Some("2 attempts of this scenario: #1 failed, #2 passed (flaky)")
        );
    }

    #[test]
    fn html_escapes_everything() {
        let mut r = fixture("failed-run");
        r.scenarios[0].title = "<script>alert(1)</script>".into();
        r.scenarios[0].steps[2].commands[0].stdout = "a < b && \"c\"".into();
        r.scenarios[0]
            .logs
            .insert("pg1".into(), "<img src=x onerror=alert(1)>".into());
        let html = render_html(&r).unwrap();
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"));
        assert!(!html.contains("<img src=x"));
        assert!(html.contains("a &lt; b &amp;&amp; &quot;c&quot;"));
    }

    #[test]
    fn partial_results_render() {
        for name in ["interrupted-run", "aborted-run"] {
            let html = render_html(&fixture(name)).unwrap();
            assert!(
                html.contains("not recorded") || html.contains("Not recorded"),
                "{name}"
            );
        }
        let html = render_html(&fixture("aborted-run")).unwrap();
        assert!(html.contains("ABORTED: cluster did not recover"));
    }

    #[test]
    fn snapshot_table_or_raw() {
        let s = snapshot(
            "x",
            Some(&serde_json::json!({"members": [
                {"name": "pg1", "role": "master", "state": "running", "host": "h", "port": 5432, "timeline": 3}
            ]})),
        );
        let m = &s.members.unwrap()[0];
        assert_eq!(m.role_class, "leader");
        assert_eq!(m.host, "h:5432");
        assert_eq!(m.timeline, "3");
        assert_eq!(s.leader.as_deref(), Some("pg1"));
        let s = snapshot("x", Some(&serde_json::json!({"weird": 1})));
        assert!(s.raw.unwrap().contains("weird"));
        assert!(!snapshot("x", None).present);
    }
}
