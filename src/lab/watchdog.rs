//! The lab's watchdog device: one per node, a named pipe read by a thread of the node's
//! PID 1, driven by Patroni's `testing` watchdog driver (`TestingWatchdogDevice` in
//! `patroni/watchdog/linux.py`, Patroni 3.0 and 4.x: it opens the device write-only,
//! writes `Ctimeout=N\n` where a real driver calls the `WDIOC_SETTIMEOUT` ioctl, `1` for
//! every keepalive, and `V` just before it closes the device).
//!
//! Semantics follow the Linux watchdog API (Documentation/watchdog/watchdog-api.rst) and
//! `softdog` with `nowayout=0` (Debian's kernel default): the first write after an open
//! arms the timer (default timeout 60 s, softdog's `soft_margin`); every write is a
//! keepalive; a `V` in the last write before the device is closed ("magic close")
//! disarms it; a close without it leaves the timer running ("watchdog did not stop!"),
//! so a killed Patroni that is not back in time gets its node reset. When a keepalive is
//! late the node is reset as hardware would: PID 1 exits at once, the kernel kills every
//! process of the node, and the keeper boots it again after the boot delay.
//!
//! Every event is a line in the node's `/var/log/pgchaos-watchdog.log` (on the host:
//! `DIR/nodes/NODE/fs/log/pgchaos-watchdog.log`): `<RFC 3339 UTC, ms> <event> <details>`,
//! where event is `armed`, `timeout`, `disarmed`, `unexpected-close` or `reset`.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// The watchdog device inside a node (node-local: `/run` is the node's own tmpfs,
/// created at boot as udev creates `/dev/watchdog`).
pub(crate) const DEVICE: &str = "/run/watchdog";
/// The node's watchdog log.
pub(crate) const LOG: &str = "/var/log/pgchaos-watchdog.log";
/// The timeout before any `Ctimeout` (softdog's default `soft_margin`).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Something the watchdog did, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// The device was opened and written to: the timer runs.
    Armed,
    /// A new timeout (seconds).
    Timeout(u64),
    /// Closed after a `V`: the timer stops.
    Disarmed,
    /// Closed without a `V` while armed: the timer keeps running.
    UnexpectedClose,
}

impl Event {
    fn line(&self) -> String {
        match self {
            Event::Armed => "armed (device opened)".into(),
            Event::Timeout(s) => format!("timeout {s} s"),
            Event::Disarmed => "disarmed (magic close)".into(),
            Event::UnexpectedClose => {
                "unexpected-close (no magic close: the timer keeps running)".into()
            }
        }
    }
}

/// The watchdog's timer, fed with what is read from the device.
#[derive(Debug)]
pub(crate) struct Timer {
    armed: bool,
    timeout: Duration,
    last_keepalive: Instant,
    expect_close: bool,
    /// An incomplete `C...` command (up to its newline).
    command: Option<Vec<u8>>,
}

impl Timer {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            armed: false,
            timeout: DEFAULT_TIMEOUT,
            last_keepalive: now,
            expect_close: false,
            command: None,
        }
    }

    /// One read from the device (one write of the driver, usually).
    pub(crate) fn feed(&mut self, data: &[u8], now: Instant) -> Vec<Event> {
        let mut events = Vec::new();
        if !self.armed {
            self.armed = true;
            events.push(Event::Armed);
        }
        // As Linux's watchdog_write: any write is a keepalive and clears the magic close,
        // which a `V` in the same write sets again.
        self.last_keepalive = now;
        self.expect_close = false;
        for &b in data {
            if let Some(cmd) = self.command.as_mut() {
                if b == b'\n' {
                    let text = String::from_utf8_lossy(cmd).into_owned();
                    self.command = None;
                    if let Some(s) = text
                        .strip_prefix("timeout=")
                        .and_then(|s| s.trim().parse::<u64>().ok())
                        .filter(|s| *s > 0)
                    {
                        self.timeout = Duration::from_secs(s);
                        events.push(Event::Timeout(s));
                    }
                } else {
                    cmd.push(b);
                }
            } else if b == b'C' {
                self.command = Some(Vec::new());
            } else if b == b'V' {
                self.expect_close = true;
            }
        }
        events
    }

    /// The writer closed the device.
    pub(crate) fn close(&mut self) -> Option<Event> {
        self.command = None;
        if !self.armed {
            return None;
        }
        if self.expect_close {
            self.armed = false;
            self.expect_close = false;
            Some(Event::Disarmed)
        } else {
            Some(Event::UnexpectedClose)
        }
    }

    /// When armed and the last keepalive is older than the timeout: how old it is.
    pub(crate) fn expired(&self, now: Instant) -> Option<Duration> {
        let age = now.saturating_duration_since(self.last_keepalive);
        (self.armed && age >= self.timeout).then_some(age)
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }
}

