//! etcd's own view of the DCS: which member leads, asked of every endpoint of the
//! inventory (`POST /v3/maintenance/status`, etcd's gRPC gateway; its `header.member_id`
//! is the member answering, `leader` the member it follows). Used to bind the
//! `etcd_leader` selector and by the `etcd` condition.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::inventory::{Inventory, Role};

/// One endpoint's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MemberStatus {
    /// The inventory node the endpoint belongs to (its URL's host), else the URL.
    pub node: String,
    /// The answering member's id.
    pub member_id: u64,
    /// The id of the member it takes for the leader (0: none).
    pub leader: u64,
}

/// What every endpoint said, at one moment.
#[derive(Clone, Debug, Default)]
pub(crate) struct Status {
    /// Endpoints that answered.
    pub members: Vec<MemberStatus>,
    /// Endpoints that did not, with why (`node: reason`).
    pub silent: Vec<String>,
}

impl Status {
    /// The leader most answering members follow, as an inventory node, when the leader
    /// itself answered (a leader that does not answer is not taken on others' word: a
    /// frozen leader is still named by members that have not noticed yet).
    pub(crate) fn leader(&self) -> Option<&str> {
        let mut votes: BTreeMap<u64, usize> = BTreeMap::new();
        for m in self.members.iter().filter(|m| m.leader != 0) {
            *votes.entry(m.leader).or_default() += 1;
        }
        let (id, _) = votes.into_iter().max_by_key(|(_, n)| *n)?;
        self.members
            .iter()
            .find(|m| m.member_id == id && m.leader == id)
            .map(|m| m.node.as_str())
    }

    /// One line for reports: who leads, who answered, who did not.
    pub(crate) fn describe(&self) -> String {
        let mut s = match self.leader() {
            Some(l) => format!("etcd leader {l}"),
            None => "no etcd leader that answers".to_owned(),
        };
        s.push_str(&format!(
            " ({} of {} endpoint(s) answered",
            self.members.len(),
            self.members.len() + self.silent.len()
        ));
        if !self.silent.is_empty() {
            s.push_str(&format!("; silent: {}", self.silent.join(", ")));
        }
        s.push(')');
        s
    }
}

/// Asks every etcd endpoint of the inventory, concurrently, each bounded by `timeout`.
pub(crate) async fn status(inv: &Inventory, timeout: Duration) -> Status {
    let client = match reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(timeout)
        .timeout(timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            return Status {
                members: vec![],
                silent: vec![format!("no HTTP client: {e}")],
            };
        }
    };
    let asks = inv.entrypoints.etcd.iter().map(|url| {
        let client = client.clone();
        async move {
            let node = node_of(inv, url);
            let r = ask(&client, url).await;
            (node, r)
        }
    });
    let mut out = Status::default();
    for (node, r) in futures::future::join_all(asks).await {
        match r {
            Ok((member_id, leader)) => out.members.push(MemberStatus {
                node,
                member_id,
                leader,
            }),
            Err(e) => out.silent.push(format!("{node}: {e}")),
        }
    }
    out
}

async fn ask(client: &reqwest::Client, url: &str) -> Result<(u64, u64), String> {
    let v: serde_json::Value = client
        .post(format!(
            "{}/v3/maintenance/status",
            url.trim_end_matches('/')
        ))
        .body("{}")
        .send()
        .await
        .map_err(|e| crate::http_words::short(&e))?
        .error_for_status()
        .map_err(|e| crate::http_words::short(&e))?
        .json()
        .await
        .map_err(|e| crate::http_words::short(&e))?;
    parse(&v).ok_or_else(|| format!("unexpected answer: {v}"))
}

/// `header.member_id` and `leader` (uint64 as JSON strings, as the gateway writes them).
fn parse(v: &serde_json::Value) -> Option<(u64, u64)> {
    let num = |x: &serde_json::Value| match x {
        serde_json::Value::String(s) => s.parse().ok(),
        other => other.as_u64(),
    };
    let id = num(&v["header"]["member_id"])?;
    let leader = v.get("leader").map(num).unwrap_or(Some(0))?;
    Some((id, leader))
}

/// The inventory's etcd node whose host is the URL's, else the URL.
fn node_of(inv: &Inventory, url: &str) -> String {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split('/')
        .next()
        .unwrap_or_default();
    let host = match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    inv.nodes_with(Role::Etcd)
        .find(|n| n.host == host)
        .map(|n| n.name.clone())
        .unwrap_or_else(|| url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(node: &str, id: u64, leader: u64) -> MemberStatus {
        MemberStatus {
            node: node.into(),
            member_id: id,
            leader,
        }
    }

    #[test]
    fn the_leader_is_the_one_followed_that_answers_itself() {
        let s = Status {
            members: vec![m("etcd1", 1, 2), m("etcd2", 2, 2), m("etcd3", 3, 2)],
            silent: vec![],
        };
        assert_eq!(s.leader(), Some("etcd2"));
        // The leader frozen: the others still name it until they elect anew.
        let s = Status {
            members: vec![m("etcd1", 1, 2), m("etcd3", 3, 2)],
            silent: vec!["etcd2: no answer in time".into()],
        };
        assert_eq!(s.leader(), None);
        assert!(s.describe().contains("silent: etcd2"), "{}", s.describe());
        let s = Status {
            members: vec![m("etcd1", 1, 3), m("etcd3", 3, 3)],
            silent: vec!["etcd2: no answer in time".into()],
        };
        assert_eq!(s.leader(), Some("etcd3"));
    }

    #[test]
    fn the_gateways_answer_is_parsed_with_ids_as_strings() {
        let v = serde_json::json!({
            "header": {"cluster_id": "1", "member_id": "10276657743932975437", "revision": "9"},
            "version": "3.5.16",
            "leader": "10276657743932975437"
        });
        assert_eq!(
            parse(&v),
            Some((10276657743932975437, 10276657743932975437))
        );
        assert_eq!(parse(&serde_json::json!({"header": {}})), None);
    }

    #[test]
    fn endpoints_map_to_their_inventory_nodes() {
        let inv: Inventory = serde_saphyr::from_str(
            "cluster: {scope: s}\nnodes:\n  - {name: e1, host: 10.0.0.4, roles: [etcd]}\n",
        )
        .unwrap();
        assert_eq!(node_of(&inv, "http://10.0.0.4:2379"), "e1");
        assert_eq!(
            node_of(&inv, "http://10.0.0.5:2379/"),
            "http://10.0.0.5:2379/"
        );
    }
}
