//! Reading scenario files, with diagnostics that point into the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Scenario;

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
    /// The YAML is malformed or does not fit the scenario format.
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
    /// The YAML parsed but its content is inconsistent.
    #[error("{path}: {message}")]
    #[diagnostic(code(pgchaos::scenario::invalid))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Loads one scenario file.
pub fn load_file(path: &Path) -> Result<LoadedScenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// Loads every `*.yml` / `*.yaml` file below `dir`, sorted by path.
pub fn load_dir(dir: &Path) -> Result<Vec<LoadedScenario>, ScenarioError> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    files.iter().map(|f| load_file(f)).collect()
}

/// Loads files and directories.
pub fn load_paths(paths: &[PathBuf]) -> Result<Vec<LoadedScenario>, ScenarioError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            out.extend(load_dir(p)?);
        } else {
            out.push(load_file(p)?);
        }
    }
    Ok(out)
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

/// Parses scenario text that came from `path`.
pub fn parse(path: &Path, text: &str) -> Result<LoadedScenario, ScenarioError> {
    let scenario: Scenario = serde_saphyr::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line() as usize, l.column() as usize))
            .unwrap_or((0, 0));
        ScenarioError::Syntax {
            path: path.to_owned(),
            line,
            column,
            message: e.to_string(),
            src: miette::NamedSource::new(path.display().to_string(), text.to_owned()),
            span: None,
        }
    })?;
    Ok(LoadedScenario {
        scenario,
        path: path.to_owned(),
        source: Arc::from(text),
    })
}

/// STUB (replaced by the load branch).
pub fn check_against(_s: &[LoadedScenario], _i: &crate::inventory::LoadedInventory) -> Result<(), ScenarioError> { Ok(()) }
