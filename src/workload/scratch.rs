//! Throwaway local PostgreSQL servers on loopback, for tests and `pgchaos bench`.
//!
//! Each server lives in its own directory under the system temp dir, listens on 127.0.0.1
//! on a free port, trusts local connections, and is stopped (immediate mode) and deleted
//! when its [`ScratchServer`] is dropped, also when a test panics. Run as root, commands run
//! as the `postgres` user through `runuser`; otherwise as the current user.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use super::Endpoint;

/// Why a scratch server could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    /// No PostgreSQL binaries found.
    #[error(
        "failed to find PostgreSQL binaries: set PGCHAOS_PG_BIN or install postgresql (looked in /usr/lib/postgresql/*/bin)"
    )]
    NoBinaries,
    /// A file operation failed.
    #[error("failed to {what}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A command exited with an error.
    #[error("failed to {what}: {detail}")]
    Command {
        /// What was being done.
        what: String,
        /// Exit status and the end of its output.
        detail: String,
    },
}

/// Shutdown modes of `pg_ctl stop`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopMode {
    /// Wait for clients to disconnect.
    Smart,
    /// Disconnect clients, clean shutdown.
    Fast,
    /// Abort every process: a crash, recovered at next start.
    Immediate,
}

impl StopMode {
    fn as_str(self) -> &'static str {
        match self {
            StopMode::Smart => "smart",
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        }
    }
}

