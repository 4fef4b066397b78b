//! The wrong-cluster guard for what is not Patroni: the etcd and HAProxy the inventory
//! names must be those of the cluster whose Patroni members answered (see
//! [`crate::patroni::identity`] for the members themselves). Fails closed: what cannot be
//! confirmed refuses the run, with one line saying why.
//!
//! What is verifiable without credentials the inventory does not already hold:
//! - etcd: every etcd endpoint and every etcd node (its entry point of the same host, else
//!   `http://HOST:2379`) must hold Patroni's leader key `<namespace>/<scope>/leader`
//!   naming this cluster's leader, and all must answer from one etcd cluster
//!   (`header.cluster_id`). An etcd of another cluster, or a second etcd cluster, fails.
//! - HAProxy: its write port, on the entry point and on every HAProxy node, must reach a
//!   PostgreSQL whose system identifier (`pg_control_system()`) is the one every Patroni
//!   member reports: the backends are this cluster's nodes.

/// One etcd endpoint to confirm.
pub(crate) struct EtcdProbe {
    /// What to call it in a reason: a node name or the entry point's URL.
    pub(crate) label: String,
    /// Its client URL.
    pub(crate) url: String,
}

/// The etcd endpoints to confirm: every entry point, and every etcd node by the entry
/// point of its host or else `http://HOST:2379`, each URL once.
pub(crate) fn etcd_probes(entrypoints: &[String], etcd_nodes: &[(&str, &str)]) -> Vec<EtcdProbe> {
    let mut out: Vec<EtcdProbe> = Vec::new();
    for (name, host) in etcd_nodes {
        let url = entrypoints
            .iter()
            .find(|u| crate::patroni::identity::url_host(u).as_deref() == Some(host))
            .cloned()
            .unwrap_or_else(|| {
                if host.contains(':') {
                    format!("http://[{host}]:2379")
                } else {
                    format!("http://{host}:2379")
                }
            });
        if !out.iter().any(|p| p.url == url) {
            out.push(EtcdProbe {
                label: format!("etcd node {name}"),
                url,
            });
        }
    }
    for u in entrypoints {
        if !out.iter().any(|p| &p.url == u) {
            out.push(EtcdProbe {
                label: format!("etcd endpoint {u}"),
                url: u.clone(),
            });
        }
    }
    out
}

/// What one etcd endpoint answered: its cluster id and the leader the key names.
pub(crate) type EtcdAnswer = Result<(String, Option<String>), String>;

