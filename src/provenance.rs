//! Audit evidence: the SHA-256 of every file a run read (scenarios, inventory) and the
//! build of pgchaos that ran them, and the check that the files at hand are those files.
//!
//! Hashes cover the raw bytes: an inventory holds secrets only as references (a file, an
//! environment variable), so its hash reveals none.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::results::{FileDigest, Provenance};

/// The commit pgchaos was built from (`build.rs`), `unknown` outside a git clone.
pub(crate) const BUILD_COMMIT: &str = env!("PGCHAOS_BUILD_COMMIT");

/// Lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A file's digest, read now.
pub(crate) fn digest_file(path: &Path) -> std::io::Result<FileDigest> {
    Ok(FileDigest {
        path: path.display().to_string(),
        sha256: sha256_hex(&std::fs::read(path)?),
    })
}

/// The provenance of a run over these files. A file that cannot be read again (it was
/// just loaded, so this is a race with someone deleting it) is recorded with an empty
/// hash, which `verify` reports as a mismatch rather than hiding it.
pub(crate) fn collect<'a>(
    inventory: Option<&Path>,
    scenarios: impl IntoIterator<Item = &'a Path>,
) -> Provenance {
    let digest = |p: &Path| {
        digest_file(p).unwrap_or_else(|_| FileDigest {
            path: p.display().to_string(),
            sha256: String::new(),
        })
    };
    let mut files: Vec<FileDigest> = Vec::new();
    for p in scenarios {
        let d = digest(p);
        // A file with several scenarios is listed once.
        if !files.iter().any(|f| f.path == d.path) {
            files.push(d);
        }
    }
    Provenance {
        pgchaos_version: env!("CARGO_PKG_VERSION").to_owned(),
        build_commit: BUILD_COMMIT.to_owned(),
        inventory: inventory.map(digest),
        scenarios: files,
    }
}

/// One file that is not what was run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Mismatch {
    /// The file is not there (or unreadable).
    Missing {
        /// Which file.
        path: PathBuf,
        /// Why it could not be read.
        error: String,
    },
    /// The file differs.
    Changed {
        /// Which file.
        path: PathBuf,
        /// SHA-256 recorded in the results.
        recorded: String,
        /// SHA-256 of the file now.
        found: String,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Missing { path, error } => {
                write!(f, "missing: {} ({error})", path.display())
            }
            Mismatch::Changed {
                path,
                recorded,
                found,
            } => write!(
                f,
                "changed: {} (run with sha256 {recorded}, now {found})",
                path.display()
            ),
        }
    }
}

/// What `report --verify` found: every file checked and those that differ.
#[derive(Clone, Debug, Default)]
pub(crate) struct Verification {
    /// Files that match, with their hash.
    pub matched: Vec<FileDigest>,
    /// Files that do not.
    pub mismatched: Vec<Mismatch>,
}

/// Compares the files named in `p` with the files at hand; relative paths are taken
/// relative to `base` (where the run was started, normally the current directory).
pub(crate) fn verify(p: &Provenance, base: &Path) -> Verification {
    let mut v = Verification::default();
    for f in p.inventory.iter().chain(p.scenarios.iter()) {
        let path = base.join(&f.path);
        match std::fs::read(&path) {
            Err(e) => v.mismatched.push(Mismatch::Missing {
                path: PathBuf::from(&f.path),
                error: e.to_string(),
            }),
            Ok(bytes) => {
                let found = sha256_hex(&bytes);
                if found == f.sha256 {
                    v.matched.push(f.clone());
                } else {
                    v.mismatched.push(Mismatch::Changed {
                        path: PathBuf::from(&f.path),
                        recorded: f.sha256.clone(),
                        found,
                    });
                }
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_a_known_input() {
        // FIPS 180-2, appendix B.1.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn verify_names_changed_and_missing_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("inv.yml"), "cluster: {}\n").unwrap();
        std::fs::write(d.path().join("a.yml"), "id: a\n").unwrap();
        std::fs::write(d.path().join("b.yml"), "id: b\n").unwrap();
        let prov = {
            let mut p = collect(
                Some(&d.path().join("inv.yml")),
                [
                    d.path().join("a.yml").as_path(),
                    d.path().join("b.yml").as_path(),
                ],
            );
            // Recorded relative, as a user's command line gives them.
            for f in p.inventory.iter_mut().chain(p.scenarios.iter_mut()) {
                f.path = Path::new(&f.path)
                    .strip_prefix(d.path())
                    .unwrap()
                    .display()
                    .to_string();
            }
            p
        };
        let ok = verify(&prov, d.path());
        assert_eq!(ok.matched.len(), 3);
        assert!(ok.mismatched.is_empty());

        std::fs::write(d.path().join("a.yml"), "id: a2\n").unwrap();
        std::fs::remove_file(d.path().join("b.yml")).unwrap();
        let bad = verify(&prov, d.path());
        assert_eq!(bad.matched.len(), 1, "the inventory still matches");
        assert_eq!(bad.mismatched.len(), 2);
        assert!(
            matches!(&bad.mismatched[0], Mismatch::Changed { path, .. } if path == Path::new("a.yml"))
        );
        assert!(
            matches!(&bad.mismatched[1], Mismatch::Missing { path, .. } if path == Path::new("b.yml"))
        );
        assert!(bad.mismatched[0].to_string().starts_with("changed: a.yml"));
    }

    #[test]
    fn a_file_of_several_scenarios_is_listed_once() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a.yml");
        std::fs::write(&a, "x").unwrap();
        let p = collect(None, [a.as_path(), a.as_path()]);
        assert_eq!(p.scenarios.len(), 1);
        assert_eq!(p.build_commit, BUILD_COMMIT);
    }
}
