//! Reporters: results.json, junit.xml, index.html and summary.md, rendered from results only.
//!
//! Every reporter is a pure function of [`RunResults`]: nothing here talks to the cluster,
//! so a saved `results.json` re-renders into the very same reports (`pgchaos report`).
//! Reports must work for partial results too (an interrupted or aborted run, scenarios
//! that were skipped, missing snapshots, no observations): every field that may be absent
//! is rendered as "not recorded", never as a pass.
//!
//! `app::run` writes them with `prepare_dir` (a fresh, timestamped directory) and then
//! `write_all` (or `write_all_redacted`, secrets masked), which names the files it wrote.

mod fmt;
mod html;
mod junit;
mod redact;
mod summary;
mod timeline;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::results::{RunResults, SCHEMA_VERSION};
use crate::secret::Secret;

pub(crate) use html::render_html;
pub(crate) use junit::render_junit;
pub(crate) use redact::redact_results;
pub(crate) use summary::render_summary;

/// Name of the results file inside a report directory.
pub(crate) const RESULTS_FILE: &str = "results.json";
/// Name of the JUnit file inside a report directory.
pub(crate) const JUNIT_FILE: &str = "junit.xml";
/// Name of the HTML report inside a report directory.
pub(crate) const HTML_FILE: &str = "index.html";
/// Name of the Markdown summary inside a report directory.
pub(crate) const SUMMARY_FILE: &str = "summary.md";
/// Name of the symlink, inside the base directory, that points at the newest run.
pub(crate) const LATEST_LINK: &str = "latest";

/// Why reports could not be prepared, rendered, written or loaded.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub(crate) enum ReportError {
    /// The report directory could not be created.
    #[error("failed to create report directory {path}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The `latest` symlink could not be replaced.
    #[error("failed to point {link} at {target}")]
    Latest {
        /// The link.
        link: PathBuf,
        /// Where it should point.
        target: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A report file could not be written.
    #[error("failed to write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A report could not be rendered.
    #[error("failed to render {file}: {message}")]
    Render {
        /// Which report (`junit.xml`, `index.html`, ...).
        file: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A results file could not be read.
    #[error("failed to read results file {path}")]
    #[diagnostic(help("give the path of a results.json written by `pgchaos run`"))]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A results file is not valid JSON or does not match the results format.
    #[error("failed to parse results file {path}: {source}")]
    #[diagnostic(help(
        "the file must be a results.json written by `pgchaos run` (format: `pgchaos schema results`)"
    ))]
    Parse {
        /// The file.
        path: PathBuf,
        /// The JSON error (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A results file has a format version this pgchaos does not know.
    #[error(
        "failed to load results file {path}: schema_version is {found}, this pgchaos reads version {expected}"
    )]
    #[diagnostic(help(
        "re-render it with the pgchaos version that wrote it, or run the scenarios again"
    ))]
    SchemaVersion {
        /// The file.
        path: PathBuf,
        /// What the file says (`missing` when absent or not a number).
        found: String,
        /// What this pgchaos reads.
        expected: u32,
    },
    /// Several reports failed; each message is listed.
    #[error("failed to write some reports: {}", .0.join("; "))]
    Several(Vec<String>),
}

/// The files [`write_all`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Written {
    /// The report directory.
    pub dir: PathBuf,
    /// `results.json`.
    pub results_json: PathBuf,
    /// `junit.xml`.
    pub junit_xml: PathBuf,
    /// `index.html`.
    pub index_html: PathBuf,
    /// `summary.md`.
    pub summary_md: PathBuf,
}

