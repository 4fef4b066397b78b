//! `pgchaos validate`, `list` and `schema`.

use std::path::PathBuf;

use super::{CommandResult, Failure};
use crate::cli::{ListArgs, SchemaArgs, SchemaFormat, ValidateArgs};
use crate::exit::ExitCode;

fn default_paths(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        paths
    }
}

/// `pgchaos validate`.
pub fn validate(args: ValidateArgs) -> CommandResult {
    let scenarios =
        crate::scenario::load_paths(&default_paths(args.paths)).map_err(Failure::bad_input)?;
    if let Some(inv) = args.inventory {
        crate::inventory::load(&inv).map_err(Failure::bad_input)?;
    }
    println!("{} scenario(s) valid", scenarios.len());
    Ok(ExitCode::Success)
}

/// `pgchaos list`.
pub fn list(args: ListArgs) -> CommandResult {
    let scenarios =
        crate::scenario::load_paths(&default_paths(args.paths)).map_err(Failure::bad_input)?;
    for s in &scenarios {
        let sc = &s.scenario;
        println!(
            "{}\t{}\t[{}]\t{}",
            sc.id,
            sc.title,
            sc.tags.join(","),
            sc.covers.join(",")
        );
    }
    Ok(ExitCode::Success)
}

/// `pgchaos schema`.
pub fn schema(args: SchemaArgs) -> CommandResult {
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
