//! `degrade`: packet loss through netfilter rules (the `statistic` match, both
//! directions), bandwidth and latency through a traffic-control qdisc on what the node
//! sends (`tc` htb, with `netem` as its leaf for latency).
//!
//! Why this split: `statistic` and `htb`/`tbf` are in nearly every kernel (this project's
//! build machine included), `sch_netem` is not; loss and bandwidth so never depend on
//! netem. Latency is probed first in a throwaway network namespace (`unshare -n`), so a
//! kernel without netem refuses with one clear line and nothing is touched.
//!
//! The qdisc: an htb root with handle `H:` (from the fault's number, so its undo deletes
//! that one and no other root qdisc), class `H:1` shaped (and delayed through netem),
//! class `H:2` unshaped for SSH (pgchaos's path is slowed by nothing). It is added only
//! where the device has its default root qdisc: `tc qdisc add` refuses a device whose
//! root qdisc someone configured, and the fault then fails before it changed anything.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::netfilter::{self, Chain, Match, RuleSet};
use super::sh::{self, FN_DEL_RULE};
use super::{Action, FaultContext, FaultError, Piece, assemble, names, nodes, nodes_of, rule_tag};
use crate::scenario::DegradeStep;
use crate::scenario::step::rate_kbit;

/// The htb handle (major, hex) of fault `seq`: `7000` to `7fff`.
pub(super) fn handle(seq: u32) -> String {
    format!("{:x}", 0x7000 + (seq % 0x1000))
}

/// Netem arguments for `delay` and `jitter` (`delay 100ms 10ms`).
fn netem_args(s: &DegradeStep) -> Option<String> {
    let d = s.delay?;
    let mut a = format!("delay {}ms", d.0.as_millis().max(1));
    if let Some(j) = s.jitter {
        let _ = write!(a, " {}ms", j.0.as_millis());
    }
    Some(a)
}

/// The probe run before any change when latency is asked for (and in preflight).
pub(crate) const NETEM_PROBE: &str = "if ! unshare -n sh -c 'ip link set lo up && tc qdisc add dev lo root netem delay 1ms' >/dev/null 2>&1; then\n\
\x20 echo 'pgchaos: the kernel of this node has no sch_netem (tc netem): latency and jitter cannot be injected here (loss and rate can)' >&2\n\
\x20 exit 1\n\
fi\n";

/// The traffic-control part on one node: what it adds, and how it is removed.
fn tc_part(
    h: &str,
    rate_kbit: Option<u64>,
    netem: Option<&str>,
    ssh_ports: &[u16],
    peers: &[IpAddr],
    own: &[IpAddr],
) -> (String, String) {
    let mut inject = String::new();
    // The devices: those routing to the peers, or those holding the node's own addresses.
    inject.push_str("pgc_devs=\npgc_dev() { case \" $pgc_devs \" in *\" $1 \"*) ;; *) pgc_devs=\"$pgc_devs $1\" ;; esac; }\n");
    let targets = if peers.is_empty() { own } else { peers };
    for a in targets {
        let fam = if a.is_ipv4() { "-4" } else { "-6" };
        let cmd = if peers.is_empty() {
            format!("ip -o {fam} addr show to {a} | awk '{{print $2}}' | head -n 1")
        } else {
            format!("ip -o {fam} route get {a} | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p' | head -n 1")
        };
        let _ = writeln!(
            inject,
            "pgc_d=$({cmd})\n\
             [ -n \"$pgc_d\" ] || {{ echo 'pgchaos: failed to find the network device for {a}' >&2; exit 1; }}\n\
             pgc_dev \"$pgc_d\""
        );
    }
    let rate = rate_kbit
        .map(|k| format!("{k}kbit"))
        .unwrap_or_else(|| "10gbit".into());
    let default = if peers.is_empty() { " default 1" } else { "" };
    let _ = writeln!(
        inject,
        "for pgc_d in $pgc_devs; do\n\
         \x20 tc qdisc add dev \"$pgc_d\" root handle {h}: htb{default} || {{ echo \"pgchaos: failed to add a qdisc to $pgc_d (pgchaos only replaces a device's default root qdisc)\" >&2; exit 1; }}\n\
         \x20 tc class add dev \"$pgc_d\" parent {h}: classid {h}:1 htb rate {rate} ceil {rate} quantum 1514 || exit 1\n\
         \x20 tc class add dev \"$pgc_d\" parent {h}: classid {h}:2 htb rate 10gbit quantum 60000 || exit 1"
    );
    if let Some(n) = netem {
        let _ = writeln!(
            inject,
            "\x20 tc qdisc add dev \"$pgc_d\" parent {h}:1 handle {h1:x}: netem {n} || exit 1",
            h1 = u32::from_str_radix(h, 16).unwrap_or(0x7000) + 0x1000
        );
    }
    // SSH (either port an SSH port) goes to the unshaped class first.
    for p in ssh_ports {
        for (i, (proto, m)) in [("ip", "ip"), ("ipv6", "ip6")].iter().enumerate() {
            let prio = 1 + i;
            for side in ["sport", "dport"] {
                let _ = writeln!(
                    inject,
                    "\x20 tc filter add dev \"$pgc_d\" parent {h}: protocol {proto} prio {prio} u32 match {m} {side} {p} 0xffff flowid {h}:2 || exit 1"
                );
            }
        }
    }
    for a in peers {
        let (proto, m, len, prio) = if a.is_ipv4() {
            ("ip", "ip", 32, 3)
        } else {
            ("ipv6", "ip6", 128, 4)
        };
        let _ = writeln!(
            inject,
            "\x20 tc filter add dev \"$pgc_d\" parent {h}: protocol {proto} prio {prio} u32 match {m} dst {a}/{len} flowid {h}:1 || exit 1"
        );
    }
    let _ = writeln!(
        inject,
        "\x20 echo \"pgchaos: qdisc {h}: on $pgc_d: rate {rate}{}\"\n\
         done",
        netem.map(|n| format!(", netem {n}")).unwrap_or_default()
    );
    // Removed wherever it is (the device was looked up at inject), by its handle only.
    let undo = format!(
        "for pgc_d in $(ls /sys/class/net); do\n\
         \x20 if tc qdisc show dev \"$pgc_d\" root 2>/dev/null | grep -q '^qdisc htb {h}: root'; then\n\
         \x20   if tc qdisc del dev \"$pgc_d\" root; then echo \"pgchaos: removed qdisc {h}: from $pgc_d\"; else pgc_rc=1; fi\n\
         \x20 fi\n\
         done\n"
    );
    (inject, undo)
}

