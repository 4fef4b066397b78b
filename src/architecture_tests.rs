//! The module graph stays one-way: no `use crate::` cycle between top-level modules
//! (non-test code). `scripts/module-graph.py` draws the same graph for
//! docs/architecture.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module -> the top-level modules its non-test code names as `crate::x`.
fn edges() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut dirs = vec![src.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("src is readable") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                dirs.push(p);
                continue;
            }
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if !name.ends_with(".rs") || name == "tests.rs" || name == "architecture_tests.rs" {
                continue;
            }
            let rel = p.strip_prefix(&src).expect("under src");
            let first = rel
                .iter()
                .next()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let top = first.trim_end_matches(".rs").to_owned();
            if top == "main" || top == "lib" {
                continue;
            }
            let text = std::fs::read_to_string(&p).expect("readable");
            let code = text.split("#[cfg(test)]\nmod ").next().unwrap_or_default();
            let set = out.entry(top.clone()).or_default();
            for line in code.lines() {
                let line = line.split("//").next().unwrap_or_default();
                for (i, _) in line.match_indices("crate::") {
                    let rest = &line[i + 7..];
                    let m: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                        .collect();
                    if !m.is_empty() && m != top {
                        set.insert(m);
                    }
                }
            }
        }
    }
    out
}

/// A path from `from` back to `to`, if one exists.
fn path_to(
    g: &BTreeMap<String, BTreeSet<String>>,
    from: &str,
    to: &str,
    seen: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if from == to {
        return Some(vec![to.to_owned()]);
    }
    if !seen.insert(from.to_owned()) {
        return None;
    }
    for next in g.get(from).into_iter().flatten() {
        if let Some(mut p) = path_to(g, next, to, seen) {
            p.insert(0, from.to_owned());
            return Some(p);
        }
    }
    None
}

#[test]
fn no_import_cycle_between_modules() {
    let g = edges();
    assert!(
        g.contains_key("scenario") && g.contains_key("runner"),
        "{g:?}"
    );
    for (m, deps) in &g {
        for d in deps {
            if let Some(back) = path_to(&g, d, m, &mut BTreeSet::new()) {
                panic!("import cycle: {m} -> {}", back.join(" -> "));
            }
        }
    }
}

/// The longest a function may be outside tests, in lines from `fn` to its closing brace.
const MAX_FN_LINES: usize = 120;

/// Every `.rs` file under src/ except the test-only ones.
fn source_files() -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("src is readable") {
            let p = e.expect("entry").path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if p.is_dir() {
                dirs.push(p);
            } else if name.ends_with(".rs") && name != "tests.rs" && !name.ends_with("_tests.rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The text with comments, string and character literals blanked (newlines kept), so that
/// braces and keywords can be counted on what is left.
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let at = |i: usize, k: usize| c.get(i + k).copied().unwrap_or('\0');
    let mut i = 0;
    while i < c.len() {
        if c[i] == '/' && at(i, 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '/' && at(i, 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i, 1) == '*' {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && at(i, 1) == '/' {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if c[i] == 'r' && (at(i, 1) == '"' || (at(i, 1) == '#' && at(i, 2) != '[')) {
            // r"..." or r#"..."#
            let mut j = i + 1;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            j += 1;
            let close: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            while j < c.len() && !c[j..].iter().take(close.len()).copied().eq(close.chars()) {
                j += 1;
            }
            let end = (j + close.len()).min(c.len());
            for &ch in &c[i..end] {
                blank(&mut out, ch);
            }
            i = end;
        } else if c[i] == '"' {
            blank(&mut out, c[i]);
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    blank(&mut out, c[i]);
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
            if i < c.len() {
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '\'' && (at(i, 1) == '\\' || at(i, 2) == '\'') {
            // A character literal ('x', '\n', '\''); a lifetime has no closing quote.
            let mut j = i + 1;
            if c.get(j) == Some(&'\\') {
                j += 2;
            } else {
                j += 1;
            }
            while j < c.len() && c[j] != '\'' {
                j += 1;
            }
            for &ch in &c[i..(j + 1).min(c.len())] {
                blank(&mut out, ch);
            }
            i = j + 1;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// `(name, first line, number of lines)` of every function in non-test code, nested ones
/// included; `#[cfg(test)]` items and `#[test]` functions are left out.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let code = code_only(text);
    let bytes = code.as_bytes();
    let line_of = |pos: usize| code[..pos].matches('\n').count() + 1;
    // The byte span of every braced block, by the position of its `{`.
    let mut closing = BTreeMap::new();
    let mut open = Vec::new();
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'{' => open.push(i),
            b'}' => {
                if let Some(o) = open.pop() {
                    closing.insert(o, i);
                }
            }
            _ => {}
        }
    }
    let block_after = |from: usize| -> Option<(usize, usize)> {
        // The body's `{`: the first one after `from` outside parentheses and angle
        // brackets of the signature (a `;` first means no body).
        let mut depth = 0i32;
        for (k, b) in bytes.iter().enumerate().skip(from) {
            match b {
                b'(' | b'[' => depth += 1,
                b')' | b']' => depth -= 1,
                b';' if depth == 0 => return None,
                b'{' if depth == 0 => return closing.get(&k).map(|&e| (k, e)),
                _ => {}
            }
        }
        None
    };
    let mut skipped: Vec<(usize, usize)> = Vec::new();
    for marker in ["#[cfg(test)]", "#[test]", "#[tokio::test"] {
        for (at, _) in code.match_indices(marker) {
            let attribute_end = at + code[at..].find(']').unwrap_or(0) + 1;
            if let Some(span) = block_after(attribute_end) {
                skipped.push(span);
            }
        }
    }
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out = Vec::new();
    for (at, _) in code.match_indices("fn ") {
        if at > 0 && is_ident(bytes[at - 1]) {
            continue;
        }
        if skipped.iter().any(|&(s, e)| s <= at && at <= e) {
            continue;
        }
        let name: String = code[at + 3..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            continue; // `fn(` as a type
        }
        if let Some((_, end)) = block_after(at) {
            let first = line_of(at);
            out.push((name, first, line_of(end) - first + 1));
        }
    }
    out
}

#[test]
fn function_finder_reads_rust() {
    let text = "fn a() {\n    let s = \"}\";\n    let c = '{';\n}\n\
                // fn b() {\n\
                fn c<'x>(v: &'x [u8; 2]) -> impl Fn() {\n    || {}\n}\n\
                trait T { fn d(&self); }\n\
                #[cfg(test)]\nmod tests {\n    fn e() {}\n}\n\
                const R: &str = r#\"fn f() {\"#;\n";
    let found = functions(text);
    assert_eq!(
        found,
        vec![("a".to_owned(), 1, 4), ("c".to_owned(), 6, 3)],
        "{}",
        code_only(text)
    );
}

#[test]
fn no_function_over_120_lines_outside_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut long = Vec::new();
    for p in source_files() {
        let text = std::fs::read_to_string(&p).expect("readable");
        for (name, line, len) in functions(&text) {
            if len > MAX_FN_LINES {
                let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
                long.push(format!("{rel}:{line}: fn {name} is {len} lines"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines (split them into named pieces):\n{}",
        long.join("\n")
    );
}
