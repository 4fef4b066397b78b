//! Netfilter rules shared by every network fault (`block`, `isolate`, `partition`,
//! `degrade`): IPv4 through `iptables`, IPv6 through `ip6tables`, each rule tagged with
//! the fault's comment and deleted by exactly the spec it was inserted with.
//!
//! Why these choices:
//! - Peers are resolved to addresses once, when the fault is planned (which is when it is
//!   injected), and both the insert and the delete name those addresses: a name that
//!   resolves differently by the time of the undo (DNS, /etc/hosts edited by the fault's
//!   own scenario) cannot leave a rule behind.
//! - pgchaos's own SSH path is never cut, and never by an ACCEPT inserted ahead of the
//!   host's rules (that would open SSH to anyone for the fault's duration, past fail2ban
//!   or an allow-list): the DROP rules themselves leave out TCP whose source or
//!   destination port is an SSH port of the inventory (`-m multiport ! --ports`), so the
//!   host's own rules still decide about SSH, as they did before. Both ports, so that an
//!   SSH client on a node (pgchaos run from a cluster node, a ProxyJump through one) is
//!   spared too.
//! - A rule without an address (isolate a node, block a port from anywhere) is inserted for
//!   both families; on a node without a usable `ip6tables` only IPv4 is cut, and the fault
//!   refuses to start when that node has a global IPv6 address (a partial isolation would
//!   pass for a real one). A rule for an IPv6 peer needs `ip6tables`.

use std::fmt::Write as _;
use std::net::{IpAddr, ToSocketAddrs};

use super::sh::FN_DEL_RULE;
use super::{FaultContext, FaultError, Piece};
use crate::inventory::Node;
use crate::transport::shell_quote;

/// The address family of a rule: which of `iptables` and `ip6tables` carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Family {
    /// `iptables`.
    V4,
    /// `ip6tables`.
    V6,
}

impl Family {
    fn of(a: &IpAddr) -> Self {
        if a.is_ipv4() { Family::V4 } else { Family::V6 }
    }

    /// The command carrying the family's rules.
    pub(super) fn bin(self) -> &'static str {
        match self {
            Family::V4 => "iptables",
            Family::V6 => "ip6tables",
        }
    }
}

/// The filter chain a rule goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Chain {
    /// Packets arriving at the node.
    Input,
    /// Packets leaving it.
    Output,
}

impl Chain {
    fn name(self) -> &'static str {
        match self {
            Chain::Input => "INPUT",
            Chain::Output => "OUTPUT",
        }
    }

    /// The address flag naming the far end of a packet in this chain.
    fn peer_flag(self) -> &'static str {
        match self {
            Chain::Input => "-s",
            Chain::Output => "-d",
        }
    }

    /// The interface flag of this chain (`! -i lo` / `! -o lo`).
    fn iface_flag(self) -> &'static str {
        match self {
            Chain::Input => "-i",
            Chain::Output => "-o",
        }
    }
}

/// One rule: `iptables|ip6tables -w 5 -I CHAIN POS SPEC`, deleted by the same SPEC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Rule {
    /// Which command carries it.
    pub family: Family,
    /// Where it goes.
    pub chain: Chain,
    /// Its position for `-I` (1 = first), numbered per family and chain in the order the
    /// rules were added, so they sit ahead of the host's rules in that order.
    pub position: u32,
    /// The match and target words, ending with `-m comment --comment TAG -j TARGET`.
    pub spec: Vec<String>,
    /// Inserted only where `ip6tables` is usable (an address-less IPv6 copy).
    pub optional: bool,
}

impl Rule {
    fn words(&self) -> String {
        self.spec
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `iptables -w 5 -I CHAIN POS SPEC`.
    pub(super) fn insert(&self) -> String {
        format!(
            "{} -w 5 -I {} {} {}",
            self.family.bin(),
            self.chain.name(),
            self.position,
            self.words()
        )
    }

    /// `pgc_del iptables CHAIN SPEC` (needs [`FN_DEL_RULE`]): the identical spec, every copy.
    pub(super) fn delete(&self) -> String {
        format!(
            "pgc_del {} {} {}",
            self.family.bin(),
            self.chain.name(),
            self.words()
        )
    }
}

/// What a DROP rule matches, before the SSH exception and the tag are added.
pub(super) struct Match<'a> {
    /// Its chain.
    pub chain: Chain,
    /// The far end (`-s` inbound, `-d` outbound); `None`: any, both families.
    pub peer: Option<IpAddr>,
    /// Leave loopback out (`! -i lo` / `! -o lo`).
    pub not_loopback: bool,
    /// More match words (`-m statistic ...`), after the protocol ones.
    pub extra: &'a [String],
}

