//! Diagnostics that point into an input file (scenario or inventory), and the located
//! YAML tree used to find where a value was written.
//!
//! Serde reports the first syntax or type error with its location. Errors found after
//! parsing (an undeclared target, a duplicate id, a selector the inventory cannot
//! satisfy) are about the typed model, which has no spans; the loaders therefore parse the
//! text a second time into a [`Located`] tree and look up the YAML path of the offending
//! value (`steps[3].signal.target`) to point at its line and column.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{LabeledSpan, NamedSource, SourceSpan};
use serde::Deserialize;
use serde_saphyr::{Location, MessageFormatter, Spanned};

/// One problem in an input file, with the line and column it is about, the offending
/// value and what is accepted. Rendered by miette with a labelled source snippet.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", path.display())]
pub struct Diagnostic {
    /// The file.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong, naming the offending value and what is accepted.
    pub message: String,
    /// A hint on how to fix it.
    pub help: Option<String>,
    /// Text of the label under the snippet.
    pub label: String,
    /// Diagnostic code, e.g. `pgchaos::scenario::invalid`.
    pub code: &'static str,
    /// Byte range in the file the label points at.
    pub span: SourceSpan,
    /// Further locations (the first declaration of a duplicate, the inventory file).
    pub related: Vec<Diagnostic>,
    src: NamedSource<Arc<str>>,
    /// Shown as advice rather than as an error (a related location).
    note: bool,
}

impl miette::Diagnostic for Diagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(if self.note {
            miette::Severity::Advice
        } else {
            miette::Severity::Error
        })
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.src)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(
            LabeledSpan::new_primary_with_span(Some(self.label.clone()), self.span),
        )))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(
                self.related.iter().map(|d| d as &dyn miette::Diagnostic),
            ))
        }
    }
}

impl Diagnostic {
    /// Adds a hint.
    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Replaces the label text.
    pub(crate) fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Adds a related location, shown as advice after the diagnostic.
    pub(crate) fn with_related(mut self, mut related: Diagnostic) -> Self {
        related.note = true;
        self.related.push(related);
        self
    }

    /// The source text the diagnostic points into (redacted for inventories).
    pub fn source_text(&self) -> &str {
        self.src.inner()
    }
}

/// Renders a diagnostic the way pgchaos prints it: a labelled snippet, colours only on a
/// terminal, and no line wrapping (so `file:line:column` and quoted values stay greppable).
pub fn render(diag: &dyn miette::Diagnostic) -> String {
    use std::io::IsTerminal;
    let theme = if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme)
        .with_wrap_lines(false)
        .with_links(false);
    let mut out = String::new();
    if handler.render_report(&mut out, diag).is_err() {
        // The graphical renderer only fails on a broken formatter; fall back to the one line.
        out = diag.to_string();
    }
    out
}

/// Deepest nesting accepted in input files. Scenarios and inventories need under ten
/// levels; the limit keeps the recursive deserializers well inside a 2 MiB thread stack
/// (tokio's workers, the test harness) even in debug builds.
pub(crate) const MAX_DEPTH: usize = 32;

/// Parses one YAML document into `T` with pgchaos's limits (depth, aliases).
pub(crate) fn from_yaml<T: serde::de::DeserializeOwned>(
    text: &str,
) -> Result<T, serde_saphyr::Error> {
    // Scenario and inventory files are a few hundred nodes: tight limits turn an alias
    // bomb or a generated monster into a quick diagnostic instead of minutes of parsing.
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! { max_depth: MAX_DEPTH, max_nodes: 50_000, max_events: 200_000 },
        alias_limits: serde_saphyr::alias_limits! { max_total_replayed_events: 10_000 },
    };
    serde_saphyr::from_str_with_options(text, options)
}

/// An input file's path and text, for building diagnostics.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    pub path: PathBuf,
    /// The text shown in snippets (secrets masked for inventories).
    pub shown: Arc<str>,
    pub code: &'static str,
    /// Named lists of accepted names (`step kind`, `condition kind`): an unknown variant
    /// whose accepted names are exactly one of them is reported as an unknown of that kind.
    pub kinds: &'static [(&'static str, &'static [&'static str])],
}

