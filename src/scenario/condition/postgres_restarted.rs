//! `postgres_restarted`: whether the postmaster started after the scenario began.

use super::sql::sql_values;
use super::{ConditionKind, Context, NodeBoolCond, Probe};
use crate::check::Eval;
use crate::scenario::SqlEndpoint;
use crate::scenario::refs::TargetRef;

pub(crate) struct PostgresRestarted;

impl ConditionKind for PostgresRestarted {
    const NAME: &'static str = "postgres_restarted";
    #[cfg(test)]
    const SAMPLE: &'static str = "{node: a, is: true}";
    const PROBE: bool = true;
    type Body = NodeBoolCond;

    fn targets(n: &NodeBoolCond) -> Vec<TargetRef<'_>> {
        n.targets()
    }

    fn describe(n: &NodeBoolCond, ctx: &Context) -> String {
        format!(
            "PostgreSQL on {} {} since the scenario started",
            ctx.label(&n.node),
            if n.is { "restarted" } else { "not restarted" }
        )
    }

    async fn probe(c: &NodeBoolCond, p: &Probe<'_>) -> Eval {
        let since = p.started.elapsed().as_secs() + 1;
        // Compared on the server's own clock, so clock skew with pgchaos does not matter.
        let q = format!(
            "select (pg_postmaster_start_time() > now() - interval '{since} seconds')::text"
        );
        match sql_values(p, &SqlEndpoint::Target(c.node.clone()), &q).await {
            Ok(v) => {
                let restarted =
                    !v.is_empty() && v.iter().all(|(_, x)| x.as_deref() == Some("true"));
                Eval::new(
                    restarted == c.is,
                    v.iter()
                        .map(|(n, x)| {
                            format!(
                                "{n}: {}",
                                if x.as_deref() == Some("true") {
                                    "postmaster started during the scenario"
                                } else {
                                    "postmaster older than the scenario"
                                }
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            }
            Err(e) => Eval::new(false, e),
        }
    }
}
