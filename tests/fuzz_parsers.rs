//! Property-based fuzzing of the scenario and inventory parsers: whatever the input, they
//! never panic, and a refusal always comes with diagnostics pointing inside the text.
//!
//! Inputs: arbitrary strings, arbitrary bytes (lossily decoded), and valid files
//! (the fixtures, the example inventory) mutated by deleting, duplicating, swapping and
//! inserting lines and characters. Failures found by proptest are persisted to
//! tests/fuzz-corpus/fuzz_parsers.txt; hand-kept tricky inputs live in tests/fuzz-corpus/
//! as files and are replayed by `corpus_files_never_panic`.

use std::path::{Path, PathBuf};

use pgchaos::diag::{Diagnostic, render};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Checks one diagnostic: a location inside `text`, and rendering works.
fn check_diag(d: &Diagnostic, text: &str) -> Result<(), String> {
    // Generous: a lone `\r` also ends a line in YAML.
    let lines = text.matches(['\n', '\r']).count() + 1;
    let start = d.span.offset();
    let end = start + d.span.len();
    if d.line == 0 || d.column == 0 || d.line > lines + 1 {
        return Err(format!(
            "bad line:column {}:{} ({lines} lines): {d}",
            d.line, d.column
        ));
    }
    if end > d.source_text().len() || d.source_text().len() != text.len() {
        return Err(format!(
            "span {start}..{end} outside the text ({} bytes): {d}",
            text.len()
        ));
    }
    if !d.source_text().is_char_boundary(start) || !d.source_text().is_char_boundary(end) {
        return Err(format!("span {start}..{end} not on char boundaries: {d}"));
    }
    if d.message.is_empty() {
        return Err("empty message".into());
    }
    let rendered = render(d);
    if !rendered.contains(&format!(":{}:{}", d.line, d.column)) {
        return Err(format!("rendering lacks the location: {rendered}"));
    }
    for r in &d.related {
        check_diag(r, r.source_text())?;
    }
    Ok(())
}

/// Runs both parsers on `text`; Ok when neither panicked and every refusal is located.
fn check_both(text: &str) -> Result<(), String> {
    let path = Path::new("fuzz.yml");
    match pgchaos::scenario::parse(path, text) {
        Ok(_) => {}
        Err(e) => {
            let ds = e.diagnostics();
            if ds.is_empty() {
                return Err(format!(
                    "scenario refused without a located diagnostic: {e}"
                ));
            }
            for d in ds {
                check_diag(d, text).map_err(|m| format!("scenario: {m}"))?;
            }
        }
    }
    match pgchaos::inventory::parse(path, text) {
        Ok(_) => {}
        Err(e) => {
            let ds = e.diagnostics();
            if ds.is_empty() {
                return Err(format!(
                    "inventory refused without a located diagnostic: {e}"
                ));
            }
            for d in ds {
                check_diag(d, text).map_err(|m| format!("inventory: {m}"))?;
            }
        }
    }
    Ok(())
}

fn seeds() -> &'static [String] {
    static SEEDS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    SEEDS.get_or_init(read_seeds)
}

fn read_seeds() -> Vec<String> {
    let mut files = vec![
        root().join("inventory.example.yml"),
        root().join("tests/fixtures/inventory.yml"),
    ];
    for dir in ["tests/fixtures/scenarios", "tests/malformed"] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yml"))
            .collect();
        found.sort();
        files.extend(found);
    }
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}

/// Fragments inserted by the mutator: YAML syntax that tends to break parsers.
const FRAGMENTS: &[&str] = &[
    ":",
    "- ",
    "  ",
    "\t",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "'",
    "&a ",
    "*a",
    "!!str ",
    "|",
    ">",
    "#",
    "\n",
    "\r\n",
    "\r",
    "---\n",
    "...\n",
    "<<: *a\n",
    "? ",
    "x",
    "0",
    "-1s",
    "é",
    "🔑",
    "\u{feff}",
    "\0",
    "on",
    "null",
    "~",
    "steps:",
    "targets:",
    "nodes:",
    "password: p",
    "- leader: {}",
    "select: node",
    "not: [",
    "covers: [",
    "id: ",
    "&a [*a, *a]",
];

#[derive(Clone, Debug)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    InsertFragment(usize, usize),
    DeleteChar(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), 0..FRAGMENTS.len()).prop_map(|(a, f)| Mutation::InsertFragment(a, f)),
        any::<usize>().prop_map(Mutation::DeleteChar),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    let boundaries: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let at = |n: usize| boundaries[n % boundaries.len()];
    match *m {
        Mutation::DeleteLine(i) if !lines.is_empty() => {
            let n = lines.len();
            lines.remove(i % n);
            lines.concat()
        }
        Mutation::DuplicateLine(i) if !lines.is_empty() => {
            let n = lines.len();
            let l = lines[i % n];
            lines.insert(i % n, l);
            lines.concat()
        }
        Mutation::SwapLines(a, b) if !lines.is_empty() => {
            let n = lines.len();
            lines.swap(a % n, b % n);
            lines.concat()
        }
        Mutation::InsertFragment(i, f) => {
            let p = at(i);
            format!("{}{}{}", &text[..p], FRAGMENTS[f], &text[p..])
        }
        Mutation::DeleteChar(i) if !text.is_empty() => {
            let k = i % (boundaries.len() - 1);
            format!("{}{}", &text[..boundaries[k]], &text[boundaries[k + 1]..])
        }
        Mutation::Truncate(i) => text[..at(i)].to_owned(),
        _ => text.to_owned(),
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 192,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/fuzz-corpus/fuzz_parsers.txt",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        check_both(&text).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        check_both(&text).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn yaml_like_strings_never_panic(text in "([a-z_]{1,8}: ?|- |  |\\{|\\}|\\[|\\]|, |\"|'|&a |\\*a|#|\n|\t|[0-9]{1,3}s?){0,40}") {
        check_both(&text).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn mutated_valid_files_never_panic(
        seed in any::<prop::sample::Index>(),
        muts in proptest::collection::vec(mutation(), 1..6),
    ) {
        let seeds = seeds();
        let mut text = seeds[seed.index(seeds.len())].clone();
        for m in &muts {
            text = apply(&text, m);
        }
        check_both(&text).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn corpus_files_never_panic() {
    let dir = root().join("tests/fuzz-corpus");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("tests/fuzz-corpus exists") {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yml") {
            let bytes = std::fs::read(&p).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            if let Err(m) = check_both(&text) {
                panic!("{}: {m}", p.display());
            }
            n += 1;
        }
    }
    assert!(n >= 5, "only {n} corpus files");
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    for depth in [63, 64, 65, 500, 5000] {
        let flow = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        check_both(&flow).unwrap();
        let block: String = (0..depth.min(300))
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        check_both(&block).unwrap();
    }
}
