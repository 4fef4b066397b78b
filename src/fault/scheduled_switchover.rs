//! A scheduled switchover as a fault: from the `POST /switchover` with `scheduled_at`
//! until it fires, the cluster holds an order of pgchaos's (Patroni's `/failover` key
//! with `scheduled_at`). A scenario that fails, or a pgchaos that dies, before that time
//! must not leave it behind to move the leader later, unasked. So before the request the
//! cancel is armed on the node the request goes to, as a dead man's switch whose undo
//! `pgchaos cleanup` also finds: `patronictl flush CLUSTER switchover --force` (Patroni
//! 3.0 and 4.x; it says "No pending scheduled switchover" and succeeds when the
//! switchover already happened, so the undo is idempotent).

use super::{Action, FaultContext, FaultError, Piece, assemble, rule_tag};
use crate::transport::shell_quote;

/// The fault of a switchover scheduled through `node`: arms the cancel there; the
/// request itself is the runner's.
pub(crate) fn plan(ctx: &FaultContext, node: &str) -> Result<Action, FaultError> {
    super::check_run_id(ctx.run_id)?;
    let n = ctx
        .inventory
        .node(node)
        .ok_or_else(|| FaultError::UnknownNode(node.to_owned()))?;
    let patronictl = ctx.inventory.ops_for(n).patronictl;
    let scope = &ctx.inventory.cluster.scope;
    let piece = Piece::undone(
        format!(
            "echo {}\n",
            shell_quote(&format!(
                "pgchaos: the scheduled switchover {} is recorded here",
                rule_tag(ctx.run_id, ctx.seq)
            ))
        ),
        format!(
            "{patronictl} flush {} switchover --force || exit 1\n",
            shell_quote(scope)
        ),
    );
    Ok(assemble(
        ctx,
        "scheduled_switchover",
        "a scheduled switchover (cancelled with patronictl flush ... switchover)".into(),
        || "cancel the scheduled switchover if it is still pending".into(),
        vec![(n, piece)],
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_cancel_is_armed_on_the_node_with_patronictl_flush() {
        let inv: crate::inventory::Inventory = serde_json::from_value(serde_json::json!({
            "cluster": { "scope": "demo cluster" },
            "nodes": [{ "name": "pg1", "host": "10.0.0.1", "roles": ["patroni"] }]
        }))
        .expect("test inventory");
        let targets = BTreeMap::new();
        let ctx = FaultContext {
            inventory: &inv,
            run_id: "run-7",
            seq: 4,
            deadman_after: Duration::from_secs(90),
            targets: &targets,
        };
        let a = plan(&ctx, "pg1").expect("a plan");
        let undo = a.undo.as_ref().expect("an undo");
        let scripts: Vec<&str> = a
            .inject
            .iter()
            .chain(&undo.commands)
            .map(|c| c.script.as_str())
            .collect();
        // The scope is quoted; the switch runs the same cancel.
        assert!(
            undo.commands
                .iter()
                .any(|c| c.script.contains("flush 'demo cluster' switchover --force")),
            "{undo:?}"
        );
        assert_eq!(undo.deadmen.len(), 1, "one switch, on pg1: {undo:?}");
        for s in scripts {
            let out = std::process::Command::new("/bin/sh")
                .args(["-n", "-c", s])
                .output()
                .expect("sh -n");
            assert!(out.status.success(), "{s}");
        }
        assert!(matches!(
            plan(&ctx, "nope"),
            Err(FaultError::UnknownNode(_))
        ));
    }
}
