//! A DCS configuration change (`PATCH /config`) as a fault like any other: recorded on a
//! node with a dead man's switch before the PATCH, undone by the runner, by the switch if
//! pgchaos disappears, or by `pgchaos cleanup`.
//!
//! The runner restores through the REST API. If pgchaos dies after the PATCH, or the
//! restore fails, the DCS stays modified for the whole cluster; so before the PATCH the
//! restoring command is armed as a switch on the node the PATCH goes to (its
//! `/run/pgchaos/STEM.undo` is what cleanup runs) and also recorded on this machine (see
//! [`super::pending`]: the node may be the one that goes down). It uses `patronictl
//! edit-config --apply -` (a JSON patch is YAML; the option exists in Patroni 3.0 and
//! 4.x), which needs no API credentials on the record. Restoring a setting that needs a
//! restart leaves the members `pending_restart`: the runner restarts them, cleanup and
//! the switch say so and leave the restart to the operator.

use super::{Action, FaultContext, FaultError, Piece, assemble, rule_tag};
use crate::inventory::Inventory;
use crate::transport::shell_quote;

/// The fault of a configuration change on `node` (the one the PATCH is sent to): arms
/// the switch restoring `inverse` there; the PATCH itself is the runner's.
pub(crate) fn plan(
    ctx: &FaultContext,
    node: &str,
    inverse: &serde_json::Value,
) -> Result<Action, FaultError> {
    super::check_run_id(ctx.run_id)?;
    let n = ctx
        .inventory
        .node(node)
        .ok_or_else(|| FaultError::UnknownNode(node.to_owned()))?;
    let restore = restore_body(ctx.inventory, node, inverse);
    let piece = Piece::undone(
        format!(
            "echo {}
",
            shell_quote(&format!(
                "pgchaos: the DCS configuration change {} is recorded here",
                rule_tag(ctx.run_id, ctx.seq)
            ))
        ),
        restore,
    );
    Ok(assemble(
        ctx,
        "patch_config",
        format!("a DCS configuration change (restored with PATCH /config {inverse})"),
        || format!("restore the DCS configuration {inverse}"),
        vec![(n, piece)],
    ))
}

/// The restoring command without a header: patronictl applies the inverse patch, then
/// says whether a member now waits for a restart.
fn restore_body(inventory: &Inventory, node: &str, patch: &serde_json::Value) -> String {
    let patronictl = inventory
        .node(node)
        .map(|n| inventory.ops_for(n).patronictl)
        .unwrap_or_else(|| "patronictl -c /etc/patroni/config.yml".into());
    format!(
        "printf '%s\\n' {} | {patronictl} edit-config --force --apply - || exit 1
         echo 'pgchaos: DCS configuration restored; a member listed with a pending restart needs one (patronictl restart --pending)'
",
        shell_quote(&patch.to_string()),
    )
}

/// The script restoring `patch` (the inverse of a change) through patronictl on `node`.
pub(crate) fn restore_script(
    inventory: &Inventory,
    node: &str,
    patch: &serde_json::Value,
) -> String {
    format!(
        "# {} restore the DCS configuration\n{}",
        super::sh::SELF_MARKER,
        restore_body(inventory, node, patch)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_restore_pipes_the_inverse_patch_to_patronictl() {
        let inv: crate::inventory::Inventory = serde_json::from_value(serde_json::json!({
            "cluster": { "scope": "s" },
            "nodes": [ { "name": "n1", "host": "h", "roles": ["patroni"] } ]
        }))
        .unwrap();
        let patch = serde_json::json!({"postgresql": {"parameters": {"max_connections": 100}}});
        let s = super::restore_script(&inv, "n1", &patch);
        assert!(
            s.contains(
                "printf '%s\\n' '{\"postgresql\":{\"parameters\":{\"max_connections\":100}}}' | patronictl -c /etc/patroni/config.yml edit-config --force --apply - || exit 1\n"
            ),
            "{s}"
        );
    }

    #[test]
    fn a_configuration_change_is_recorded_on_its_node_with_a_switch() {
        let inv: crate::inventory::Inventory = serde_json::from_value(serde_json::json!({
            "cluster": { "scope": "s" },
            "nodes": [ { "name": "n1", "host": "h", "roles": ["patroni"] } ]
        }))
        .unwrap();
        let targets = std::collections::BTreeMap::new();
        let ctx = crate::fault::FaultContext {
            inventory: &inv,
            run_id: "r1",
            seq: 4,
            deadman_after: std::time::Duration::from_secs(90),
            targets: &targets,
        };
        let patch = serde_json::json!({"postgresql": {"parameters": {"max_connections": 100}}});
        let a = super::plan(&ctx, "n1", &patch).unwrap();
        assert_eq!(a.inject.len(), 1);
        let arm = &a.inject[0].script;
        // The switch's undo record (what cleanup runs) holds the restore.
        assert!(arm.contains("/run/pgchaos/r1.4.n1.undo"), "{arm}");
        assert!(arm.contains("edit-config --force --apply -"), "{arm}");
        let u = a.undo.unwrap();
        assert_eq!(u.deadmen.len(), 1);
        assert_eq!(u.deadmen[0].node, "n1");
        assert_eq!(u.deadmen[0].after, std::time::Duration::from_secs(90));
        assert!(
            u.commands[0].script.contains("edit-config"),
            "{}",
            u.commands[0].script
        );
        assert!(super::plan(&ctx, "nope", &patch).is_err());
    }
}
