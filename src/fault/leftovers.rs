//! What earlier runs may have left on a node, and how to remove it.
//!
//! [`leftovers_script`] lists, one tab-separated record a line (parsed by
//! [`parse_leftovers`]):
//! - `rule\t-A CHAIN ... --comment "pgchaos:RUN:SEQ" ...`: a tagged iptables or ip6tables
//!   rule in the filter table (the only table pgchaos uses);
//! - `deadman\tSTEM\tPID\tDEADLINE\tNOW\tALIVE`: an armed dead man's switch (`ALIVE` is
//!   `yes` when its process still runs; `no` means it died without firing);
//! - `stopped\tSTEM\tPID PID ...`: processes sent SIGSTOP and not resumed yet;
//! - `fired\tSTEM\tfired EPOCH`: a switch that fired while pgchaos was gone;
//! - `error\tMESSAGE`: something could not be checked (then nothing can be concluded).
//!
//! [`cleanup_script`] removes all of it, in this order:
//! 1. every armed switch: its process group is killed (after checking its command line
//!    is a pgchaos switch), then its undo script runs now instead of at its deadline
//!    (rules deleted, processes resumed, services started again), and its files go;
//! 2. processes recorded as stopped are sent SIGCONT (only those whose start time still
//!    matches: a reused PID is left alone);
//! 3. every iptables and ip6tables rule whose comment is a pgchaos tag is deleted with
//!    `-D` and the exact spec `-S` printed (never a flush);
//! 4. records of fired switches are removed.
//!
//! It removes the leftovers of every run, so it must not run while another pgchaos run
//! targets the same cluster.

use std::fmt;

use super::sh::{self, DEADMAN_MARKER, SELF_MARKER, STATE_DIR};

/// Something an earlier run left on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leftover {
    /// A tagged iptables rule.
    Rule {
        /// Run id from the tag.
        run_id: String,
        /// Fault number from the tag.
        seq: u32,
        /// `INPUT` or `OUTPUT` (or another chain, if someone copied the tag).
        chain: String,
        /// The rule as `iptables -S` prints it (`-A CHAIN ...`).
        rule: String,
    },
    /// A dead man's switch that is still armed.
    Deadman {
        /// Run id.
        run_id: String,
        /// Fault number.
        seq: u32,
        /// Node key from the file name.
        node: String,
        /// The switch's PID, if readable.
        pid: Option<u32>,
        /// When it fires (node clock, seconds since the epoch).
        deadline: Option<i64>,
        /// The node clock when listed.
        now: Option<i64>,
        /// Whether its process still runs (if not, it will never fire: cleanup runs it).
        alive: bool,
    },
    /// Processes stopped by a fault and not resumed.
    Stopped {
        /// Run id.
        run_id: String,
        /// Fault number.
        seq: u32,
        /// Node key.
        node: String,
        /// The recorded PIDs.
        pids: Vec<u32>,
    },
    /// A switch that fired while pgchaos was gone (informational: the node healed).
    Fired {
        /// Run id.
        run_id: String,
        /// Fault number.
        seq: u32,
        /// Node key.
        node: String,
        /// When it fired (node clock).
        at: Option<i64>,
    },
    /// The check itself failed: leftovers cannot be ruled out.
    CheckFailed {
        /// What failed.
        message: String,
    },
}

impl Leftover {
    /// Whether a new run must refuse to start (everything but a fired switch, whose fault
    /// is already undone).
    pub fn blocks_run(&self) -> bool {
        !matches!(self, Leftover::Fired { .. })
    }
}

