//! Preflight, before the first fault: every node reachable over SSH (and sudo, when
//! configured), no fault left by an earlier run, the scope and member names Patroni
//! reports match the inventory, and the etcd and HAProxy are this cluster's (the
//! wrong-cluster guard, failing closed). The run refuses to start otherwise, naming what
//! is wrong.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::Engine;
use crate::inventory::Role;
use crate::results::Versions;
use crate::scenario::LoadedScenario;
use crate::scenario::step::NodeNeed;

/// Why a run refused to start.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub(crate) enum PreflightError {
    /// Nodes that could not be reached.
    #[error("preflight failed: cannot reach every node over SSH:\n  {}", .0.join("\n  "))]
    #[diagnostic(help("check the inventory's ssh settings, the node, and `ssh` to it by hand"))]
    Unreachable(Vec<String>),
    /// Faults left by an earlier run.
    #[error("preflight failed: faults left by an earlier pgchaos run are still in place:\n  {}", .0.join("\n  "))]
    #[diagnostic(help("remove them with `pgchaos cleanup --inventory FILE`, then run again"))]
    Leftovers(Vec<String>),
    /// The cluster is not the one the inventory describes.
    #[error("preflight failed: the inventory says scope {expected:?} but Patroni reports {found}")]
    #[diagnostic(help("this inventory does not describe this cluster: refusing to inject faults"))]
    WrongScope {
        /// Scope in the inventory.
        expected: String,
        /// What the nodes said.
        found: String,
    },
    /// The cluster's watchdog is not what the inventory declares.
    #[error("preflight failed: {0}")]
    #[diagnostic(help(
        "correct cluster.watchdog in the inventory (or operations.patroni_config, where \
         Patroni's configuration lives): split-brain verdicts depend on it"
    ))]
    Watchdog(String),
    /// A node could not be confirmed as the member of this cluster the inventory names.
    #[error("preflight failed: the inventory's nodes cannot all be confirmed as members of this cluster:\n  {}", .0.join("\n  "))]
    #[diagnostic(help(
        "the guard fails closed: every Patroni node must report the inventory's scope, its own member name and the same database; etcd must hold this cluster's leader key; HAProxy's write port must reach this cluster's database"
    ))]
    Identity(Vec<String>),
    /// A node lacks a kernel feature a selected scenario needs.
    #[error("preflight failed: a selected scenario needs what a node does not have:\n  {}", .0.join("\n  "))]
    #[diagnostic(help(
        "leave the scenario out (--id, --tag), or give the node what it needs (e.g. the \
         kernel module sch_netem for latency)"
    ))]
    Lacking(Vec<String>),
    /// No Patroni REST API answered.
    #[error("preflight failed: no Patroni REST API answered:\n  {}", .0.join("\n  "))]
    NoApi(Vec<String>),
}

impl Engine {
    /// Checks that the run may start; returns the component versions observed.
    pub(crate) async fn preflight(
        &self,
        scenarios: &[LoadedScenario],
    ) -> Result<Versions, PreflightError> {
        let inv = &self.inventory;
        self.check_reachable().await?;
        self.check_no_leftovers().await?;
        self.check_node_needs(scenarios).await?;
        let mut versions = self.check_identity().await?;
        for n in inv.nodes_with(Role::Patroni) {
            if let Ok(Some(v)) = crate::pg::query_first(
                &n.host,
                inv.cluster.postgres.port,
                &self.creds,
                "show server_version",
            )
            .await
            {
                versions.postgres = Some(v);
                break;
            }
        }
        if let Some(url) = inv.entrypoints.etcd.first() {
            versions.etcd = etcd_version(url).await;
        }
        versions.watchdog = Some(self.verify_watchdog().await?);
        Ok(versions)
    }