/// Reasons to refuse from the etcd answers (`(cluster id, leader named by the key)`).
/// `leader` is the member Patroni reports as leader, if one does; otherwise the key must
/// at least name one of `members`.
pub(crate) fn etcd_problems(
    key: &str,
    leader: Option<&str>,
    members: &[&str],
    answers: &[(&EtcdProbe, EtcdAnswer)],
) -> Vec<String> {
    let mut out = Vec::new();
    let mut ids: Vec<(&str, &str)> = Vec::new();
    for (p, a) in answers {
        match a {
            Err(e) => out.push(format!(
                "{}: cannot confirm it is this cluster's etcd: {e}",
                p.label
            )),
            Ok((id, found)) => {
                ids.push((&p.label, id));
                match (found.as_deref(), leader) {
                    (None, _) => out.push(format!(
                        "{} has no leader key {key}: it is not this cluster's DCS",
                        p.label
                    )),
                    (Some(f), Some(l)) if f != l => out.push(format!(
                        "{}: the leader key {key} names {f:?} but Patroni's leader is {l:?}: another cluster's etcd",
                        p.label
                    )),
                    (Some(f), None) if !members.contains(&f) => out.push(format!(
                        "{}: the leader key {key} names {f:?}, not a Patroni node of the inventory",
                        p.label
                    )),
                    _ => {}
                }
            }
        }
    }
    let mut distinct: Vec<&str> = ids.iter().map(|(_, id)| *id).collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() > 1 {
        out.push(format!(
            "the etcd endpoints belong to different etcd clusters (cluster ids: {})",
            ids.iter()
                .map(|(l, id)| format!("{l} {id}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}

/// One HAProxy listener to confirm.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct HaproxyProbe {
    /// What to call it in a reason.
    pub(crate) label: String,
    /// Address and port of the write listener.
    pub(crate) host: String,
    /// Its port.
    pub(crate) port: u16,
}

/// The write listeners to confirm: the entry point's, and every HAProxy node's (same
/// port), each address once.
pub(crate) fn haproxy_probes(
    entry: Option<(&str, u16)>,
    haproxy_nodes: &[(&str, &str)],
) -> Vec<HaproxyProbe> {
    let Some((host, port)) = entry else {
        return Vec::new();
    };
    let mut out = vec![HaproxyProbe {
        label: format!("HAProxy write port {host}:{port}"),
        host: host.to_owned(),
        port,
    }];
    for (name, h) in haproxy_nodes {
        if !out.iter().any(|p| p.host == *h) {
            out.push(HaproxyProbe {
                label: format!("HAProxy node {name} ({h}:{port})"),
                host: (*h).to_owned(),
                port,
            });
        }
    }
    out
}

/// Reasons to refuse from what each listener reached (the system identifier of the
/// PostgreSQL behind it).
pub(crate) fn haproxy_problems(
    sysid: &str,
    answers: &[(&HaproxyProbe, Result<Option<String>, String>)],
) -> Vec<String> {
    answers
        .iter()
        .filter_map(|(p, a)| match a {
            Err(e) => Some(format!(
                "{}: cannot confirm it routes to this cluster: {e}",
                p.label
            )),
            Ok(None) => Some(format!(
                "{}: the PostgreSQL behind it reported no system identifier",
                p.label
            )),
            Ok(Some(id)) if id != sysid => Some(format!(
                "{} reaches a PostgreSQL with system identifier {id}, this cluster's is {sysid}: another cluster's HAProxy",
                p.label
            )),
            Ok(Some(_)) => None,
        })
        .collect()
}

/// The query asking a PostgreSQL which database it runs (executable by any role).
pub(crate) const SYSID_QUERY: &str = "select system_identifier::text from pg_control_system()";

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "/service/prod/leader";

    #[test]
    fn etcd_nodes_are_probed_through_their_entry_point_or_the_default_port() {
        let p = etcd_probes(
            &["http://10.0.0.5:2379".into(), "http://vip:2379".into()],
            &[("e1", "10.0.0.5"), ("e2", "10.0.0.6"), ("e3", "fd00::7")],
        );
        let urls: Vec<_> = p
            .iter()
            .map(|p| (p.label.as_str(), p.url.as_str()))
            .collect();
        assert_eq!(
            urls,
            vec![
                ("etcd node e1", "http://10.0.0.5:2379"),
                ("etcd node e2", "http://10.0.0.6:2379"),
                ("etcd node e3", "http://[fd00::7]:2379"),
                ("etcd endpoint http://vip:2379", "http://vip:2379"),
            ]
        );
    }

    fn probe(label: &str) -> EtcdProbe {
        EtcdProbe {
            label: label.into(),
            url: String::new(),
        }
    }

    #[test]
    fn etcd_must_hold_this_clusters_leader_key_in_one_etcd_cluster() {
        let (e1, e2) = (probe("e1"), probe("e2"));
        let ok = |l: &str| Ok(("c1".to_owned(), Some(l.to_owned())));
        let members = ["pg1", "pg2"];
        assert!(
            etcd_problems(
                KEY,
                Some("pg1"),
                &members,
                &[(&e1, ok("pg1")), (&e2, ok("pg1"))]
            )
            .is_empty()
        );
        // Another cluster's etcd: no key of this scope.
        let p = etcd_problems(
            KEY,
            Some("pg1"),
            &members,
            &[(&e1, Ok(("c1".into(), None)))],
        );
        assert_eq!(
            p,
            vec!["e1 has no leader key /service/prod/leader: it is not this cluster's DCS"]
        );
        // A key naming another leader.
        let p = etcd_problems(KEY, Some("pg1"), &members, &[(&e1, ok("pgx"))]);
        assert!(p[0].contains("another cluster's etcd"), "{p:?}");
        // No Patroni leader now: the key must name an inventory member.
        assert!(etcd_problems(KEY, None, &members, &[(&e1, ok("pg2"))]).is_empty());
        assert!(!etcd_problems(KEY, None, &members, &[(&e1, ok("pgx"))]).is_empty());
        // Two etcd clusters.
        let p = etcd_problems(
            KEY,
            Some("pg1"),
            &members,
            &[
                (&e1, ok("pg1")),
                (&e2, Ok(("c2".into(), Some("pg1".into())))),
            ],
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].contains("different etcd clusters (cluster ids: e1 c1, e2 c2)"),
            "{p:?}"
        );
        // Unreachable: fails closed.
        let p = etcd_problems(KEY, Some("pg1"), &members, &[(&e1, Err("refused".into()))]);
        assert!(p[0].starts_with("e1: cannot confirm"), "{p:?}");
    }

    #[test]
    fn haproxy_must_reach_this_clusters_database() {
        let probes = haproxy_probes(
            Some(("10.0.0.9", 5000)),
            &[("ha1", "10.0.0.9"), ("ha2", "10.0.0.10")],
        );
        assert_eq!(probes.len(), 2);
        assert_eq!(probes[1].label, "HAProxy node ha2 (10.0.0.10:5000)");
        assert!(haproxy_probes(None, &[("ha1", "h")]).is_empty());
        let ok = haproxy_problems("73", &[(&probes[0], Ok(Some("73".into())))]);
        assert!(ok.is_empty());
        let p = haproxy_problems(
            "73",
            &[
                (&probes[0], Ok(Some("99".into()))),
                (&probes[1], Err("connection refused".into())),
            ],
        );
        assert!(p[0].contains("another cluster's HAProxy"), "{p:?}");
        assert!(
            p[1].contains("cannot confirm it routes to this cluster"),
            "{p:?}"
        );
    }
}
