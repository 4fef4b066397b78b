//! `summary.md`: a short summary for a CI job page (GitHub `$GITHUB_STEP_SUMMARY`, GitLab).

use std::fmt::Write as _;

use super::fmt;
use crate::results::{RunOutcome, RunResults, Verdict};

/// Renders `summary.md`.
pub(crate) fn render_summary(r: &RunResults) -> String {
    let mut o = String::new();
    heading(&mut o, r);
    provenance_and_resets(&mut o, r);
    scenario_table(&mut o, r);
    repeated_table(&mut o, r);
    accepted_risks(&mut o, r);
    unbounded_losses(&mut o, r);
    stale_reads(&mut o, r);
    etcd_outages(&mut o, r);
    haproxy_flapping(&mut o, r);
    keyless_writes(&mut o, r);
    not_passed(&mut o, r);
    let _ = writeln!(
        o,
        "Full report: `index.html` (single file) · `junit.xml` · `results.json`"
    );
    o
}

/// The title line with the run's outcome, the cluster and the counts by verdict.
fn heading(o: &mut String, r: &RunResults) {
    let icon = match r.outcome {
        RunOutcome::Running => "⏳",
        RunOutcome::Passed => "✅",
        RunOutcome::Failed => "❌",
        RunOutcome::Aborted { .. } => "🛑",
        RunOutcome::Interrupted => "⚠️",
    };
    let accepted = r
        .scenarios
        .iter()
        .filter(|s| s.passed_with_accepted_risk())
        .count();
    let (icon, note) = if accepted > 0 && r.outcome == RunOutcome::Passed {
        (
            "⚠️",
            format!("{accepted} scenario(s) passed only with an ACCEPTED RISK"),
        )
    } else {
        (icon, String::new())
    };
    let _ = writeln!(
        o,
        "## {icon} pgchaos: {}{}\n",
        md(&fmt::outcome_line(&r.outcome)),
        // `md` trims, so the separator stays outside it.
        if note.is_empty() {
            String::new()
        } else {
            format!(" — {}", md(&note))
        }
    );

    let counts: Vec<String> = fmt::VERDICTS
        .iter()
        .filter_map(|v| {
            let n = r.scenarios.iter().filter(|s| s.verdict == *v).count();
            (n > 0).then(|| format!("{n} {}", fmt::verdict(*v)))
        })
        .collect();
    let v = &r.cluster.versions;
    let _ = writeln!(
        o,
        "Cluster `{}`{} · Patroni {} · PostgreSQL {} · etcd {} · watchdog {}  ",
        code(&r.cluster.scope),
        if r.cluster.lab { " (lab)" } else { "" },
        md(v.patroni.as_deref().unwrap_or("?")),
        md(v.postgres.as_deref().unwrap_or("?")),
        md(v.etcd.as_deref().unwrap_or("?")),
        md(v.watchdog.as_deref().unwrap_or("?")),
    );
    let _ = writeln!(
        o,
        "{} · {} · {} scenario attempt(s): {} · run `{}` by {}\n",
        fmt::datetime(r.started_at),
        fmt::secs(fmt::between(r.started_at, r.finished_at)),
        r.scenarios.len(),
        if counts.is_empty() {
            "none".to_owned()
        } else {
            counts.join(", ")
        },
        code(&r.run_id),
        md(&r.invoked_by),
    );
}