impl fmt::Display for Leftover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Leftover::Rule {
                run_id, seq, rule, ..
            } => write!(f, "netfilter rule of run {run_id} fault {seq}: {rule}"),
            Leftover::Deadman {
                run_id,
                seq,
                node,
                pid,
                deadline,
                now,
                alive,
            } => {
                write!(f, "dead man's switch of run {run_id} fault {seq} ({node})")?;
                if let Some(p) = pid {
                    write!(f, ", PID {p}")?;
                }
                match (alive, deadline, now) {
                    (false, _, _) => write!(f, ", not running: it will never fire"),
                    (true, Some(d), Some(n)) if d >= n => write!(f, ", fires in {}s", d - n),
                    (true, Some(d), Some(n)) => write!(f, ", overdue by {}s", n - d),
                    (true, _, _) => write!(f, ", armed"),
                }
            }
            Leftover::Stopped {
                run_id,
                seq,
                node,
                pids,
            } => {
                let p: Vec<String> = pids.iter().map(u32::to_string).collect();
                write!(
                    f,
                    "processes stopped by run {run_id} fault {seq} ({node}): PID {}",
                    p.join(" ")
                )
            }
            Leftover::Fired {
                run_id,
                seq,
                node,
                at,
            } => {
                write!(
                    f,
                    "dead man's switch of run {run_id} fault {seq} ({node}) fired"
                )?;
                if let Some(t) = at {
                    write!(f, " at {t} (node clock)")?;
                }
                Ok(())
            }
            Leftover::CheckFailed { message } => write!(f, "could not check: {message}"),
        }
    }
}

/// The `grep` pattern of tagged rules in `iptables -S` output (the comment is printed in
/// double quotes).
const RULE_GREP: &str = r#"--comment "\{0,1\}pgchaos:[A-Za-z0-9_-]*:[0-9]*"\{0,1\}\( \|$\)"#;

/// Script listing what earlier runs left on a node (see the module documentation for its
/// output). Read-only; exits 0 unless the listing itself could not be written.
pub fn leftovers_script() -> String {
    format!(
        "# {SELF_MARKER} leftovers\n\
         set -u\n\
         pgc_now=$(date +%s)\n\
         for pgc_ipt in iptables ip6tables; do\n\
         \x20 command -v \"$pgc_ipt\" >/dev/null 2>&1 || continue\n\
         \x20 if pgc_out=$(\"$pgc_ipt\" -w 5 -S 2>&1); then\n\
         \x20   printf '%s\\n' \"$pgc_out\" | grep -e '{RULE_GREP}' | while IFS= read -r pgc_l; do\n\
         \x20     printf 'rule\\t%s\\n' \"$pgc_l\"\n\
         \x20   done\n\
         \x20 elif [ \"$pgc_ipt\" = iptables ]; then\n\
         \x20   printf 'error\\tiptables -S failed: %s\\n' \"$(printf '%s' \"$pgc_out\" | head -n 1)\"\n\
         \x20 fi\n\
         done\n\
         if [ -d {STATE_DIR} ] && ! {{ [ -r {STATE_DIR} ] && [ -x {STATE_DIR} ]; }}; then\n\
         \x20 printf 'error\\t{STATE_DIR} is not readable (do commands run as root? set ssh.sudo)\\n'\n\
         elif [ -d {STATE_DIR} ]; then\n\
         \x20 for pgc_f in {STATE_DIR}/*.deadman; do\n\
         \x20   [ -f \"$pgc_f\" ] || continue\n\
         \x20   pgc_s=${{pgc_f##*/}}; pgc_s=${{pgc_s%.deadman}}\n\
         \x20   pgc_pid=; pgc_dl=\n\
         \x20   read -r pgc_pid pgc_dl <\"$pgc_f\" || true\n\
         \x20   pgc_alive=no\n\
         \x20   if [ -n \"$pgc_pid\" ] && tr '\\0' ' ' <\"/proc/$pgc_pid/cmdline\" 2>/dev/null | grep -qF \"{DEADMAN_MARKER}$pgc_s\"; then pgc_alive=yes; fi\n\
         \x20   printf 'deadman\\t%s\\t%s\\t%s\\t%s\\t%s\\n' \"$pgc_s\" \"$pgc_pid\" \"$pgc_dl\" \"$pgc_now\" \"$pgc_alive\"\n\
         \x20 done\n\
         \x20 for pgc_f in {STATE_DIR}/*.stopped; do\n\
         \x20   [ -f \"$pgc_f\" ] || continue\n\
         \x20   pgc_s=${{pgc_f##*/}}; pgc_s=${{pgc_s%.stopped}}\n\
         \x20   printf 'stopped\\t%s\\t%s\\n' \"$pgc_s\" \"$(cut -d' ' -f1 \"$pgc_f\" | tr '\\n' ' ')\"\n\
         \x20 done\n\
         \x20 for pgc_f in {STATE_DIR}/*.fired; do\n\
         \x20   [ -f \"$pgc_f\" ] || continue\n\
         \x20   pgc_s=${{pgc_f##*/}}; pgc_s=${{pgc_s%.fired}}\n\
         \x20   printf 'fired\\t%s\\t%s\\n' \"$pgc_s\" \"$(head -n 1 \"$pgc_f\")\"\n\
         \x20 done\n\
         elif [ -e {STATE_DIR} ]; then\n\
         \x20 printf 'error\\t{STATE_DIR} is not a directory\\n'\n\
         fi\n\
         exit 0\n"
    )
}

