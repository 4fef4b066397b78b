//! Reading an inventory file, with diagnostics that point into the file.
//!
//! Passwords are references (`{env: NAME}` or `{file: PATH}`). An inline password is
//! refused before the typed parse, whose error would quote it, and every snippet shown to
//! the user is drawn from a copy of the text with inline password values masked.
// The error enums keep their original `Syntax` variant (a public contract), which is
// large; errors are the cold path of loading a few files, so its size does not matter.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Inventory, Role};
use crate::diag::{Diagnostic, Located, Source, YPath, list};

/// Diagnostic code of problems in inventory files.
const CODE: &str = "pgchaos::inventory::invalid";

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
    /// The YAML is malformed or does not fit the inventory format. (The loader reports
    /// these as [`InventoryError::Rejected`]; kept for callers that build it themselves.)
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
    /// The YAML parsed but its content is inconsistent. (The loader reports these as
    /// [`InventoryError::Rejected`]; kept for callers that build it themselves.)
    #[error("{path}: {message}")]
    #[diagnostic(code(pgchaos::inventory::invalid))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// One or more problems, each pointing at a line and column of the inventory.
    #[error("{} problem(s) found in inventory {}", diagnostics.len(), path.display())]
    #[diagnostic(code(pgchaos::inventory::rejected))]
    Rejected {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        #[related]
        diagnostics: Vec<Diagnostic>,
    },
}

impl InventoryError {
    /// The located problems (empty for read errors).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            InventoryError::Rejected { diagnostics, .. } => diagnostics,
            _ => &[],
        }
    }
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
    let rejected = |diagnostics| InventoryError::Rejected {
        path: path.to_owned(),
        diagnostics,
    };
    let tree = Located::parse(text);
    let (shown, secrets) = mask_inline_passwords(text, &tree);
    let src = Source::new(path, Arc::from(shown.as_str()), CODE);

    let inline = inline_password_diags(&src, &tree);
    if !inline.is_empty() {
        return Err(rejected(inline));
    }
    let inventory: Inventory = crate::diag::from_yaml(text).map_err(|e| {
        let mut d = src.yaml_error(&e, &shown);
        // Serde quotes unexpected values; never let it quote a secret.
        for s in &secrets {
            d.message = d.message.replace(s.as_str(), "***");
        }
        rejected(vec![d])
    })?;
    let diags = validate(&src, &tree, &inventory);
    if !diags.is_empty() {
        return Err(rejected(diags));
    }
    Ok(LoadedInventory {
        inventory,
        path: path.to_owned(),
        source: Arc::from(text),
    })
}

/// Inline password values: found in the located tree when the text parses, and by a
/// line scan otherwise (a syntax error elsewhere must not print a password in its
/// snippet). Returns the text with those values replaced by `*` and the values.
fn mask_inline_passwords(text: &str, tree: &Located) -> (String, Vec<String>) {
    let mut ranges: Vec<(usize, usize)> = tree
        .scalars_under_key("password")
        .iter()
        .filter(|l| l.len > 0)
        .map(|l| (l.start, l.start + l.len))
        .collect();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if let Some(k) = line.find("password:") {
            let after = k + "password:".len();
            let value = line[after..].trim();
            if !value.is_empty() && !value.starts_with(['{', '#', '[', '&', '*', '!', '|', '>']) {
                let start =
                    offset + after + (line[after..].len() - line[after..].trim_start().len());
                ranges.push((start, start + value.len()));
            }
        }
        offset += line.len();
    }
    let mut out = text.to_owned();
    let mut secrets = Vec::new();
    for (s, e) in ranges {
        if let Some(v) = text.get(s..e) {
            secrets.push(v.trim_matches(['"', '\'']).to_owned());
            let stars: String = v.chars().map(|_| '*').collect();
            // Same byte length only when the value is ASCII; otherwise mask per byte.
            let stars = if stars.len() == v.len() {
                stars
            } else {
                "*".repeat(v.len())
            };
            out.replace_range(s..e, &stars);
        }
    }
    secrets.retain(|s| !s.is_empty());
    (out, secrets)
}

fn inline_password_diags(src: &Source, tree: &Located) -> Vec<Diagnostic> {
    tree.scalars_under_key("password")
        .into_iter()
        .map(|loc| {
            src.diag(
                Some(loc),
                "a password is written inline; inline passwords are refused (the value is not shown)",
            )
            .with_label("inline secret")
            .with_help(
                "reference it instead: `password: { env: NAME }` reads the environment variable NAME, `password: { file: PATH }` reads the file PATH (trailing newline removed)",
            )
        })
        .collect()
}