impl Source {
    pub(crate) fn new(path: &Path, shown: Arc<str>, code: &'static str) -> Self {
        Self {
            path: path.to_owned(),
            shown,
            code,
            kinds: &[],
        }
    }

    /// The same, naming these lists of accepted names in messages.
    pub(crate) fn with_kinds(
        mut self,
        kinds: &'static [(&'static str, &'static [&'static str])],
    ) -> Self {
        self.kinds = kinds;
        self
    }

    /// A diagnostic at `loc` (falls back to the start of the file).
    pub(crate) fn diag(&self, loc: Option<Loc>, message: impl Into<String>) -> Diagnostic {
        let loc = loc.unwrap_or(Loc {
            line: 1,
            column: 1,
            start: 0,
            len: 0,
        });
        let span = self.label_span(&loc);
        Diagnostic {
            path: self.path.clone(),
            line: loc.line,
            column: loc.column,
            message: message.into(),
            help: None,
            label: "here".into(),
            code: self.code,
            span,
            related: Vec::new(),
            src: NamedSource::new(self.path.display().to_string(), self.shown.clone()),
            note: false,
        }
    }

    /// The byte range to underline: the value itself, or the rest of its line when the
    /// value is a collection (whose span is empty).
    fn label_span(&self, loc: &Loc) -> SourceSpan {
        let text: &str = &self.shown;
        let start = floor_char_boundary(text, loc.start.min(text.len()));
        let mut len = loc.len.min(text.len() - start);
        if len == 0 {
            let rest = &text[start..];
            let line_end = rest.find(['\n', '\r']).unwrap_or(rest.len());
            len = rest[..line_end].trim_end().len();
        }
        let end = floor_char_boundary(text, start + len);
        SourceSpan::new(start.into(), end - start)
    }

    /// Converts a YAML error into a diagnostic, with a clearer message for the common cases.
    pub(crate) fn yaml_error(&self, err: &serde_saphyr::Error, text: &str) -> Diagnostic {
        let raw = serde_saphyr::DefaultMessageFormatter
            .format_message(err)
            .into_owned();
        let mut loc = err.location().and_then(|l| Loc::from_location(&l, text));
        let mut help = None;
        let message = if raw.contains("tabs disallowed")
            || raw.contains("tab") && raw.contains("indent")
        {
            // Point at the tab itself rather than the token after it.
            if let Some(l) = loc.as_mut() {
                l.move_to_tab(text);
            }
            help = Some("YAML indentation must use spaces; replace the tab with spaces".into());
            format!("a tab character is used for indentation ({raw})")
        } else if raw.contains("expected sequence start") {
            let found = loc.as_ref().map(|l| l.text(text)).unwrap_or_default();
            help = Some("write a YAML list: `[a, b]`, or one `- item` per line".into());
            format!("expected a list here, found {}", describe(&found))
        } else if raw.contains("expected mapping start") {
            let found = loc.as_ref().map(|l| l.text(text)).unwrap_or_default();
            help = Some("write a YAML map: `{ key: value }`, or `key: value` lines".into());
            format!("expected a map here, found {}", describe(&found))
        } else if let Some(field) = raw.strip_prefix("missing field ") {
            if let Some(l) = loc.as_mut()
                && let Some(map) = Located::parse(text).enclosing_map(l.start)
            {
                *l = map;
            }
            format!("required field {field} is missing in this map")
        } else if raw.contains("unexpected end of input") && text.trim().is_empty() {
            help = Some("a scenario needs at least `id`, `title` and `steps`; an inventory `cluster` and `nodes`".into());
            "the file is empty".into()
        } else if let Some((message, hint, given)) = refine_unknown(&raw, self.kinds) {
            // Serde points at the map key when a value is refused by a custom visitor
            // (bare target selectors): move to the value when it is on the same line.
            if let (Some(l), Some(given)) = (loc.as_mut(), given) {
                l.move_to_token(text, &given);
            }
            help = hint;
            message
        } else {
            if let serde_saphyr::Error::ExternalMessage { .. } = err.without_snippet() {
                help = Some(
                    "a YAML syntax error: look for an unclosed `[`, `{` or quote, or a misplaced `:`, on this line or the lines above".into(),
                );
            }
            raw
        };
        if loc.is_none() {
            loc = Some(Loc::start());
        }
        let mut d = self.diag(loc, message);
        d.help = help;
        d
    }
}