/// What was run (build, hashed files) and every cluster reset between scenarios.
fn provenance_and_resets(o: &mut String, r: &RunResults) {
    let prov = &r.provenance;
    if !prov.build_commit.is_empty() {
        let _ = writeln!(
            o,
            "pgchaos {} (build `{}`) · inventory {} · {} scenario file(s) hashed (SHA-256 in results.json; `pgchaos report --verify`)\n",
            md(&prov.pgchaos_version),
            code(&prov.build_commit),
            prov.inventory.as_ref().map_or_else(
                || "not recorded".to_owned(),
                |f| format!("`{}` sha256 `{}`", code(&f.path), code(&f.sha256))
            ),
            prov.scenarios.len(),
        );
    }
    for x in &r.resets {
        let _ = writeln!(
            o,
            "- 🔁 cluster reset after `{}` (attempt {}): {} — {} in {}",
            code(&x.after_scenario),
            x.attempt,
            md(&x.reason),
            if x.succeeded {
                "steady state again"
            } else {
                "**reset failed**"
            },
            fmt::secs(x.seconds),
        );
    }
    if !r.resets.is_empty() {
        let _ = writeln!(o);
    }
}

/// One row per scenario attempt: verdict, failover, write unavailability, covered cases.
fn scenario_table(o: &mut String, r: &RunResults) {
    if !r.scenarios.is_empty() {
        let _ = writeln!(
            o,
            "| Scenario | Verdict | Failover | Write unavailability | Covers |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|");
        for s in &r.scenarios {
            let _ = writeln!(
                o,
                "| `{}` | {} {} | {} | {} | {} |",
                code(&fmt::scenario_label(s)),
                if s.passed_with_accepted_risk() {
                    "⚠️"
                } else {
                    verdict_icon(s.verdict)
                },
                if s.passed_with_accepted_risk() {
                    "passed with ACCEPTED RISK"
                } else {
                    fmt::verdict(s.verdict)
                },
                fmt::opt_secs(s.metrics.failover_seconds),
                fmt::opt_secs(fmt::unavailable(s)),
                md(&s.covers.join(", ")),
            );
        }
        let _ = writeln!(o);
    }
}

/// Min, median and max of the times of every scenario run more than once.
fn repeated_table(o: &mut String, r: &RunResults) {
    let repeated = repeat_stats(r);
    if !repeated.is_empty() {
        let _ = writeln!(
            o,
            "| Repeated scenario | Runs | Failover min / median / max | Write unavailability min / median / max |"
        );
        let _ = writeln!(o, "|---|---|---|---|");
        for (id, n, fo, un) in &repeated {
            let _ = writeln!(
                o,
                "| `{}` | {n} | {} | {} |",
                code(id),
                spread(fo),
                spread(un)
            );
        }
        let _ = writeln!(o);
    }
}

/// Every risk a scenario passed with only because the inventory accepts it.
fn accepted_risks(o: &mut String, r: &RunResults) {
    let accepted: Vec<_> = r
        .scenarios
        .iter()
        .filter(|s| !s.accepted_risks.is_empty())
        .collect();
    if !accepted.is_empty() {
        let _ = writeln!(
            o,
            "### ⚠️ Accepted risks (seen, and not held against the verdict because the inventory accepts them)
"
        );
        for s in accepted {
            for f in &s.accepted_risks {
                let _ = writeln!(
                    o,
                    "- **{}**: ACCEPTED RISK {} (accepted up to {}: {}): {}",
                    md(&fmt::scenario_label(s)),
                    md(&f.risk),
                    md(&f.bound),
                    md(&f.reason),
                    md(&f.observed),
                );
            }
        }
        let _ = writeln!(o);
    }
}

/// A section listing, under `title`, each scenario for which `line` has something to
/// say (already Markdown); nothing at all when no scenario has.
fn per_scenario(
    o: &mut String,
    r: &RunResults,
    title: &str,
    line: impl Fn(&crate::results::ScenarioResult) -> Option<String>,
) {
    let rows: Vec<_> = r
        .scenarios
        .iter()
        .filter_map(|s| line(s).map(|l| (s, l)))
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(o, "### {title}\n");
    for (s, l) in rows {
        let _ = writeln!(o, "- **{}**: {l}", md(&fmt::scenario_label(s)));
    }
    let _ = writeln!(o);
}

