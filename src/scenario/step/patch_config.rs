//! `patch_config`: change the DCS configuration (`PATCH /config`); undone by restoring
//! the old values.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Call, StepError, StepKind, StepResult, StepRunner, check_response};
use crate::results::EventKind;

/// PATCH /config.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchConfigStep {
    /// The JSON merge patch sent to Patroni.
    pub patch: serde_json::Value,
    /// Restore the previous values at the end of the scenario (default true).
    #[serde(default = "yes")]
    pub restore: bool,
    /// A name for the step.
    #[serde(default)]
    pub id: Option<String>,
}

fn yes() -> bool {
    true
}

pub(crate) struct PatchConfig;

impl StepKind for PatchConfig {
    const NAME: &'static str = "patch_config";
    #[cfg(test)]
    const SAMPLE: &'static str = "{patch: {}}";
    type Body = PatchConfigStep;

    fn id(s: &PatchConfigStep) -> Option<&str> {
        s.id.as_deref()
    }

    fn is_fault(_s: &PatchConfigStep) -> bool {
        true
    }

    fn makes_http_call(_s: &PatchConfigStep) -> bool {
        true
    }

    fn describe(p: &PatchConfigStep) -> String {
        format!("PATCH /config {}", p.patch)
    }

    async fn execute<R: StepRunner>(
        p: &PatchConfigStep,
        mut call: Call<'_>,
        run: &mut R,
    ) -> StepResult {
        let leader = run
            .leader()
            .ok_or_else(|| StepError::Error("no leader to send PATCH /config to".into()))?;
        let n = run.node(&leader)?;
        let before = run
            .client()
            .config(&n)
            .await
            .map_err(|e| StepError::Error(e.to_string()))?;
        // The restore is registered (and recorded on the node, for its switch and for
        // cleanup) before the change: a pgchaos killed right after the PATCH still
        // leaves a way back. No record, no change.
        if p.restore {
            run.restore_config_later(
                &mut call,
                p.id.clone(),
                &leader,
                inverse_patch(&p.patch, &before),
            )
            .await?;
        }
        let resp = run.client().patch_config(&n, &p.patch).await;
        run.event(
            EventKind::Operation,
            Some(&leader),
            format!("PATCH /config {}", p.patch),
        );
        check_response(run, p.id.as_deref(), resp, 200)
    }
}

/// A patch that sets every key of `patch` back to its value in `before` (null when absent).
pub(crate) fn inverse_patch(
    patch: &serde_json::Value,
    before: &serde_json::Value,
) -> serde_json::Value {
    match patch {
        serde_json::Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m {
                let old = before.get(k).cloned().unwrap_or(serde_json::Value::Null);
                let inv = if v.is_object() && old.is_object() {
                    inverse_patch(v, &old)
                } else {
                    old
                };
                out.insert(k.clone(), inv);
            }
            serde_json::Value::Object(out)
        }
        _ => before.clone(),
    }
}