/// Names what was found where another kind of value was expected.
fn describe(found: &str) -> String {
    let t = found.trim();
    if t.starts_with('{') {
        format!("a map (`{t}`)")
    } else if t.starts_with('[') || t.starts_with("- ") {
        format!("a list (`{t}`)")
    } else if t.contains(": ") || t.ends_with(':') {
        format!("a map (`{t}`)")
    } else {
        format!("{t:?}")
    }
}

/// Rewrites serde's "unknown variant/field" messages: says what kind of name was
/// refused, keeps the accepted list, and suggests the closest accepted name.
fn refine_unknown(
    raw: &str,
    kinds: &[(&str, &[&str])],
) -> Option<(String, Option<String>, Option<String>)> {
    let (what, rest) = if let Some(r) = raw.strip_prefix("unknown variant `") {
        ("variant", r)
    } else if let Some(r) = raw.strip_prefix("unknown field `") {
        ("field", r)
    } else {
        return None;
    };
    let (given, tail) = rest.split_once('`')?;
    let accepted: Vec<String> = if let Some(l) = tail.strip_prefix(", expected one of ") {
        l.split(", ")
            .map(|a| a.trim_matches('`').to_owned())
            .collect()
    } else if let Some(l) = tail.strip_prefix(", expected ") {
        l.split(" or ")
            .map(|a| a.trim_matches('`').to_owned())
            .collect()
    } else {
        Vec::new()
    };
    let hint =
        closest(given, accepted.iter().map(String::as_str)).map(|c| format!("did you mean `{c}`?"));
    let is = |list: &[&str]| {
        accepted.len() == list.len() && accepted.iter().zip(list).all(|(a, b)| a == b)
    };
    let joined = accepted.join(", ");
    let message = if what == "field" {
        if accepted.is_empty() {
            // Serde cannot list the fields of a map with flattened parts (`nodes[].ssh`).
            return Some((
                format!("unknown field `{given}`"),
                Some("`pgchaos schema scenario` and `pgchaos schema inventory` list every accepted field".into()),
                Some(given.to_owned()),
            ));
        } else {
            format!("unknown field `{given}`; accepted fields: {joined}")
        }
    } else if let Some((kind, _)) = kinds.iter().find(|(_, list)| is(list)) {
        format!("unknown {kind} `{given}`; accepted {kind}s: {joined}")
    } else if accepted.iter().any(|a| a == "sync_standby")
        && accepted.iter().any(|a| a == "etcd_member")
    {
        format!("unknown target selector `{given}`; accepted selectors: {joined}")
    } else if accepted.is_empty() {
        format!("unknown value `{given}`")
    } else {
        format!("unknown value `{given}`; accepted values: {joined}")
    };
    Some((message, hint, Some(given.to_owned())))
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A position in a file: 1-based line and column, and a byte range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Loc {
    pub line: usize,
    pub column: usize,
    /// Byte offset.
    pub start: usize,
    /// Byte length (0 for collections).
    pub len: usize,
}

impl Loc {
    fn start() -> Self {
        Loc {
            line: 1,
            column: 1,
            start: 0,
            len: 0,
        }
    }

    /// Converts a serde-saphyr location, checking it lies inside `text`.
    pub(crate) fn from_location(l: &Location, text: &str) -> Option<Loc> {
        if *l == Location::UNKNOWN || l.line() == 0 {
            return None;
        }
        let span = l.span();
        let (start, len) = match (span.byte_offset(), span.byte_len()) {
            (Some(o), Some(n)) => (o as usize, n as usize),
            _ => {
                // Only character offsets are known: convert them to bytes.
                let o = span.offset() as usize;
                let n = if span.len() == u64::from(u32::MAX) {
                    0
                } else {
                    span.len() as usize
                };
                let start = char_to_byte(text, o);
                (start, char_to_byte(&text[start..], n))
            }
        };
        let start = floor_char_boundary(text, start.min(text.len()));
        let len = floor_char_boundary(&text[start..], len.min(text.len() - start));
        // Line and column come from the byte offset, so that they always agree with the
        // snippet miette draws.
        let (line, column) = line_col(text, start);
        Some(Loc {
            line,
            column,
            start,
            len,
        })
    }

    /// The text the location covers (for naming the offending value).
    pub(crate) fn text(&self, text: &str) -> String {
        let s = &text[self.start..(self.start + self.len).min(text.len())];
        if s.is_empty() {
            let rest = &text[self.start..];
            let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
            rest[..end].trim_end().to_owned()
        } else {
            s.to_owned()
        }
    }

    /// Moves the location to `token` when it is written later on the same line.
    fn move_to_token(&mut self, text: &str, token: &str) {
        if token.is_empty() || self.text(text) == token {
            return;
        }
        let rest = &text[self.start..];
        let line_end = rest.find(['\n', '\r']).unwrap_or(rest.len());
        if let Some(i) = rest[..line_end].find(token) {
            self.start += i;
            self.len = token.len();
            let (line, column) = line_col(text, self.start);
            self.line = line;
            self.column = column;
        }
    }

    /// Moves the location to the first tab on its line, if any.
    fn move_to_tab(&mut self, text: &str) {
        let line_start = text[..self.start]
            .rfind(['\n', '\r'])
            .map(|i| i + 1)
            .unwrap_or(0);
        let rest = &text[line_start..];
        let line_end = rest.find(['\n', '\r']).unwrap_or(rest.len());
        if let Some(tab) = rest[..line_end].find('\t') {
            self.start = line_start + tab;
            self.len = 1;
            let (line, column) = line_col(text, self.start);
            self.line = line;
            self.column = column;
        }
    }
}

fn char_to_byte(text: &str, chars: usize) -> usize {
    text.char_indices()
        .nth(chars)
        .map(|(i, _)| i)
        .unwrap_or(text.len())
}

/// 1-based line and character column of byte offset `at`, counting `\n`, `\r\n` and a
/// lone `\r` as line breaks, as YAML does.
pub(crate) fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at];
    let mut line = 1;
    let mut line_start = 0;
    let bytes = before.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                line += 1;
                line_start = i + 1;
            }
            b'\r' if bytes.get(i + 1) != Some(&b'\n') => {
                line += 1;
                line_start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    (line, before[line_start..].chars().count() + 1)
}