fn log(line: &str) {
    let stamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(LOG)
    {
        let _ = writeln!(f, "{stamp} {line}");
    }
    eprintln!("{stamp} watchdog: {line}");
}

/// Creates the device (a named pipe owned by `owner`, mode 0600) and starts the thread
/// reading it. `reset` is called when a keepalive is late; it must not return.
pub(crate) fn start(
    owner: Option<&nix::unistd::User>,
    reset: fn(&str) -> !,
) -> std::io::Result<()> {
    let path = Path::new(DEVICE);
    let _ = std::fs::remove_file(path);
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))?;
    if let Some(u) = owner {
        nix::unistd::chown(path, Some(u.uid), Some(u.gid))?;
    }
    std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || run(reset))?;
    Ok(())
}

fn open_device() -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking, so the open does not wait for a writer; a reader is always there,
    // so the driver's blocking write-only open never waits long.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(DEVICE)
}

fn run(reset: fn(&str) -> !) {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let mut timer = Timer::new(Instant::now());
    let mut dev = match open_device() {
        Ok(f) => f,
        Err(e) => {
            log(&format!(
                "failed to open {DEVICE}: {e}; no watchdog on this node"
            ));
            return;
        }
    };
    // Whether a writer has written since the device was (re)opened: a FIFO reads as EOF
    // until a writer comes, and that is not a close.
    let mut connected = false;
    let mut buf = [0u8; 512];
    loop {
        let mut pfd = libc::pollfd {
            fd: dev.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // A 100 ms tick bounds how late a reset can be.
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 100) };
        if n > 0 {
            match dev.read(&mut buf) {
                Ok(0) => {
                    if connected && let Some(e) = timer.close() {
                        log(&e.line());
                    }
                    connected = false;
                    // Reopen, or poll would report the hang-up forever.
                    match open_device() {
                        Ok(f) => dev = f,
                        Err(e) => {
                            log(&format!("failed to reopen {DEVICE}: {e}"));
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                }
                Ok(k) => {
                    connected = true;
                    for e in timer.feed(&buf[..k], Instant::now()) {
                        log(&e.line());
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log(&format!("failed to read {DEVICE}: {e}"));
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        if let Some(age) = timer.expired(Instant::now()) {
            let why = format!(
                "no keepalive for {:.1} s (timeout {} s)",
                age.as_secs_f64(),
                timer.timeout().as_secs()
            );
            log(&format!("reset {why}"));
            reset(&why);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn patroni_session_arms_sets_timeout_and_magic_close_disarms() {
        let t0 = Instant::now();
        let mut t = Timer::new(t0);
        assert_eq!(t.expired(at(t0, 100_000)), None, "not armed before an open");
        let ev = t.feed(b"Ctimeout=15\n", t0);
        assert_eq!(ev, vec![Event::Armed, Event::Timeout(15)]);
        t.feed(b"1", at(t0, 2_000));
        assert_eq!(t.expired(at(t0, 16_000)), None);
        assert!(t.expired(at(t0, 17_000)).is_some());
        t.feed(b"V", at(t0, 17_000));
        assert_eq!(t.close(), Some(Event::Disarmed));
        assert_eq!(t.expired(at(t0, 100_000)), None);
    }

    #[test]
    fn close_without_magic_keeps_the_timer_running() {
        let t0 = Instant::now();
        let mut t = Timer::new(t0);
        t.feed(b"Ctimeout=10\n1", t0);
        assert_eq!(t.close(), Some(Event::UnexpectedClose));
        assert!(t.expired(at(t0, 10_000)).is_some());
        // A keepalive after a V clears the magic close (any write does, as in Linux).
        let mut t = Timer::new(t0);
        t.feed(b"V", t0);
        t.feed(b"1", t0);
        assert_eq!(t.close(), Some(Event::UnexpectedClose));
    }

    #[test]
    fn default_timeout_and_split_commands() {
        let t0 = Instant::now();
        let mut t = Timer::new(t0);
        t.feed(b"1", t0);
        assert_eq!(t.expired(at(t0, 59_000)), None);
        assert!(t.expired(at(t0, 60_000)).is_some());
        // A command split over two reads is still one command.
        let mut t = Timer::new(t0);
        t.feed(b"Ctime", t0);
        assert_eq!(t.feed(b"out=7\n", t0), vec![Event::Timeout(7)]);
        assert_eq!(t.timeout(), Duration::from_secs(7));
        // Garbage is a keepalive, not a timeout.
        assert!(t.feed(b"Cjunk\n", t0).is_empty());
        assert_eq!(t.timeout(), Duration::from_secs(7));
    }
}