fn validate(src: &Source, tree: &Located, inv: &Inventory) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let root = YPath::root();
    let mut err = |at: &YPath, message: String, help: Option<&str>| {
        let mut d = src.diag(tree.find(at), message);
        d.help = help.map(str::to_owned);
        out.push(d);
    };
    if inv.nodes.is_empty() {
        err(
            &root.key("nodes"),
            "`nodes` is empty: list at least one node".into(),
            Some("each node needs `name`, `host` and `roles` (patroni, spare, etcd, haproxy)"),
        );
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, n) in inv.nodes.iter().enumerate() {
        let base = root.key("nodes").idx(i);
        if let Some(first) = seen.get(n.name.as_str()) {
            err(
                &base.key("name"),
                format!(
                    "node name {:?} is used twice: nodes[{first}] already has it; node names must be unique",
                    n.name
                ),
                None,
            );
        } else {
            seen.insert(&n.name, i);
        }
        if n.name.trim().is_empty() {
            err(&base.key("name"), "node `name` is empty".into(), None);
        }
        if n.operations.reset_cluster.is_some() {
            err(
                &base.key("operations").key("reset_cluster"),
                format!(
                    "node {:?} sets `reset_cluster`: it rebuilds the whole cluster, so it belongs to the inventory-wide `operations`",
                    n.name
                ),
                Some("move it to the top-level `operations:` section"),
            );
        }
        if n.roles.is_empty() {
            err(
                &base.key("roles"),
                format!(
                    "node {:?} has no roles: accepted roles are patroni, spare, etcd, haproxy",
                    n.name
                ),
                None,
            );
        }
    }
    if !inv.nodes.is_empty() && inv.nodes_with(Role::Patroni).next().is_none() {
        err(
            &root.key("nodes"),
            format!(
                "no node has the role `patroni` (nodes: {}): pgchaos needs at least one Patroni member",
                list(inv.nodes.iter().map(|n| n.name.as_str()))
            ),
            Some("add `patroni` to the `roles:` of the nodes running Patroni and PostgreSQL"),
        );
    }
    if let Some(b) = &inv.entrypoints.pgbouncer
        && inv.node(&b.node).is_none()
    {
        err(
            &root.key("entrypoints").key("pgbouncer").key("node"),
            format!(
                "`entrypoints.pgbouncer.node` is {:?}, which is not a node of this inventory (nodes: {})",
                b.node,
                list(inv.nodes.iter().map(|n| n.name.as_str()))
            ),
            Some("name the node PgBouncer runs on: PAUSE and RESUME run there over SSH"),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str =
        "cluster: {scope: main}\nnodes:\n  - {name: a, host: 10.0.0.1, roles: [patroni]}\n";

    #[test]
    fn loads_minimal_inventory() {
        let inv = parse(Path::new("i.yml"), OK).unwrap();
        assert_eq!(inv.inventory.nodes.len(), 1);
    }

    #[test]
    fn inline_password_is_refused_and_never_shown() {
        let text = "cluster:\n  scope: main\n  postgres:\n    password: hunter2\nnodes:\n  - {name: a, host: h, roles: [patroni]}\n";
        let err = parse(Path::new("i.yml"), text).unwrap_err();
        let d = &err.diagnostics()[0];
        assert_eq!((d.line, d.column), (4, 15));
        let rendered = crate::diag::render(d);
        assert!(rendered.contains("env: NAME"), "{rendered}");
        assert!(!rendered.contains("hunter2"), "{rendered}");
    }

    #[test]
    fn masks_password_even_when_yaml_is_broken() {
        let text = "cluster:\n  scope: main\n  postgres:\n    password: hunter2\n  bad: [\n";
        let err = parse(Path::new("i.yml"), text).unwrap_err();
        let rendered = crate::diag::render(&err.diagnostics()[0]);
        assert!(!rendered.contains("hunter2"), "{rendered}");
    }

    #[test]
    fn pgbouncer_must_run_on_a_known_node() {
        let text = format!("{OK}entrypoints:\n  pgbouncer: {{host: 10.0.0.9, node: nowhere}}\n");
        let err = parse(Path::new("i.yml"), &text).unwrap_err();
        let d = &err.diagnostics()[0];
        assert_eq!(d.line, 5, "{d}");
        assert!(d.to_string().contains("\"nowhere\""), "{d}");
        let ok = format!("{OK}entrypoints:\n  pgbouncer: {{host: 10.0.0.9, node: a}}\n");
        let b = parse(Path::new("i.yml"), &ok)
            .unwrap()
            .inventory
            .entrypoints
            .pgbouncer
            .unwrap();
        assert_eq!((b.port, b.admin_user.as_str()), (6432, "postgres"));
        assert_eq!(b.socket_dir, "/var/run/postgresql");
    }

    #[test]
    fn duplicate_node_and_missing_patroni() {
        let text = "cluster: {scope: main}\nnodes:\n  - {name: a, host: h, roles: [etcd]}\n  - {name: a, host: h, roles: []}\n";
        let err = parse(Path::new("i.yml"), text).unwrap_err();
        let msgs: Vec<String> = err.diagnostics().iter().map(|d| d.to_string()).collect();
        assert!(
            msgs.iter()
                .any(|m| m.contains("i.yml:4:12:") && m.contains("used twice")),
            "{msgs:?}"
        );
        assert!(msgs.iter().any(|m| m.contains("has no roles")), "{msgs:?}");
        assert!(
            msgs.iter().any(|m| m.contains("role `patroni`")),
            "{msgs:?}"
        );
    }
}