/// Creates the report directory and returns it.
///
/// With `explicit` (`--report-dir`), that directory is created and used as is, and
/// `base/latest` is left alone: the user chose where this run goes. Otherwise the
/// directory is `base/<started, UTC, e.g. 2026-11-22T09-33-09Z>/` (colons are not portable
/// in file names), suffixed `-2`, `-3`, ... if a run started in the same second, and the
/// `base/latest` symlink is replaced atomically to point at it (relative, so the reports
/// directory can be moved or archived as a whole).
pub(crate) fn prepare_dir(
    explicit: Option<&Path>,
    base: &Path,
    started: DateTime<Utc>,
) -> Result<PathBuf, ReportError> {
    if let Some(dir) = explicit {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        return Ok(dir.to_owned());
    }
    std::fs::create_dir_all(base).map_err(|source| ReportError::CreateDir {
        path: base.to_owned(),
        source,
    })?;
    let stamp = started.format("%Y-%m-%dT%H-%M-%SZ").to_string();
    let mut name = stamp.clone();
    let mut n = 1;
    let dir = loop {
        let candidate = base.join(&name);
        // create_dir (not create_dir_all) fails if it exists: two runs never share a directory.
        match std::fs::create_dir(&candidate) {
            Ok(()) => break candidate,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => {
                n += 1;
                name = format!("{stamp}-{n}");
            }
            Err(source) => {
                return Err(ReportError::CreateDir {
                    path: candidate,
                    source,
                });
            }
        }
    };
    point_latest(base, &name)?;
    Ok(dir)
}

/// Replaces `base/latest` by a symlink to `name`: a new link is made under a temporary name
/// and renamed over the old one, so readers never see a missing or half-made link.
fn point_latest(base: &Path, name: &str) -> Result<(), ReportError> {
    let link = base.join(LATEST_LINK);
    let tmp = base.join(format!(".{LATEST_LINK}.{}.tmp", std::process::id()));
    let err = |source| ReportError::Latest {
        link: link.clone(),
        target: PathBuf::from(name),
        source,
    };
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(name, &tmp).map_err(err)?;
    std::fs::rename(&tmp, &link).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })
}

/// Writes results.json, junit.xml, index.html and summary.md into `dir` (created if needed).
///
/// The results are written as given: the runner redacts secrets before results exist. To
/// also scrub free text (command output, logs, snapshots) against known secret values, use
/// [`write_all_redacted`]. Every report is attempted even if an earlier one failed, so a
/// rendering bug in one never costs the others (results.json above all).
pub(crate) fn write_all(results: &RunResults, dir: &Path) -> Result<Written, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir {
        path: dir.to_owned(),
        source,
    })?;
    let written = Written {
        dir: dir.to_owned(),
        results_json: dir.join(RESULTS_FILE),
        junit_xml: dir.join(JUNIT_FILE),
        index_html: dir.join(HTML_FILE),
        summary_md: dir.join(SUMMARY_FILE),
    };
    let mut errors = Vec::new();
    let json = serde_json::to_string_pretty(results)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| ReportError::Render {
            file: RESULTS_FILE,
            message: e.to_string(),
        });
    let outputs: [(&Path, Result<String, ReportError>); 4] = [
        (&written.results_json, json),
        (&written.junit_xml, render_junit(results)),
        (&written.index_html, render_html(results)),
        (&written.summary_md, Ok(render_summary(results))),
    ];
    for (path, rendered) in outputs {
        match rendered.and_then(|text| write_atomically(path, &text)) {
            Ok(()) => {}
            Err(e) => errors.push(e),
        }
    }
    match errors.len() {
        0 => Ok(written),
        1 => Err(errors.remove(0)),
        _ => Err(ReportError::Several(
            errors.iter().map(error_chain).collect(),
        )),
    }
}

/// [`write_all`] after replacing every occurrence of each secret, in every string of the
/// results (command lines and output, logs, snapshots, check evidence), by `***`.
pub(crate) fn write_all_redacted(
    results: &RunResults,
    dir: &Path,
    secrets: &[Secret],
) -> Result<Written, ReportError> {
    write_all(&redact_results(results, secrets), dir)
}

/// Reads a saved `results.json`, refusing unknown format versions with a clear message.
pub(crate) fn load_results(path: &Path) -> Result<RunResults, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::Read {
        path: path.to_owned(),
        source,
    })?;
    let parse_err = |source| ReportError::Parse {
        path: path.to_owned(),
        source,
    };
    // Look at the version before the shape, so that a future format is reported as such
    // rather than as a confusing "missing field".
    let value: serde_json::Value = serde_json::from_str(&text).map_err(parse_err)?;
    match value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
    {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        found => {
            return Err(ReportError::SchemaVersion {
                path: path.to_owned(),
                found: found.map_or_else(|| "missing".to_owned(), |v| v.to_string()),
                expected: SCHEMA_VERSION,
            });
        }
    }
    serde_json::from_str(&text).map_err(parse_err)
}

