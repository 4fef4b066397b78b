//! `postgres_running`: whether PostgreSQL processes run on the node (SSH, `pgrep`).

use std::time::Duration;

use super::{ConditionKind, Context, NodeAnswer, NodeBoolCond, Probe};
use crate::check::Eval;
use crate::scenario::refs::TargetRef;

pub(crate) struct PostgresRunning;

impl ConditionKind for PostgresRunning {
    const NAME: &'static str = "postgres_running";
    #[cfg(test)]
    const SAMPLE: &'static str = "{node: a, is: true}";
    const PROBE: bool = true;
    type Body = NodeBoolCond;

    fn targets(n: &NodeBoolCond) -> Vec<TargetRef<'_>> {
        n.targets()
    }

    fn describe(n: &NodeBoolCond, ctx: &Context) -> String {
        format!(
            "PostgreSQL {} on {}",
            if n.is { "runs" } else { "does not run" },
            ctx.label(&n.node)
        )
    }

    async fn probe(c: &NodeBoolCond, p: &Probe<'_>) -> Eval {
        let script = |_: &str, node: Option<&crate::inventory::Node>| {
            // A node the inventory does not know is left out, as before.
            let Some(node) = node else {
                return Err(NodeAnswer {
                    holds: true,
                    seen: None,
                });
            };
            let ops = p.inventory.ops_for(node);
            Ok(format!(
                "pgrep -u {} -x {} >/dev/null; echo $?",
                crate::transport::shell_quote(&ops.postgres_user),
                crate::transport::shell_quote(&ops.postgres_process)
            ))
        };
        let read = |name: &str, _, out: super::SshOutcome| match out {
            Ok(o) => {
                let running = o.stdout.trim() == "0";
                NodeAnswer::new(
                    running == c.is,
                    format!(
                        "{name}: postgres {}",
                        if running { "running" } else { "not running" }
                    ),
                )
            }
            Err(e) => NodeAnswer::new(false, format!("{name}: could not ask over SSH: {e}")),
        };
        p.ask_each_node(&c.node, Duration::from_secs(10), script, read)
            .await
    }
}
