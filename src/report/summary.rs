//! `summary.md`: a short summary for a CI job page (GitHub `$GITHUB_STEP_SUMMARY`, GitLab).

use std::fmt::Write as _;

use super::fmt;
use crate::results::{RunOutcome, RunResults, Verdict};

/// Renders `summary.md`.
pub fn render_summary(r: &RunResults) -> String {
    let mut o = String::new();
    let icon = match r.outcome {
        RunOutcome::Running => "⏳",
        RunOutcome::Passed => "✅",
        RunOutcome::Failed => "❌",
        RunOutcome::Aborted { .. } => "🛑",
        RunOutcome::Interrupted => "⚠️",
    };
    let _ = writeln!(
        o,
        "## {icon} pgchaos: {}\n",
        md(&fmt::outcome_line(&r.outcome))
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
        "Cluster `{}`{} · Patroni {} · PostgreSQL {} · etcd {}  ",
        code(&r.cluster.scope),
        if r.cluster.lab { " (lab)" } else { "" },
        md(v.patroni.as_deref().unwrap_or("?")),
        md(v.postgres.as_deref().unwrap_or("?")),
        md(v.etcd.as_deref().unwrap_or("?")),
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
                verdict_icon(s.verdict),
                fmt::verdict(s.verdict),
                fmt::opt_secs(s.metrics.failover_seconds),
                fmt::opt_secs(fmt::unavailable(s)),
                md(&s.covers.join(", ")),
            );
        }
        let _ = writeln!(o);
    }

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
    let _ = writeln!(
        o,
        "Full report: `index.html` (single file) · `junit.xml` · `results.json`"
    );
    o
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
fn code(s: &str) -> String {
    s.replace('`', "'").replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> RunResults {
        let path = format!(
            "{}/tests/fixtures/results/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
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