pub(super) fn plan(s: &DegradeStep, ctx: &FaultContext) -> Result<Action, FaultError> {
    let targets = nodes(ctx, &s.target)?;
    let peer_nodes = nodes_of(ctx, &s.peers)?;
    if let Some(n) = targets
        .iter()
        .find(|a| peer_nodes.iter().any(|b| b.name == a.name))
    {
        return Err(FaultError::Overlap(n.name.clone()));
    }
    let peers = netfilter::addresses_of(&peer_nodes)?;
    let ports = netfilter::ssh_ports(ctx)?;
    let tag = rule_tag(ctx.run_id, ctx.seq);
    let rate = s
        .rate
        .as_deref()
        .map(rate_kbit)
        .transpose()
        .map_err(FaultError::Invalid)?;
    if s.loss.is_none() && rate.is_none() && s.delay.is_none() {
        return Err(FaultError::Invalid(
            "a degrade step needs loss, rate or delay".into(),
        ));
    }
    let netem = netem_args(s);
    let h = handle(ctx.seq);
    let mut pieces = Vec::new();
    for node in &targets {
        let mut set = RuleSet::new(&tag, &ports);
        if let Some(p) = s.loss {
            let extra: Vec<String> = ["-m", "statistic", "--mode", "random", "--probability"]
                .iter()
                .map(|w| (*w).to_owned())
                .chain([format!("{p}")])
                .collect();
            for chain in [Chain::Input, Chain::Output] {
                if peers.is_empty() {
                    set.drop_all_but_ssh(&Match {
                        chain,
                        peer: None,
                        not_loopback: true,
                        extra: &extra,
                    });
                } else {
                    for a in &peers {
                        set.drop_all_but_ssh(&Match {
                            chain,
                            peer: Some(*a),
                            not_loopback: false,
                            extra: &extra,
                        });
                    }
                }
            }
        }
        let (tc_inject, tc_undo) = if rate.is_some() || netem.is_some() {
            let own = netfilter::addresses(node)?;
            tc_part(&h, rate, netem.as_deref(), &ports, &peers, &own)
        } else {
            (String::new(), String::new())
        };
        // The rules first: they never fail for a device's sake, and a qdisc that cannot
        // be added (a root qdisc of the host's own) then undoes them at once.
        let mut inject = set.inject_lines();
        inject.push_str(&tc_inject);
        let undo = format!(
            "pgc_rc=0\n{tc_undo}{}[ \"$pgc_rc\" -eq 0 ] && echo 'pgchaos: nothing of this fault is left'\nexit \"$pgc_rc\"\n",
            set.undo_lines()
        );
        pieces.push((*node, Piece::undone(inject, undo).with_prelude(FN_DEL_RULE)));
    }
    let mut what = Vec::new();
    if let Some(l) = s.loss {
        what.push(format!("{} % packet loss each way", l * 100.0));
    }
    if let Some(r) = &s.rate {
        what.push(format!("{r} sent"));
    }
    if let Some(n) = &netem {
        what.push(format!("netem {n}"));
    }
    let mut description = format!("degrade {} ({}", names(&targets), what.join(", "));
    if !s.peers.is_empty() {
        let _ = write!(description, "; towards {}", names(&peer_nodes));
    }
    description.push_str("; SSH spared)");
    let undo_description =
        || format!("remove the netfilter rules tagged {tag} and the qdisc {h}: (if any)");
    let mut action = assemble(ctx, "degrade", description, undo_description, pieces);
    if netem.is_some() {
        // The probe runs first, before the dead man's switch is armed: a kernel without
        // netem is refused with its one line, and nothing (not even a switch) was set up.
        let header = sh::header(&format!("degrade {tag}"));
        for c in &mut action.inject {
            if let Some(rest) = c.script.strip_prefix(&header) {
                c.script = format!("{header}{NETEM_PROBE}{rest}");
            }
        }
    }
    Ok(action)
}
