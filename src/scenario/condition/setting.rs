//! `setting`: a PostgreSQL setting's value on members (`SHOW name`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::sql::all_equal;
use super::{ConditionKind, Context, Probe, on_node_or_all};
use crate::check::Eval;
use crate::scenario::refs::TargetRef;

/// A setting condition.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingCond {
    /// A target, or every member when absent.
    #[serde(default)]
    pub node: Option<String>,
    /// Setting name.
    pub name: String,
    /// Expected value as `SHOW` prints it.
    pub equals: String,
}

pub(crate) struct Setting;

impl ConditionKind for Setting {
    const NAME: &'static str = "setting";
    #[cfg(test)]
    const SAMPLE: &'static str = "{name: n, equals: x}";
    const PROBE: bool = true;
    type Body = SettingCond;

    fn targets(s: &SettingCond) -> Vec<TargetRef<'_>> {
        TargetRef::optional(&[("node", &s.node)])
    }

    fn describe(s: &SettingCond, ctx: &Context) -> String {
        format!(
            "setting {} = {:?} on {}",
            s.name,
            s.equals,
            s.node
                .as_deref()
                .map(|n| ctx.label(n))
                .unwrap_or_else(|| "every member".into())
        )
    }

    async fn probe(s: &SettingCond, p: &Probe<'_>) -> Eval {
        let on = on_node_or_all(&s.node);
        all_equal(p, &on, &format!("SHOW {}", quote_ident(&s.name)), &s.equals).await
    }
}

fn quote_ident(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        s.to_owned()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}
