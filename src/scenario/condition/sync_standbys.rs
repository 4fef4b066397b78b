//! `sync_standbys`: how many members the leader's `/cluster` lists as synchronous
//! standbys (`sync_standby`, or `quorum_standby` under Patroni 4's quorum commit), the
//! members Patroni put in `synchronous_standby_names` (Patroni docs, "Replication modes";
//! REST API, "Cluster status endpoints"). A scenario about synchronous replication asserts
//! one exists before its fault instead of assuming it.

use super::{CheckCx, ConditionKind, Context, CountCond};
use crate::check::{Eval, World};
use crate::observe::MemberView;

pub(crate) struct SyncStandbys;

/// The roles Patroni gives a member it replicates to synchronously.
const SYNC_ROLES: [&str; 2] = ["sync_standby", "quorum_standby"];

/// The members listed as synchronous standbys, by name.
fn synchronous(members: &[MemberView]) -> Vec<&str> {
    members
        .iter()
        .filter(|m| SYNC_ROLES.contains(&m.role.as_str()))
        .map(|m| m.name.as_str())
        .collect()
}

impl ConditionKind for SyncStandbys {
    const NAME: &'static str = "sync_standbys";
    #[cfg(test)]
    const SAMPLE: &'static str = "{at_least: 1}";
    type Body = CountCond;

    fn check(x: &CountCond, cx: &mut CheckCx<'_, '_>) {
        if x.at_most.is_none() && x.at_least.is_none() {
            cx.empty(Self::NAME, "`at_most`, `at_least`");
        }
    }

    fn describe(c: &CountCond, _ctx: &Context) -> String {
        c.words("synchronous standbys:", "")
    }

    fn on_timeline(c: &CountCond, w: &World, _ctx: &Context) -> Eval {
        let Some(members) = w.members() else {
            return Eval::new(false, "no /cluster view answered");
        };
        let sync = synchronous(members);
        let ok = c.admits(sync.len() as u32);
        let seen = if sync.is_empty() {
            "no synchronous standby".to_owned()
        } else {
            format!("synchronous standby(s): {}", sync.join(", "))
        };
        Eval::new(ok, seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, role: &str) -> MemberView {
        MemberView {
            name: name.into(),
            role: role.into(),
            state: "streaming".into(),
            timeline: Some(1),
            lag_bytes: Some(0),
        }
    }

    #[test]
    fn sync_and_quorum_standbys_count_plain_replicas_do_not() {
        let members = [
            m("pg1", "leader"),
            m("pg2", "sync_standby"),
            m("pg3", "replica"),
            m("pg4", "quorum_standby"),
        ];
        assert_eq!(synchronous(&members), ["pg2", "pg4"]);
        assert!(synchronous(&members[..1]).is_empty());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let ok: Result<crate::scenario::Condition, _> =
            crate::diag::from_yaml("sync_standbys: {at_least: 1}");
        assert_eq!(ok.unwrap().kind(), "sync_standbys");
        let bad: Result<crate::scenario::Condition, _> =
            crate::diag::from_yaml("sync_standbys: {at_leats: 1}");
        assert!(bad.is_err());
    }
}
