//! Reading scenario files, with diagnostics that point into the file.
//!
//! Every problem is collected, not just the first: a file with a syntax error yields one
//! diagnostic (serde stops there), a file that parses yields one per semantic problem, and
//! loading several files adds the problems between files (duplicate ids).
// The error enums keep their original `Syntax` variant (a public contract), which is
// large; errors are the cold path of loading a few files, so its size does not matter.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Scenario;
use crate::diag::{Diagnostic, Located, Source, YPath};

/// Diagnostic code of problems in scenario files.
const CODE: &str = "pgchaos::scenario::invalid";

/// A scenario together with the file it came from.
#[derive(Clone, Debug)]
pub struct LoadedScenario {
    /// The parsed scenario.
    pub scenario: Scenario,
    /// Path of the file.
    pub path: PathBuf,
    /// Its text, for diagnostics.
    pub source: Arc<str>,
}

/// Why a scenario file was refused.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ScenarioError {
    /// The file or directory could not be read.
    #[error("failed to read {path}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed or does not fit the scenario format. (The loaders report
    /// these as [`ScenarioError::Rejected`]; kept for callers that build it themselves.)
    #[error("{path}:{line}:{column}: {message}")]
    #[diagnostic(code(pgchaos::scenario::syntax))]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong and what is accepted.
        message: String,
        /// The file's text.
        #[source_code]
        src: miette::NamedSource<String>,
        /// Where.
        #[label("here")]
        span: Option<miette::SourceSpan>,
    },
    /// The YAML parsed but its content is inconsistent. (The loaders report these as
    /// [`ScenarioError::Rejected`]; kept for callers that build it themselves.)
    #[error("{path}: {message}")]
    #[diagnostic(code(pgchaos::scenario::invalid))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// One or more problems, each pointing at a file, line and column.
    #[error("{} problem(s) found in scenario files", diagnostics.len())]
    #[diagnostic(code(pgchaos::scenario::rejected))]
    Rejected {
        /// Every problem found, in file order.
        #[related]
        diagnostics: Vec<Diagnostic>,
    },
}

impl ScenarioError {
    /// The located problems (empty for read errors).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ScenarioError::Rejected { diagnostics } => diagnostics,
            _ => &[],
        }
    }
}

/// Loads every `*.yml` / `*.yaml` file below `dir`, sorted by path.
#[cfg(test)]
fn load_dir(dir: &Path) -> Result<Vec<LoadedScenario>, ScenarioError> {
    load_paths(&[dir.to_owned()])
}

/// Loads files and directories, checking every file and then the files against each other
/// (duplicate ids). Fails with every problem found.
#[cfg(test)]
fn load_paths(paths: &[PathBuf]) -> Result<Vec<LoadedScenario>, ScenarioError> {
    let (loaded, diagnostics) = load_paths_collecting(paths)?;
    if diagnostics.is_empty() {
        Ok(loaded)
    } else {
        Err(ScenarioError::Rejected { diagnostics })
    }
}

/// Like [`load_paths`], but returns the files that loaded cleanly together with the
/// problems of the others, so that a caller can go on checking the good ones (e.g.
/// against an inventory). Only an unreadable path is an error.
pub(crate) fn load_paths_collecting(
    paths: &[PathBuf],
) -> Result<(Vec<LoadedScenario>, Vec<Diagnostic>), ScenarioError> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            collect(p, &mut found)?;
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    // The same file named twice (a directory and a file in it) is loaded once, so that it
    // is not reported as a duplicate of itself.
    let mut seen = std::collections::BTreeSet::new();
    files.retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    let mut loaded = Vec::new();
    let mut diagnostics = Vec::new();
    for f in &files {
        let text = read(f)?;
        match parse_collecting(f, &text) {
            Ok(s) => loaded.push(s),
            Err(d) => diagnostics.extend(d),
        }
    }
    diagnostics.extend(duplicate_ids(&loaded));
    Ok((loaded, diagnostics))
}

fn read(path: &Path) -> Result<String, ScenarioError> {
    std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_owned(),
        source,
    })
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ScenarioError> {
    let rd = std::fs::read_dir(dir).map_err(|source| ScenarioError::Read {
        path: dir.to_owned(),
        source,
    })?;
    for entry in rd {
        let entry = entry.map_err(|source| ScenarioError::Read {
            path: dir.to_owned(),
            source,
        })?;
        let p = entry.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")) {
            out.push(p);
        }
    }
    Ok(())
}

/// Parses and checks scenario text that came from `path`.
pub fn parse(path: &Path, text: &str) -> Result<LoadedScenario, ScenarioError> {
    parse_collecting(path, text).map_err(|diagnostics| ScenarioError::Rejected { diagnostics })
}

/// The kind lists named in messages about unknown kinds.
const KINDS: &[(&str, &[&str])] = &[
    ("step kind", super::STEP_KINDS),
    ("condition kind", super::CONDITION_KINDS),
];