/// Acknowledged writes lost in a scenario that bounds no loss (asynchronous replication
/// may lose them, and the scenario says so): measured, so shown, whatever the verdict.
fn unbounded_losses(o: &mut String, r: &RunResults) {
    per_scenario(
        o,
        r,
        "Lost writes measured, not bounded by the scenario",
        |s| {
            let w = s.workload.as_ref()?;
            let judged = s.checks.iter().any(|c| c.name == "lost writes");
            (!w.lost.is_empty() && !judged).then(|| {
                format!(
                    "{} of {} acknowledged write(s) lost{}",
                    w.lost.len(),
                    w.acknowledged,
                    w.lost_span_seconds
                        .map(|x| format!(" (span {})", fmt::secs(x)))
                        .unwrap_or_default()
                )
            })
        },
    );
}

/// Read-your-writes violations a reader saw, per scenario: through the read port, then
/// each node read directly.
fn stale_reads(o: &mut String, r: &RunResults) {
    per_scenario(o, r, "Stale reads", |s| {
        let rd = s.workload.as_ref()?.reads.as_ref()?;
        let any = rd.stale > 0 || rd.direct.values().any(|d| d.stale > 0);
        any.then(|| {
            let direct: String = rd
                .direct
                .iter()
                .map(|(n, d)| {
                    format!(
                        "; {}",
                        md(&format!("{n} directly: {}", fmt::read_staleness(d)))
                    )
                })
                .collect();
            format!("read port: {}{direct}", md(&fmt::read_staleness(rd)))
        })
    });
}

/// When the DCS itself had no leader, as etcd's members said (Patroni cannot renew a
/// leader lock then): the cause behind many a failover, shown beside it.
fn etcd_outages(o: &mut String, r: &RunResults) {
    per_scenario(o, r, "etcd without a leader", |s| {
        let windows = super::timeline::etcd_leaderless(s);
        (!windows.is_empty()).then(|| {
            let list: Vec<String> = windows
                .iter()
                .map(|(a, b)| {
                    format!(
                        "{} → {} ({})",
                        fmt::clock(*a),
                        fmt::clock(*b),
                        fmt::secs(fmt::between(*a, *b))
                    )
                })
                .collect();
            list.join("; ")
        })
    });
}

/// HAProxy backend servers taken out of a pool more than once in a scenario (from its
/// stats page): a failover or switchover moves each server at most once; more is a
/// server flapping in and out of a pool, which the application sees as errors.
fn haproxy_flapping(o: &mut String, r: &RunResults) {
    per_scenario(o, r, "HAProxy servers down more than once", |s| {
        let many: Vec<String> = s
            .metrics
            .haproxy
            .iter()
            .filter(|f| f.went_down > 1)
            .map(|f| format!("{} {}×", f.server, f.went_down))
            .collect();
        (!many.is_empty()).then(|| md(&many.join(", ")))
    });
}

/// Writes an old primary acknowledged after the leader key had moved away from it: what a
/// client that bypasses Patroni's health checks (a libpq multi-host string) can get.
fn keyless_writes(o: &mut String, r: &RunResults) {
    per_scenario(o, r, "Writes acknowledged without the leader key", |s| {
        let k = s.workload.as_ref()?.without_leader_key.as_ref()?;
        (!k.is_empty()).then(|| {
            let lines: Vec<String> = k.iter().map(fmt::keyless_line).collect();
            md(&lines.join("; "))
        })
    });
}