    /// What the selected scenarios' steps need of their nodes (tc netem for latency),
    /// probed on every node a target could bind to: refused now rather than mid-scenario.
    async fn check_node_needs(&self, scenarios: &[LoadedScenario]) -> Result<(), PreflightError> {
        let mut wanted: BTreeMap<(NodeNeed, String), BTreeSet<String>> = BTreeMap::new();
        for ls in scenarios {
            let sc = &ls.scenario;
            for (i, step) in sc.steps.iter().enumerate() {
                for (target, need) in step.node_needs() {
                    let Some(spec) = sc.targets.get(target) else {
                        continue;
                    };
                    for node in crate::scenario::candidates(spec, &self.inventory) {
                        wanted
                            .entry((need, node.name.clone()))
                            .or_default()
                            .insert(format!("{} (step {})", sc.id, i + 1));
                    }
                }
            }
        }
        let probes = wanted.iter().map(|((need, node), _)| async move {
            let r = self
                .transport
                .run_with_timeout(
                    node,
                    crate::fault::need_probe(*need),
                    Duration::from_secs(30),
                )
                .await;
            (need, node, r)
        });
        let mut lacking = Vec::new();
        for ((need, node, r), users) in futures::future::join_all(probes)
            .await
            .into_iter()
            .zip(wanted.values())
        {
            let users = users.iter().cloned().collect::<Vec<_>>().join(", ");
            match r {
                Ok(o) if o.success() => {}
                Ok(o) => {
                    // The probe's own refusal says what the need line says already.
                    let why = o.stderr.trim();
                    let extra = if why.is_empty() || why.starts_with("pgchaos:") {
                        String::new()
                    } else {
                        format!(" ({why})")
                    };
                    lacking.push(format!(
                        "{node} has no {}, needed by {users}{extra}",
                        need.what()
                    ));
                }
                Err(e) => lacking.push(format!(
                    "{node}: could not probe for {} (needed by {users}): {e}",
                    need.what()
                )),
            }
        }
        if lacking.is_empty() {
            Ok(())
        } else {
            Err(PreflightError::Lacking(lacking))
        }
    }

    /// SSH (and sudo) to every node, concurrently.
    async fn check_reachable(&self) -> Result<(), PreflightError> {
        let inv = &self.inventory;
        let checks = inv.nodes.iter().map(|n| async move {
            let name = n.name.clone();
            let r = self
                .transport
                .run_with_timeout(&name, "true", Duration::from_secs(30))
                .await;
            (name, r)
        });
        let mut unreachable = Vec::new();
        for (name, r) in futures::future::join_all(checks).await {
            match r {
                Ok(o) if o.success() => {}
                Ok(o) => unreachable.push(format!(
                    "{name}: `true` exited {:?}{}: {}",
                    o.status,
                    if self.transport.uses_sudo(&name) {
                        " (is passwordless sudo configured?)"
                    } else {
                        ""
                    },
                    o.stderr.trim()
                )),
                Err(e) => unreachable.push(e.to_string()),
            }
        }
        if !unreachable.is_empty() {
            return Err(PreflightError::Unreachable(unreachable));
        }
        Ok(())
    }

    /// Leftovers of an earlier run on the nodes, and undos an earlier run could not finish.
    async fn check_no_leftovers(&self) -> Result<(), PreflightError> {
        let inv = &self.inventory;
        let script = crate::fault::leftovers_script();
        let checks = inv.nodes.iter().map(|n| {
            let script = script.clone();
            async move {
                let r = self
                    .transport
                    .run_with_timeout(&n.name, &script, Duration::from_secs(30))
                    .await;
                (n.name.clone(), r)
            }
        });
        let mut left = Vec::new();
        for (name, r) in futures::future::join_all(checks).await {
            match r {
                Ok(o) => {
                    for l in crate::fault::parse_leftovers(&o.stdout) {
                        if l.blocks_run() {
                            left.push(format!("{name}: {l}"));
                        } else {
                            // A switch that fired already undid its fault: worth telling,
                            // not worth refusing.
                            self.progress.line(&format!("note: {name}: {l}"));
                        }
                    }
                }
                Err(e) => left.push(format!("{name}: could not list leftovers: {e}")),
            }
        }
        // Undos an earlier run could not finish, recorded on this machine.
        for (path, p) in
            crate::fault::pending::list(&crate::fault::pending::dir(), &inv.cluster.scope)
        {
            if inv.node(&p.node).is_some_and(|n| n.host == p.host) {
                left.push(format!(
                    "{}: the undo of \"{}\" (run {}) failed and was never run since ({})",
                    p.node,
                    p.fault,
                    p.run_id,
                    path.display()
                ));
            }
        }
        if !left.is_empty() {
            return Err(PreflightError::Leftovers(left));
        }
        Ok(())
    }