fn write_atomically(path: &Path, text: &str) -> Result<(), ReportError> {
    let err = |source| ReportError::Write {
        path: path.to_owned(),
        source,
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })
}

fn error_chain(e: &ReportError) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

/// A hand-made results file of `tests/fixtures/results/`, for reporters' unit tests.
#[cfg(test)]
pub(crate) fn test_fixture(name: &str) -> RunResults {
    let path = format!(
        "{}/tests/fixtures/results/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn prepare_dir_creates_timestamped_dir_and_latest_link() {
        let base = tempfile::tempdir().unwrap();
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 9, 33, 9).unwrap();
        let dir = prepare_dir(None, base.path(), t).unwrap();
        assert_eq!(dir, base.path().join("2026-11-22T09-33-09Z"));
        assert!(dir.is_dir());
        let link = base.path().join(LATEST_LINK);
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            PathBuf::from("2026-11-22T09-33-09Z")
        );

        // Same second: a new directory, and latest moves to it.
        let dir2 = prepare_dir(None, base.path(), t).unwrap();
        assert_eq!(dir2, base.path().join("2026-11-22T09-33-09Z-2"));
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            PathBuf::from("2026-11-22T09-33-09Z-2")
        );
        assert!(link.join(".").is_dir());
    }

    #[test]
    fn prepare_dir_explicit_leaves_latest_alone() {
        let base = tempfile::tempdir().unwrap();
        let explicit = base.path().join("mine/deep");
        let dir = prepare_dir(Some(&explicit), &base.path().join("reports"), Utc::now()).unwrap();
        assert_eq!(dir, explicit);
        assert!(explicit.is_dir());
        assert!(!base.path().join("reports/latest").exists());
    }

    #[test]
    fn write_all_handles_a_run_aborted_before_any_scenario() {
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 9, 33, 9).unwrap();
        let r = RunResults {
            schema_version: SCHEMA_VERSION,
            run_id: "r1".into(),
            pgchaos_version: "0.1.0".into(),
            started_at: t,
            finished_at: t,
            invoked_by: "me@here".into(),
            command_line: vec!["pgchaos".into(), "run".into()],
            cluster: Default::default(),
            outcome: crate::results::RunOutcome::Aborted {
                reason: "preflight: no leader".into(),
            },
            scenarios: vec![],
            provenance: Default::default(),
            resets: vec![],
        };
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("new");
        let w = write_all(&r, &dir).unwrap();
        let html = std::fs::read_to_string(&w.index_html).unwrap();
        assert!(html.contains("ABORTED: preflight: no leader"));
        assert!(html.contains("No scenario was run."));
        let xml = std::fs::read_to_string(&w.junit_xml).unwrap();
        assert!(xml.contains("tests=\"0\""));
        assert!(xml.contains("name=\"abort_reason\" value=\"preflight: no leader\""));
        let md = std::fs::read_to_string(&w.summary_md).unwrap();
        assert!(md.contains("ABORTED: preflight: no leader"));
        let back = load_results(&w.results_json).unwrap();
        assert_eq!(back.run_id, "r1");
    }

    #[test]
    fn every_report_names_the_files_as_run_the_build_and_the_resets() {
        let r = test_fixture("failed-run");
        let d = tempfile::tempdir().unwrap();
        let w = write_all(&r, d.path()).unwrap();
        let inv = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let commit = "0123456789abcdef0123456789abcdef01234567";
        for p in [&w.results_json, &w.junit_xml, &w.index_html, &w.summary_md] {
            let s = std::fs::read_to_string(p).unwrap();
            assert!(s.contains(inv), "{}: no inventory hash", p.display());
            assert!(s.contains(commit), "{}: no build commit", p.display());
            assert!(s.contains("reset"), "{}: no reset", p.display());
        }
        let xml = std::fs::read_to_string(&w.junit_xml).unwrap();
        for f in &r.provenance.scenarios {
            assert!(
                xml.contains(&format!(
                    "name=\"sha256.scenario.{}\" value=\"{}\"",
                    f.path, f.sha256
                )),
                "{xml}"
            );
        }
        assert!(xml.contains("name=\"version.patroni.pg2\" value=\"3.0.2\""));
        let html = std::fs::read_to_string(&w.index_html).unwrap();
        assert!(html.contains("Cluster resets"));
        assert!(html.contains(&r.provenance.scenarios[0].sha256));
    }

    #[test]
    fn write_all_redacted_scrubs_every_report() {
        let text = include_str!("../../tests/fixtures/results/failed-run.json")
            .replace("pkill -9 -x postgres", "psql postgresql://u:s3cr3t@pg1/db");
        let r: RunResults = serde_json::from_str(&text).unwrap();
        let d = tempfile::tempdir().unwrap();
        let w = write_all_redacted(&r, d.path(), &[Secret::new("s3cr3t")]).unwrap();
        for p in [&w.results_json, &w.junit_xml, &w.index_html, &w.summary_md] {
            let s = std::fs::read_to_string(p).unwrap();
            assert!(!s.contains("s3cr3t"), "{}", p.display());
        }
        let html = std::fs::read_to_string(&w.index_html).unwrap();
        assert!(
            html.contains("postgresql:&#x2f;&#x2f;u:***@pg1"),
            "redacted text kept"
        );
    }

    #[test]
    fn load_results_refuses_unknown_schema_version() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.json");
        std::fs::write(&p, r#"{"schema_version": 99}"#).unwrap();
        let e = load_results(&p).unwrap_err();
        assert!(matches!(e, ReportError::SchemaVersion { ref found, .. } if found == "99"));
        assert!(e.to_string().contains("schema_version is 99"));

        std::fs::write(&p, r#"{"run_id": "x"}"#).unwrap();
        let e = load_results(&p).unwrap_err();
        assert!(e.to_string().contains("schema_version is missing"), "{e}");

        std::fs::write(&p, "{not json").unwrap();
        assert!(matches!(
            load_results(&p).unwrap_err(),
            ReportError::Parse { .. }
        ));
    }

    #[test]
    fn an_accepted_risk_is_marked_in_every_report() {
        let mut r = test_fixture("failed-run");
        r.outcome = crate::results::RunOutcome::Passed;
        let s = r
            .scenarios
            .iter_mut()
            .find(|s| s.verdict == crate::results::Verdict::Passed)
            .expect("a passed scenario");
        s.accepted_risks.push(crate::results::AcceptedRiskFinding {
            risk: "split_brain".into(),
            bound: "30s".into(),
            reason: "no watchdog".into(),
            observed: "1 window(s) where two nodes accepted writes, longest 1.0s".into(),
        });
        let id = s.id.clone();
        let md = render_summary(&r);
        assert!(
            md.contains("PASSED — 1 scenario(s) passed only with an ACCEPTED RISK"),
            "{md}"
        );
        assert!(
            md.contains(&format!("| `{id}` | ⚠️ passed with ACCEPTED RISK |")),
            "{md}"
        );
        let xml = render_junit(&r).expect("junit");
        assert!(
            xml.contains(&format!(
                "name=\"{id}.accepted_risk\" value=\"ACCEPTED RISK split_brain"
            )),
            "{xml}"
        );
        assert!(
            xml.contains("accepted_risk              ACCEPTED RISK split_brain"),
            "{xml}"
        );
        let html = render_html(&r).expect("html");
        assert!(html.contains("data-accepted-risk=\"true\""), "{html}");
        assert!(html.contains("<b>ACCEPTED RISK</b>"));
        let json = serde_json::to_value(&r).expect("json");
        assert!(
            json["scenarios"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["accepted_risks"][0]["risk"] == "split_brain")
        );
    }
}
