//! Live progress: a status line redrawn in place on a terminal, plain lines otherwise (CI).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Writes progress to standard error.
pub struct Progress {
    tty: bool,
    last_draw: Mutex<Option<Instant>>,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    /// Detects whether standard error is a terminal.
    pub fn new() -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            last_draw: Mutex::new(None),
        }
    }

    /// A line that stays (scenario start/end, step start, verdicts).
    pub fn line(&self, text: &str) {
        let mut e = std::io::stderr().lock();
        if self.tty {
            let _ = write!(e, "\r\x1b[2K");
        }
        let _ = writeln!(e, "{text}");
    }

    /// What the runner waits for, with elapsed time against the deadline. Redrawn in place
    /// on a terminal (at most 4 times a second); silent otherwise, where step lines suffice.
    pub fn waiting(&self, what: &str, elapsed: Duration, deadline: Duration) {
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
        text.truncate(160);
        let _ = write!(e, "\r\x1b[2K{text}");
        let _ = e.flush();
    }
}