    /// Scope, member names and Patroni's versions. Fails closed: every Patroni node must
    /// say it belongs to this scope, under its own name.
    async fn check_identity(&self) -> Result<Versions, PreflightError> {
        let inv = &self.inventory;
        let mut versions = Versions::default();
        let nodes: Vec<_> = inv.nodes_with(Role::Patroni).collect();
        let statuses = futures::future::join_all(nodes.iter().map(|n| self.client.status(n))).await;
        let mut scopes = Vec::new();
        let mut errors = Vec::new();
        for (n, r) in nodes.iter().zip(&statuses) {
            match r {
                Ok(s) => {
                    if versions.patroni.is_none() {
                        versions.patroni = s.version.clone();
                    }
                    if let Some(v) = &s.version {
                        versions.patroni_by_node.insert(n.name.clone(), v.clone());
                    }
                    if let Some(sc) = &s.scope {
                        scopes.push((n.name.clone(), sc.clone()));
                    }
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        if scopes.is_empty() && !errors.is_empty() {
            return Err(PreflightError::NoApi(errors));
        }
        let expected = &inv.cluster.scope;
        let wrong: Vec<_> = scopes.iter().filter(|(_, s)| s != expected).collect();
        if !wrong.is_empty() {
            return Err(PreflightError::WrongScope {
                expected: expected.clone(),
                found: wrong
                    .iter()
                    .map(|(n, s)| format!("{s:?} on {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        // Patroni before 4.0 does not name itself: its members are read from /cluster.
        let mut cluster = None;
        if statuses
            .iter()
            .any(|s| s.as_ref().is_ok_and(|s| s.name.is_none()))
        {
            for n in &nodes {
                if let Ok(c) = self.client.cluster(n).await {
                    cluster = Some(c);
                    break;
                }
            }
        }
        let answers: Vec<_> = nodes
            .iter()
            .zip(&statuses)
            .map(|(n, r)| crate::patroni::identity::Answer {
                node: &n.name,
                host: &n.host,
                status: r.as_ref().map_err(|e| e.to_string()),
            })
            .collect();
        let hosts: Vec<(&str, &str)> = inv
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.host.as_str()))
            .collect();
        let identity =
            crate::patroni::identity::check(expected, &answers, cluster.as_ref(), &hosts);
        if !identity.refusals.is_empty() {
            return Err(PreflightError::Identity(identity.refusals));
        }
        for w in &identity.warnings {
            self.progress.line(&format!("warning: {w}"));
        }
        let leader = nodes.iter().zip(&statuses).find_map(|(n, r)| {
            r.as_ref()
                .ok()
                .filter(|s| s.role == "leader" || s.role == "standby_leader")
                .map(|_| n.name.as_str())
        });
        let mut others = self.verify_etcd(leader, &nodes).await;
        if let Some(sysid) = &identity.system_identifier {
            others.extend(self.verify_haproxy(sysid).await);
        }
        if !others.is_empty() {
            return Err(PreflightError::Identity(others));
        }
        Ok(versions)
    }

    /// The etcd of the inventory is this cluster's DCS (see [`super::guard`]).
    async fn verify_etcd(
        &self,
        leader: Option<&str>,
        patroni: &[&crate::inventory::Node],
    ) -> Vec<String> {
        use super::guard;
        let inv = &self.inventory;
        let etcd_nodes: Vec<(&str, &str)> = inv
            .nodes_with(Role::Etcd)
            .map(|n| (n.name.as_str(), n.host.as_str()))
            .collect();
        let probes = guard::etcd_probes(&inv.entrypoints.etcd, &etcd_nodes);
        let key = crate::observe::leader_key(&inv.cluster.namespace, &inv.cluster.scope);
        let reads = futures::future::join_all(
            probes
                .iter()
                .map(|p| crate::observe::read_leader_once(&p.url, &key)),
        )
        .await;
        let answers: Vec<_> = probes.iter().zip(reads).collect();
        let members: Vec<&str> = patroni.iter().map(|n| n.name.as_str()).collect();
        guard::etcd_problems(&key, leader, &members, &answers)
    }

    /// The HAProxy of the inventory routes to this cluster's database.
    async fn verify_haproxy(&self, sysid: &str) -> Vec<String> {
        use super::guard;
        let inv = &self.inventory;
        let nodes: Vec<(&str, &str)> = inv
            .nodes_with(Role::Haproxy)
            .map(|n| (n.name.as_str(), n.host.as_str()))
            .collect();
        let entry = inv
            .entrypoints
            .haproxy
            .as_ref()
            .map(|h| (h.host.as_str(), h.write_port));
        let probes = guard::haproxy_probes(entry, &nodes);
        let reads = futures::future::join_all(probes.iter().map(|p| async move {
            crate::pg::query_first(&p.host, p.port, &self.creds, guard::SYSID_QUERY)
                .await
                .map_err(|e| e.to_string())
        }))
        .await;
        let answers: Vec<_> = probes.iter().zip(reads).collect();
        guard::haproxy_problems(sysid, &answers)
    }

    /// Reads `watchdog.mode` from every Patroni node's configuration and compares it with
    /// the inventory's `cluster.watchdog`: refuses on disagreement, warns when undeclared.
    /// Returns the mode the run is judged with.
    async fn verify_watchdog(&self) -> Result<String, PreflightError> {
        use crate::inventory::watchdog::{self, Verdict};
        let inv = &self.inventory;
        let reads = inv.nodes_with(Role::Patroni).map(|n| async move {
            let path = inv.ops_for(n).patroni_config;
            let cmd = format!("cat -- {}", crate::transport::shell_quote(&path));
            let mode = match self
                .transport
                .run_with_timeout(&n.name, &cmd, Duration::from_secs(30))
                .await
            {
                // The file holds passwords: only the mode is kept, nothing is logged.
                Ok(o) if o.success() => {
                    watchdog::configured_mode(&o.stdout).map_err(|e| format!("{path}: {e}"))
                }
                Ok(o) => Err(format!(
                    "{path}: `cat` exited {:?}: {}",
                    o.status,
                    o.stderr.trim()
                )),
                Err(e) => Err(e.to_string()),
            };
            (n.name.clone(), mode)
        });
        let nodes = futures::future::join_all(reads).await;
        match watchdog::verify(inv.cluster.watchdog, &nodes) {
            Verdict::Confirmed(m) => Ok(watchdog::name(m).to_owned()),
            Verdict::Undeclared(w) => {
                self.progress.line(&format!("warning: {w}"));
                Ok("unknown (not declared)".into())
            }
            Verdict::Refused(why) => Err(PreflightError::Watchdog(why)),
        }
    }
}

async fn etcd_version(url: &str) -> Option<String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .ok()?;
    let v: serde_json::Value = client
        .get(format!("{}/version", url.trim_end_matches('/')))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    v.get("etcdserver")
        .and_then(|s| s.as_str())
        .map(str::to_owned)
}
