//! `pgchaos validate`, `list` and `schema`.

use std::path::{Path, PathBuf};

use super::{CommandResult, Failure};
use crate::cli::{ListArgs, SchemaArgs, SchemaFormat, ValidateArgs};
use crate::diag::{Diagnostic, render};
use crate::exit::ExitCode;
use crate::inventory::{InventoryError, LoadedInventory};
use crate::scenario::{LoadedScenario, seeds::SEED_CASES};

fn default_paths(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        paths
    }
}

fn show_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints every diagnostic on standard error and turns them into the command's failure.
fn reject(diags: &[Diagnostic]) -> Failure {
    for d in diags {
        eprintln!("{}", render(d));
    }
    let files: std::collections::BTreeSet<_> = diags.iter().map(|d| &d.path).collect();
    Failure::bad_input(miette::miette!(
        "{} problem(s) in {} file(s); nothing was run",
        diags.len(),
        files.len()
    ))
}

/// Loads and checks scenarios (and the inventory, and the scenarios against it), every
/// problem printed on standard error before failing with exit code 2. `run` calls this so
/// that bad input is refused exactly as `validate` refuses it, before any SSH connection.
pub(crate) fn load_checked(
    paths: &[PathBuf],
    inventory: Option<&Path>,
) -> Result<(Vec<LoadedScenario>, Option<LoadedInventory>), Failure> {
    let (scenarios, mut diags) =
        crate::scenario::load_paths_collecting(paths).map_err(Failure::bad_input)?;
    let mut loaded_inventory: Option<LoadedInventory> = None;
    if let Some(path) = inventory {
        match crate::inventory::load(path) {
            Ok(inv) => loaded_inventory = Some(inv),
            Err(e @ InventoryError::Read { .. }) => return Err(Failure::bad_input(e)),
            Err(e) => diags.extend(e.diagnostics().iter().cloned()),
        }
    }
    if let Some(inv) = &loaded_inventory
        && let Err(d) = crate::scenario::check_against(&scenarios, inv)
    {
        diags.extend(d);
    }
    // The root certificate file is read now: a run must not start without it.
    if let Some(inv) = &loaded_inventory
        && let Err(e) = crate::pg::Tls::from_inventory(&inv.inventory.cluster.postgres)
    {
        return Err(Failure::bad_input(miette::miette!(
            "{}: {e}",
            inv.path.display()
        )));
    }
    if !diags.is_empty() {
        return Err(reject(&diags));
    }
    if scenarios.is_empty() {
        return Err(Failure::bad_input(miette::miette!(
            "no scenario files (*.yml, *.yaml) found in {}",
            show_paths(paths)
        )));
    }
    Ok((scenarios, loaded_inventory))
}

/// `pgchaos validate`.
pub(super) fn validate(args: ValidateArgs) -> CommandResult {
    let paths = default_paths(args.paths);
    let (scenarios, inventory) = load_checked(&paths, args.inventory.as_deref())?;
    match &inventory {
        Some(inv) => println!(
            "OK: {} scenario(s) valid, and bindable to inventory {} ({} node(s))",
            scenarios.len(),
            inv.path.display(),
            inv.inventory.nodes.len()
        ),
        None => println!("OK: {} scenario(s) valid", scenarios.len()),
    }
    if let Some(inv) = &inventory {
        // Valid, but a run against this cluster records them as skipped, not passed.
        for ls in &scenarios {
            if let Some(why) = ls.scenario.requires.unmet_by(&inv.inventory) {
                println!(
                    "note: {} ({}) will be skipped on this cluster: {why}",
                    ls.scenario.id,
                    ls.path.display()
                );
            }
        }
    }
    Ok(ExitCode::Success)
}

/// Formats rows as left-aligned columns separated by two spaces.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, cell) in cells.enumerate() {
            if i + 1 < widths.len() {
                l.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            } else {
                l.push_str(cell);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
    out
}

/// `pgchaos list`.
pub(super) fn list(args: ListArgs) -> CommandResult {
    let paths = default_paths(args.paths);
    let (scenarios, _) = load_checked(&paths, None)?;
    if args.coverage {
        return coverage(&scenarios);
    }
    let rows: Vec<Vec<String>> = scenarios
        .iter()
        .map(|s| {
            let sc = &s.scenario;
            vec![
                sc.id.clone(),
                sc.title.clone(),
                if sc.tags.is_empty() {
                    "-".into()
                } else {
                    sc.tags.join(",")
                },
                if sc.covers.is_empty() {
                    "-".into()
                } else {
                    sc.covers.join(",")
                },
            ]
        })
        .collect();
    print!("{}", table(&["ID", "TITLE", "TAGS", "COVERS"], &rows));
    println!("{} scenario(s)", scenarios.len());
    Ok(ExitCode::Success)
}

/// `pgchaos list --coverage`: every seed case, in seed-cases.md order, with the scenarios
/// covering it.
fn coverage(scenarios: &[LoadedScenario]) -> CommandResult {
    let mut uncovered = Vec::new();
    let rows: Vec<Vec<String>> = SEED_CASES
        .iter()
        .map(|case| {
            let by: Vec<&str> = scenarios
                .iter()
                .filter(|s| s.scenario.covers.iter().any(|c| c == case.id))
                .map(|s| s.scenario.id.as_str())
                .collect();
            if by.is_empty() {
                uncovered.push(case.id);
                vec![case.id.to_owned(), "UNCOVERED".into()]
            } else {
                vec![case.id.to_owned(), by.join(", ")]
            }
        })
        .collect();
    print!("{}", table(&["SEED CASE", "COVERED BY"], &rows));
    println!(
        "{} of {} seed case(s) covered",
        SEED_CASES.len() - uncovered.len(),
        SEED_CASES.len()
    );
    if uncovered.is_empty() {
        Ok(ExitCode::Success)
    } else {
        Err(Failure::bad_input(miette::miette!(
            help = "add the IDs to the `covers:` of the scenarios that encode them",
            "{} of {} seed case(s) not covered by any scenario (marked UNCOVERED above)",
            uncovered.len(),
            SEED_CASES.len()
        )))
    }
}

/// `pgchaos schema`.
pub(super) fn schema(args: SchemaArgs) -> CommandResult {
    let schema = match args.format {
        SchemaFormat::Scenario => schemars::schema_for!(crate::scenario::Scenario),
        SchemaFormat::Inventory => schemars::schema_for!(crate::inventory::Inventory),
        SchemaFormat::Results => schemars::schema_for!(crate::results::RunResults),
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&schema).expect("schemas serialize")
    );
    Ok(ExitCode::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let t = table(
            &["A", "B"],
            &[
                vec!["long-id".into(), "x".into()],
                vec!["i".into(), "y".into()],
            ],
        );
        assert_eq!(t, "A        B\nlong-id  x\ni        y\n");
    }
}
