//! Shell building blocks shared by the fault scripts: state files, the dead man's switch,
//! iptables rule insertion and exact removal, process lookup and signalling.
//!
//! Every script is POSIX sh (dash, bash, busybox ash), starts with [`header`] and runs as
//! root through the transport's `sh -c` (wrapped in `sudo -n` when configured), so no
//! `sudo` appears here. Every value that comes from the inventory is quoted with
//! [`shell_quote`]; operation templates (`systemctl stop {service}`) are shell by design
//! and inserted as written, with their placeholder values quoted.

use crate::transport::shell_quote;

/// Where node-side state lives: a tmpfs on every systemd host, so a reboot clears it
/// together with the iptables rules and stopped processes it describes.
pub const STATE_DIR: &str = "/run/pgchaos";

/// Marker in the first line of every generated script. `pgrep -f` sees it in the command
/// line of our own `sh -c` (and of the sudo and login shell wrapping it), which lets
/// process lookups skip them. Specific enough not to appear in a daemon's command line
/// (a lab may well keep its files under a directory called `pgchaos`).
pub const SELF_MARKER: &str = "pgchaos-script";

/// Prefix of the `$0` of a dead man's switch process, followed by its state file stem.
pub const DEADMAN_MARKER: &str = "pgchaos-deadman:";

/// The first lines of every script: a marker comment, unset variables are errors, private
/// files.
pub fn header(what: &str) -> String {
    // `what` is built from fixed words and validated tags only: no newline can get in.
    format!("# {SELF_MARKER} {what}\nset -u\numask 077\n")
}

/// The name shared by the state files of one fault on one node:
/// `RUN_ID.SEQ.NODE` (each part free of dots, so it splits back unambiguously).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stem(pub String);

impl Stem {
    /// Stem for fault `seq` of run `run_id` on `node` (the node name is sanitised; it only
    /// keeps two nodes sharing one `/run` apart).
    pub fn new(run_id: &str, seq: u32, node: &str) -> Self {
        Stem(format!("{run_id}.{seq}.{}", node_key(node)))
    }

    /// `STATE_DIR/STEM.ext`; only safe characters, so it needs no quoting.
    pub fn path(&self, ext: &str) -> String {
        format!("{STATE_DIR}/{}.{ext}", self.0)
    }
}

/// A node name reduced to `[A-Za-z0-9_-]`.
pub fn node_key(node: &str) -> String {
    let s: String = node
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "_".into() } else { s }
}

/// Shell functions used by several scripts. Defined in every script that needs one; the
/// names are prefixed so that they cannot shadow a command of a user's template.
pub const FN_START_TIME: &str = r#"# The start time of a process (field 22 of /proc/PID/stat; the command name in field 2
# may hold spaces, so cut after its closing parenthesis). It tells a recorded PID from a
# later process that reused the number.
pgc_start() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }
"#;

/// `pgc_del CHAIN SPEC...`: deletes every copy of one rule; a rule already gone is fine
/// (the dead man's switch may have removed it), any other iptables failure is not.
pub const FN_DEL_RULE: &str = r#"pgc_del() {
  while :; do
    iptables -w -C "$@" 2>/dev/null
    pgc_crc=$?
    case $pgc_crc in
      0) iptables -w -D "$@" || return 1 ;;
      1) return 0 ;;
      *) echo "pgchaos: failed to check iptables rule (exit $pgc_crc): $*" >&2; return 1 ;;
    esac
  done
}
"#;

/// Creates the state directory (commands run as root; say so if they do not).
pub fn mkdir_state() -> String {
    format!(
        "mkdir -p {STATE_DIR} || {{ echo 'pgchaos: failed to create {STATE_DIR} (do commands run as root? set ssh.sudo)' >&2; exit 1; }}\n"
    )
}

