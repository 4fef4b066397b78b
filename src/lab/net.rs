//! The lab's network: one bridge on the host, one network namespace and veth pair per
//! node. Only names starting with the lab prefix ([`prefix`]) are ever created or deleted.

use std::net::Ipv4Addr;
use std::process::Command;

use super::topology::{LabState, bridge, prefix};
use super::{LabError, run};

/// An IPv4 network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Net {
    addr: u32,
    len: u8,
}

impl Net {
    fn parse(text: &str) -> Option<Net> {
        let (a, l) = match text.split_once('/') {
            Some((a, l)) => (a, l.parse().ok()?),
            None => (text, 32),
        };
        let addr: Ipv4Addr = a.parse().ok()?;
        if l > 32 {
            return None;
        }
        Some(Net {
            addr: u32::from(addr),
            len: l,
        })
    }

    fn mask(self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - self.len)
        }
    }

    fn overlaps(self, other: Net) -> bool {
        let len = self.len.min(other.len);
        let m = Net { addr: 0, len }.mask();
        self.addr & m == other.addr & m
    }
}

/// Refuses a subnet that overlaps an address or a route of the host (default routes
/// aside), so the lab can never capture traffic meant for a real network.
pub(crate) fn check_subnet_free(state: &LabState) -> Result<(), LabError> {
    let ours = Net::parse(&state.cidr()).unwrap_or(Net { addr: 0, len: 32 });
    let addrs = run(Command::new("ip").args(["-o", "-4", "addr", "show"]))?;
    for line in addrs.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() > 3 && f[1] == bridge() {
            continue;
        }
        if let Some(net) = f.get(3).and_then(|t| Net::parse(t))
            && net.overlaps(ours)
        {
            return Err(LabError::SubnetInUse {
                subnet: state.cidr(),
                by: line.trim().to_owned(),
            });
        }
    }
    let routes = run(Command::new("ip").args(["-4", "route", "show", "table", "all"]))?;
    for line in routes.lines() {
        if line.contains(&format!("dev {} ", bridge()))
            || line.ends_with(&format!("dev {}", bridge()))
        {
            continue;
        }
        let mut f = line.split_whitespace();
        let mut dest = f.next().unwrap_or("");
        if matches!(
            dest,
            "local"
                | "broadcast"
                | "unicast"
                | "multicast"
                | "anycast"
                | "unreachable"
                | "blackhole"
                | "prohibit"
                | "throw"
                | "nat"
        ) {
            dest = f.next().unwrap_or("");
        }
        if dest == "default" {
            continue;
        }
        if let Some(net) = Net::parse(dest)
            && net.len > 0
            && net.overlaps(ours)
        {
            return Err(LabError::SubnetInUse {
                subnet: state.cidr(),
                by: format!("route {}", line.trim()),
            });
        }
    }
    Ok(())
}

/// Creates the bridge, then every node's namespace and veth pair.
pub(crate) fn create(state: &LabState) -> Result<(), LabError> {
    run(Command::new("ip").args(["link", "add", &bridge(), "type", "bridge"]))?;
    // If br_netfilter is loaded, bridged traffic would go through the host's iptables
    // FORWARD chain; switch that off for this bridge only (the host's rules stay untouched).
    let _ = run(Command::new("ip").args([
        "link",
        "set",
        "dev",
        &bridge(),
        "type",
        "bridge",
        "nf_call_iptables",
        "0",
    ]));
    let host = format!("{}/24", state.host_ip());
    run(Command::new("ip").args(["addr", "add", &host, "dev", &bridge()]))?;
    run(Command::new("ip").args(["link", "set", &bridge(), "up"]))?;
    for n in &state.nodes {
        let ns = n.netns();
        let addr = format!("{}/24", n.ip);
        run(Command::new("ip").args(["netns", "add", &ns]))?;
        run(Command::new("ip").args([
            "link", "add", &ns, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ]))?;
        run(Command::new("ip").args(["link", "set", &ns, "master", &bridge()]))?;
        run(Command::new("ip").args(["link", "set", &ns, "up"]))?;
        run(Command::new("ip").args(["-n", &ns, "addr", "add", &addr, "dev", "eth0"]))?;
        run(Command::new("ip").args(["-n", &ns, "link", "set", "eth0", "up"]))?;
        run(Command::new("ip").args(["-n", &ns, "link", "set", "lo", "up"]))?;
    }
    Ok(())
}

/// Network namespaces whose name starts with the lab prefix.
pub(crate) fn lab_namespaces() -> Result<Vec<String>, LabError> {
    let out = run(Command::new("ip").args(["netns", "list"]))?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix()))
        .map(str::to_owned)
        .collect())
}

/// Host links whose name starts with the lab prefix (the bridge and veths).
pub(crate) fn lab_links() -> Result<Vec<String>, LabError> {
    let out = run(Command::new("ip").args(["-o", "link", "show"]))?;
    Ok(out
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or("").to_owned())
        .filter(|n| n.starts_with(prefix()))
        .collect())
}

/// Processes living in network namespace `ns`.
pub(crate) fn namespace_pids(ns: &str) -> Vec<i32> {
    run(Command::new("ip").args(["netns", "pids", ns]))
        .map(|out| out.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Deletes veths, then namespaces, then the bridge. Callers make sure no process is
/// left in the namespaces first (deleting them earlier can fail).
pub(crate) fn destroy() -> Result<(), LabError> {
    for link in lab_links()? {
        if link != bridge() {
            let _ = run(Command::new("ip").args(["link", "del", &link]));
        }
    }
    for ns in lab_namespaces()? {
        run(Command::new("ip").args(["netns", "del", &ns]))?;
    }
    if lab_links()?.iter().any(|l| *l == bridge()) {
        run(Command::new("ip").args(["link", "del", &bridge()]))?;
    }
    let left = lab_links()?;
    if !left.is_empty() {
        return Err(LabError::Leftovers(left.join(", ")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap() {
        let lab = Net::parse("10.213.47.0/24").unwrap();
        assert!(lab.overlaps(Net::parse("10.0.0.0/8").unwrap()));
        assert!(lab.overlaps(Net::parse("10.213.47.9").unwrap()));
        assert!(!lab.overlaps(Net::parse("10.213.48.0/24").unwrap()));
        assert!(!lab.overlaps(Net::parse("192.0.2.0/24").unwrap()));
    }
}
