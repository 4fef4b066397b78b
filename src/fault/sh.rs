//! Shell building blocks shared by the fault scripts: state files, the dead man's switch,
//! iptables rule insertion and exact removal, process lookup and signalling.
//!
//! Every script is POSIX sh (dash, bash, busybox ash), starts with [`header`] and runs as
//! root through the transport's `sh -c` (wrapped in `sudo -n` when configured), so no
//! `sudo` appears here. Every value that comes from the inventory is quoted with
//! [`shell_quote`]; operation templates (`systemctl stop {service}`) are shell by design
//! and inserted as written, with their placeholder values quoted.

pub(super) use crate::procs::{Lookup, SELF_MARKER, header};
use crate::transport::shell_quote;

/// Where node-side state lives: a tmpfs on every systemd host, so a reboot clears it
/// together with the iptables rules and stopped processes it describes.
pub(super) const STATE_DIR: &str = "/run/pgchaos";

/// Prefix of the `$0` of a dead man's switch process, followed by its state file stem.
pub(super) const DEADMAN_MARKER: &str = "pgchaos-deadman:";

/// The name shared by the state files of one fault on one node:
/// `RUN_ID.SEQ.NODE` (each part free of dots, so it splits back unambiguously).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Stem(pub String);

impl Stem {
    /// Stem for fault `seq` of run `run_id` on `node` (the node name is sanitised; it only
    /// keeps two nodes sharing one `/run` apart).
    pub(super) fn new(run_id: &str, seq: u32, node: &str) -> Self {
        Stem(format!("{run_id}.{seq}.{}", node_key(node)))
    }

    /// `STATE_DIR/STEM.ext`; only safe characters, so it needs no quoting.
    pub(super) fn path(&self, ext: &str) -> String {
        format!("{STATE_DIR}/{}.{ext}", self.0)
    }
}

/// A node name reduced to `[A-Za-z0-9_-]`.
pub(super) fn node_key(node: &str) -> String {
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
pub(super) const FN_START_TIME: &str = r#"# The start time of a process (field 22 of /proc/PID/stat; the command name in field 2
# may hold spaces, so cut after its closing parenthesis). It tells a recorded PID from a
# later process that reused the number.
pgc_start() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }
"#;

// Every iptables call waits at most 5 s for the xtables lock (`-w 5`): a bare `-w` waits
// forever when kube-proxy, docker or firewalld holds it, and the fault would then land
// whenever the lock is released, possibly after its undo.