/// Script removing every leftover of every run from a node (see the module
/// documentation for what and in which order). Exits non-zero if anything could not be
/// removed; run [`leftovers_script`] afterwards to see what remains.
pub fn cleanup_script() -> String {
    format!(
        "# {SELF_MARKER} cleanup\n\
         set -u\n\
         umask 077\n\
         {start}{del}\
         pgc_rc=0\n\
         if [ -d {STATE_DIR} ]; then\n\
         \x20 # 1. Armed switches: stop them, then do now what they would have done.\n\
         \x20 for pgc_f in {STATE_DIR}/*.deadman; do\n\
         \x20   [ -f \"$pgc_f\" ] || continue\n\
         \x20   pgc_s=${{pgc_f##*/}}; pgc_s=${{pgc_s%.deadman}}\n\
         \x20   pgc_pid=$(cut -d' ' -f1 \"$pgc_f\")\n\
         \x20   if [ -n \"$pgc_pid\" ] && tr '\\0' ' ' <\"/proc/$pgc_pid/cmdline\" 2>/dev/null | grep -qF \"{DEADMAN_MARKER}$pgc_s\"; then\n\
         \x20     kill -s TERM -- \"-$pgc_pid\" 2>/dev/null || true\n\
         \x20     echo \"pgchaos: stopped dead man's switch $pgc_s\"\n\
         \x20   fi\n\
         \x20   rm -f \"$pgc_f\"\n\
         \x20 done\n\
         \x20 # Undo scripts of switches (also those whose switch died or failed to start).\n\
         \x20 for pgc_f in {STATE_DIR}/*.undo; do\n\
         \x20   [ -f \"$pgc_f\" ] || continue\n\
         \x20   pgc_s=${{pgc_f##*/}}; pgc_s=${{pgc_s%.undo}}\n\
         \x20   echo \"pgchaos: running the undo of $pgc_s\"\n\
         \x20   if sh \"$pgc_f\"; then rm -f \"$pgc_f\"; else echo \"pgchaos: failed to undo $pgc_s; kept $pgc_f\" >&2; pgc_rc=1; fi\n\
         \x20 done\n\
         \x20 # 2. Processes still recorded as stopped.\n\
         \x20 for pgc_f in {STATE_DIR}/*.stopped; do\n\
         \x20   [ -f \"$pgc_f\" ] || continue\n\
         \x20   while read -r pgc_p pgc_t; do\n\
         \x20     [ -n \"$pgc_p\" ] || continue\n\
         \x20     if [ \"$(pgc_start \"$pgc_p\")\" = \"$pgc_t\" ] && kill -s CONT \"$pgc_p\" 2>/dev/null; then echo \"pgchaos: sent SIGCONT to PID $pgc_p\"; fi\n\
         \x20   done <\"$pgc_f\"\n\
         \x20   rm -f \"$pgc_f\"\n\
         \x20 done\n\
         fi\n\
         # 3. Tagged iptables and ip6tables rules, one by one, with the spec they printed.\n\
         for pgc_ipt in iptables ip6tables; do\n\
         \x20 command -v \"$pgc_ipt\" >/dev/null 2>&1 || continue\n\
         \x20 if pgc_out=$(\"$pgc_ipt\" -w 5 -S 2>&1); then\n\
         \x20   pgc_rules=$(printf '%s\\n' \"$pgc_out\" | grep -e '{RULE_GREP}')\n\
         \x20   while IFS= read -r pgc_l; do\n\
         \x20     [ -n \"$pgc_l\" ] || continue\n\
         \x20     case $pgc_l in\n\
         \x20       # eval below: refuse anything a shell would expand or run.\n\
         \x20       *[\\$\\`\\\\\\;\\|\\&\\<\\>\\(\\)\\']*) echo \"pgchaos: refusing to evaluate rule: $pgc_l\" >&2; pgc_rc=1; continue ;;\n\
         \x20       -A\\ *) ;;\n\
         \x20       *) continue ;;\n\
         \x20     esac\n\
         \x20     eval \"set -- ${{pgc_l#-A }}\"\n\
         \x20     if pgc_del \"$pgc_ipt\" \"$@\"; then echo \"pgchaos: deleted $pgc_ipt rule: $pgc_l\"; else pgc_rc=1; fi\n\
         \x20   done <<PGCHAOS_RULES\n\
         $pgc_rules\n\
         PGCHAOS_RULES\n\
         \x20 elif [ \"$pgc_ipt\" = iptables ]; then\n\
         \x20   echo \"pgchaos: iptables -S failed: $pgc_out\" >&2\n\
         \x20   pgc_rc=1\n\
         \x20 fi\n\
         done\n\
         # 4. Records of switches that fired.\n\
         rm -f {STATE_DIR}/*.fired\n\
         exit \"$pgc_rc\"\n",
        start = sh::FN_START_TIME,
        del = sh::FN_DEL_RULE,
    )
}

