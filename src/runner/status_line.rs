//! The live status line of a run: scenario i/N, step, elapsed time against the scenario's
//! deadline, the current leader and timeline, writes acknowledged and failed.
//!
//! On a terminal it is redrawn in place twice a second under the lines the runner prints;
//! when standard error is not a terminal (CI logs) it is printed as a plain line every
//! [`PLAIN_EVERY`], so a log still shows where a long scenario is.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::observe::Timeline;
use crate::results::ObservationSource;
use crate::workload::ProgressHandle;

/// Redraw period on a terminal.
const REDRAW_EVERY: Duration = Duration::from_millis(500);
/// Period of the plain status line when not on a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(30);
/// Samples looked at for the current leader (the newest ones; every node is in them).
const RECENT_SAMPLES: usize = 400;

/// What the status line shows; updated by the runner at scenario and step boundaries.
#[derive(Default)]
struct State {
    /// `(i, n, id)` of the running scenario.
    scenario: Option<(usize, usize, String)>,
    started: Option<Instant>,
    deadline: Duration,
    /// The running step (`step 2/3 SIGKILL postgres on pg1`), or the phase after them.
    activity: Option<String>,
    /// What the runner waits for, if anything.
    waiting: Option<String>,
    writes: Option<ProgressHandle>,
}

/// The status line shared by the runner's parts.
pub(crate) struct StatusLine {
    tty: bool,
    state: Mutex<State>,
    /// Whether a line is drawn in place right now (so a printed line clears it first).
    drawn: Mutex<bool>,
}

impl StatusLine {
    /// Detects whether standard error is a terminal.
    pub(crate) fn new() -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            state: Mutex::new(State::default()),
            drawn: Mutex::new(false),
        }
    }

    /// Whether the line is redrawn in place (a terminal) rather than printed.
    pub(crate) fn in_place(&self) -> bool {
        self.tty
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A scenario attempt starts.
    pub(crate) fn scenario(&self, i: usize, n: usize, id: &str, deadline: Duration) {
        let mut s = self.state();
        *s = State {
            scenario: Some((i, n, id.to_owned())),
            started: Some(Instant::now()),
            deadline,
            ..State::default()
        };
    }

    /// A step starts.
    pub(crate) fn step(&self, k: usize, m: usize, description: &str) {
        self.phase(&format!("step {k}/{m} {description}"));
    }

    /// The scenario's steps are over: `undo`, `recovery`.
    pub(crate) fn phase(&self, what: &str) {
        let mut s = self.state();
        s.activity = Some(what.to_owned());
        s.waiting = None;
    }

    /// What the runner waits for now (an expectation, steady state).
    pub(crate) fn waiting(&self, what: &str) {
        self.state().waiting = Some(what.to_owned());
    }

    /// The scenario's workload started: its counters are shown.
    pub(crate) fn writes(&self, handle: ProgressHandle) {
        self.state().writes = Some(handle);
    }

    /// The scenario ended: nothing to show until the next one.
    pub(crate) fn idle(&self) {
        *self.state() = State::default();
        self.erase();
    }

    /// Erases the line drawn in place, if any (before a line is printed over it).
    pub(crate) fn erase(&self) {
        let mut drawn = self.drawn.lock().unwrap_or_else(|p| p.into_inner());
        if *drawn {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[2K");
            let _ = e.flush();
            *drawn = false;
        }
    }

    /// The line as it reads now, or `None` when no scenario runs.
    fn render(&self, timeline: &Timeline) -> Option<String> {
        let s = self.state();
        let (i, n, id) = s.scenario.as_ref()?;
        let elapsed = s.started.map(|t| t.elapsed()).unwrap_or_default();
        let mut parts = vec![format!("[{i}/{n}] {id}")];
        if let Some(a) = &s.activity {
            parts.push(a.clone());
        }
        parts.push(format!(
            "{:.0}s/{:.0}s",
            elapsed.as_secs_f64(),
            s.deadline.as_secs_f64()
        ));
        parts.push(leader_text(timeline));
        if let Some(w) = &s.writes {
            let p = w.get();
            parts.push(format!(
                "writes {} ok {} failed{}",
                p.acknowledged,
                p.failed,
                if p.unknown > 0 {
                    format!(" {} unknown", p.unknown)
                } else {
                    String::new()
                }
            ));
        }
        if let Some(w) = &s.waiting {
            parts.push(format!("waiting: {w}"));
        }
        Some(parts.join(" · "))
    }

    fn draw(&self, timeline: &Timeline) {
        let Some(text) = self.render(timeline) else {
            return;
        };
        let mut e = std::io::stderr().lock();
        if self.tty {
            let width = terminal_width().saturating_sub(1).max(20);
            let mut drawn = self.drawn.lock().unwrap_or_else(|p| p.into_inner());
            let _ = write!(e, "\r\x1b[2K{}", truncate_chars(&text, width));
            let _ = e.flush();
            *drawn = true;
        } else {
            let _ = writeln!(e, "    status: {text}");
        }
    }

    /// Redraws the line until `stop` resolves (spawned by the runner for a run).
    pub(crate) async fn keep_drawing(
        self: Arc<Self>,
        timeline: Timeline,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let every = if self.tty { REDRAW_EVERY } else { PLAIN_EVERY };
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => self.draw(&timeline),
                _ = stop.changed() => break,
            }
        }
        self.erase();
    }
}

