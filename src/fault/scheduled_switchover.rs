//! A scheduled switchover as a fault: from the `POST /switchover` with `scheduled_at`
//! until it fires, the cluster holds an order of pgchaos's (Patroni's `/failover` key
//! with `scheduled_at`). A scenario that fails, or a pgchaos that dies, before that time
//! must not leave it behind to move the leader later, unasked. So before the request the
//! cancel is armed on the node the request goes to, as a dead man's switch whose undo
//! `pgchaos cleanup` also finds: `patronictl flush CLUSTER switchover --force` (Patroni
//! 3.0 and 4.x; it says "No pending scheduled switchover" and succeeds when the
//! switchover already happened, so the undo is idempotent).
//!
//! A restart scheduled on a member (`POST /restart` with `schedule`) is the same kind of
//! order, kept by that member's Patroni until the time: its cancel is `patronictl flush
//! CLUSTER MEMBER restart --force` (`DELETE /restart`; "No scheduled restart for member"
//! and success once it has happened), armed on the member before the request.

use super::{Action, FaultContext, FaultError, Piece, assemble, rule_tag};
pub(crate) use crate::scenario::step::Scheduled;
use crate::transport::shell_quote;

/// The fault of an action scheduled through `node`: arms the cancel there; the request
/// itself is the runner's.
pub(crate) fn plan(ctx: &FaultContext, node: &str, what: Scheduled) -> Result<Action, FaultError> {
    super::check_run_id(ctx.run_id)?;
    let n = ctx
        .inventory
        .node(node)
        .ok_or_else(|| FaultError::UnknownNode(node.to_owned()))?;
    let patronictl = ctx.inventory.ops_for(n).patronictl;
    let scope = shell_quote(&ctx.inventory.cluster.scope);
    let (word, flush) = match what {
        Scheduled::Switchover => ("switchover", format!("{scope} switchover")),
        Scheduled::Restart => (
            "restart",
            format!("{scope} {} restart", shell_quote(&n.name)),
        ),
    };
    let piece = Piece::undone(
        format!(
            "echo {}\n",
            shell_quote(&format!(
                "pgchaos: the scheduled {word} {} is recorded here",
                rule_tag(ctx.run_id, ctx.seq)
            ))
        ),
        format!("{patronictl} flush {flush} --force || exit 1\n"),
    );
    Ok(assemble(
        ctx,
        &format!("scheduled_{word}"),
        format!("a scheduled {word} (cancelled with patronictl flush ... {word})"),
        || format!("cancel the scheduled {word} if it is still pending"),
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
        let a = plan(&ctx, "pg1", Scheduled::Switchover).expect("a plan");
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
            plan(&ctx, "nope", Scheduled::Switchover),
            Err(FaultError::UnknownNode(_))
        ));
        // A restart is cancelled on its member only.
        let r = plan(&ctx, "pg1", Scheduled::Restart).expect("a plan");
        let u = r.undo.expect("an undo");
        assert!(
            u.commands[0]
                .script
                .contains("flush 'demo cluster' pg1 restart --force"),
            "{u:?}"
        );
    }
}