/// A local server in a temporary directory. Stopped and removed on drop.
#[derive(Debug)]
pub struct ScratchServer {
    root: PathBuf,
    bin: PathBuf,
    port: u16,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl ScratchServer {
    /// The directory holding `initdb`, `pg_ctl`, ...: `$PGCHAOS_PG_BIN`, else the newest
    /// `/usr/lib/postgresql/<major>/bin`.
    pub(crate) fn bin_dir() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("PGCHAOS_PG_BIN") {
            return Some(PathBuf::from(p));
        }
        let mut found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let major = e.file_name().to_str()?.parse::<u32>().ok()?;
                let bin = e.path().join("bin");
                bin.join("initdb").exists().then_some((major, bin))
            })
            .collect();
        found.sort();
        found.pop().map(|(_, p)| p)
    }

    /// Creates and starts a new server; `settings` are extra `postgresql.conf` lines
    /// (`("default_transaction_read_only", "on")`).
    pub fn start_new(settings: &[(&str, &str)]) -> Result<Self, ScratchError> {
        let bin = Self::bin_dir().ok_or(ScratchError::NoBinaries)?;
        let server = Self::empty(bin)?;
        let data = server.data();
        server.run(
            "initdb a scratch server",
            Command::new(server.bin.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ]),
        )?;
        let mut conf = vec![
            ("listen_addresses", "127.0.0.1".to_owned()),
            // Not a durability test of the disk: crashes here are process crashes.
            ("fsync", "off".to_owned()),
            ("max_connections", "50".to_owned()),
        ];
        conf.extend(settings.iter().map(|(k, v)| (*k, (*v).to_owned())));
        server.append_conf(&conf)?;
        server.start_on_free_port()
    }

    /// A copy of this server taken now with `pg_basebackup`, started as an independent
    /// primary on its own port: it has this server's data up to now and none of what is
    /// written later.
    pub fn clone_now(&self) -> Result<Self, ScratchError> {
        let copy = Self::empty(self.bin.clone())?;
        copy.run(
            "pg_basebackup a scratch server",
            Command::new(self.bin.join("pg_basebackup"))
                .arg("-D")
                .arg(copy.data())
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-U", "postgres", "-X", "stream", "-c", "fast", "--no-sync"]),
        )?;
        copy.start_on_free_port()
    }

    /// A streaming replica of this server (`pg_basebackup -R`), started and following it.
    pub fn standby(&self) -> Result<Self, ScratchError> {
        let copy = Self::empty(self.bin.clone())?;
        copy.run(
            "pg_basebackup a standby of a scratch server",
            Command::new(self.bin.join("pg_basebackup"))
                .arg("-D")
                .arg(copy.data())
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args([
                    "-U",
                    "postgres",
                    "-X",
                    "stream",
                    "-c",
                    "fast",
                    "--no-sync",
                    "-R",
                ]),
        )?;
        copy.start_on_free_port()
    }

    /// `pg_ctl promote`, waiting until the server accepts writes (on a new timeline).
    pub fn promote(&self) -> Result<(), ScratchError> {
        self.run(
            "promote a scratch server",
            Command::new(self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.data())
                .args(["-w", "-t", "60", "promote"]),
        )
    }

    /// Where clients connect.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::new("127.0.0.1", self.port)
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `pg_ctl start`, waiting until it accepts connections.
    pub fn start(&self) -> Result<(), ScratchError> {
        let log = self.root.join("server.log");
        let result = self.run(
            "start a scratch server",
            Command::new(self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.data())
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "60", "start"]),
        );
        if let Err(ScratchError::Command { what, detail }) = result {
            let tail = fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(10).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(ScratchError::Command {
                what,
                detail: format!("{detail}; server log: {}", tail.join(" | ")),
            });
        }
        result
    }

    /// `pg_ctl stop -m <mode>`, waiting until it is down.
    pub fn stop(&self, mode: StopMode) -> Result<(), ScratchError> {
        self.run(
            "stop a scratch server",
            Command::new(self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.data())
                .args(["-m", mode.as_str(), "-w", "-t", "60", "stop"]),
        )
    }

    /// SIGSTOP the postmaster and every child: the server hangs like a blackholed host
    /// (connections are accepted by the kernel, nothing answers).
    pub fn freeze(&self) -> Result<(), ScratchError> {
        self.signal_all(nix::sys::signal::Signal::SIGSTOP)
    }

    /// SIGCONT what [`ScratchServer::freeze`] stopped.
    pub fn thaw(&self) -> Result<(), ScratchError> {
        self.signal_all(nix::sys::signal::Signal::SIGCONT)
    }

    fn signal_all(&self, signal: nix::sys::signal::Signal) -> Result<(), ScratchError> {
        use nix::unistd::Pid;
        let pid_file = self.data().join("postmaster.pid");
        let text = fs::read_to_string(&pid_file).map_err(|source| ScratchError::Io {
            what: format!("read {}", pid_file.display()),
            source,
        })?;
        let postmaster: i32 = text
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| ScratchError::Command {
                what: "find the postmaster".into(),
                detail: format!("no pid in {}", pid_file.display()),
            })?;
        let fail = |e: nix::Error| ScratchError::Io {
            what: format!("send {signal} to the scratch server"),
            source: std::io::Error::from(e),
        };
        // The postmaster first, so it cannot start a child we would miss.
        nix::sys::signal::kill(Pid::from_raw(postmaster), signal).map_err(fail)?;
        for child in children(postmaster) {
            // A child may have exited meanwhile; that is fine.
            let _ = nix::sys::signal::kill(Pid::from_raw(child), signal);
        }
        Ok(())
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    /// A new directory the server's user owns.
    fn empty(bin: PathBuf) -> Result<Self, ScratchError> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!(
            "pgchaos-scratch-{}-{n}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        ));
        let shown = root.display().to_string();
        let io = |what: &str| {
            let what = format!("{what} {shown}");
            move |source| ScratchError::Io { what, source }
        };
        fs::create_dir(&root).map_err(io("create"))?;
        // From here on, Drop cleans up.
        let server = Self { root, bin, port: 0 };
        fs::set_permissions(&server.root, fs::Permissions::from_mode(0o700))
            .map_err(io("set permissions of"))?;
        if as_root() {
            let user = nix::unistd::User::from_name("postgres")
                .ok()
                .flatten()
                .ok_or_else(|| ScratchError::Command {
                    what: "find the postgres user".into(),
                    detail: "no such user (install postgresql)".into(),
                })?;
            nix::unistd::chown(&server.root, Some(user.uid), Some(user.gid)).map_err(|e| {
                ScratchError::Io {
                    what: format!("chown {} to postgres", server.root.display()),
                    source: std::io::Error::from(e),
                }
            })?;
        }
        Ok(server)
    }

    fn append_conf(&self, lines: &[(&str, String)]) -> Result<(), ScratchError> {
        let path = self.data().join("postgresql.conf");
        let io = |source| ScratchError::Io {
            what: format!("append to {}", path.display()),
            source,
        };
        let mut f = OpenOptions::new().append(true).open(&path).map_err(io)?;
        for (k, v) in lines {
            // Later lines win, so a clone can override what it copied.
            writeln!(f, "{k} = '{}'", v.replace('\'', "''")).map_err(io)?;
        }
        Ok(())
    }

    /// Picks a free port and starts; retries with another port if it was taken meanwhile.
    fn start_on_free_port(mut self) -> Result<Self, ScratchError> {
        let mut last = None;
        for _ in 0..3 {
            self.port = free_port()?;
            self.append_conf(&[
                ("port", self.port.to_string()),
                ("unix_socket_directories", self.root.display().to_string()),
            ])?;
            match self.start() {
                Ok(()) => return Ok(self),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(ScratchError::NoBinaries))
    }

    fn run(&self, what: &str, cmd: &mut Command) -> Result<(), ScratchError> {
        let mut full = if as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(cmd.get_program());
            c.args(cmd.get_args());
            c
        } else {
            let mut c = Command::new(cmd.get_program());
            c.args(cmd.get_args());
            c
        };
        // A directory postgres can read, whatever the caller's cwd is.
        full.current_dir(&self.root);
        let out = full.output().map_err(|source| ScratchError::Io {
            what: format!("run {}", Path::new(cmd.get_program()).display()),
            source,
        })?;
        if out.status.success() {
            Ok(())
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Err(ScratchError::Command {
                what: what.to_owned(),
                detail: format!("{}: {}", out.status, tail.join(" | ")),
            })
        }
    }
}

impl Drop for ScratchServer {
    fn drop(&mut self) {
        if self.data().join("postmaster.pid").exists() {
            // A frozen server would ignore the stop request.
            let _ = self.thaw();
            // Best effort: the directory is removed next whatever happens.
            let _ = self.stop(StopMode::Immediate);
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// Pids whose parent is `parent` (from /proc).
fn children(parent: i32) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                // The command name (field 2) may contain spaces; fields after it are fixed.
                .and_then(|stat| {
                    let rest = &stat[stat.rfind(')')? + 1..];
                    rest.split_whitespace().nth(1)?.parse::<i32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

fn as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn free_port() -> Result<u16, ScratchError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|source| ScratchError::Io {
            what: "find a free port on 127.0.0.1".into(),
            source,
        })
}
