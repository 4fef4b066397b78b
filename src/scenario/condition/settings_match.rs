//! `settings_match`: named settings have the same value on `node` as on `with`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::sql::{fmt_values, sql_values};
use super::{ConditionKind, Context, Probe};
use crate::check::Eval;
use crate::scenario::SqlEndpoint;
use crate::scenario::refs::TargetRef;

/// Settings compared between two targets.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsMatchCond {
    /// The node checked.
    pub node: String,
    /// The node it is compared with.
    pub with: String,
    /// Setting names.
    pub names: Vec<String>,
}

pub(crate) struct SettingsMatch;

impl ConditionKind for SettingsMatch {
    const NAME: &'static str = "settings_match";
    #[cfg(test)]
    const SAMPLE: &'static str = "{node: a, with: b, names: [n]}";
    const PROBE: bool = true;
    type Body = SettingsMatchCond;

    fn targets(m: &SettingsMatchCond) -> Vec<TargetRef<'_>> {
        vec![
            TargetRef::new("node", &m.node),
            TargetRef::new("with", &m.with),
        ]
    }

    fn describe(m: &SettingsMatchCond, ctx: &Context) -> String {
        format!(
            "{} has the same {} as {}",
            ctx.label(&m.node),
            m.names.join(", "),
            ctx.label(&m.with)
        )
    }

    async fn probe(m: &SettingsMatchCond, p: &Probe<'_>) -> Eval {
        let list: Vec<String> = m
            .names
            .iter()
            .map(|n| format!("'{}'", n.replace('\'', "''")))
            .collect();
        let q = format!(
            "select string_agg(name || '=' || setting, ', ' order by name) from pg_settings where name in ({})",
            list.join(", ")
        );
        let a = sql_values(p, &SqlEndpoint::Target(m.node.clone()), &q).await;
        let b = sql_values(p, &SqlEndpoint::Target(m.with.clone()), &q).await;
        match (a, b) {
            (Ok(a), Ok(b)) => {
                let va = a.first().and_then(|(_, v)| v.clone());
                let vb = b.first().and_then(|(_, v)| v.clone());
                Eval::new(
                    va.is_some() && va == vb,
                    format!("{}; {}", fmt_values(&a), fmt_values(&b)),
                )
            }
            (Err(e), _) | (_, Err(e)) => Eval::new(false, e),
        }
    }
}