/// The rules of one fault on one node, in insertion order.
pub(super) struct RuleSet {
    tag: String,
    /// TCP ports never dropped: the inventory's SSH ports.
    ssh_ports: Vec<u16>,
    rules: Vec<Rule>,
}

impl RuleSet {
    /// An empty set tagged `tag` that spares `ssh_ports`.
    pub(super) fn new(tag: &str, ssh_ports: &[u16]) -> Self {
        RuleSet {
            tag: tag.to_owned(),
            ssh_ports: ssh_ports.to_vec(),
            rules: Vec::new(),
        }
    }

    fn push(&mut self, family: Family, chain: Chain, mut spec: Vec<String>, optional: bool) {
        let position = 1 + self
            .rules
            .iter()
            .filter(|r| r.family == family && r.chain == chain)
            .count() as u32;
        spec.extend(["-m", "comment", "--comment"].map(String::from));
        spec.push(self.tag.clone());
        self.rules.push(Rule {
            family,
            chain,
            position,
            spec,
            optional,
        });
    }

    /// Adds `spec` (match words and `-j TARGET`, without the tag) for `peer`'s family, or
    /// for both when there is no peer. The tag goes before the `-j` words.
    pub(super) fn add(&mut self, chain: Chain, peer: Option<IpAddr>, spec: &[String]) {
        let split = spec.iter().position(|w| w == "-j").unwrap_or(spec.len());
        let (matches, target) = spec.split_at(split);
        let families: &[(Family, bool)] = match peer {
            Some(a) => &[(Family::of(&a), false)][..],
            None => &[(Family::V4, false), (Family::V6, true)],
        };
        for &(family, optional) in families {
            let mut words = matches.to_vec();
            if let Some(a) = peer {
                words.extend([chain.peer_flag().to_owned(), a.to_string()]);
            }
            self.push(family, chain, words, optional);
            let last = self.rules.last_mut().expect("just pushed");
            last.spec.extend(target.iter().cloned());
        }
    }

    /// DROP everything `m` matches except TCP to or from an SSH port: two rules per family,
    /// one for TCP (`-m multiport ! --ports SSH`), one for every other protocol.
    pub(super) fn drop_all_but_ssh(&mut self, m: &Match) {
        let ports = self
            .ssh_ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let lo: Vec<String> = if m.not_loopback {
            vec!["!".into(), m.chain.iface_flag().into(), "lo".into()]
        } else {
            vec![]
        };
        let w = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
        let mut tcp = lo.clone();
        tcp.extend(w(&["-p", "tcp", "-m", "multiport", "!", "--ports", &ports]));
        tcp.extend(m.extra.iter().cloned());
        tcp.extend(w(&["-j", "DROP"]));
        let mut other = lo;
        other.extend(w(&["!", "-p", "tcp"]));
        other.extend(m.extra.iter().cloned());
        other.extend(w(&["-j", "DROP"]));
        self.add(m.chain, m.peer, &tcp);
        self.add(m.chain, m.peer, &other);
    }