/// Arms the dead man's switch of `stem`: a detached process group that sleeps
/// `after_secs`, then runs `undo` (stored in `STEM.undo`), records what it did in
/// `STEM.fired` and removes its files. Returns once the switch has recorded its PID and
/// deadline in `STEM.deadman`, so that `disarm` can never miss it.
///
/// Why `setsid`: the switch must outlive the SSH session (and sshd's process group) that
/// started it; with its standard streams on /dev/null, ssh does not wait for it either.
/// Its `$0` is `pgchaos-deadman:STEM`, which `disarm` and cleanup check in
/// /proc/PID/cmdline before killing the group, so a reused PID is never signalled.
pub fn arm(stem: &Stem, undo: &str, after_secs: u64) -> String {
    let d = stem.path("deadman");
    let u = stem.path("undo");
    let f = stem.path("fired");
    let body = format!(
        "trap '' HUP\n\
         echo \"$$ $1\" >{d}.tmp && mv {d}.tmp {d} || exit 1\n\
         sleep {after_secs}\n\
         {{ echo \"fired $(date +%s)\"; sh {u}; echo \"exit $?\"; }} >{f} 2>&1\n\
         rm -f {d} {u}\n"
    );
    format!(
        "# Arm the dead man's switch before the fault: it undoes the fault on its own after \
         {after_secs}s if pgchaos, its SSH connection or its host disappears.\n\
         {mkdir}\
         printf '%s\\n' {undo_q} >{u} || exit 1\n\
         rm -f {d} {f}\n\
         pgc_deadline=$(( $(date +%s) + {after_secs} ))\n\
         setsid sh -c {body_q} {marker} \"$pgc_deadline\" </dev/null >/dev/null 2>&1 &\n\
         pgc_i=0\n\
         while [ ! -s {d} ]; do\n\
         \x20 pgc_i=$((pgc_i + 1))\n\
         \x20 if [ \"$pgc_i\" -gt 50 ]; then echo 'pgchaos: failed to arm the dead man'\"'\"'s switch {stem}' >&2; rm -f {u}; exit 1; fi\n\
         \x20 sleep 0.1 2>/dev/null || sleep 1\n\
         done\n\
         echo \"pgchaos: dead man's switch {stem} armed, fires at $pgc_deadline (node clock) unless disarmed\"\n",
        mkdir = mkdir_state(),
        undo_q = shell_quote(undo),
        body_q = shell_quote(&body),
        marker = shell_quote(&format!("{DEADMAN_MARKER}{}", stem.0)),
        stem = stem.0,
    )
}

/// Cancels the switch of `stem`: kills its process group (after checking it is ours) and
/// removes its files. Idempotent: exits 0 when it already fired or never existed.
pub fn disarm(stem: &Stem) -> String {
    let d = stem.path("deadman");
    let u = stem.path("undo");
    let f = stem.path("fired");
    format!(
        "if [ -f {d} ]; then\n\
         \x20 pgc_pid=$(cut -d' ' -f1 {d})\n\
         \x20 if [ -n \"$pgc_pid\" ] && tr '\\0' ' ' <\"/proc/$pgc_pid/cmdline\" 2>/dev/null | grep -qF {marker}; then\n\
         \x20   kill -s TERM -- \"-$pgc_pid\" 2>/dev/null || true\n\
         \x20 fi\n\
         \x20 rm -f {d} {u}\n\
         \x20 echo 'pgchaos: dead man'\"'\"'s switch {stem} disarmed'\n\
         elif [ -f {f} ]; then\n\
         \x20 echo \"pgchaos: dead man's switch {stem} had already fired: $(head -n 1 {f})\"\n\
         else\n\
         \x20 echo 'pgchaos: dead man'\"'\"'s switch {stem} not armed (fired and cleaned, or the node restarted)'\n\
         fi\n\
         rm -f {f}\n",
        marker = shell_quote(&format!("{DEADMAN_MARKER}{}", stem.0)),
        stem = stem.0,
    )
}

/// The words of `iptables -I/-D CHAIN ...` for one rule, without the command and action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// `INPUT` or `OUTPUT`.
    pub chain: &'static str,
    /// Position for `-I` (1 = first).
    pub position: u32,
    /// The match and target words, ending with `-j TARGET`.
    pub spec: Vec<String>,
}

