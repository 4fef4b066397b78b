//! Reading an inventory file, with diagnostics that point into the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Inventory;

/// An inventory together with the file it came from (kept for diagnostics).
#[derive(Clone, Debug)]
pub struct LoadedInventory {
    /// The parsed inventory.
    pub inventory: Inventory,
    /// Path of the file.
    pub path: PathBuf,
    /// Its text, for pointing diagnostics at it.
    pub source: Arc<str>,
}

/// Why an inventory was refused.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InventoryError {
    /// The file could not be read.
    #[error("failed to read inventory {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed or does not fit the inventory format.
    #[error("{path}:{line}:{column}: {message}")]
    #[diagnostic(code(pgchaos::inventory::syntax))]
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
    #[diagnostic(code(pgchaos::inventory::invalid))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Reads and validates the inventory at `path`.
pub fn load(path: &Path) -> Result<LoadedInventory, InventoryError> {
    let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// Parses and validates inventory text that came from `path`.
pub fn parse(path: &Path, text: &str) -> Result<LoadedInventory, InventoryError> {
    let inventory: Inventory = serde_saphyr::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line() as usize, l.column() as usize))
            .unwrap_or((0, 0));
        InventoryError::Syntax {
            path: path.to_owned(),
            line,
            column,
            message: e.to_string(),
            src: miette::NamedSource::new(path.display().to_string(), text.to_owned()),
            span: None,
        }
    })?;
    validate(path, &inventory)?;
    Ok(LoadedInventory {
        inventory,
        path: path.to_owned(),
        source: Arc::from(text),
    })
}

fn validate(path: &Path, inv: &Inventory) -> Result<(), InventoryError> {
    let invalid = |message: String| InventoryError::Invalid {
        path: path.to_owned(),
        message,
    };
    if inv.nodes.is_empty() {
        return Err(invalid("`nodes` is empty: list at least one node".into()));
    }
    let mut seen = std::collections::BTreeSet::new();
    for n in &inv.nodes {
        if !seen.insert(n.name.as_str()) {
            return Err(invalid(format!("node name {:?} is used twice", n.name)));
        }
        if n.roles.is_empty() {
            return Err(invalid(format!("node {:?} has no roles", n.name)));
        }
    }
    Ok(())
}
