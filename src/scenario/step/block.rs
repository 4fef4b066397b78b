//! `block`: block a TCP port with iptables (a fault undone by removing exactly that rule).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Call, CheckCx, StepKind, StepResult, StepRunner};
use crate::diag::YPath;
use crate::scenario::against::Ctx as InventoryCheck;
use crate::scenario::cutoff;
use crate::scenario::refs::TargetRef;

/// iptables port block.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockStep {
    /// The node whose firewall gets the rule.
    pub target: String,
    /// TCP port.
    pub port: u16,
    /// DROP or REJECT.
    #[serde(default)]
    pub action: BlockAction,
    /// Inbound (INPUT, by destination port) or outbound (OUTPUT, by destination port).
    #[serde(default)]
    pub direction: Direction,
    /// Only traffic from (inbound) or to (outbound) these targets.
    #[serde(default)]
    pub peers: Vec<String>,
    /// Whether `port` is the packets' destination port (default: connections to a service,
    /// as the runbooks block them) or their source port (a service's own outgoing stream,
    /// e.g. a walsender's WAL leaving the primary: `direction: outbound, port_is: source`).
    #[serde(default)]
    pub port_is: PortSide,
    /// A name for the fault.
    #[serde(default)]
    pub id: Option<String>,
}

/// iptables target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum BlockAction {
    /// Silently drop.
    #[default]
    Drop,
    /// Reject with a TCP reset.
    Reject,
}

/// Which port of a packet a block matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PortSide {
    /// `--dport`.
    #[default]
    Destination,
    /// `--sport`.
    Source,
}

/// Traffic direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Packets arriving at the node.
    #[default]
    Inbound,
    /// Packets leaving the node.
    Outbound,
}

pub(crate) struct Block;

impl StepKind for Block {
    const NAME: &'static str = "block";
    #[cfg(test)]
    const SAMPLE: &'static str = "{target: t, port: 1}";
    type Body = BlockStep;

    fn id(s: &BlockStep) -> Option<&str> {
        s.id.as_deref()
    }

    fn is_fault(_s: &BlockStep) -> bool {
        true
    }

    fn is_fault_event(_s: &BlockStep) -> bool {
        true
    }

    fn targets(s: &BlockStep) -> Vec<TargetRef<'_>> {
        let mut out = vec![TargetRef::new("target", &s.target)];
        for (i, p) in s.peers.iter().enumerate() {
            out.push(TargetRef::new(&format!("peers[{i}]"), p));
        }
        out
    }

    fn check<'a>(b: &'a BlockStep, cx: &mut CheckCx<'a, '_>) {
        if cutoff::cuts_ssh(b, 22) {
            cx.c.err(
                &cx.base.key("port"),
                cutoff::message(22, "most hosts"),
                Some("block another port; `isolate` cuts a node off and keeps SSH".into()),
            );
        }
    }

    fn check_inventory(b: &BlockStep, cx: &mut InventoryCheck<'_>, base: &YPath) {
        cx.check_ssh_cutoff(&base.key("port"), b);
    }

    fn describe(b: &BlockStep) -> String {
        format!(
            "iptables {} tcp/{} {} on {}",
            format!("{:?}", b.action).to_uppercase(),
            b.port,
            format!("{:?}", b.direction).to_lowercase(),
            b.target
        )
    }

    async fn execute<R: StepRunner>(_s: &BlockStep, call: Call<'_>, run: &mut R) -> StepResult {
        run.fault(call.step, call.rec).await
    }
}
