//! Running commands on nodes over SSH (one multiplexed master connection per host) and on
//! the machine where pgchaos runs, always with a timeout.
//!
//! openssh drives the system `ssh` with a ControlMaster, so `~/.ssh/config`, agents and
//! ProxyJump work as they do for the operator. openssh has no per-command timeout and does
//! not kill a remote process when its child is dropped, so every call is wrapped in a
//! tokio timeout and remote commands that may outlive their caller are written to bound
//! themselves (see [`crate::fault`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openssh::{KnownHosts, Session, SessionBuilder};
use tokio::sync::Mutex;

use crate::inventory::{HostKeyChecking, Inventory, Node, SshOptions};

/// Default time allowed for one remote command.
pub(crate) const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long after its timeout a node-side command is sent SIGKILL.
pub(crate) const NODE_KILL_GRACE: Duration = Duration::from_secs(3);
/// Default time allowed to open a master connection.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a command printed and how it ended.
#[derive(Clone, Debug)]
pub(crate) struct Output {
    /// Exit status (none when killed by a signal).
    pub status: Option<i32>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
    /// How long it took.
    pub duration: Duration,
}

impl Output {
    /// Exit status 0.
    pub(crate) fn success(&self) -> bool {
        self.status == Some(0)
    }
}

/// Why a command could not be run to completion.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransportError {
    /// The node is not in the inventory.
    #[error("unknown node {0:?}")]
    UnknownNode(String),
    /// The master connection could not be opened.
    #[error("failed to connect to {node} over SSH ({destination}): {message}")]
    Connect {
        /// Node name.
        node: String,
        /// SSH destination.
        destination: String,
        /// What ssh said.
        message: String,
    },
    /// The command did not finish in time. The message names the command by its first
    /// line only: the whole script is in the step's evidence.
    #[error(
        "command on {node} did not finish within {after:?}: `{}`",
        short_command(command)
    )]
    Timeout {
        /// Node name (`local` for the local machine).
        node: String,
        /// The command.
        command: String,
        /// The timeout.
        after: Duration,
    },
    /// The SSH channel failed while the command ran.
    #[error(
        "SSH to {node} failed while running `{}`: {message}",
        short_command(command)
    )]
    Channel {
        /// Node name.
        node: String,
        /// The command.
        command: String,
        /// What failed.
        message: String,
    },
    /// A local command could not be started.
    #[error("failed to run local command `{}`", short_command(command))]
    Local {
        /// The command.
        command: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// A command as a message names it: its first non-empty line, at most 80 characters,
/// with `…` when anything was left out.
pub(crate) fn short_command(command: &str) -> String {
    const MAX: usize = 80;
    let mut lines = command.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default();
    let more = lines.next().is_some();
    let mut out: String = first.chars().take(MAX).collect();
    if more || first.chars().count() > MAX {
        out.push('…');
    }
    out
}

/// How to reach one node.
#[derive(Clone, Debug)]
struct Target {
    destination: String,
    options: SshOptions,
}

/// SSH connections to every node of an inventory, opened lazily and kept open.
pub struct Transport {
    targets: HashMap<String, Target>,
    sessions: HashMap<String, Mutex<Option<Arc<Session>>>>,
    control_dir: PathBuf,
}

impl Transport {
    /// Prepares connections to every node; nothing is opened until the first command.
    ///
    /// `control_dir` holds the ControlMaster sockets: keep its path short (sockets are
    /// limited to 108 bytes).
    pub fn new(inventory: &Inventory, control_dir: &Path) -> Self {
        let mut targets = HashMap::new();
        let mut sessions = HashMap::new();
        for node in &inventory.nodes {
            targets.insert(node.name.clone(), target_for(&inventory.ssh, node));
            sessions.insert(node.name.clone(), Mutex::new(None));
        }
        Self {
            targets,
            sessions,
            control_dir: control_dir.to_owned(),
        }
    }

    /// Whether commands on `node` are wrapped in `sudo -n`.
    pub(crate) fn uses_sudo(&self, node: &str) -> bool {
        self.targets
            .get(node)
            .and_then(|t| t.options.sudo)
            .unwrap_or(false)
    }

    /// The command timeout configured for `node`.
    pub(crate) fn command_timeout(&self, node: &str) -> Duration {
        self.targets
            .get(node)
            .and_then(|t| t.options.command_timeout)
            .map(|d| d.get())
            .unwrap_or(DEFAULT_COMMAND_TIMEOUT)
    }

    async fn session(&self, node: &str) -> Result<Arc<Session>, TransportError> {
        let target = self
            .targets
            .get(node)
            .ok_or_else(|| TransportError::UnknownNode(node.to_owned()))?;
        let slot = self.sessions.get(node).expect("sessions mirror targets");
        let mut guard = slot.lock().await;
        if let Some(s) = guard.as_ref() {
            return Ok(s.clone());
        }
        let o = &target.options;
        let mut b = SessionBuilder::default();
        if let Some(u) = &o.user {
            b.user(u.clone());
        }
        if let Some(p) = o.port {
            b.port(p);
        }
        if let Some(k) = &o.key {
            b.keyfile(k);
        }
        if let Some(k) = &o.known_hosts {
            b.user_known_hosts_file(k);
        }
        if let Some(c) = &o.config_file {
            b.config_file(c);
        }
        b.known_hosts_check(
            match o.host_key_checking.unwrap_or(HostKeyChecking::Strict) {
                HostKeyChecking::Strict => KnownHosts::Strict,
                HostKeyChecking::AcceptNew => KnownHosts::Add,
            },
        );
        let connect_timeout = o
            .connect_timeout
            .map(|d| d.get())
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        b.connect_timeout(connect_timeout);
        b.server_alive_interval(Duration::from_secs(5));
        b.control_directory(&self.control_dir);
        let connect = b.connect_mux(&target.destination);
        // ssh's own ConnectTimeout covers TCP only; bound the whole handshake too.
        let session = tokio::time::timeout(connect_timeout + Duration::from_secs(5), connect)
            .await
            .map_err(|_| TransportError::Connect {
                node: node.to_owned(),
                destination: target.destination.clone(),
                message: format!("no answer within {connect_timeout:?}"),
            })?
            .map_err(|e| TransportError::Connect {
                node: node.to_owned(),
                destination: target.destination.clone(),
                message: error_chain(&e),
            })?;
        let session = Arc::new(session);
        *guard = Some(session.clone());
        Ok(session)
    }

    /// Runs a shell command on `node` with the node's default timeout.
    pub(crate) async fn run(&self, node: &str, script: &str) -> Result<Output, TransportError> {
        self.run_with_timeout(node, script, self.command_timeout(node))
            .await
    }

    /// Runs a shell command on `node`, giving up after `timeout`.
    ///
    /// The script runs under `sh -c` (wrapped in `sudo -n` when the node is configured
    /// for it). A broken master connection is dropped so that the next call reconnects.
    pub(crate) async fn run_with_timeout(
        &self,
        node: &str,
        script: &str,
        timeout: Duration,
    ) -> Result<Output, TransportError> {
        let session = self.session(node).await?;
        let wrapped = self.wrap_bounded(node, script, timeout);
        let started = Instant::now();
        let mut cmd = session.raw_command(&wrapped);
        let fut = cmd.output();
        // The node kills the command at `timeout`; waiting a little longer here lets its
        // exit status (124) come back, so the outcome is known rather than "timed out".
        let grace = (NODE_KILL_GRACE * 2).min(timeout);
        let out = match tokio::time::timeout(timeout + grace, fut).await {
            Err(_) => {
                return Err(TransportError::Timeout {
                    node: node.to_owned(),
                    command: script.to_owned(),
                    after: timeout,
                });
            }
            Ok(Err(e)) => {
                // Forget the master so the next command reconnects.
                if let Some(slot) = self.sessions.get(node) {
                    *slot.lock().await = None;
                }
                return Err(TransportError::Channel {
                    node: node.to_owned(),
                    command: script.to_owned(),
                    message: error_chain(&e),
                });
            }
            Ok(Ok(o)) => o,
        };
        // ssh reports 255 for its own failures (connection lost mid-command).
        if out.status.code() == Some(255) && session.check().await.is_err() {
            if let Some(slot) = self.sessions.get(node) {
                *slot.lock().await = None;
            }
            return Err(TransportError::Channel {
                node: node.to_owned(),
                command: script.to_owned(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Ok(Output {
            status: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            duration: started.elapsed(),
        })
    }

    /// The exact command line sent to `node` for `script` with the node's default timeout
    /// (used by `--dry-run`).
    pub(crate) fn wrap(&self, node: &str, script: &str) -> String {
        self.wrap_bounded(node, script, self.command_timeout(node))
    }

    /// The command line sent to `node` for `script`, bounded on the node itself.
    ///
    /// Why on the node: a tokio timeout here only stops waiting; the remote command goes
    /// on (an `iptables` waiting for a lock lands whenever it gets it, maybe after the
    /// undo). `timeout` (coreutils, busybox) kills the command and its process group at
    /// `timeout`, and KILLs it [`NODE_KILL_GRACE`] later; a node without `timeout` runs
    /// the script unbounded, as before. Dead man's switches start their own session
    /// (`setsid`), so they outlive the bound, as they must.
    pub(crate) fn wrap_bounded(&self, node: &str, script: &str, timeout: Duration) -> String {
        let secs = timeout.as_secs().max(1);
        let inner = format!(
            "sh -c {} pgchaos {}",
            shell_quote(&format!(
                "if command -v timeout >/dev/null 2>&1; then exec timeout -k {} {secs} sh -c \"$1\"; fi; exec sh -c \"$1\"",
                NODE_KILL_GRACE.as_secs()
            )),
            shell_quote(script)
        );
        if self.uses_sudo(node) {
            format!("sudo -n {inner}")
        } else {
            inner
        }
    }

    /// Forgets every master connection, so the next command to each node reconnects (the
    /// hosts were rebuilt or restarted: connections opened before are dead).
    pub(crate) async fn forget_sessions(&self) {
        self.close().await;
    }

    /// Closes every master connection.
    pub async fn close(&self) {
        for slot in self.sessions.values() {
            if let Some(s) = slot.lock().await.take()
                && let Ok(s) = Arc::try_unwrap(s)
            {
                let _ = s.close().await;
            }
        }
    }
}

/// Creates a fresh, private directory for the ControlMaster sockets: `/tmp/pgc-XXXXXX`
/// made by `mkdtemp` (mode 0700, a name nobody can predict, and never a directory that
/// already existed, so another user cannot plant one for pgchaos to use). Short, for
/// the 108-byte socket path limit. The caller removes it.
pub(crate) fn control_dir() -> std::io::Result<PathBuf> {
    nix::unistd::mkdtemp("/tmp/pgc-XXXXXX").map_err(std::io::Error::from)
}

/// A few random bytes as hex (from the kernel), for names that must not collide.
pub(crate) fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    let got = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if got.is_err() {
        // No /dev/urandom: the clock's nanoseconds and our PID, still unlikely to collide.
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
            ^ std::process::id().rotate_left(16);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (n >> ((i % 4) * 8)) as u8;
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs a shell command on the machine where pgchaos runs (power-on commands).
pub(crate) async fn run_local(script: &str, timeout: Duration) -> Result<Output, TransportError> {
    let started = Instant::now();
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(timeout, child)
        .await
        .map_err(|_| TransportError::Timeout {
            node: "local".into(),
            command: script.to_owned(),
            after: timeout,
        })?
        .map_err(|source| TransportError::Local {
            command: script.to_owned(),
            source,
        })?;
    Ok(Output {
        status: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        duration: started.elapsed(),
    })
}

fn target_for(global: &SshOptions, node: &Node) -> Target {
    let n = &node.ssh.options;
    let options = SshOptions {
        user: n.user.clone().or_else(|| global.user.clone()),
        port: n.port.or(global.port),
        key: n.key.clone().or_else(|| global.key.clone()),
        sudo: n.sudo.or(global.sudo),
        host_key_checking: n.host_key_checking.or(global.host_key_checking),
        known_hosts: n.known_hosts.clone().or_else(|| global.known_hosts.clone()),
        connect_timeout: n.connect_timeout.or(global.connect_timeout),
        command_timeout: n.command_timeout.or(global.command_timeout),
        config_file: n.config_file.clone().or_else(|| global.config_file.clone()),
    };
    Target {
        destination: node.ssh.host.clone().unwrap_or_else(|| node.host.clone()),
        options,
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Quotes `s` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    crate::text::template::shell_word(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_bounded_on_the_node() {
        let inv: crate::inventory::Inventory = serde_json::from_value(serde_json::json!({
            "cluster": { "scope": "s" },
            "ssh": { "sudo": true },
            "nodes": [ { "name": "n1", "host": "10.0.0.1", "roles": ["patroni"] } ]
        }))
        .unwrap();
        let t = super::Transport::new(&inv, std::path::Path::new("/tmp/x"));
        let w = t.wrap_bounded("n1", "echo 'hi'", std::time::Duration::from_secs(7));
        assert!(w.starts_with("sudo -n sh -c "), "{w}");
        assert!(w.contains("exec timeout -k 3 7 sh -c"), "{w}");
        // Run it: the script reaches the inner shell intact, and a sleep is cut short.
        let run = |w: &str| {
            let w = w.strip_prefix("sudo -n ").unwrap();
            std::process::Command::new("sh")
                .arg("-c")
                .arg(w)
                .output()
                .unwrap()
        };
        let o = run(&w);
        assert_eq!(String::from_utf8_lossy(&o.stdout), "hi\n");
        let started = std::time::Instant::now();
        let o = run(&t.wrap_bounded("n1", "sleep 30", std::time::Duration::from_secs(1)));
        assert_eq!(o.status.code(), Some(124));
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn control_dirs_are_fresh_and_private() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let a = super::control_dir().unwrap();
        let b = super::control_dir().unwrap();
        assert_ne!(a, b);
        let m = std::fs::metadata(&a).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o700);
        // SAFETY: geteuid has no preconditions.
        assert_eq!(m.uid(), unsafe { libc::geteuid() });
        assert!(a.to_str().unwrap().len() < 20);
        let _ = std::fs::remove_dir(&a);
        let _ = std::fs::remove_dir(&b);
        assert_eq!(super::random_hex(4).len(), 8);
        assert_ne!(super::random_hex(8), super::random_hex(8));
    }

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(shell_quote("abc"), "abc");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn an_error_names_a_script_by_its_first_line_only() {
        let script = format!("set -e\n{}", "echo x; ".repeat(400));
        let e = TransportError::Timeout {
            node: "pg1".into(),
            command: script.clone(),
            after: Duration::from_secs(60),
        };
        let msg = e.to_string();
        assert_eq!(msg, "command on pg1 did not finish within 60s: `set -e…`");
        assert!(short_command(&"a".repeat(200)).ends_with('…'));
        assert_eq!(
            short_command("systemctl stop patroni"),
            "systemctl stop patroni"
        );
        // The whole script stays in the error for the evidence.
        assert!(matches!(e, TransportError::Timeout { command, .. } if command == script));
    }
}
