//! SSH: one trivial command over the multiplexed connection pgchaos keeps open, against a
//! fresh `ssh` process per command (what a shell script does), measured interleaved; and
//! one command to every node at once.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::BenchError;
use super::stats::Summary;
use crate::inventory::{HostKeyChecking, Inventory, Node, SshOptions};
use crate::transport::Transport;

/// Time allowed for one trivial command, either way.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// The SSH figures.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct SshFigures {
    /// Nodes the single-command latency rotated over.
    pub latency_nodes: Vec<String>,
    /// Latency of `true` over the multiplexed connection, seconds.
    pub mux: Summary,
    /// Latency of `true` with a fresh `ssh` process, seconds.
    pub fresh: Summary,
    /// Nodes of the fan-out.
    pub fanout_nodes: usize,
    /// Fan-out rounds.
    pub fanout_rounds: usize,
    /// Wall time of one command on every node at once (multiplexed), seconds.
    pub fanout_mux_wall: Summary,
    /// Sum of the same command run on every node one after the other (multiplexed), seconds.
    pub fanout_mux_sequential: Summary,
    /// Wall time of one fresh `ssh` per node, all at once, seconds.
    pub fanout_fresh_wall: Summary,
}

impl SshFigures {
    /// Median fresh latency over median multiplexed latency.
    pub(crate) fn speedup(&self) -> f64 {
        self.fresh.median / self.mux.median.max(f64::EPSILON)
    }

    /// Median concurrent fan-out wall time over the median sequential sum.
    pub(crate) fn fanout_ratio(&self) -> f64 {
        self.fanout_mux_wall.median / self.fanout_mux_sequential.median.max(f64::EPSILON)
    }
}

/// Measures SSH latency over `iterations` interleaved pairs and a fan-out to every node.
pub(crate) async fn measure(
    inv: &Inventory,
    control_dir: &Path,
    iterations: u32,
) -> Result<SshFigures, BenchError> {
    let transport = Transport::new(inv, control_dir);
    let result = measure_with(inv, &transport, iterations).await;
    transport.close().await;
    result
}

async fn measure_with(
    inv: &Inventory,
    transport: &Transport,
    iterations: u32,
) -> Result<SshFigures, BenchError> {
    // Masters are opened (and host keys learnt) before timing: the benchmark is about the
    // steady state of a run, not its first connection.
    for n in &inv.nodes {
        mux_true(transport, &n.name).await?;
        fresh_true(inv, n).await?;
    }
    let latency_nodes: Vec<&Node> = {
        let p: Vec<&Node> = inv
            .nodes
            .iter()
            .filter(|n| n.roles.contains(&crate::inventory::Role::Patroni))
            .collect();
        if p.is_empty() {
            inv.nodes.iter().collect()
        } else {
            p
        }
    };
    let mut mux = Vec::new();
    let mut fresh = Vec::new();
    for i in 0..iterations.max(1) as usize {
        let node = latency_nodes[i % latency_nodes.len()];
        // Alternate which goes first so that drift in the machine's load hits both alike.
        if i % 2 == 0 {
            mux.push(mux_true(transport, &node.name).await?);
            fresh.push(fresh_true(inv, node).await?);
        } else {
            fresh.push(fresh_true(inv, node).await?);
            mux.push(mux_true(transport, &node.name).await?);
        }
    }
    let rounds = (iterations as usize / 10).clamp(3, 20);
    let (mut wall, mut seq, mut fresh_wall) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let mut sum = 0.0;
        for n in &inv.nodes {
            sum += mux_true(transport, &n.name).await?;
        }
        seq.push(sum);
        let t = Instant::now();
        let all = futures::future::join_all(inv.nodes.iter().map(|n| mux_true(transport, &n.name)));
        for r in all.await {
            r?;
        }
        wall.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        for r in futures::future::join_all(inv.nodes.iter().map(|n| fresh_true(inv, n))).await {
            r?;
        }
        fresh_wall.push(t.elapsed().as_secs_f64());
    }
    let summary = |v: &[f64], what: &str| {
        Summary::of(v).ok_or_else(|| BenchError::Measure(format!("no {what} measurement")))
    };
    Ok(SshFigures {
        latency_nodes: latency_nodes.iter().map(|n| n.name.clone()).collect(),
        mux: summary(&mux, "multiplexed latency")?,
        fresh: summary(&fresh, "fresh ssh latency")?,
        fanout_nodes: inv.nodes.len(),
        fanout_rounds: rounds,
        fanout_mux_wall: summary(&wall, "fan-out")?,
        fanout_mux_sequential: summary(&seq, "sequential fan-out")?,
        fanout_fresh_wall: summary(&fresh_wall, "fresh fan-out")?,
    })
}

