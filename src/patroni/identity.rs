//! Is each inventory node the Patroni member the inventory says it is? The guard that
//! keeps a wrong inventory from faulting another cluster. It fails closed: a node that
//! does not say which cluster it belongs to is a reason to refuse, not to go on.
//!
//! What each version reports (FACTS.md; Patroni's `api.py`): `GET /patroni` has
//! `patroni.scope` in 3.0 and 4.x, and `patroni.name` from 4.0 only. For 3.x the name is
//! looked up in the members `GET /cluster` lists: no member of that name refuses; a member
//! that advertises (`host`, or the host of `api_url`) the address the inventory gives to
//! another node refuses; one advertising this node's address confirms it; anything else
//! (a host name where the inventory has an address) cannot tie the name to the node, and
//! that is a warning, never a silent pass. Every node must also run the same database
//! (`database_system_identifier`): two clusters with the same scope and member names
//! still differ there.

use super::{ClusterStatus, PatroniStatus};

/// What one inventory node answered.
pub(crate) struct Answer<'a> {
    /// Inventory name.
    pub(crate) node: &'a str,
    /// Inventory host.
    pub(crate) host: &'a str,
    /// Its `/patroni`, or why it could not be read.
    pub(crate) status: Result<&'a PatroniStatus, String>,
}

/// What the guard found about the Patroni nodes.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Identity {
    /// Reasons to refuse, one a line; the run must not start if there is one.
    pub(crate) refusals: Vec<String>,
    /// What could not be confirmed but does not contradict the inventory (Patroni 3.x).
    pub(crate) warnings: Vec<String>,
    /// The database system identifier every node reported, when they agree.
    pub(crate) system_identifier: Option<String>,
}