fn parse_collecting(path: &Path, text: &str) -> Result<LoadedScenario, Vec<Diagnostic>> {
    let shown: Arc<str> = Arc::from(text);
    let src = Source::new(path, shown.clone(), CODE).with_kinds(KINDS);
    let scenario: Scenario =
        crate::diag::from_yaml(text).map_err(|e| vec![src.yaml_error(&e, text)])?;
    let tree = Located::parse(text);
    let diags = super::check::check(&src, &tree, &scenario);
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(LoadedScenario {
        scenario,
        path: path.to_owned(),
        source: shown,
    })
}

/// A diagnostic at `path` inside an already loaded scenario.
pub(crate) fn diag_in(
    s: &LoadedScenario,
    tree: &Located,
    at: &YPath,
    message: String,
) -> Diagnostic {
    Source::new(&s.path, s.source.clone(), CODE).diag(tree.find(at), message)
}

fn duplicate_ids(loaded: &[LoadedScenario]) -> Vec<Diagnostic> {
    let mut first: BTreeMap<&str, &LoadedScenario> = BTreeMap::new();
    let mut out = Vec::new();
    for s in loaded {
        match first.get(s.scenario.id.as_str()) {
            None => {
                first.insert(&s.scenario.id, s);
            }
            Some(orig) => {
                let at = YPath::root().key("id");
                let here = Located::parse(&s.source);
                let there = Located::parse(&orig.source);
                let d = diag_in(
                    s,
                    &here,
                    &at,
                    format!(
                        "scenario id {:?} is already used by {}: scenario ids must be unique",
                        s.scenario.id,
                        orig.path.display()
                    ),
                )
                .with_help("rename one of the two scenarios")
                .with_related(
                    diag_in(
                        orig,
                        &there,
                        &at,
                        format!("scenario id {:?} first used here", s.scenario.id),
                    )
                    .with_label("first used here"),
                );
                out.push(d);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_of_a_file_is_reported_in_order() {
        let text = "id: Bad_Id\ntitle: t\ncovers: [nope/1]\ntargets: {v: leader}\nsteps:\n  - reboot: {target: w}\n  - hold: {for: 0s}\n";
        let err = parse(Path::new("x.yml"), text).unwrap_err();
        let lines: Vec<usize> = err.diagnostics().iter().map(|d| d.line).collect();
        assert_eq!(lines, vec![1, 3, 6, 7], "{err:?}");
    }

    #[test]
    fn stale_read_max_without_a_reader_is_refused_where_it_is_written() {
        let text = "id: s\ntitle: t\nworkload:\n  writer: {rate: 5}\nsteps: []\nverdicts:\n  stale_read_max: 2s\n";
        let err = parse(Path::new("x.yml"), text).unwrap_err();
        let d = &err.diagnostics()[0];
        assert_eq!((d.line, d.column), (7, 19), "{err:?}");
        assert!(d.message.contains("needs a reader"), "{}", d.message);
        let text = "id: s\ntitle: t\nworkload:\n  reader: {rate: 5, lag_check: 1MB}\nsteps: []\nverdicts: {stale_read_max: 2s}\n";
        let err = parse(Path::new("x.yml"), text).unwrap_err();
        let m: Vec<&str> = err
            .diagnostics()
            .iter()
            .map(|d| d.message.as_str())
            .collect();
        assert!(m[0].contains("needs a writer"), "{m:?}");
        assert!(m[1].contains("needs `replicas: true`"), "{m:?}");
        let ok = "id: s\ntitle: t\nworkload:\n  writer: {rate: 5}\n  reader: {rate: 5, replicas: true, lag_check: 1MB}\nsteps: []\nverdicts: {stale_read_max: 2s}\n";
        parse(Path::new("x.yml"), ok).expect("a writer and a reader");
    }

    #[test]
    fn duplicate_ids_across_files_name_both() {
        let dir = tempfile::tempdir().unwrap();
        let body = "title: t\nsteps: []\n";
        std::fs::write(dir.path().join("a.yml"), format!("id: same\n{body}")).unwrap();
        std::fs::write(dir.path().join("b.yml"), format!("id: same\n{body}")).unwrap();
        std::fs::write(dir.path().join("c.yml"), format!("id: other\n{body}")).unwrap();
        let err = load_dir(dir.path()).unwrap_err();
        let d = &err.diagnostics()[0];
        assert_eq!(err.diagnostics().len(), 1);
        assert!(
            d.path.ends_with("b.yml") && d.message.contains("a.yml"),
            "{d}"
        );
        assert!(d.related[0].path.ends_with("a.yml"));
    }

    #[test]
    fn a_file_named_twice_is_loaded_once() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.yml");
        std::fs::write(&f, "id: a\ntitle: t\nsteps: []\n").unwrap();
        let loaded = load_paths(&[dir.path().to_owned(), f]).unwrap();
        assert_eq!(loaded.len(), 1);
    }
}