impl Rule {
    fn words(&self) -> String {
        self.spec
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `iptables -w -I CHAIN POS SPEC`.
    pub fn insert(&self) -> String {
        format!(
            "iptables -w -I {} {} {}",
            self.chain,
            self.position,
            self.words()
        )
    }

    /// `pgc_del CHAIN SPEC` (needs [`FN_DEL_RULE`]): the identical spec, every copy.
    pub fn delete(&self) -> String {
        format!("pgc_del {} {}", self.chain, self.words())
    }
}

/// Which processes a signal goes to; each variant prints the PIDs, one a line, into the
/// shell variable `pgc_pids`, or exits 1 naming what it looked for.
pub enum Lookup<'a> {
    /// `pgrep -u USER -x NAME`: every process of that name owned by that user.
    NameOfUser {
        /// Process name.
        name: &'a str,
        /// OS user.
        user: &'a str,
    },
    /// `pgrep -x NAME`.
    Name(&'a str),
    /// The PID on the first line of `DATA_DIR/postmaster.pid`.
    Postmaster {
        /// The data directory.
        data_dir: &'a str,
    },
    /// `pgrep -f PATTERN`, minus our own scripts and `patronictl`.
    Daemon(&'a str),
}

impl Lookup<'_> {
    /// Script setting `pgc_pids`, or exiting 1 with a message when nothing matched.
    pub fn script(&self) -> String {
        match self {
            Lookup::NameOfUser { name, user } => format!(
                "pgc_pids=$(pgrep -u {u} -x {n})\n\
                 [ -n \"$pgc_pids\" ] || {{ echo {msg} >&2; exit 1; }}\n",
                u = shell_quote(user),
                n = shell_quote(name),
                msg = shell_quote(&format!(
                    "pgchaos: no process named {name} owned by {user} on this node"
                )),
            ),
            Lookup::Name(name) => format!(
                "pgc_pids=$(pgrep -x {n})\n\
                 [ -n \"$pgc_pids\" ] || {{ echo {msg} >&2; exit 1; }}\n",
                n = shell_quote(name),
                msg = shell_quote(&format!("pgchaos: no process named {name} on this node")),
            ),
            Lookup::Postmaster { data_dir } => {
                let pidfile = format!("{}/postmaster.pid", data_dir.trim_end_matches('/'));
                format!(
                    "pgc_pids=$(head -n 1 {f} 2>/dev/null)\n\
                     case $pgc_pids in\n\
                     \x20 ''|*[!0-9]*) echo {msg} >&2; exit 1 ;;\n\
                     esac\n\
                     kill -0 \"$pgc_pids\" 2>/dev/null || {{ echo {stale} >&2; exit 1; }}\n",
                    f = shell_quote(&pidfile),
                    msg = shell_quote(&format!(
                        "pgchaos: no postmaster PID in {pidfile} (is PostgreSQL running?)"
                    )),
                    stale = shell_quote(&format!(
                        "pgchaos: the postmaster PID in {pidfile} is not running"
                    )),
                )
            }
            // `pgrep -f` matches whole command lines: our own `sh -c`, the sudo and
            // login shells wrapping it carry the pattern too (they carry SELF_MARKER as
            // well, which is how they are told apart), and a default pattern like
            // `bin/patroni` also matches `bin/patronictl`. Only the daemon is wanted.
            Lookup::Daemon(pattern) => format!(
                "pgc_pids=\n\
                 for pgc_p in $(pgrep -f {pat}); do\n\
                 \x20 pgc_cmd=$(tr '\\0' ' ' <\"/proc/$pgc_p/cmdline\" 2>/dev/null) || continue\n\
                 \x20 case $pgc_cmd in *{SELF_MARKER}*|*patronictl*|'') continue ;; esac\n\
                 \x20 pgc_pids=\"$pgc_pids $pgc_p\"\n\
                 done\n\
                 [ -n \"$pgc_pids\" ] || {{ echo {msg} >&2; exit 1; }}\n",
                pat = shell_quote(pattern),
                msg = shell_quote(&format!(
                    "pgchaos: no process whose command line matches {pattern} on this node"
                )),
            ),
        }
    }
}

/// Sends `sig` (a name such as `KILL`) to every PID in `pgc_pids`; fails when none could
/// be signalled (a process that exited in between is not an error as long as others got
/// it). Prints the PIDs it reached.
pub fn send(sig: &str) -> String {
    format!(
        "pgc_sent=\n\
         for pgc_p in $pgc_pids; do\n\
         \x20 kill -s {sig} \"$pgc_p\" 2>/dev/null && pgc_sent=\"$pgc_sent $pgc_p\"\n\
         done\n\
         [ -n \"$pgc_sent\" ] || {{ echo \"pgchaos: failed to send SIG{sig} to any of:$(echo $pgc_pids)\" >&2; exit 1; }}\n\
         echo \"pgchaos: sent SIG{sig} to PID$pgc_sent\"\n"
    )
}

/// Records every PID in `pgc_pids` with its start time in `STEM.stopped`, before they are
/// stopped, so the undo (or cleanup) resumes exactly those processes.
pub fn record_stopped(stem: &Stem) -> String {
    let s = stem.path("stopped");
    format!(
        "{mkdir}: >{s}.tmp\n\
         for pgc_p in $pgc_pids; do\n\
         \x20 echo \"$pgc_p $(pgc_start \"$pgc_p\")\" >>{s}.tmp\n\
         done\n\
         mv {s}.tmp {s} || exit 1\n",
        mkdir = mkdir_state(),
    )
}

/// Sends SIGCONT to the processes recorded in `STEM.stopped` that still are the same
/// processes, then forgets them. Idempotent.
pub fn resume_recorded(stem: &Stem) -> String {
    let s = stem.path("stopped");
    format!(
        "if [ -f {s} ]; then\n\
         \x20 pgc_resumed=\n\
         \x20 while read -r pgc_p pgc_t; do\n\
         \x20   [ -n \"$pgc_p\" ] || continue\n\
         \x20   if [ \"$(pgc_start \"$pgc_p\")\" = \"$pgc_t\" ] && kill -s CONT \"$pgc_p\" 2>/dev/null; then\n\
         \x20     pgc_resumed=\"$pgc_resumed $pgc_p\"\n\
         \x20   fi\n\
         \x20 done <{s}\n\
         \x20 rm -f {s}\n\
         \x20 echo \"pgchaos: sent SIGCONT to PID$pgc_resumed\"\n\
         else\n\
         \x20 echo 'pgchaos: no stopped processes recorded for {stem} (already resumed)'\n\
         fi\n",
        stem = stem.0,
    )
}

/// Runs `cmd` detached, one second later, so that the SSH command returns before the node
/// goes down.
///
/// Why: `reboot`/`poweroff` kill sshd while our command is still running; ssh then
/// reports the lost connection (status 255), which cannot be told apart from a fault
/// that failed to start. Detached (own session, streams on /dev/null) and delayed, the
/// command outlives our SSH session, and the session ends with status 0 first.
pub fn detached_later(cmd: &str) -> String {
    format!(
        "setsid nohup sh -c {} </dev/null >/dev/null 2>&1 &\n",
        shell_quote(&format!("sleep 1; {cmd}"))
    )
}

/// `pg_ctl stop` as the PostgreSQL user, with `runuser` or else `su`.
pub fn pg_ctl_stop(user: &str, bin_dir: &str, data_dir: &str, mode: &str) -> String {
    let pg_ctl = format!("{}/pg_ctl", bin_dir.trim_end_matches('/'));
    let argv = format!(
        "{} stop -D {} -m {mode}",
        shell_quote(&pg_ctl),
        shell_quote(data_dir)
    );
    format!(
        "# pg_ctl refuses to run as root; the current directory may be unreadable for {user_c}.\n\
         cd /\n\
         if command -v runuser >/dev/null 2>&1; then\n\
         \x20 runuser -u {u} -- {argv}\n\
         else\n\
         \x20 su {u} -s /bin/sh -c {argv_q}\n\
         fi\n",
        user_c = user.replace(['\n', '\r'], " "),
        u = shell_quote(user),
        argv_q = shell_quote(&argv),
    )
}