/// Seconds for `true` over the multiplexed connection (pgchaos's normal path).
async fn mux_true(transport: &Transport, node: &str) -> Result<f64, BenchError> {
    let t = Instant::now();
    let out = transport
        .run_with_timeout(node, "true", COMMAND_TIMEOUT)
        .await
        .map_err(|e| BenchError::Measure(e.to_string()))?;
    let secs = t.elapsed().as_secs_f64();
    if !out.success() {
        return Err(BenchError::Measure(format!(
            "`true` on {node} over SSH exited {:?}: {}",
            out.status,
            out.stderr.trim()
        )));
    }
    Ok(secs)
}

/// Seconds for `true` with a new `ssh` process and a new connection.
async fn fresh_true(inv: &Inventory, node: &Node) -> Result<f64, BenchError> {
    let args = fresh_ssh_args(&inv.ssh, node, "sh -c true");
    let t = Instant::now();
    let child = tokio::process::Command::new("ssh")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(COMMAND_TIMEOUT, child)
        .await
        .map_err(|_| {
            BenchError::Measure(format!(
                "a fresh ssh to {} did not finish within {COMMAND_TIMEOUT:?}",
                node.name
            ))
        })?
        .map_err(|e| BenchError::Measure(format!("failed to start ssh: {e}")))?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(BenchError::Measure(format!(
            "a fresh ssh to {} exited {:?}: {}",
            node.name,
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(secs)
}

/// The `ssh` arguments reaching `node` the way the transport does (same user, port, key,
/// known hosts, config file), but with no ControlMaster: a new connection every time.
pub(crate) fn fresh_ssh_args(global: &SshOptions, node: &Node, command: &str) -> Vec<String> {
    let n = &node.ssh.options;
    let mut a: Vec<String> = Vec::new();
    if let Some(c) = n.config_file.as_ref().or(global.config_file.as_ref()) {
        a.extend(["-F".into(), c.display().to_string()]);
    }
    if let Some(k) = n.key.as_ref().or(global.key.as_ref()) {
        a.extend(["-i".into(), k.display().to_string()]);
    }
    if let Some(p) = n.port.or(global.port) {
        a.extend(["-p".into(), p.to_string()]);
    }
    if let Some(u) = n.user.as_ref().or(global.user.as_ref()) {
        a.extend(["-l".into(), u.clone()]);
    }
    if let Some(k) = n.known_hosts.as_ref().or(global.known_hosts.as_ref()) {
        a.extend(["-o".into(), format!("UserKnownHostsFile={}", k.display())]);
    }
    let checking = match n
        .host_key_checking
        .or(global.host_key_checking)
        .unwrap_or(HostKeyChecking::Strict)
    {
        HostKeyChecking::Strict => "yes",
        HostKeyChecking::AcceptNew => "accept-new",
    };
    a.extend([
        "-o".into(),
        format!("StrictHostKeyChecking={checking}"),
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        "ControlMaster=no".into(),
        "-o".into(),
        "ControlPath=none".into(),
    ]);
    a.push(node.ssh.host.clone().unwrap_or_else(|| node.host.clone()));
    a.push("--".into());
    a.push(command.into());
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ssh_never_uses_a_master_and_node_options_win() {
        let global = SshOptions {
            user: Some("root".into()),
            key: Some("/k/global".into()),
            config_file: Some("/k/ssh_config".into()),
            host_key_checking: Some(HostKeyChecking::AcceptNew),
            ..Default::default()
        };
        let mut node = Node {
            name: "pg1".into(),
            host: "10.0.0.1".into(),
            roles: vec![],
            ssh: Default::default(),
            operations: Default::default(),
        };
        node.ssh.options.key = Some("/k/node".into());
        let a = fresh_ssh_args(&global, &node, "sh -c true").join(" ");
        assert!(a.contains("-F /k/ssh_config"), "{a}");
        assert!(a.contains("-i /k/node"), "{a}");
        assert!(!a.contains("/k/global"), "{a}");
        assert!(a.contains("-l root"), "{a}");
        assert!(
            a.contains("ControlMaster=no") && a.contains("ControlPath=none"),
            "{a}"
        );
        assert!(a.contains("StrictHostKeyChecking=accept-new"), "{a}");
        assert!(a.ends_with("10.0.0.1 -- sh -c true"), "{a}");
    }
}
