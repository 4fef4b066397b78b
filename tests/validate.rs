//! `pgchaos validate`, `list` and `schema`, run as the real binary.
//!
//! The malformed-input corpus lives in tests/malformed/: each case has a `NAME.expect`
//! file listing where the diagnostic must point (`at: FILE:LINE:COLUMN`, FILE relative to
//! tests/malformed/), message fragments stderr must contain (`has:`) and must not contain
//! (`lacks:`). How a case is run depends on its name:
//! - `NAME/` (a directory): `validate NAME/`;
//! - `inv-NAME.yml`: `validate <a valid fixture scenario> --inventory inv-NAME.yml`;
//! - `NAME.yml` with `NAME.inventory.yml`: `validate NAME.yml --inventory NAME.inventory.yml`;
//! - any other `NAME.yml`: `validate NAME.yml`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pgchaos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pgchaos"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("failed to run pgchaos")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Case {
    name: String,
    args: Vec<String>,
    at: Vec<String>,
    has: Vec<String>,
    lacks: Vec<String>,
}

fn corpus() -> Vec<Case> {
    let dir = Path::new("tests/malformed");
    let mut cases = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .expect("tests/malformed exists")
        .map(|e| e.expect("readable entry").path())
        .collect();
    entries.sort();
    for p in entries {
        let file = p.file_name().unwrap().to_string_lossy().into_owned();
        let Some(name) = file.strip_suffix(".expect") else {
            continue;
        };
        let expect = std::fs::read_to_string(&p).expect("readable .expect");
        let rel = |f: &str| dir.join(f).display().to_string();
        let args = if root().join(dir).join(name).is_dir() {
            vec!["validate".into(), rel(name)]
        } else if name.starts_with("inv-") {
            vec![
                "validate".into(),
                "tests/fixtures/scenarios/kill-postgres-leader.yml".into(),
                "--inventory".into(),
                rel(&format!("{name}.yml")),
            ]
        } else if root()
            .join(dir)
            .join(format!("{name}.inventory.yml"))
            .exists()
        {
            vec![
                "validate".into(),
                rel(&format!("{name}.yml")),
                "--inventory".into(),
                rel(&format!("{name}.inventory.yml")),
            ]
        } else {
            vec!["validate".into(), rel(&format!("{name}.yml"))]
        };
        let mut case = Case {
            name: name.to_owned(),
            args,
            at: vec![],
            has: vec![],
            lacks: vec![],
        };
        for line in expect.lines() {
            if let Some(v) = line.strip_prefix("at: ") {
                case.at.push(format!("{}:", rel(v.trim())));
            } else if let Some(v) = line.strip_prefix("has: ") {
                case.has.push(v.to_owned());
            } else if let Some(v) = line.strip_prefix("lacks: ") {
                case.lacks.push(v.to_owned());
            } else {
                assert!(
                    line.starts_with('#') || line.trim().is_empty(),
                    "{name}.expect: unknown line {line:?}"
                );
            }
        }
        cases.push(case);
    }
    cases
}

#[test]
fn every_corpus_file_has_an_expectation() {
    let dir = root().join("tests/malformed");
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let file = p.file_name().unwrap().to_string_lossy().into_owned();
        if file.ends_with(".expect") {
            continue;
        }
        let name = file.trim_end_matches(".yml").trim_end_matches(".inventory");
        assert!(
            dir.join(format!("{name}.expect")).exists(),
            "{file} has no {name}.expect"
        );
    }
}