/// `pgc_del IPTABLES CHAIN SPEC...` (`IPTABLES` is `iptables` or `ip6tables`): deletes
/// every copy of one rule; a rule already gone is fine (the dead man's switch may have
/// removed it), any other failure is not. Also `pgc_v6_usable` (ip6tables is there and
/// answers) and `pgc_v6_global` (the node has a global IPv6 address).
pub(super) const FN_DEL_RULE: &str = r#"pgc_del() {
  pgc_ipt=$1; shift
  while :; do
    "$pgc_ipt" -w 5 -C "$@" 2>/dev/null
    pgc_crc=$?
    case $pgc_crc in
      0) "$pgc_ipt" -w 5 -D "$@" || return 1 ;;
      1) return 0 ;;
      2) pgc_del_tag "$pgc_ipt" "$@"; return $? ;;
      *) echo "pgchaos: failed to check $pgc_ipt rule (exit $pgc_crc): $*" >&2; return 1 ;;
    esac
  done
}
# The spec does not parse any more (exit 2: a peer's name does not resolve now): delete
# the rules of the chain that carry the spec's tag, by the addresses iptables printed
# for them. Only rules with this very tag (run and fault) are touched.
pgc_del_tag() {
  pgc_ipt=$1; pgc_chain=$2; pgc_tag=
  shift
  while [ $# -gt 1 ]; do [ "$1" = --comment ] && pgc_tag=$2; shift; done
  case $pgc_tag in
    pgchaos:*) ;;
    *) echo "pgchaos: failed to check $pgc_ipt rule (exit 2): no pgchaos tag in it" >&2; return 1 ;;
  esac
  while :; do
    pgc_out=$("$pgc_ipt" -w 5 -S "$pgc_chain") || return 1
    pgc_l=$(printf '%s\n' "$pgc_out" | grep -e "--comment $pgc_tag " -e "--comment \"$pgc_tag\" " | head -n 1)
    [ -n "$pgc_l" ] || return 0
    case $pgc_l in
      *[!A-Za-z0-9\ ./:_\"!,-]*) echo "pgchaos: refusing to parse rule: $pgc_l" >&2; return 1 ;;
    esac
    pgc_l=$(printf '%s' "$pgc_l" | tr -d '"')
    set -f
    # shellcheck disable=SC2086 # split on purpose: the words of the printed rule
    set -- ${pgc_l#-A }
    set +f
    "$pgc_ipt" -w 5 -D "$@" || return 1
  done
}
pgc_v6_usable() { command -v ip6tables >/dev/null 2>&1 && ip6tables -w 5 -S INPUT >/dev/null 2>&1; }
pgc_v6_global() { [ -r /proc/net/if_inet6 ] && awk '$6 != "lo" && $1 !~ /^fe80/ { f = 1 } END { exit !f }' /proc/net/if_inet6; }
"#;

/// Creates the state directory (commands run as root; say so if they do not).
pub(super) fn mkdir_state() -> String {
    format!(
        "mkdir -p {STATE_DIR} || {{ echo 'pgchaos: failed to create {STATE_DIR} (do commands run as root? set ssh.sudo)' >&2; exit 1; }}\n"
    )
}

/// Arms the dead man's switch of `stem`: a detached process group that sleeps
/// `after_secs`, then runs `undo` (stored in `STEM.undo`), records what it did in
/// `STEM.fired` and removes its files. Returns once the switch has recorded its PID and
/// deadline in `STEM.deadman`, so that `disarm` can never miss it.
///
/// Why `systemd-run` where systemd runs (`/run/systemd/system` exists): a process started
/// from the SSH session lives in the session's cgroup, and with `KillUserProcesses=yes`
/// (and a non-root user going through sudo) it dies with the session, exactly when the
/// network is lost. A transient service of the system manager does not; it is still
/// the same `sh` body (its main PID leads its own session, so `disarm` kills its group
/// as before). Elsewhere, `setsid`: the switch must outlive the SSH session (and sshd's
/// process group) that started it; with its standard streams on /dev/null, ssh does not
/// wait for it either.
/// Its `$0` is `pgchaos-deadman:STEM`, which `disarm` and cleanup check in
/// /proc/PID/cmdline before killing the group, so a reused PID is never signalled.
pub(super) fn arm(stem: &Stem, undo: &str, after_secs: u64) -> String {
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
         if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1 &&\n\
         \x20 systemd-run --quiet --collect --unit={unit} sh -c {body_q} {marker} \"$pgc_deadline\" </dev/null >/dev/null 2>&1; then\n\
         \x20 :\n\
         else\n\
         \x20 setsid sh -c {body_q} {marker} \"$pgc_deadline\" </dev/null >/dev/null 2>&1 &\n\
         fi\n\
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
        unit = shell_quote(&format!("pgchaos-deadman-{}", stem.0)),
        stem = stem.0,
    )
}

/// Cancels the switch of `stem`: kills its process group (after checking it is ours) and
/// removes its files. Idempotent: exits 0 when it already fired or never existed.
pub(super) fn disarm(stem: &Stem) -> String {
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

/// Sends `sig` (a name such as `KILL`) to every PID in `pgc_pids`; fails when none could
/// be signalled (a process that exited in between is not an error as long as others got
/// it). Prints the PIDs it reached.
pub(super) fn send(sig: &str) -> String {
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
pub(super) fn record_stopped(stem: &Stem) -> String {
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
pub(super) fn resume_recorded(stem: &Stem) -> String {
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
pub(super) fn detached_later(cmd: &str) -> String {
    format!(
        "setsid nohup sh -c {} </dev/null >/dev/null 2>&1 &\n",
        shell_quote(&format!("sleep 1; {cmd}"))
    )
}

/// `pg_ctl stop` as the PostgreSQL user, with `runuser` or else `su`.
pub(super) fn pg_ctl_stop(user: &str, bin_dir: &str, data_dir: &str, mode: &str) -> String {
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
