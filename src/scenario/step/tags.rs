//! `tags`: change a node's Patroni tags (`nofailover`, `failover_priority`, ...) in its
//! own configuration file and reload Patroni; undone by restoring the file exactly and
//! reloading again (a fault, see `fault/tags.rs`).
//!
//! Tags are node-local settings: Patroni reads them from the node's configuration file
//! (the `tags` section), not from the DCS, and publishes them in its member key, which
//! is what `/cluster` lists and what the `tags` condition waits on.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Call, CheckCx, StepKind, StepResult, StepRunner};
use crate::scenario::refs::TargetRef;

/// Set (or, with `null`, remove) tags in the Patroni configuration file of every node of
/// the target, and reload Patroni there.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TagsStep {
    /// The target name (every node it is bound to).
    pub target: String,
    /// Tag name to value; `null` removes the tag.
    pub set: BTreeMap<String, serde_json::Value>,
    /// A name, for `undo: {fault: ID}`.
    #[serde(default)]
    pub id: Option<String>,
}

/// What Patroni accepts for a tag it knows (patroni/config.py and docs "Tags"), or
/// `None` for a tag of the operator's own (any value).
fn expected_type(tag: &str) -> Option<&'static str> {
    match tag {
        "nofailover" | "noloadbalance" | "clonefrom" | "nosync" | "nostream" => Some("bool"),
        "failover_priority" | "sync_priority" => Some("int"),
        "replicatefrom" => Some("string"),
        _ => None,
    }
}

/// Whether `v` fits `ty` (a `null` always does: it removes the tag).
fn fits(ty: &str, v: &serde_json::Value) -> bool {
    v.is_null()
        || match ty {
            "bool" => v.is_boolean(),
            "int" => v.as_i64().is_some(),
            _ => v.is_string(),
        }
}

pub(crate) struct Tags;

impl StepKind for Tags {
    const NAME: &'static str = "tags";
    #[cfg(test)]
    const SAMPLE: &'static str = "{target: t, set: {nofailover: true}}";
    type Body = TagsStep;

    fn id(s: &TagsStep) -> Option<&str> {
        s.id.as_deref()
    }

    fn is_fault(_s: &TagsStep) -> bool {
        true
    }

    fn targets(s: &TagsStep) -> Vec<TargetRef<'_>> {
        vec![TargetRef::new("target", &s.target)]
    }

    fn check<'a>(s: &'a TagsStep, cx: &mut CheckCx<'a, '_>) {
        if s.set.is_empty() {
            let at = cx.base.key("set");
            cx.c.err(
                &at,
                "`tags.set` is empty: name at least one tag, e.g. `{nofailover: true}`".into(),
                None,
            );
        }
        for (tag, v) in &s.set {
            let Some(ty) = expected_type(tag) else {
                continue;
            };
            if !fits(ty, v) {
                let what = match ty {
                    "bool" => "true or false",
                    "int" => "an integer",
                    _ => "a string",
                };
                let at = cx.base.key("set").key(tag.clone());
                cx.c.err(
                    &at,
                    format!("Patroni's tag `{tag}` takes {what} (or null to remove it), not {v}"),
                    None,
                );
            }
        }
    }

    fn describe(s: &TagsStep) -> String {
        let set: Vec<String> = s.set.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!(
            "set Patroni tags {} on {} (configuration file and reload)",
            set.join(", "),
            s.target
        )
    }

    async fn execute<R: StepRunner>(_s: &TagsStep, call: Call<'_>, run: &mut R) -> StepResult {
        run.fault(call.step, call.rec).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_tags_take_their_types_and_null_removes() {
        assert!(fits("bool", &json!(true)));
        assert!(!fits("bool", &json!("yes")));
        assert!(fits("int", &json!(3)));
        assert!(fits("int", &json!(-1)));
        assert!(!fits("int", &json!("3")));
        assert!(fits("int", &json!(null)));
        assert_eq!(expected_type("nofailover"), Some("bool"));
        assert_eq!(expected_type("failover_priority"), Some("int"));
        assert_eq!(expected_type("rack"), None);
        let s: TagsStep =
            crate::diag::from_yaml("{target: t, set: {nofailover: true}}").expect("a body");
        assert_eq!(
            Tags::describe(&s),
            "set Patroni tags nofailover=true on t (configuration file and reload)"
        );
    }
}