    /// The inject lines: every rule inserted, in order (`exit 1` on the first failure).
    pub(super) fn inject_lines(&self) -> String {
        let mut inject = String::new();
        let optional_v6 = self
            .rules
            .iter()
            .any(|r| r.family == Family::V6 && r.optional);
        let required_v6 = self
            .rules
            .iter()
            .any(|r| r.family == Family::V6 && !r.optional);
        if required_v6 {
            inject.push_str(
                "pgc_v6_usable || { echo 'pgchaos: ip6tables is not usable on this node: cannot add rules for its IPv6 peers' >&2; exit 1; }\n",
            );
        }
        if optional_v6 && !required_v6 {
            inject.push_str(
                "if pgc_v6_usable; then pgc_v6=yes; else\n\
                 \x20 pgc_v6=no\n\
                 \x20 if pgc_v6_global; then echo 'pgchaos: this node has a global IPv6 address but no usable ip6tables: refusing to cut IPv4 only' >&2; exit 1; fi\n\
                 \x20 echo 'pgchaos: no usable ip6tables and no global IPv6 address here: IPv4 rules only'\n\
                 fi\n",
            );
        } else if optional_v6 {
            inject.push_str("pgc_v6=yes\n");
        }
        for r in &self.rules {
            if r.family == Family::V6 && r.optional {
                let _ = writeln!(
                    inject,
                    "if [ \"$pgc_v6\" = yes ]; then {} || exit 1; fi",
                    r.insert()
                );
            } else {
                let _ = writeln!(inject, "{} || exit 1", r.insert());
            }
        }
        if !self.rules.is_empty() {
            let _ = writeln!(
                inject,
                "echo 'pgchaos: inserted {} netfilter rule(s) tagged {}'",
                self.rules.len(),
                self.tag
            );
        }
        inject
    }

    /// The undo lines: every rule deleted by its exact spec, newest first; a failure sets
    /// `pgc_rc=1` (the caller sets it to 0 first and exits with it).
    pub(super) fn undo_lines(&self) -> String {
        let mut undo = String::new();
        for r in self.rules.iter().rev() {
            if r.family == Family::V6 {
                // Nothing can have been inserted where ip6tables is not usable.
                let _ = writeln!(
                    undo,
                    "if pgc_v6_usable; then {} || pgc_rc=1; fi",
                    r.delete()
                );
            } else {
                let _ = writeln!(undo, "{} || pgc_rc=1", r.delete());
            }
        }
        undo
    }

    /// The node's part of the fault: insert every rule (the switch armed before), and
    /// delete each in reverse order on undo.
    pub(super) fn piece(&self) -> Piece {
        let undo = format!(
            "pgc_rc=0\n{}[ \"$pgc_rc\" -eq 0 ] && echo 'pgchaos: no rule of this fault is left'\nexit \"$pgc_rc\"\n",
            self.undo_lines()
        );
        Piece::undone(self.inject_lines(), undo).with_prelude(FN_DEL_RULE)
    }
}

/// Every address `node`'s `host` stands for: the address itself, or what the name
/// resolves to now (every address, both families), in a stable order.
pub(super) fn addresses(node: &Node) -> Result<Vec<IpAddr>, FaultError> {
    let host = node.host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(a) = host.parse::<IpAddr>() {
        return Ok(vec![a]);
    }
    let resolved = (host, 0u16)
        .to_socket_addrs()
        .map_err(|e| FaultError::Resolve {
            node: node.name.clone(),
            host: node.host.clone(),
            error: e.to_string(),
        })?;
    let mut out: Vec<IpAddr> = resolved.map(|s| s.ip()).collect();
    out.sort();
    out.dedup();
    if out.is_empty() {
        return Err(FaultError::Resolve {
            node: node.name.clone(),
            host: node.host.clone(),
            error: "no address".into(),
        });
    }
    Ok(out)
}

/// The addresses of every node of `nodes`, without repeats.
pub(super) fn addresses_of(nodes: &[&Node]) -> Result<Vec<IpAddr>, FaultError> {
    let mut out = Vec::new();
    for n in nodes {
        for a in addresses(n)? {
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    Ok(out)
}

/// The SSH ports of every inventory node, as the inventory says them (22 by default): the
/// ports no DROP rule may match. A port set only in `~/.ssh/config` is not known here (the
/// switch still heals the node).
pub(super) fn ssh_ports(ctx: &FaultContext) -> Result<Vec<u16>, FaultError> {
    let inv = ctx.inventory;
    let mut ports: Vec<u16> = inv
        .nodes
        .iter()
        .map(|n| n.ssh.options.port.or(inv.ssh.port).unwrap_or(22))
        .collect();
    ports.push(inv.ssh.port.unwrap_or(22));
    ports.sort_unstable();
    ports.dedup();
    // iptables' multiport match takes at most 15 ports.
    if ports.len() > 15 {
        return Err(FaultError::TooManySshPorts(ports.len()));
    }
    Ok(ports)
}
