//! Placeholder substitution: one function, one pass, each value quoted for the place it
//! lands in.
//!
//! Templates come from the inventory (`systemctl stop {service}`, `journalctl -u
//! {service} --since '{since} UTC'`, `ipmitool -H {host}-bmc`) and from scenarios (`select
//! ... where application_name = '{newcomer}'`). A value is never scanned again, so a
//! service named `{until}` stays that, and unknown placeholders are left as written. The
//! template is read as its language reads it, and the value is quoted for the context the
//! placeholder is in:
//!
//! | language | context | value becomes |
//! |---|---|---|
//! | shell | a bare word | one shell word (`'...'` when it needs quoting) |
//! | shell | inside `'...'` | its `'` written `'\''` |
//! | shell | inside `"..."` | `\ " $` and backquote escaped |
//! | shell | a `#` comment | newlines turned into spaces |
//! | SQL | bare | a literal (`'...'`, `E'...'` when it holds a backslash) |
//! | SQL | inside `'...'` | its `'` doubled (a backslash there is refused) |
//! | SQL | inside `E'...'` | `\` and `'` escaped |
//! | SQL | inside `"..."` (an identifier) | its `"` doubled |
//! | SQL | a `--` or `/* */` comment | unable to end the comment |
//! | SQL | inside `$tag$...$tag$` | as is; a value holding `$` is refused |
//!
//! `$(...)` inside double quotes starts a bare context again. `${name}` is the shell's own
//! expansion and is left alone. Heredoc bodies are not recognised: a template should not
//! put a placeholder in one.

/// The language a template is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lang {
    /// POSIX sh.
    Shell,
    /// PostgreSQL SQL.
    Sql,
}

