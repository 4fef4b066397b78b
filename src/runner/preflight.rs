//! Preflight, before the first fault: every node reachable over SSH (and sudo, when
//! configured), no fault left by an earlier run, the scope Patroni reports matches the
//! inventory. The run refuses to start otherwise, naming what is wrong.

use std::time::Duration;

use super::Engine;
use crate::inventory::Role;
use crate::results::Versions;

/// Why a run refused to start.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PreflightError {
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
    /// No Patroni REST API answered.
    #[error("preflight failed: no Patroni REST API answered:\n  {}", .0.join("\n  "))]
    NoApi(Vec<String>),
}

impl Engine {
    /// Checks that the run may start; returns the component versions observed.
    pub async fn preflight(&self) -> Result<Versions, PreflightError> {
        let inv = &self.inventory;
        // SSH (and sudo) to every node, concurrently.
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

        // Leftovers of an earlier run.
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
        if !left.is_empty() {
            return Err(PreflightError::Leftovers(left));
        }

        // Scope and versions.
        let mut versions = Versions::default();
        let mut scopes = Vec::new();
        let mut errors = Vec::new();
        for n in inv.nodes_with(Role::Patroni) {
            match self.client.status(n).await {
                Ok(s) => {
                    if versions.patroni.is_none() {
                        versions.patroni = s.version.clone();
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
        Ok(versions)
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