/// `leader pg1 TL 3` from the newest REST samples; several claimants are all named.
fn leader_text(timeline: &Timeline) -> String {
    let recent = timeline.since(timeline.len().saturating_sub(RECENT_SAMPLES));
    let mut latest: std::collections::BTreeMap<&str, &crate::results::Observation> =
        std::collections::BTreeMap::new();
    for s in &recent {
        let o = &s.observation;
        if o.source == ObservationSource::Rest {
            latest.insert(o.node.as_str(), o);
        }
    }
    let leaders: Vec<&crate::results::Observation> = latest
        .values()
        .filter(|o| o.reachable && o.role.as_deref() == Some("leader"))
        .copied()
        .collect();
    match leaders.as_slice() {
        [] if latest.is_empty() => "leader ?".into(),
        [] => "no leader".into(),
        [l] => format!(
            "leader {} TL {}",
            l.node,
            l.timeline.map_or_else(|| "?".into(), |t| t.to_string())
        ),
        many => format!(
            "leaders {} (!)",
            many.iter()
                .map(|o| o.node.as_str())
                .collect::<Vec<_>>()
                .join("+")
        ),
    }
}

/// At most `max` characters of `s` (never cut inside a character), `…` when cut.
fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Columns of the terminal on standard error (80 when unknown).
fn terminal_width() -> usize {
    // SAFETY: TIOCGWINSZ fills a winsize struct we own.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) };
    if r == 0 && ws.ws_col > 0 {
        ws.ws_col as usize
    } else {
        80
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::Sample;
    use crate::results::Observation;

    fn rest(node: &str, role: &str, tl: u64) -> Sample {
        Sample {
            observation: Observation {
                node: node.into(),
                source: ObservationSource::Rest,
                reachable: true,
                role: Some(role.into()),
                timeline: Some(tl),
                ..Default::default()
            },
            members: None,
            cluster_json: None,
        }
    }

    #[test]
    fn shows_scenario_step_deadline_and_leader() {
        let t = Timeline::new();
        t.push(rest("pg1", "leader", 3));
        t.push(rest("pg2", "replica", 3));
        let s = StatusLine::new();
        assert_eq!(s.render(&t), None, "nothing while no scenario runs");
        s.scenario(2, 5, "primary-kill", Duration::from_secs(600));
        s.step(1, 3, "SIGKILL postgres on pg1");
        s.waiting("a new leader");
        let line = s.render(&t).unwrap();
        assert!(
            line.starts_with("[2/5] primary-kill · step 1/3 SIGKILL postgres on pg1 · 0s/600s"),
            "{line}"
        );
        assert!(line.contains("leader pg1 TL 3"), "{line}");
        assert!(line.ends_with("waiting: a new leader"), "{line}");
        t.push(rest("pg1", "replica", 3));
        assert!(s.render(&t).unwrap().contains("no leader"));
        t.push(rest("pg1", "leader", 4));
        t.push(rest("pg2", "leader", 4));
        assert!(s.render(&t).unwrap().contains("leaders pg1+pg2 (!)"));
        s.idle();
        assert_eq!(s.render(&t), None);
    }

    #[test]
    fn truncation_never_splits_a_character() {
        assert_eq!(truncate_chars("abc", 5), "abc");
        assert_eq!(truncate_chars("ééééé", 3), "éé…");
        assert_eq!(truncate_chars("a → b → c", 4), "a →…");
    }
}