/// A value to substitute.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Value<'a> {
    /// Text, quoted for its context.
    Text(&'a str),
    /// Inserted as is: a number, or a fragment already quoted for the language (an SQL
    /// list of literals).
    Verbatim(&'a str),
}

/// Why an SQL template cannot be rendered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("failed to substitute {placeholder}: {why}")]
pub(crate) struct TemplateError {
    /// The placeholder, with its braces.
    pub(crate) placeholder: String,
    /// Why its value cannot be quoted where it is.
    pub(crate) why: &'static str,
}

/// Renders a shell template; the values are quoted for their contexts. Never fails.
pub(crate) fn shell(template: &str, vars: &[(&str, &str)]) -> String {
    let vars: Vec<(&str, Value<'_>)> = vars.iter().map(|(k, v)| (*k, Value::Text(v))).collect();
    let mut errors = Vec::new();
    substitute(template, Lang::Shell, &vars, &mut errors)
}

/// Renders an SQL template; fails only when a value cannot be quoted where it stands.
pub(crate) fn sql(template: &str, vars: &[(&str, Value<'_>)]) -> Result<String, TemplateError> {
    let mut errors = Vec::new();
    let out = substitute(template, Lang::Sql, vars, &mut errors);
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// `s` as one shell word: as is when it only holds characters the shell never
/// interprets, else in single quotes.
pub(crate) fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// An SQL literal of `s`: `'...'`, or `E'...'` when it holds a backslash (so that it
/// means the same whatever `standard_conforming_strings` says).
pub(crate) fn sql_literal(s: &str) -> String {
    if s.contains('\\') {
        format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Ctx {
    /// Bare; the number is the open parentheses of a `$(` it is inside (None: top).
    Bare(Option<usize>),
    Single,
    Double,
    Comment,
    SqlLiteral,
    SqlEscape,
    SqlIdent,
    SqlBlock(usize),
    SqlDollar(String),
}

/// The one pass shared by both languages.
fn substitute(
    template: &str,
    lang: Lang,
    vars: &[(&str, Value<'_>)],
    errors: &mut Vec<TemplateError>,
) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut stack = vec![Ctx::Bare(None)];
    let mut i = 0;
    while i < template.len() {
        let rest = &template[i..];
        let Some(c) = rest.chars().next() else { break };
        let prev = template[..i].chars().next_back();
        let top = stack.last().cloned().unwrap_or(Ctx::Bare(None));
        if c == '{'
            && !(lang == Lang::Shell && prev == Some('$'))
            && let Some((name, value, len)) = placeholder(rest, vars)
        {
            out.push_str(&quote(lang, &top, name, value, errors));
            i += len;
            continue;
        }
        // The width copied verbatim, and how the context changes.
        let width = match lang {
            Lang::Shell => shell_step(c, rest, prev, &top, &mut stack),
            Lang::Sql => sql_step(c, rest, &template[..i], &top, &mut stack),
        };
        let end = (i + width).min(template.len());
        out.push_str(&template[i..end]);
        i = end;
    }
    out
}

/// One character of a shell template at `rest` in context `top`: the width copied
/// verbatim, with `stack` updated for the context it opens or closes.
fn shell_step(c: char, rest: &str, prev: Option<char>, top: &Ctx, stack: &mut Vec<Ctx>) -> usize {
    let mut width = c.len_utf8();
    let next_width = || rest[1..].chars().next().map_or(0, char::len_utf8);
    match top {
        Ctx::Bare(depth) => match c {
            '\\' => width += next_width(),
            '\'' => stack.push(Ctx::Single),
            '"' => stack.push(Ctx::Double),
            '#' if prev.is_none_or(|p| p.is_whitespace() || ";&|()".contains(p)) => {
                stack.push(Ctx::Comment)
            }
            '$' if rest[1..].starts_with('(') => {
                width += 1;
                stack.push(Ctx::Bare(Some(0)));
            }
            '(' if depth.is_some() => {
                stack.pop();
                stack.push(Ctx::Bare(depth.map(|d| d + 1)));
            }
            ')' if depth.is_some() => {
                stack.pop();
                if let Some(d) = depth.filter(|d| *d > 0) {
                    stack.push(Ctx::Bare(Some(d - 1)));
                }
            }
            _ => {}
        },
        Ctx::Single if c == '\'' => {
            stack.pop();
        }
        Ctx::Double => match c {
            '\\' => width += next_width(),
            '"' => {
                stack.pop();
            }
            '$' if rest[1..].starts_with('(') => {
                width += 1;
                stack.push(Ctx::Bare(Some(0)));
            }
            _ => {}
        },
        Ctx::Comment if c == '\n' => {
            stack.pop();
        }
        _ => {}
    }
    width
}

/// One character of an SQL template at `rest` (after `before`) in context `top`: the
/// width copied verbatim, with `stack` updated for the context it opens or closes.
fn sql_step(c: char, rest: &str, before: &str, top: &Ctx, stack: &mut Vec<Ctx>) -> usize {
    let mut width = c.len_utf8();
    let prev = before.chars().next_back();
    match top {
        Ctx::Comment if c == '\n' => {
            stack.pop();
        }
        Ctx::Bare(_) => match c {
            '\'' if matches!(prev, Some('E' | 'e'))
                && !before[..before.len() - 1]
                    .chars()
                    .next_back()
                    .is_some_and(is_ident_char) =>
            {
                stack.push(Ctx::SqlEscape)
            }
            '\'' => stack.push(Ctx::SqlLiteral),
            '"' => stack.push(Ctx::SqlIdent),
            '-' if rest[1..].starts_with('-') => {
                width += 1;
                stack.push(Ctx::Comment);
            }
            '/' if rest[1..].starts_with('*') => {
                width += 1;
                stack.push(Ctx::SqlBlock(0));
            }
            '$' if !prev.is_some_and(is_ident_char) => {
                if let Some(tag) = dollar_tag(rest) {
                    width = tag.len();
                    stack.push(Ctx::SqlDollar(tag.to_owned()));
                }
            }
            _ => {}
        },
        Ctx::SqlLiteral | Ctx::SqlIdent => {
            let q = if *top == Ctx::SqlIdent { '"' } else { '\'' };
            if c == q {
                if rest[1..].starts_with(q) {
                    width += 1;
                } else {
                    stack.pop();
                }
            }
        }
        Ctx::SqlEscape => match c {
            '\\' => width += rest[1..].chars().next().map_or(0, char::len_utf8),
            '\'' if rest[1..].starts_with('\'') => width += 1,
            '\'' => {
                stack.pop();
            }
            _ => {}
        },
        Ctx::SqlBlock(d) => {
            let d = *d;
            if rest.starts_with("/*") {
                width = 2;
                stack.pop();
                stack.push(Ctx::SqlBlock(d + 1));
            } else if rest.starts_with("*/") {
                width = 2;
                stack.pop();
                if d > 0 {
                    stack.push(Ctx::SqlBlock(d - 1));
                }
            }
        }
        Ctx::SqlDollar(tag) if rest.starts_with(tag.as_str()) => {
            width = tag.len();
            stack.pop();
        }
        _ => {}
    }
    width
}

/// `{name}` at the start of `s` for a known name: (name, value, length with braces).
fn placeholder<'v>(s: &str, vars: &'v [(&str, Value<'v>)]) -> Option<(&'v str, Value<'v>, usize)> {
    let close = s.find('}')?;
    let name = &s[1..close];
    vars.iter()
        .find(|(k, _)| *k == name)
        .map(|(k, v)| (*k, *v, close + 1))
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// The opening `$tag$` of an SQL dollar-quoted string at the start of `s`, if it is one.
fn dollar_tag(s: &str) -> Option<&str> {
    let body = &s[1..];
    let end = body.find('$')?;
    let tag = &body[..end];
    let ok = tag.is_empty()
        || (tag
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && tag.chars().all(|c| c.is_alphanumeric() || c == '_'));
    ok.then(|| &s[..end + 2])
}

fn quote(
    lang: Lang,
    ctx: &Ctx,
    name: &str,
    value: Value<'_>,
    errors: &mut Vec<TemplateError>,
) -> String {
    let v = match value {
        Value::Verbatim(v) => return v.to_owned(),
        Value::Text(v) => v,
    };
    let refuse = |errors: &mut Vec<TemplateError>, why| {
        errors.push(TemplateError {
            placeholder: format!("{{{name}}}"),
            why,
        });
        String::new()
    };
    match (lang, ctx) {
        (Lang::Shell, Ctx::Bare(_)) => shell_word(v),
        (Lang::Shell, Ctx::Single) => v.replace('\'', r"'\''"),
        (Lang::Shell, Ctx::Double) => {
            let mut s = String::with_capacity(v.len());
            for c in v.chars() {
                if matches!(c, '\\' | '"' | '$' | '`') {
                    s.push('\\');
                }
                s.push(c);
            }
            s
        }
        (_, Ctx::Comment) => v.replace(['\n', '\r'], " "),
        (Lang::Sql, Ctx::Bare(_)) => sql_literal(v),
        (Lang::Sql, Ctx::SqlLiteral) if v.contains('\\') => refuse(
            errors,
            "its value holds a backslash, which a '...' literal may read as an escape: write the placeholder bare (pgchaos quotes it)",
        ),
        (Lang::Sql, Ctx::SqlLiteral) => v.replace('\'', "''"),
        (Lang::Sql, Ctx::SqlEscape) => v.replace('\\', "\\\\").replace('\'', "''"),
        (Lang::Sql, Ctx::SqlIdent) => v.replace('"', "\"\""),
        (Lang::Sql, Ctx::SqlBlock(_)) => v.replace("*/", "* /").replace("/*", "/ *"),
        (Lang::Sql, Ctx::SqlDollar(_)) if v.contains('$') => refuse(
            errors,
            "its value holds a '$', which could end the dollar-quoted string it stands in",
        ),
        (Lang::Sql, Ctx::SqlDollar(_)) => v.to_owned(),
        // Contexts of the other language never occur.
        _ => shell_word(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `script` with sh and returns its output.
    fn sh(script: &str) -> String {
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    const NASTY: &[&str] = &[
        "a b",
        "it's",
        "$(touch /tmp/pgc-template-pwned)",
        "`id`",
        "x; echo INJECTED",
        "{until}",
        "\"dq\" \\ back",
        "line\necho INJECTED",
        "'; echo INJECTED; '",
        "",
        "é {x} ${HOME}",
    ];

    #[test]
    fn one_pass_never_expands_a_value_again() {
        assert_eq!(
            shell("a {x} b {y} {unknown} {", &[("x", "{y}"), ("y", "Y")]),
            "a '{y}' b Y {unknown} {"
        );
        assert_eq!(shell("{x}{x}", &[("x", "é")]), "'é''é'");
        assert_eq!(
            shell("systemctl stop {service}", &[("service", "patroni")]),
            "systemctl stop patroni"
        );
        // `${service}` is the shell's.
        assert_eq!(
            shell("echo ${service}", &[("service", "p")]),
            "echo ${service}"
        );
    }

    #[test]
    fn every_shell_context_keeps_the_value_one_word_of_data() {
        for v in NASTY {
            for (template, expect) in [
                ("printf '%s|' {v}", format!("{v}|")),
                ("printf '%s|' '{v}'", format!("{v}|")),
                ("printf '%s|' \"{v}\"", format!("{v}|")),
                ("printf '%s|' \"$(printf '%s' {v})\"", format!("{v}|")),
                ("printf '%s|' pre{v}post", format!("pre{v}post|")),
                ("printf '%s|' '[{v} UTC]'", format!("[{v} UTC]|")),
                ("printf '%s|' x # {v}", "x|".to_owned()),
            ] {
                let script = shell(template, &[("v", v)]);
                // Command substitution strips trailing newlines only: none here.
                assert_eq!(
                    sh(&script),
                    expect,
                    "template {template:?} value {v:?}: {script}"
                );
            }
        }
        assert!(!std::path::Path::new("/tmp/pgc-template-pwned").exists());
    }

    #[test]
    fn sql_values_are_literals_identifiers_or_refused_by_context() {
        let v = |s| [("t", Value::Text(s))];
        assert_eq!(sql("select {t}", &v("pg1")).unwrap(), "select 'pg1'");
        assert_eq!(sql("select '{t}'", &v("o'k")).unwrap(), "select 'o''k'");
        assert_eq!(
            sql("select {t}", &v("'); drop table x; --")).unwrap(),
            "select '''); drop table x; --'"
        );
        assert_eq!(sql("select {t}", &v(r"a\'b")).unwrap(), r"select E'a\\''b'");
        assert_eq!(
            sql(r"select E'{t}'", &v(r"a\'b")).unwrap(),
            r"select E'a\\''b'"
        );
        assert_eq!(
            sql("select \"{t}\"", &v("a\"b")).unwrap(),
            "select \"a\"\"b\""
        );
        assert_eq!(
            sql("select 1 -- {t}\n", &v("x\ndrop table t")).unwrap(),
            "select 1 -- x drop table t\n"
        );
        assert_eq!(
            sql("select /* {t} */ 1", &v("*/ drop table t /*")).unwrap(),
            "select /* * / drop table t / * */ 1"
        );
        assert_eq!(
            sql("select $q${t}$q$", &v("pg1")).unwrap(),
            "select $q$pg1$q$"
        );
        assert!(sql("select $${t}$$", &v("$$; drop")).is_err());
        assert!(sql("select '{t}'", &v(r"a\")).is_err());
        // After a literal, an identifier or a comment the context is bare again.
        assert_eq!(
            sql("select 'a''b', \"c\"\"d\", {t} /* x */ , {t}", &v("z")).unwrap(),
            "select 'a''b', \"c\"\"d\", 'z' /* x */ , 'z'"
        );
        // Braces inside SQL that are not placeholders stay.
        assert_eq!(
            sql("select '{1,2}'::int[], '{\"a\":1}'::json, {t}", &v("{t}")).unwrap(),
            "select '{1,2}'::int[], '{\"a\":1}'::json, '{t}'"
        );
        assert_eq!(
            sql(
                "x in ({l}) and {n} = 2",
                &[
                    ("l", Value::Verbatim("'a', 'b'")),
                    ("n", Value::Verbatim("2"))
                ]
            )
            .unwrap(),
            "x in ('a', 'b') and 2 = 2"
        );
    }
}
