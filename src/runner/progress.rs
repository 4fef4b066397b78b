//! Live progress: a status line redrawn in place on a terminal, plain lines otherwise (CI).

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::status_line::StatusLine;

/// Writes progress to standard error.
pub(crate) struct Progress {
    tty: bool,
    last_draw: Mutex<Option<Instant>>,
    /// The run's status line, which shows what is awaited when it is drawn in place.
    status: Option<Arc<StatusLine>>,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    /// Detects whether standard error is a terminal.
    pub(crate) fn new() -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            last_draw: Mutex::new(None),
            status: None,
        }
    }

    /// Progress that hands what is awaited to `status` when it is drawn in place.
    pub(crate) fn with_status(status: Arc<StatusLine>) -> Self {
        Self {
            status: Some(status),
            ..Self::new()
        }
    }

    /// A line that stays (scenario start/end, step start, verdicts).
    pub(crate) fn line(&self, text: &str) {
        let mut e = std::io::stderr().lock();
        if self.tty {
            let _ = write!(e, "\r\x1b[2K");
        }
        let _ = writeln!(e, "{text}");
    }

    /// What the runner waits for, with elapsed time against the deadline. Redrawn in place
    /// on a terminal (at most 4 times a second); silent otherwise, where step lines suffice.
    pub(crate) fn waiting(&self, what: &str, elapsed: Duration, deadline: Duration) {
        if let Some(s) = self.status.as_ref().filter(|s| s.in_place()) {
            // One line redrawn in place: the status line's.
            s.waiting(&format!(
                "{what} ({:.0}s/{:.0}s)",
                elapsed.as_secs_f64(),
                deadline.as_secs_f64()
            ));
            return;
        }
        if !self.tty {
            return;
        }
        let mut last = self.last_draw.lock().expect("progress lock");
        if last.is_some_and(|l| l.elapsed() < Duration::from_millis(250)) {
            return;
        }
        *last = Some(Instant::now());
        let mut e = std::io::stderr().lock();
        let mut text = format!(
            "    waiting {:>5.1}s / {:.0}s: {what}",
            elapsed.as_secs_f64(),
            deadline.as_secs_f64()
        );
        truncate_chars(&mut text, 160);
        let _ = write!(e, "\r\x1b[2K{text}");
        let _ = e.flush();
    }
}

/// Cuts `s` to at most `max` characters (never inside a character: `String::truncate`
/// panics there, and a condition may well hold "é").
fn truncate_chars(s: &mut String, max: usize) {
    if let Some((i, _)) = s.char_indices().nth(max) {
        s.truncate(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_never_splits_a_character() {
        let mut s = format!("    waiting   1.0s / 60s: {}", "é".repeat(80));
        truncate_chars(&mut s, 60);
        assert_eq!(s.chars().count(), 60);
        let mut short = "é".to_owned();
        truncate_chars(&mut short, 160);
        assert_eq!(short, "é");
        // What the redraw does with it, on a terminal or not: no panic.
        let p = Progress {
            tty: true,
            last_draw: Mutex::new(None),
            status: None,
        };
        p.waiting(
            &"é".repeat(200),
            Duration::from_secs(1),
            Duration::from_secs(2),
        );
    }
}
