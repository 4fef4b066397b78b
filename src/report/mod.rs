//! STUB (replaced by the report branch).
#![allow(missing_docs, unused_variables)]
use std::path::{Path, PathBuf};
#[derive(Debug, thiserror::Error, miette::Diagnostic)] #[error("stub")] pub struct ReportError;
pub fn prepare_dir(explicit: Option<&Path>, base: &Path, started: chrono::DateTime<chrono::Utc>) -> Result<PathBuf, ReportError> { Ok(explicit.map(Path::to_owned).unwrap_or_else(|| base.to_owned())) }
pub fn write_all(r: &crate::results::RunResults, dir: &Path) -> Result<(), ReportError> { Ok(()) }