/// Splits `RUN_ID.SEQ.NODE`.
fn split_stem(stem: &str) -> Option<(String, u32, String)> {
    let mut it = stem.splitn(3, '.');
    let run = it.next()?;
    let seq = it.next()?.parse().ok()?;
    let node = it.next()?;
    Some((run.to_owned(), seq, node.to_owned()))
}

/// The `(run_id, seq)` of a rule line's `pgchaos:RUN:SEQ` comment.
fn rule_tag(line: &str) -> Option<(String, u32)> {
    let start = line.find("--comment ")? + "--comment ".len();
    let rest = line[start..].trim_start_matches('"');
    let tag = rest.split(['"', ' ']).next()?;
    let mut parts = tag.splitn(3, ':');
    if parts.next()? != "pgchaos" {
        return None;
    }
    let run = parts.next()?;
    let seq = parts.next()?.parse().ok()?;
    Some((run.to_owned(), seq))
}

/// Parses what [`leftovers_script`] printed. Lines it does not recognise become
/// [`Leftover::CheckFailed`]: an unexpected answer is not a clean node.
pub fn parse_leftovers(stdout: &str) -> Vec<Leftover> {
    let mut out = Vec::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        let bad = || Leftover::CheckFailed {
            message: format!("unexpected line in the leftovers listing: {line:?}"),
        };
        let item = match fields.as_slice() {
            ["rule", rule] => match rule_tag(rule) {
                Some((run_id, seq)) => Leftover::Rule {
                    run_id,
                    seq,
                    chain: rule.split_whitespace().nth(1).unwrap_or("").to_owned(),
                    rule: (*rule).to_owned(),
                },
                None => bad(),
            },
            ["deadman", stem, pid, deadline, now, alive] => match split_stem(stem) {
                Some((run_id, seq, node)) => Leftover::Deadman {
                    run_id,
                    seq,
                    node,
                    pid: pid.parse().ok(),
                    deadline: deadline.parse().ok(),
                    now: now.parse().ok(),
                    alive: *alive == "yes",
                },
                None => bad(),
            },
            ["stopped", stem, pids] => match split_stem(stem) {
                Some((run_id, seq, node)) => Leftover::Stopped {
                    run_id,
                    seq,
                    node,
                    pids: pids
                        .split_whitespace()
                        .filter_map(|p| p.parse().ok())
                        .collect(),
                },
                None => bad(),
            },
            ["fired", stem, first] => match split_stem(stem) {
                Some((run_id, seq, node)) => Leftover::Fired {
                    run_id,
                    seq,
                    node,
                    at: first
                        .strip_prefix("fired ")
                        .and_then(|t| t.trim().parse().ok()),
                },
                None => bad(),
            },
            ["error", message] => Leftover::CheckFailed {
                message: (*message).to_owned(),
            },
            _ => bad(),
        };
        out.push(item);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_record_kind() {
        let out = "rule\t-A INPUT -s 10.0.0.2/32 -p tcp -m tcp --dport 5432 -m comment --comment \"pgchaos:r1:3\" -j DROP\n\
                   deadman\tr1.3.pg1\t4242\t1700000600\t1700000000\tyes\n\
                   stopped\tr1.4.pg2\t11 12 \n\
                   fired\tr0.1.pg3\tfired 1699999999\n\
                   error\tiptables -S failed: Permission denied\n";
        let l = parse_leftovers(out);
        assert_eq!(l.len(), 5);
        assert_eq!(
            l[0],
            Leftover::Rule {
                run_id: "r1".into(),
                seq: 3,
                chain: "INPUT".into(),
                rule: "-A INPUT -s 10.0.0.2/32 -p tcp -m tcp --dport 5432 -m comment --comment \"pgchaos:r1:3\" -j DROP".into(),
            }
        );
        assert_eq!(
            l[1],
            Leftover::Deadman {
                run_id: "r1".into(),
                seq: 3,
                node: "pg1".into(),
                pid: Some(4242),
                deadline: Some(1_700_000_600),
                now: Some(1_700_000_000),
                alive: true,
            }
        );
        assert!(l[1].to_string().contains("fires in 600s"), "{}", l[1]);
        assert_eq!(
            l[2],
            Leftover::Stopped {
                run_id: "r1".into(),
                seq: 4,
                node: "pg2".into(),
                pids: vec![11, 12],
            }
        );
        assert_eq!(
            l[3],
            Leftover::Fired {
                run_id: "r0".into(),
                seq: 1,
                node: "pg3".into(),
                at: Some(1_699_999_999),
            }
        );
        assert!(!l[3].blocks_run());
        assert!(matches!(l[4], Leftover::CheckFailed { .. }));
        assert!(l[0].blocks_run() && l[1].blocks_run() && l[2].blocks_run() && l[4].blocks_run());
    }

    #[test]
    fn unknown_lines_are_not_a_clean_node() {
        let l = parse_leftovers("garbage\n\nrule\t-A INPUT -j DROP\n");
        assert_eq!(l.len(), 2);
        assert!(l.iter().all(|x| matches!(x, Leftover::CheckFailed { .. })));
    }

    #[test]
    fn empty_listing_is_clean() {
        assert!(parse_leftovers("").is_empty());
        assert!(parse_leftovers("\n").is_empty());
    }

    #[test]
    fn dead_switch_is_reported_as_never_firing() {
        let l = parse_leftovers("deadman\tr.1.n\t\t\t17\tno\n");
        assert_eq!(l.len(), 1);
        assert!(l[0].to_string().contains("never fire"), "{}", l[0]);
    }

    #[test]
    fn tag_parsing_rejects_foreign_comments() {
        assert_eq!(
            rule_tag("-A INPUT -m comment --comment \"other:x:1\" -j DROP"),
            None
        );
        assert_eq!(
            rule_tag("-A OUTPUT -m comment --comment pgchaos:ab-c_1:12 -j REJECT"),
            Some(("ab-c_1".into(), 12))
        );
    }
}