/// Checks every answer. `cluster` is one node's `/cluster` (for Patroni 3.x, which does
/// not name itself); `hosts` is every inventory node's (name, host).
pub(crate) fn check(
    scope: &str,
    answers: &[Answer<'_>],
    cluster: Option<&ClusterStatus>,
    hosts: &[(&str, &str)],
) -> Identity {
    let mut out = Identity::default();
    let mut sysids: Vec<(&str, String)> = Vec::new();
    for a in answers {
        let s = match &a.status {
            Ok(s) => s,
            Err(e) => {
                out.refusals.push(format!(
                    "{}: cannot confirm it belongs to scope {scope:?}: {e}",
                    a.node
                ));
                continue;
            }
        };
        match &s.scope {
            None => out
                .refusals
                .push(format!("{}: Patroni reported no scope", a.node)),
            Some(found) if found != scope => out.refusals.push(format!(
                "{}: Patroni reports scope {found:?}, the inventory says {scope:?}",
                a.node
            )),
            Some(_) => {}
        }
        match s.raw.get("database_system_identifier").and_then(|v| {
            v.as_str()
                .map(str::to_owned)
                .or_else(|| v.as_u64().map(|n| n.to_string()))
        }) {
            Some(id) => sysids.push((a.node, id)),
            None => out.refusals.push(format!(
                "{}: Patroni reported no database_system_identifier",
                a.node
            )),
        }
        match &s.name {
            Some(name) if name != a.node => out.refusals.push(format!(
                "{} ({}) answers as member {name:?}: the inventory names it {:?}",
                a.node, a.host, a.node
            )),
            Some(_) => {}
            None => by_cluster(a, cluster, hosts, &mut out),
        }
    }
    let mut distinct: Vec<&str> = sysids.iter().map(|(_, id)| id.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    match distinct.as_slice() {
        [one] => out.system_identifier = Some((*one).to_owned()),
        [] => {}
        _ => out.refusals.push(format!(
            "the Patroni nodes run different databases (system identifiers: {})",
            sysids
                .iter()
                .map(|(n, id)| format!("{n} {id}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
    out
}

/// Patroni 3.x: the member of the node's name in `/cluster`, tied to the node by the
/// address it advertises.
fn by_cluster(
    a: &Answer<'_>,
    cluster: Option<&ClusterStatus>,
    hosts: &[(&str, &str)],
    out: &mut Identity,
) {
    let Some(c) = cluster else {
        out.refusals.push(format!(
            "{}: Patroni does not name itself (before 4.0) and no /cluster answered to check it",
            a.node
        ));
        return;
    };
    if !c.members.iter().any(|m| m.name == a.node) {
        out.refusals.push(format!(
            "{}: no member of that name in the cluster's /cluster (members: {})",
            a.node,
            c.members
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return;
    }
    let extra = c.extra.get(a.node);
    let advertised: Vec<String> = extra
        .into_iter()
        .flat_map(|e| {
            e.host
                .iter()
                .cloned()
                .chain(e.api_url.as_deref().and_then(url_host))
        })
        .collect();
    if advertised.iter().any(|h| h == a.host) {
        return;
    }
    if let Some((other, h)) = hosts
        .iter()
        .find(|(n, h)| *n != a.node && advertised.iter().any(|x| x == h))
    {
        out.refusals.push(format!(
            "{} ({}): member {:?} advertises {h}, the address of inventory node {other}",
            a.node, a.host, a.node
        ));
        return;
    }
    out.warnings.push(format!(
        "{} ({}): Patroni before 4.0 does not name itself and member {:?} advertises {}: its name is assumed, not confirmed",
        a.node,
        a.host,
        a.node,
        if advertised.is_empty() {
            "no address".to_owned()
        } else {
            advertised.join(", ")
        }
    ));
}

/// The host of a URL (`http://10.0.0.1:8008/patroni` -> `10.0.0.1`), without brackets.
pub(crate) fn url_host(url: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()?
        .host_str()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(scope: Option<&str>, name: Option<&str>) -> PatroniStatus {
        let mut p = serde_json::json!({"state": "running", "role": "replica",
            "database_system_identifier": "7300000000000000001",
            "patroni": {"version": "4.1.5"}});
        if let Some(s) = scope {
            p["patroni"]["scope"] = s.into();
        }
        if let Some(n) = name {
            p["patroni"]["name"] = n.into();
        }
        PatroniStatus::from_json(p)
    }

    const HOSTS: &[(&str, &str)] = &[("pg1", "10.0.0.1"), ("pg2", "10.0.0.2")];

    fn a<'a>(node: &'a str, st: &'a PatroniStatus) -> Answer<'a> {
        Answer {
            node,
            host: "10.0.0.1",
            status: Ok(st),
        }
    }

    #[test]
    fn every_node_must_say_its_scope_and_be_the_member_of_its_name() {
        let ok = status(Some("prod"), Some("pg1"));
        let i = check("prod", &[a("pg1", &ok)], None, HOSTS);
        assert!(i.refusals.is_empty() && i.warnings.is_empty(), "{i:?}");
        assert_eq!(i.system_identifier.as_deref(), Some("7300000000000000001"));
        // No scope reported: refuse (this used to pass).
        let none = status(None, Some("pg1"));
        let i = check("prod", &[a("pg1", &none)], None, HOSTS);
        assert_eq!(i.refusals, vec!["pg1: Patroni reported no scope"]);
        // A node answering as another member.
        let i = check("prod", &[a("pg2", &ok)], None, HOSTS);
        assert!(i.refusals[0].contains("answers as member \"pg1\""), "{i:?}");
        // Unreachable API: cannot confirm.
        let i = check(
            "prod",
            &[Answer {
                node: "pg1",
                host: "h",
                status: Err("timed out".into()),
            }],
            None,
            HOSTS,
        );
        assert!(i.refusals[0].contains("cannot confirm"), "{i:?}");
    }

    #[test]
    fn patroni_3_is_confirmed_by_address_and_otherwise_only_a_warning() {
        let old = status(Some("prod"), None);
        let cluster = |host: &str| {
            ClusterStatus::from_json(serde_json::json!({"members": [
                {"name": "pg1", "role": "leader", "state": "running", "host": host,
                 "api_url": format!("http://{host}:8008/patroni")}]}))
        };
        // Advertising this node's own address: confirmed.
        let c = cluster("10.0.0.1");
        let i = check("prod", &[a("pg1", &old)], Some(&c), HOSTS);
        assert!(i.refusals.is_empty() && i.warnings.is_empty(), "{i:?}");
        // A host name the inventory does not use: a warning, not a pass.
        let c = cluster("db1.example");
        let i = check("prod", &[a("pg1", &old)], Some(&c), HOSTS);
        assert!(i.refusals.is_empty(), "{i:?}");
        assert!(i.warnings[0].contains("assumed, not confirmed"), "{i:?}");
        // The address of another inventory node: the names are swapped, refuse.
        let c = cluster("10.0.0.2");
        let i = check("prod", &[a("pg1", &old)], Some(&c), HOSTS);
        assert!(i.refusals[0].contains("inventory node pg2"), "{i:?}");
        // No member of that name.
        let i = check("prod", &[a("pg9", &old)], Some(&c), HOSTS);
        assert!(i.refusals[0].contains("no member of that name"), "{i:?}");
        // No /cluster at all.
        let i = check("prod", &[a("pg1", &old)], None, HOSTS);
        assert!(i.refusals[0].contains("no /cluster answered"), "{i:?}");
    }

    #[test]
    fn every_node_must_run_the_same_database() {
        let one = status(Some("prod"), Some("pg1"));
        let mut raw = status(Some("prod"), Some("pg2")).raw;
        raw["database_system_identifier"] = "7399999999999999999".into();
        let other = PatroniStatus::from_json(raw);
        let i = check(
            "prod",
            &[
                a("pg1", &one),
                Answer {
                    node: "pg2",
                    host: "10.0.0.2",
                    status: Ok(&other),
                },
            ],
            None,
            HOSTS,
        );
        assert_eq!(i.refusals.len(), 1, "{i:?}");
        assert!(i.refusals[0].contains("different databases"), "{i:?}");
        assert_eq!(i.system_identifier, None);
        let mut raw = one.raw.clone();
        raw.as_object_mut()
            .unwrap()
            .remove("database_system_identifier");
        let i = check(
            "prod",
            &[a("pg1", &PatroniStatus::from_json(raw))],
            None,
            HOSTS,
        );
        assert!(
            i.refusals[0].contains("no database_system_identifier"),
            "{i:?}"
        );
    }
}