/// A YAML value with the location of every node, parsed from the same text as the model.
#[derive(Debug)]
pub(crate) enum YNode {
    Map(Vec<(Spanned<YKey>, Spanned<YNode>)>),
    Seq(Vec<Spanned<YNode>>),
    Scalar,
    Null,
}

impl<'de> Deserialize<'de> for YNode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = YNode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_str<E>(self, _: &str) -> Result<YNode, E> {
                Ok(YNode::Scalar)
            }
            fn visit_bytes<E>(self, _: &[u8]) -> Result<YNode, E> {
                Ok(YNode::Scalar)
            }
            fn visit_bool<E>(self, _: bool) -> Result<YNode, E> {
                Ok(YNode::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> Result<YNode, E> {
                Ok(YNode::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> Result<YNode, E> {
                Ok(YNode::Scalar)
            }
            fn visit_i128<E>(self, _: i128) -> Result<YNode, E> {
                Ok(YNode::Scalar)
            }
            fn visit_u128<E>(self, _: u128) -> Result<YNode, E> {
                Ok(YNode::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> Result<YNode, E> {
                Ok(YNode::Scalar)
            }
            fn visit_char<E>(self, _: char) -> Result<YNode, E> {
                Ok(YNode::Scalar)
            }
            fn visit_unit<E>(self) -> Result<YNode, E> {
                Ok(YNode::Null)
            }
            fn visit_none<E>(self) -> Result<YNode, E> {
                Ok(YNode::Null)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<YNode, D::Error> {
                YNode::deserialize(d)
            }
            fn visit_newtype_struct<D: serde::Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<YNode, D::Error> {
                YNode::deserialize(d)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<YNode, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element()? {
                    v.push(x);
                }
                Ok(YNode::Seq(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<YNode, A::Error> {
                let mut v = Vec::new();
                while let Some(k) = a.next_key()? {
                    let val = a.next_value()?;
                    v.push((k, val));
                }
                Ok(YNode::Map(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// A map key as written. Keys are read as strings, not resolved: `on:` is the key `on`,
/// as serde sees it for struct fields, not the YAML 1.1 boolean `true`. A complex key
/// (a map or list used as key) is read as an empty string.
#[derive(Debug)]
pub(crate) struct YKey(pub String);

impl<'de> Deserialize<'de> for YKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = YKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map key")
            }
            fn visit_str<E>(self, v: &str) -> Result<YKey, E> {
                Ok(YKey(v.to_owned()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<YKey, E> {
                Ok(YKey(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<YKey, E> {
                Ok(YKey(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<YKey, E> {
                Ok(YKey(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<YKey, E> {
                Ok(YKey(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<YKey, E> {
                Ok(YKey(String::new()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<YKey, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(YKey(String::new()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<YKey, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(YKey(String::new()))
            }
        }
        d.deserialize_string(V)
    }
}

/// One step of a YAML path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(Cow<'static, str>),
    Index(usize),
}

/// A path into a YAML document, e.g. `steps[3].signal.target`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct YPath(pub Vec<Seg>);

impl YPath {
    pub(crate) fn root() -> Self {
        Self(Vec::new())
    }

    /// This path followed by map key `k`.
    pub(crate) fn key(&self, k: impl Into<Cow<'static, str>>) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.into()));
        p
    }

    /// This path followed by list index `i`.
    pub(crate) fn idx(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
}

impl fmt::Display for YPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if n == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// The located tree of one file (empty when the text is not valid YAML).
#[derive(Debug)]
pub(crate) struct Located {
    root: Option<Spanned<YNode>>,
    text: Arc<str>,
}

impl Located {
    /// Parses `text` into a located tree; on a syntax error the tree is empty and every
    /// lookup falls back to the start of the file.
    pub(crate) fn parse(text: &str) -> Self {
        Self {
            root: from_yaml::<Spanned<YNode>>(text).ok(),
            text: Arc::from(text),
        }
    }

    /// The node at `path`, or its deepest existing ancestor.
    fn node(&self, path: &YPath) -> Option<(&Spanned<YNode>, bool)> {
        let mut cur = self.root.as_ref()?;
        for seg in &path.0 {
            let next = match (&cur.value, seg) {
                (YNode::Map(entries), Seg::Key(k)) => entries
                    .iter()
                    .find(|(key, _)| key.value.0 == *k)
                    .map(|(_, v)| v),
                (YNode::Seq(items), Seg::Index(i)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => cur = n,
                None => return Some((cur, false)),
            }
        }
        Some((cur, true))
    }

    /// Where the value at `path` is written (or its closest written ancestor).
    pub(crate) fn find(&self, path: &YPath) -> Option<Loc> {
        let (node, _) = self.node(path)?;
        Loc::from_location(&node.referenced, &self.text)
    }

    /// Where the key of the map entry at `path` is written (the value when it has no key).
    pub(crate) fn find_key(&self, path: &YPath) -> Option<Loc> {
        let Some((Seg::Key(last), parent)) = path.0.split_last() else {
            return self.find(path);
        };
        let parent = YPath(parent.to_vec());
        if let Some((node, true)) = self.node(&parent)
            && let YNode::Map(entries) = &node.value
            && let Some((k, _)) = entries.iter().find(|(key, _)| key.value.0 == *last)
        {
            return Loc::from_location(&k.referenced, &self.text);
        }
        self.find(path)
    }

    /// Where the map holding the entry whose key or value starts at byte `offset` begins
    /// (serde reports a missing field at the map's last entry; the map is the better place).
    pub(crate) fn enclosing_map(&self, offset: usize) -> Option<Loc> {
        fn walk<'a>(
            n: &'a Spanned<YNode>,
            offset: usize,
            text: &str,
        ) -> Option<&'a Spanned<YNode>> {
            match &n.value {
                YNode::Map(entries) => {
                    for (k, v) in entries {
                        if let Some(found) = walk(v, offset, text) {
                            return Some(found);
                        }
                        let starts_here = |l: &Location| {
                            Loc::from_location(l, text).is_some_and(|l| l.start == offset)
                        };
                        if starts_here(&k.referenced) || starts_here(&v.referenced) {
                            return Some(n);
                        }
                    }
                    None
                }
                YNode::Seq(items) => items.iter().find_map(|i| walk(i, offset, text)),
                _ => None,
            }
        }
        let map = walk(self.root.as_ref()?, offset, &self.text)?;
        Loc::from_location(&map.referenced, &self.text)
    }

    /// Every `(key location, value location)` of map entries named `key`, at any depth,
    /// whose value is a scalar (used to find inline passwords).
    pub(crate) fn scalars_under_key(&self, key: &str) -> Vec<Loc> {
        fn walk(n: &Spanned<YNode>, key: &str, text: &str, out: &mut Vec<Loc>) {
            match &n.value {
                YNode::Map(entries) => {
                    for (k, v) in entries {
                        if k.value.0 == key
                            && matches!(v.value, YNode::Scalar)
                            && let Some(l) = Loc::from_location(&v.referenced, text)
                        {
                            out.push(l);
                        }
                        walk(v, key, text, out);
                    }
                }
                YNode::Seq(items) => items.iter().for_each(|i| walk(i, key, text, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        if let Some(r) = &self.root {
            walk(r, key, &self.text, &mut out);
        }
        out
    }
}

/// The accepted value closest to `given` (edit distance), if it is close enough to be a
/// plausible typo.
pub(crate) fn closest<'a>(
    given: &str,
    accepted: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for a in accepted {
        let d = levenshtein(&given.to_lowercase(), &a.to_lowercase());
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, a));
        }
    }
    let (d, a) = best?;
    let limit = (given.chars().count().max(a.chars().count()) / 3).max(2);
    (d <= limit).then_some(a)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A comma-separated list of names in backquotes, or `none` when empty.
pub(crate) fn list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let v: Vec<String> = names.into_iter().map(|n| format!("`{n}`")).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_paths() {
        let text = "a:\n  b:\n    - x\n    - {c: yes}\n";
        let t = Located::parse(text);
        let l = t
            .find(&YPath::root().key("a").key("b").idx(1).key("c"))
            .unwrap();
        assert_eq!((l.line, l.column), (4, 11));
        assert_eq!(l.text(text), "yes");
        let k = t.find_key(&YPath::root().key("a").key("b")).unwrap();
        assert_eq!((k.line, k.column), (2, 3));
        // A missing leaf falls back to its closest ancestor.
        let f = t
            .find(&YPath::root().key("a").key("b").idx(0).key("zz"))
            .unwrap();
        assert_eq!((f.line, f.column), (3, 7));
    }

    #[test]
    fn path_display() {
        let p = YPath::root()
            .key("steps")
            .idx(3)
            .key("signal")
            .key("target");
        assert_eq!(p.to_string(), "steps[3].signal.target");
    }

    #[test]
    fn suggests_close_names() {
        assert_eq!(closest("vicitm", ["victim", "other"]), Some("victim"));
        assert_eq!(closest("zzzzzz", ["victim", "other"]), None);
    }

    #[test]
    fn line_col_counts_chars() {
        assert_eq!(line_col("ab\ncé d", 7), (2, 4));
        assert_eq!(line_col("a\r\nb", 3), (2, 1));
    }
}
