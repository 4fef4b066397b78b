//! `tags`: the tags members publish, as `/cluster` lists them. Patroni writes its tags
//! into its member key in the DCS every HA loop from the configuration it has loaded
//! (patroni/ha.py `touch_member`), so a tag listed there is one the member runs with:
//! this is what to wait on after a `tags` step, rather than sleeping a loop. Patroni
//! publishes its predefined boolean tags only when true (patroni/tags.py `_filter_tags`:
//! `nofailover: false` is listed only beside a `failover_priority`), so `has` refuses one
//! of them set to false: `not: {TAG: true}` is what waits for it switched off.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CheckCx, ConditionKind, Context};
use crate::check::{Eval, World};
use crate::scenario::refs::TargetRef;

/// Tags condition.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TagsCond {
    /// The target name (every node it is bound to must match).
    pub node: String,
    /// Tag name to the value the member must publish; `null`: the tag is absent.
    #[serde(default)]
    pub has: BTreeMap<String, serde_json::Value>,
    /// Tag name to a value the member must not publish (absent counts as `null`): to
    /// wait for a tag set back to whatever the node had, without knowing what that was.
    #[serde(default)]
    pub not: BTreeMap<String, serde_json::Value>,
}

pub(crate) struct Tags;

/// Patroni's boolean tags, published only when true (patroni/tags.py `_filter_tags`).
const BOOL_TAGS: &[&str] = &[
    "clonefrom",
    "nofailover",
    "noloadbalance",
    "nosync",
    "nostream",
];

/// Whether `tags` (a member's, if it has any) holds every entry of `want` (or, with
/// `equal` false, none of them).
fn matches(
    tags: Option<&serde_json::Value>,
    want: &BTreeMap<String, serde_json::Value>,
    equal: bool,
) -> bool {
    want.iter().all(|(k, v)| {
        let got = tags
            .and_then(|t| t.get(k))
            .unwrap_or(&serde_json::Value::Null);
        (got == v) == equal
    })
}

impl ConditionKind for Tags {
    const NAME: &'static str = "tags";
    #[cfg(test)]
    const SAMPLE: &'static str = "{node: a, has: {nofailover: true}}";
    type Body = TagsCond;

    fn targets(t: &TagsCond) -> Vec<TargetRef<'_>> {
        vec![TargetRef::new("node", &t.node)]
    }

    fn check(t: &TagsCond, cx: &mut CheckCx<'_, '_>) {
        if t.has.is_empty() && t.not.is_empty() {
            cx.empty(Self::NAME, "`has`, `not`");
        }
        for (tag, v) in &t.has {
            if BOOL_TAGS.contains(&tag.as_str()) && v == &serde_json::Value::Bool(false) {
                let at = cx.base.key("has").key(tag.clone());
                cx.c.err(
                    &at,
                    format!("Patroni does not publish `{tag}: false` (it lists its boolean tags only when true)"),
                    Some(format!("wait for `not: {{ {tag}: true }}` instead")),
                );
            }
        }
    }

    fn describe(t: &TagsCond, ctx: &Context) -> String {
        let want: Vec<String> = t
            .has
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .chain(t.not.iter().map(|(k, v)| format!("{k}!={v}")))
            .collect();
        format!("{} publishes tags {}", ctx.label(&t.node), want.join(", "))
    }

    fn on_timeline(t: &TagsCond, w: &World, ctx: &Context) -> Eval {
        super::each_listed_member(w, ctx, &t.node, |m| {
            let tags = m.get("tags");
            (
                matches(tags, &t.has, true) && matches(tags, &t.not, false),
                format!(
                    "tags {}",
                    tags.map(|v| v.to_string()).unwrap_or_else(|| "{}".into())
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_wanted_tag_must_be_published_and_null_means_absent() {
        let want: BTreeMap<String, serde_json::Value> =
            [("nofailover".to_owned(), json!(true))].into();
        assert!(matches(
            Some(&json!({"nofailover": true, "x": 1})),
            &want,
            true
        ));
        assert!(!matches(Some(&json!({"nofailover": false})), &want, true));
        assert!(!matches(None, &want, true));
        // `not`: restored to false or removed both count.
        assert!(matches(Some(&json!({"nofailover": false})), &want, false));
        assert!(matches(None, &want, false));
        assert!(!matches(Some(&json!({"nofailover": true})), &want, false));
        let absent: BTreeMap<String, serde_json::Value> =
            [("failover_priority".to_owned(), json!(null))].into();
        assert!(matches(None, &absent, true));
        assert!(matches(Some(&json!({"nofailover": false})), &absent, true));
        assert!(!matches(
            Some(&json!({"failover_priority": 1})),
            &absent,
            true
        ));
    }
}
