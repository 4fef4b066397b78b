//! The watchdog mode a Patroni node is configured with, read from its configuration file,
//! and how it compares with what the inventory declares.
//!
//! Patroni reads `watchdog.mode` from its local configuration (`patroni/config.py`: the
//! `watchdog` section is local-only and defaults to `{mode: automatic}`; a section without
//! `mode` is `automatic` too, `patroni/watchdog/base.py` `WatchdogConfig`). `parse_mode`
//! there accepts `required`/`require`, `automatic`/`auto`, `off`/`disable`/`disabled`, the
//! YAML 1.1 boolean `off` (false), and turns anything else into `off` with a warning.

use serde::Deserialize;

use super::WatchdogMode;

/// The part of Patroni's configuration pgchaos reads. Everything else (passwords
/// included) is skipped by the parser and never kept.
#[derive(Deserialize)]
struct PatroniConfig {
    #[serde(default)]
    watchdog: Option<Section>,
}

#[derive(Deserialize)]
struct Section {
    #[serde(default)]
    mode: Option<ModeValue>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ModeValue {
    Bool(bool),
    Text(String),
}

/// The watchdog mode Patroni derives from the configuration file `text`.
///
/// The error never quotes the file (it holds passwords): only where parsing failed.
pub(crate) fn configured_mode(text: &str) -> Result<WatchdogMode, String> {
    let conf: PatroniConfig = crate::diag::from_yaml(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
            .unwrap_or_default();
        format!("not valid YAML{at}")
    })?;
    let mode = match conf.watchdog.and_then(|s| s.mode) {
        None => WatchdogMode::Automatic,
        Some(ModeValue::Bool(false)) => WatchdogMode::Off,
        Some(ModeValue::Bool(true)) => {
            return Err("watchdog.mode is the boolean true, which Patroni cannot parse".into());
        }
        Some(ModeValue::Text(t)) => match t.to_lowercase().as_str() {
            "required" | "require" => WatchdogMode::Required,
            "automatic" | "auto" => WatchdogMode::Automatic,
            _ => WatchdogMode::Off,
        },
    };
    Ok(mode)
}

/// What preflight concludes from the declaration and each node's configuration.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Declared and confirmed on every node.
    Confirmed(WatchdogMode),
    /// Not declared: the run goes on, with this warning.
    Undeclared(String),
    /// The declaration does not hold: the run must not start.
    Refused(String),
}

/// Compares the inventory's declaration with what each Patroni node's configuration says.
pub(crate) fn verify(
    declared: WatchdogMode,
    nodes: &[(String, Result<WatchdogMode, String>)],
) -> Verdict {
    let found = |m: &WatchdogMode| name(*m);
    let listing = nodes
        .iter()
        .map(|(n, r)| match r {
            Ok(m) => format!("{n}: {}", found(m)),
            Err(e) => format!("{n}: unreadable ({e})"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    if declared == WatchdogMode::Unknown {
        return Verdict::Undeclared(format!(
            "the inventory does not declare cluster.watchdog; Patroni's configuration says \
             {listing}: declare it so split-brain verdicts rest on a verified property"
        ));
    }
    let wrong: Vec<String> = nodes
        .iter()
        .filter(|(_, r)| r.as_ref() != Ok(&declared))
        .map(|(n, r)| match r {
            Ok(m) => format!("{n} is configured {}", found(m)),
            Err(e) => format!("{n}'s configuration could not be read ({e})"),
        })
        .collect();
    if wrong.is_empty() {
        Verdict::Confirmed(declared)
    } else {
        Verdict::Refused(format!(
            "the inventory declares cluster.watchdog: {} but {}",
            found(&declared),
            wrong.join(", ")
        ))
    }
}

/// The inventory spelling of a mode.
pub(crate) fn name(m: WatchdogMode) -> &'static str {
    match m {
        WatchdogMode::Unknown => "unknown",
        WatchdogMode::Off => "off",
        WatchdogMode::Automatic => "automatic",
        WatchdogMode::Required => "required",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_mode_as_patroni_does() {
        let cases = [
            (
                "scope: x\nwatchdog:\n  mode: required\n  driver: testing\n",
                WatchdogMode::Required,
            ),
            ("watchdog:\n  mode: off\n", WatchdogMode::Off),
            ("watchdog:\n  mode: false\n", WatchdogMode::Off),
            ("watchdog:\n  mode: Auto\n", WatchdogMode::Automatic),
            ("watchdog:\n  mode: nonsense\n", WatchdogMode::Off),
            (
                "watchdog:\n  device: /dev/watchdog\n",
                WatchdogMode::Automatic,
            ),
            (
                "scope: x\npostgresql:\n  authentication:\n    superuser:\n      password: s3cret\n",
                WatchdogMode::Automatic,
            ),
        ];
        for (text, mode) in cases {
            assert_eq!(configured_mode(text), Ok(mode), "{text}");
        }
    }

    #[test]
    fn a_parse_error_does_not_quote_the_file() {
        let e = configured_mode("password: s3cret\nwatchdog: [\n").unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
        assert!(e.starts_with("not valid YAML"), "{e}");
    }

    fn nodes(
        modes: &[(&str, Result<WatchdogMode, &str>)],
    ) -> Vec<(String, Result<WatchdogMode, String>)> {
        modes
            .iter()
            .map(|(n, r)| ((*n).to_owned(), r.map_err(str::to_owned)))
            .collect()
    }

    #[test]
    fn a_declaration_the_nodes_contradict_is_refused() {
        let n = nodes(&[
            ("pg1", Ok(WatchdogMode::Required)),
            ("pg2", Ok(WatchdogMode::Off)),
        ]);
        let Verdict::Refused(why) = verify(WatchdogMode::Required, &n) else {
            panic!("not refused");
        };
        assert_eq!(
            why,
            "the inventory declares cluster.watchdog: required but pg2 is configured off"
        );
    }

    #[test]
    fn an_unreadable_configuration_cannot_confirm_a_declaration() {
        let n = nodes(&[
            ("pg1", Ok(WatchdogMode::Off)),
            ("pg2", Err("cat: No such file")),
        ]);
        assert!(
            matches!(verify(WatchdogMode::Off, &n), Verdict::Refused(w) if w.contains("pg2's configuration could not be read"))
        );
    }

    #[test]
    fn confirmed_and_undeclared() {
        let n = nodes(&[
            ("pg1", Ok(WatchdogMode::Off)),
            ("pg2", Ok(WatchdogMode::Off)),
        ]);
        assert_eq!(
            verify(WatchdogMode::Off, &n),
            Verdict::Confirmed(WatchdogMode::Off)
        );
        assert!(
            matches!(verify(WatchdogMode::Unknown, &n), Verdict::Undeclared(w) if w.contains("pg1: off, pg2: off"))
        );
    }
}