/// Each scenario that did not pass, with its first failed check or its reason.
fn not_passed(o: &mut String, r: &RunResults) {
    let problems: Vec<_> = r
        .scenarios
        .iter()
        .filter(|s| {
            matches!(
                s.verdict,
                Verdict::Failed | Verdict::Error | Verdict::Interrupted
            )
        })
        .collect();
    if !problems.is_empty() {
        let _ = writeln!(o, "### Not passed\n");
        for s in problems {
            let head = format!(
                "- **{}** ({}):",
                md(&fmt::scenario_label(s)),
                fmt::verdict(s.verdict)
            );
            match s.checks.iter().find(|c| !c.passed) {
                Some(c) => {
                    let _ = writeln!(
                        o,
                        "{head} check *{}*: expected {}; observed {}{}",
                        md(&c.name),
                        md(&c.expected),
                        md(&c.observed),
                        c.at.map(|t| format!(" (at {})", fmt::rfc3339(t)))
                            .unwrap_or_default()
                    );
                }
                None => {
                    let _ = writeln!(
                        o,
                        "{head} {}",
                        md(s.reason.as_deref().unwrap_or("no reason recorded"))
                    );
                }
            }
        }
        let _ = writeln!(o);
    }
}

fn verdict_icon(v: Verdict) -> &'static str {
    match v {
        Verdict::Passed => "✅",
        Verdict::Failed => "❌",
        Verdict::Error => "💥",
        Verdict::Interrupted => "⚠️",
        Verdict::Skipped => "⏭️",
    }
}

/// Markdown-safe inline text: one line, table pipes and HTML (rendered by CI summaries)
/// neutralised.
fn md(s: &str) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::with_capacity(one.len());
    for ch in one.chars() {
        match ch {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '*' | '_' | '`' | '[' | ']' | '\\' => {
                out.push('\\');
                out.push(ch);
            }
            _ => out.push(ch),
        }
    }
    out
}

/// Text inside a code span: backticks cannot be escaped there, so they are replaced; pipes
/// still break tables, so they are escaped (GitHub honours `\|` inside code in tables).
/// Scenarios that ran more than once (`--repeat`, `--retries`), with their failover and
/// write-unavailability times across runs.
pub(crate) fn repeat_stats(r: &RunResults) -> Vec<(String, usize, Vec<f64>, Vec<f64>)> {
    let mut by_id: std::collections::BTreeMap<&str, (usize, Vec<f64>, Vec<f64>)> =
        Default::default();
    for s in &r.scenarios {
        let e = by_id.entry(&s.id).or_default();
        e.0 += 1;
        e.1.extend(s.metrics.failover_seconds);
        e.2.extend(fmt::unavailable(s));
    }
    by_id
        .into_iter()
        .filter(|(_, (n, _, _))| *n > 1)
        .map(|(id, (n, fo, un))| (id.to_owned(), n, fo, un))
        .collect()
}

/// `min / median / max` of measured values, or "not measured".
fn spread(v: &[f64]) -> String {
    if v.is_empty() {
        return "not measured".into();
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let median = if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
    };
    format!(
        "{} / {} / {} ({} of the runs)",
        fmt::secs(s[0]),
        fmt::secs(median),
        fmt::secs(s[s.len() - 1]),
        s.len()
    )
}