#[test]
fn malformed_corpus_is_rejected_with_located_diagnostics() {
    let cases = corpus();
    assert!(cases.len() >= 25, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        let out = pgchaos(&args);
        let stderr = text(&out.stderr);
        let mut problems = Vec::new();
        if out.status.code() != Some(2) {
            problems.push(format!("exit status {:?}, expected 2", out.status.code()));
        }
        if c.at.is_empty() {
            problems.push("the .expect file names no location (`at:`)".into());
        }
        for at in &c.at {
            if !stderr.contains(at.as_str()) {
                problems.push(format!("stderr lacks location {at:?}"));
            }
        }
        for h in &c.has {
            if !stderr.contains(h.as_str()) {
                problems.push(format!("stderr lacks {h:?}"));
            }
        }
        for l in &c.lacks {
            if stderr.contains(l.as_str()) || text(&out.stdout).contains(l.as_str()) {
                problems.push(format!("output contains {l:?}"));
            }
        }
        // A located diagnostic comes with a source snippet and a label.
        if !stderr.contains("╭─[") {
            problems.push("stderr has no source snippet".into());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "case {} ({}):\n  {}\n--- stderr ---\n{stderr}",
                c.name,
                c.args.join(" "),
                problems.join("\n  ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn valid_fixtures_pass_validate_with_and_without_inventory() {
    let out = pgchaos(&["validate", "tests/fixtures/scenarios"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("OK: 3 scenario(s) valid"));

    let out = pgchaos(&[
        "validate",
        "tests/fixtures/scenarios",
        "--inventory",
        "tests/fixtures/inventory.yml",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("bindable to inventory tests/fixtures/inventory.yml"));
}

#[test]
fn example_inventory_loads_and_binds_the_fixtures() {
    let out = pgchaos(&[
        "validate",
        "tests/fixtures/scenarios",
        "--inventory",
        "inventory.example.yml",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn an_unreadable_postgres_root_certificate_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let inv = std::fs::read_to_string("tests/fixtures/inventory.yml").unwrap();
    let missing = dir.path().join("missing-root.crt");
    let inv = inv.replacen(
        "cluster:\n  scope: main\n",
        &format!(
            "cluster:\n  scope: main\n  postgres:\n    sslmode: verify-full\n    sslrootcert: {}\n",
            missing.display()
        ),
        1,
    );
    let path = dir.path().join("inventory.yml");
    std::fs::write(&path, inv).unwrap();
    let out = pgchaos(&[
        "validate",
        "tests/fixtures/scenarios",
        "--inventory",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("inventory.yml")
            && err.contains("postgres.sslrootcert")
            && err.contains("missing-root.crt: cannot be read"),
        "{err}"
    );
}

#[test]
fn clock_step_needs_the_inventorys_leave_and_is_refused_in_the_lab() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string("tests/fixtures/inventory.yml").unwrap();
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let run = |inv: &str| {
        pgchaos(&[
            "validate",
            "tests/scenarios/clock-step.yml",
            "--inventory",
            inv,
        ])
    };
    // Not allowed by default, named at the step's target.
    let out = run("tests/fixtures/inventory.yml");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("clock-step.yml:")
            && err.contains("does not allow")
            && err.contains("operations.allow_clock_step: true"),
        "{err}"
    );
    let allowed = base.replacen(
        "cluster:\n",
        "operations:\n  allow_clock_step: true\ncluster:\n",
        1,
    );
    let out = run(&write("allowed.yml", allowed.clone()));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The lab refuses it whatever the inventory allows.
    let lab = allowed.replacen("  scope: main\n", "  scope: main\n  lab: true\n", 1);
    let out = run(&write("lab.yml", lab));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("refused in the lab"), "{err}");
}

#[test]
fn list_prints_a_table() {
    let out = pgchaos(&["list", "tests/fixtures/scenarios"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("TITLE") && lines[0].contains("COVERS")
    );
    let row = lines
        .iter()
        .find(|l| l.starts_with("switchover-rest"))
        .expect("switchover row");
    assert!(row.contains("switchover to a named replica through the REST API"));
    assert!(row.contains("ops,haproxy"));
    assert!(row.contains("ops/switchover,poc/haproxy-write-port"));
    // Columns are aligned: the title starts at the same offset on every row.
    let col = lines[0].find("TITLE").unwrap();
    for l in &lines[1..4] {
        assert_eq!(&l[col - 2..col], "  ", "misaligned row {l:?}");
    }
}

#[test]
fn coverage_marks_uncovered_seed_cases_and_fails() {
    let out = pgchaos(&["list", "--coverage", "tests/fixtures/scenarios"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    // In SEED_CASES order: the first is runbook/standby-1, uncovered.
    assert!(lines[1].starts_with("runbook/standby-1") && lines[1].contains("UNCOVERED"));
    let primary1 = lines
        .iter()
        .find(|l| l.starts_with("runbook/primary-1 "))
        .unwrap();
    assert!(primary1.ends_with("kill-postgres-leader"), "{primary1}");
    let sw = lines
        .iter()
        .find(|l| l.starts_with("ops/switchover "))
        .unwrap();
    assert!(sw.ends_with("switchover-rest"), "{sw}");
    // The fixtures cover five seed cases.
    assert!(stdout.contains("\n5 of "), "{stdout}");
    assert!(text(&out.stderr).contains("not covered by any scenario"));
}

#[test]
fn coverage_of_every_seed_case_succeeds() {
    // One scenario covering every seed ID: coverage passes.
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = pgchaos_seed_ids();
    let yaml = format!(
        "id: all\ntitle: covers everything\ncovers: [{}]\nsteps: []\n",
        ids.join(", ")
    );
    std::fs::write(dir.path().join("all.yml"), yaml).unwrap();
    let out = pgchaos(&["list", "--coverage", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("UNCOVERED"));
}

/// The seed IDs, read from the coverage table itself.
fn pgchaos_seed_ids() -> Vec<String> {
    let out = pgchaos(&["list", "--coverage", "tests/fixtures/scenarios"]);
    text(&out.stdout)
        .lines()
        .skip(1)
        .filter(|l| l.contains('/'))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect()
}

#[test]
fn missing_default_directory_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pgchaos"))
        .arg("validate")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("failed to read scenarios"));
}

#[test]
fn schema_still_prints_json() {
    for f in ["scenario", "inventory", "results"] {
        let out = pgchaos(&["schema", f]);
        assert_eq!(out.status.code(), Some(0));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
        assert!(v.get("$schema").is_some(), "{f}");
    }
}