/// The PostgreSQL parameters a (restoring) patch sets.
pub(crate) fn restored_parameters(patch: &serde_json::Value) -> Vec<String> {
    patch
        .get("postgresql")
        .and_then(|p| p.get("parameters"))
        .and_then(serde_json::Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The query naming those of `params` that only a restart applies (`context =
/// 'postmaster'`), comma-separated (empty: a reload applies them all).
pub(crate) fn restart_context_query(params: &[String]) -> String {
    let list: Vec<String> = params
        .iter()
        .map(|p| crate::text::template::sql_literal(p))
        .collect();
    format!(
        "select coalesce(string_agg(name, ','), '') from pg_settings where context = 'postmaster' and name in ({})",
        list.join(", ")
    )
}

/// A member as the restart after a restore sees it.
pub(crate) struct Pending {
    /// Member name.
    pub(crate) name: String,
    /// It reports `pending_restart`.
    pub(crate) pending: bool,
    /// It leads.
    pub(crate) leader: bool,
    /// Its `pending_restart_reason` (Patroni 4.x) lowers a numeric setting.
    pub(crate) lowers: bool,
}

impl Pending {
    /// From a member's `/patroni`.
    pub(crate) fn from_status(name: &str, st: &crate::patroni::PatroniStatus) -> Self {
        let lowers = st
            .raw
            .get("pending_restart_reason")
            .and_then(serde_json::Value::as_object)
            .is_some_and(|m| {
                m.values().any(|r| {
                    let num = |k: &str| {
                        r.get(k)
                            .and_then(|v| {
                                v.as_str()
                                    .map(str::to_owned)
                                    .or_else(|| Some(v.to_string()))
                            })
                            .and_then(|v| v.trim().parse::<f64>().ok())
                    };
                    matches!((num("old_value"), num("new_value")), (Some(o), Some(n)) if n < o)
                })
            });
        Self {
            name: name.to_owned(),
            pending: st.pending_restart,
            leader: st.role == "leader",
            lowers,
        }
    }
}

/// The members to restart after a restore: those pending. Replicas first, the leader
/// last, as a rolling restart does; but the leader first when the restore lowers a
/// setting, because a standby keeps `max_connections` and its kind at least as high as
/// its primary's (PostgreSQL's hot standby rule, which Patroni applies): restarted before
/// the primary, it would come back with the old value.
pub(crate) fn restart_order(members: &[Pending]) -> Vec<String> {
    let leader_first = members.iter().any(|m| m.pending && m.lowers);
    let pending = |leader: bool| {
        members
            .iter()
            .filter(move |m| m.pending && m.leader == leader)
            .map(|m| m.name.clone())
    };
    if leader_first {
        pending(true).chain(pending(false)).collect()
    } else {
        pending(false).chain(pending(true)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_restore_restarts_pending_members_replicas_first() {
        let restore =
            json!({"postgresql": {"parameters": {"work_mem": "4MB", "max_connections": 100}}});
        assert_eq!(
            restored_parameters(&restore),
            vec!["max_connections", "work_mem"]
        );
        assert!(restored_parameters(&json!({"ttl": 30})).is_empty());
        assert_eq!(
            restart_context_query(&["max_connections".into(), "it's".into()]),
            "select coalesce(string_agg(name, ','), '') from pg_settings where context = 'postmaster' and name in ('max_connections', 'it''s')"
        );
        let m = |n: &str, pending, leader, lowers| Pending {
            name: n.to_owned(),
            pending,
            leader,
            lowers,
        };
        assert_eq!(
            restart_order(&[
                m("pg1", true, true, false),
                m("pg2", true, false, false),
                m("pg3", false, false, false),
                m("pg4", true, false, false)
            ]),
            vec!["pg2", "pg4", "pg1"]
        );
        // Lowering max_connections: the primary first (what the lab showed: a replica
        // restarted first came back with the primary's higher value, still pending).
        assert_eq!(
            restart_order(&[m("pg1", true, true, true), m("pg2", true, false, true)]),
            vec!["pg1", "pg2"]
        );
        let st = crate::patroni::PatroniStatus::from_json(json!({"state": "running",
            "role": "primary", "pending_restart": true,
            "pending_restart_reason": {"max_connections": {"old_value": "123", "new_value": "100"}}}));
        let p = Pending::from_status("pg1", &st);
        assert!(p.pending && p.leader && p.lowers);
        let st = crate::patroni::PatroniStatus::from_json(json!({"state": "running",
            "role": "replica", "pending_restart": true,
            "pending_restart_reason": {"max_connections": {"old_value": "100", "new_value": "123"}}}));
        assert!(!Pending::from_status("pg2", &st).lowers);
        assert!(restart_order(&[m("pg1", false, true, false)]).is_empty());
    }

    #[test]
    fn inverse_patch_restores_nested_values() {
        let before = json!({"ttl": 20, "postgresql": {"parameters": {"work_mem": "4MB"}}});
        let patch =
            json!({"postgresql": {"parameters": {"work_mem": "8MB", "max_connections": 200}}});
        assert_eq!(
            inverse_patch(&patch, &before),
            json!({"postgresql": {"parameters": {"work_mem": "4MB", "max_connections": null}}})
        );
    }
}