fn code(s: &str) -> String {
    s.replace('`', "'").replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::report::test_fixture as fixture;

    #[test]
    fn repeated_scenarios_get_statistics() {
        let mut r = fixture("failed-run");
        let mut again = r.scenarios[0].clone();
        again.attempt = 1;
        again.metrics.failover_seconds = Some(4.0);
        let first = r.scenarios[0].metrics.failover_seconds;
        r.scenarios.push(again);
        let stats = repeat_stats(&r);
        let (_, n, fo, _) = stats
            .iter()
            .find(|(id, ..)| id == &r.scenarios[0].id)
            .unwrap();
        assert!(*n >= 2);
        assert!(fo.contains(&4.0));
        assert_eq!(fo.len(), usize::from(first.is_some()) + 1);
        let s = render_summary(&r);
        assert!(s.contains("| Repeated scenario | Runs |"), "{s}");
    }

    #[test]
    fn failed_run_summary() {
        let s = render_summary(&fixture("failed-run"));
        assert!(s.starts_with("## ❌ pgchaos: FAILED"), "{s}");
        assert!(
            s.contains("| `primary-kill9` | ✅ passed | — | 4.6 s | runbook/primary-1 |"),
            "{s}"
        );
        assert!(
            s.contains("| `ops-switchover` | ❌ failed | 2.0 s | 2.9 s | ops/switchover |"),
            "{s}"
        );
        assert!(s.contains("`standby-kill9 (attempt 2)`"));
        assert!(s.contains(
            "- **ops-switchover** (failed): check *old leader pg1 rejoins as a streaming replica*: expected"
        ), "{s}");
        assert!(s.contains("2 failed, 2 passed"), "{s}");
    }

    #[test]
    fn lost_writes_no_check_bounds_are_still_listed() {
        let mut r = fixture("failed-run");
        let s0 = r
            .scenarios
            .iter_mut()
            .find(|s| s.workload.is_some())
            .expect("a scenario with a workload");
        s0.checks.retain(|c| c.name != "lost writes");
        let w = s0.workload.as_mut().unwrap();
        w.lost = vec![7, 8, 9];
        let id = s0.id.clone();
        let s = render_summary(&r);
        assert!(
            s.contains("### Lost writes measured, not bounded by the scenario"),
            "{s}"
        );
        assert!(s.contains(&format!("- **{id}**: 3 of ")), "{s}");
        // A scenario that bounds its loss shows it in its checks instead.
        let s0 = r.scenarios.iter_mut().find(|s| s.id == id).unwrap();
        s0.checks.push(crate::results::CheckResult {
            name: "lost writes".into(),
            ..s0.checks[0].clone()
        });
        assert!(!render_summary(&r).contains("not bounded by the scenario"));
    }

    #[test]
    fn haproxy_servers_down_more_than_once_are_listed() {
        let mut r = fixture("failed-run");
        let flaps = |server: &str, went_down: u64| crate::results::HaproxyFlaps {
            server: server.into(),
            went_down,
            ..Default::default()
        };
        assert!(!render_summary(&r).contains("HAProxy servers"));
        r.scenarios[0].metrics.haproxy = vec![flaps("primary/pg1", 1), flaps("replicas/pg2", 3)];
        let s = render_summary(&r);
        assert!(s.contains("### HAProxy servers down more than once"), "{s}");
        assert!(
            s.contains("replicas/pg2 3×") && !s.contains("primary/pg1 1×"),
            "{s}"
        );
    }

    #[test]
    fn writes_without_the_leader_key_are_listed_and_an_empty_judgement_is_not() {
        let mut r = fixture("failed-run");
        let w = r
            .scenarios
            .iter_mut()
            .find_map(|s| s.workload.as_mut())
            .expect("a workload");
        w.without_leader_key = Some(vec![]);
        assert!(!render_summary(&r).contains("without the leader key"));
        let t = chrono::DateTime::<chrono::Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let w = r
            .scenarios
            .iter_mut()
            .find_map(|s| s.workload.as_mut())
            .unwrap();
        w.without_leader_key = Some(vec![crate::results::KeylessWrites {
            server: "pg1".into(),
            rows: 4,
            first_sent: t,
            holder_then: Some("pg2".into()),
            last_acknowledged: t,
        }]);
        let s = render_summary(&r);
        assert!(
            s.contains("### Writes acknowledged without the leader key"),
            "{s}"
        );
        assert!(s.contains("pg1 acknowledged 4 write(s) sent from 22:13:20.000 on, while the leader key named pg2"), "{s}");
    }

    #[test]
    fn aborted_run_summary_shows_reason() {
        let s = render_summary(&fixture("aborted-run"));
        assert!(s.contains("ABORTED: cluster did not recover"), "{s}");
        assert!(s.contains("💥 error"));
        assert!(s.contains("⏭️ skipped"));
    }

    #[test]
    fn md_neutralises_tables_and_html() {
        assert_eq!(md("a|b <script>\nx_y"), "a\\|b &lt;script&gt; x\\_y");
    }
}
