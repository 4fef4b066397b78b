//! `partition`: DROP rules on both sides of the cut, by the addresses each side's nodes
//! resolved to when the fault was planned (at inject time).
//!
//! Why on both sides: a partition must hold even when one side's rules could not be
//! inserted in full (or one side's undo ran early through its switch), and it is what a
//! real partition looks like from every node. A one-way partition drops what `from` sends
//! to `to`: on `from`'s OUTPUT and on `to`'s INPUT.

use super::netfilter::{self, Chain, Match, RuleSet};
use super::{Action, FaultContext, FaultError, assemble, names, nodes_of, rule_tag};
use crate::scenario::{PartitionDirection, PartitionStep};

pub(super) fn plan(s: &PartitionStep, ctx: &FaultContext) -> Result<Action, FaultError> {
    let from = nodes_of(ctx, &s.from)?;
    let to = nodes_of(ctx, &s.to)?;
    if let Some(n) = from.iter().find(|a| to.iter().any(|b| b.name == a.name)) {
        return Err(FaultError::Overlap(n.name.clone()));
    }
    let from_addr = netfilter::addresses_of(&from)?;
    let to_addr = netfilter::addresses_of(&to)?;
    let ports = netfilter::ssh_ports(ctx)?;
    let tag = rule_tag(ctx.run_id, ctx.seq);
    let both = s.direction == PartitionDirection::Both;
    let side = |peers: &[std::net::IpAddr], sends: bool, receives: bool| {
        let mut set = RuleSet::new(&tag, &ports);
        for p in peers {
            for (chain, on) in [(Chain::Output, sends), (Chain::Input, receives)] {
                if on {
                    set.drop_all_but_ssh(&Match {
                        chain,
                        peer: Some(*p),
                        not_loopback: false,
                        extra: &[],
                    });
                }
            }
        }
        set
    };
    // `from` never sends to `to`; it receives from `to` unless one way.
    let from_rules = side(&to_addr, true, both);
    // `to` never receives from `from`; it sends to `from` unless one way.
    let to_rules = side(&from_addr, both, true);
    let mut pieces = Vec::new();
    for n in &from {
        pieces.push((*n, from_rules.piece()));
    }
    for n in &to {
        pieces.push((*n, to_rules.piece()));
    }
    let how = if both {
        "both ways"
    } else {
        "one way: what the first side sends to the second is dropped"
    };
    let description = format!(
        "partition {} from {} ({how}; SSH kept)",
        names(&from),
        names(&to)
    );
    let undo_description = || format!("remove the netfilter rules tagged {tag}");
    Ok(assemble(
        ctx,
        "partition",
        description,
        undo_description,
        pieces,
    ))
}
