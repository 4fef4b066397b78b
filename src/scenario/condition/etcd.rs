//! `etcd`: the DCS as etcd itself reports it (`/v3/maintenance/status` on every endpoint of
//! the inventory): whether a member that answers leads, and which.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CheckCx, ConditionKind, Context, Probe};
use crate::check::Eval;
use crate::diag::YPath;
use crate::scenario::against::Ctx as InventoryCheck;
use crate::scenario::refs::TargetRef;

/// How long one endpoint may take to answer.
const ASK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// etcd's own view of the DCS.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EtcdCond {
    /// A member that answers leads (true), or none does (false).
    #[serde(default)]
    pub has_leader: Option<bool>,
    /// A member that answers leads, and it is not this target's node (an `etcd_leader`
    /// or `etcd_member` target): etcd elected another leader.
    #[serde(default)]
    pub leader_is_not: Option<String>,
}

pub(crate) struct Etcd;

impl ConditionKind for Etcd {
    const NAME: &'static str = "etcd";
    #[cfg(test)]
    const SAMPLE: &'static str = "{has_leader: true}";
    const PROBE: bool = true;
    type Body = EtcdCond;

    fn targets(e: &EtcdCond) -> Vec<TargetRef<'_>> {
        e.leader_is_not
            .as_deref()
            .map(|t| vec![TargetRef::new("leader_is_not", t)])
            .unwrap_or_default()
    }

    fn check(e: &EtcdCond, cx: &mut CheckCx<'_, '_>) {
        if e.has_leader.is_none() && e.leader_is_not.is_none() {
            cx.empty(Self::NAME, "`has_leader`, `leader_is_not`");
        }
    }

    fn check_inventory(_e: &EtcdCond, cx: &mut InventoryCheck<'_>, base: &YPath) {
        if cx.inventory().entrypoints.etcd.is_empty() {
            cx.error(
                base,
                "an `etcd` condition asks etcd's endpoints, but the inventory lists none".into(),
                "list the etcd client URLs under `entrypoints.etcd`".into(),
            );
        }
    }

    fn describe(e: &EtcdCond, ctx: &Context) -> String {
        let mut parts = Vec::new();
        match e.has_leader {
            Some(true) => parts.push("a member leads".to_owned()),
            Some(false) => parts.push("no member leads".to_owned()),
            None => {}
        }
        if let Some(t) = &e.leader_is_not {
            parts.push(format!("the leader is not {}", ctx.label(t)));
        }
        format!("etcd: {}", parts.join("; "))
    }

    async fn probe(e: &EtcdCond, p: &Probe<'_>) -> Eval {
        let status = crate::etcd::status(p.inventory, ASK_TIMEOUT).await;
        let leader = status.leader();
        let mut holds = true;
        if let Some(want) = e.has_leader {
            holds &= leader.is_some() == want;
        }
        if let Some(t) = &e.leader_is_not {
            let not: Vec<String> = p.bindings.get(t).cloned().unwrap_or_default();
            holds &= leader.is_some_and(|l| !not.iter().any(|n| n == l));
        }
        Eval::new(holds, status.describe())
    }
}
