//! `paused`: whether a member's HA loop runs in maintenance mode, by the member's own word.
//!
//! Patroni acts on the DCS configuration its HA loop last loaded, not on what was last
//! written: a member applies `pause: true` at its next cycle, up to `loop_wait` later (and
//! later when a cycle is slow). At the end of every cycle the HA loop writes its member key
//! with `"pause": true` when that cycle ran paused (patroni/ha.py `touch_member`, 3.0 and
//! 4.x alike). The REST API is no substitute: `GET /patroni` reports the cluster the
//! member's DCS client cached last, which any `GET /cluster` refreshes outside the HA loop
//! (patroni/api.py `do_GET_cluster` calls `dcs.get_cluster()`). So the member key is read
//! from etcd, and waiting on this condition after a `patch_config` of `pause` waits exactly
//! as long as the cluster under test needs, whatever its `loop_wait`.

use super::{ConditionKind, Context, InventoryCheck, NodeBoolCond, Probe};
use crate::check::Eval;
use crate::diag::YPath;
use crate::scenario::refs::TargetRef;

pub(crate) struct Paused;

impl ConditionKind for Paused {
    const NAME: &'static str = "paused";
    #[cfg(test)]
    const SAMPLE: &'static str = "{node: a, is: true}";
    const PROBE: bool = true;
    type Body = NodeBoolCond;

    fn targets(n: &NodeBoolCond) -> Vec<TargetRef<'_>> {
        n.targets()
    }

    fn check_inventory(_n: &NodeBoolCond, cx: &mut InventoryCheck<'_>, base: &YPath) {
        if cx.inventory().entrypoints.etcd.is_empty() {
            cx.error(
                base,
                "a `paused` condition reads the members' keys from etcd, but the inventory lists no etcd endpoint".into(),
                "list the etcd client URLs under `entrypoints.etcd`".into(),
            );
        }
    }

    fn describe(n: &NodeBoolCond, ctx: &Context) -> String {
        format!(
            "{} {} in maintenance mode (its member key in the DCS)",
            ctx.label(&n.node),
            if n.is { "runs" } else { "does not run" }
        )
    }

    async fn probe(c: &NodeBoolCond, p: &Probe<'_>) -> Eval {
        let inv = p.inventory;
        if inv.entrypoints.etcd.is_empty() {
            return Eval::new(
                false,
                "no etcd entry point in the inventory: members' maintenance mode is read from their keys there",
            );
        }
        let nodes = p.bindings.get(&c.node).cloned().unwrap_or_default();
        let mut holds = !nodes.is_empty();
        let mut seen = Vec::new();
        for name in &nodes {
            let key = crate::observe::member_key(&inv.cluster.namespace, &inv.cluster.scope, name);
            match read_member(&inv.entrypoints.etcd, &key).await {
                Ok(Some(data)) => {
                    let paused = reports_paused(&data);
                    holds &= paused == c.is;
                    seen.push(format!(
                        "{name}: {}",
                        if paused { "paused" } else { "not paused" }
                    ));
                }
                Ok(None) => {
                    holds = false;
                    seen.push(format!("{name}: no member key ({key})"));
                }
                Err(e) => {
                    holds = false;
                    seen.push(format!("{name}: {e}"));
                }
            }
        }
        Eval::new(holds, seen.join("; "))
    }
}

/// The member key's value from the first etcd endpoint that answers.
async fn read_member(endpoints: &[String], key: &str) -> Result<Option<String>, String> {
    let mut errors = Vec::new();
    for e in endpoints {
        match crate::observe::read_value_once(e, key).await {
            Ok(v) => return Ok(v),
            Err(err) => errors.push(err),
        }
    }
    Err(format!("no etcd endpoint answered: {}", errors.join("; ")))
}

/// Patroni writes `"pause": true` only for a cycle that ran paused, and leaves the key out
/// otherwise.
fn reports_paused(member_data: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(member_data)
        .ok()
        .and_then(|v| v.get("pause").and_then(serde_json::Value::as_bool))
        == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_is_read_from_the_members_own_key() {
        // As Patroni 4.1 writes it (trimmed).
        let paused = r#"{"conn_url":"postgres://10.0.0.1:5432/postgres","state":"running","role":"primary","version":"4.1.5","pause":true}"#;
        assert!(reports_paused(paused));
        let managed = r#"{"state":"running","role":"replica","version":"4.1.5"}"#;
        assert!(!reports_paused(managed));
        // Not a boolean, or not JSON: no claim of maintenance mode.
        assert!(!reports_paused(r#"{"pause":"yes"}"#));
        assert!(!reports_paused("pg1"));
    }
}
