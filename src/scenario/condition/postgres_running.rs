//! `postgres_running`: whether PostgreSQL processes run on the node (SSH, `pgrep`).

use std::time::Duration;

use super::{ConditionKind, Context, NodeBoolCond, Probe};
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
        let nodes = p.bindings.get(&c.node).cloned().unwrap_or_default();
        let mut holds = !nodes.is_empty();
        let mut seen = Vec::new();
        for name in &nodes {
            let Some(node) = p.inventory.node(name) else {
                continue;
            };
            let ops = p.inventory.ops_for(node);
            let script = format!(
                "pgrep -u {} -x {} >/dev/null; echo $?",
                crate::transport::shell_quote(&ops.postgres_user),
                crate::transport::shell_quote(&ops.postgres_process)
            );
            match p
                .transport
                .run_with_timeout(name, &script, Duration::from_secs(10))
                .await
            {
                Ok(o) => {
                    let running = o.stdout.trim() == "0";
                    holds &= running == c.is;
                    seen.push(format!(
                        "{name}: postgres {}",
                        if running { "running" } else { "not running" }
                    ));
                }
                Err(e) => {
                    holds = false;
                    seen.push(format!("{name}: could not ask over SSH: {e}"));
                }
            }
        }
        Eval::new(holds, seen.join("; "))
    }
}
