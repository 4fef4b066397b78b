//! `sql`: a SQL query's first value; and how probes run SQL on an endpoint.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ConditionKind, Context, Probe};
use crate::check::Eval;
use crate::diag::YPath;
use crate::pg;
use crate::scenario::SqlEndpoint;
use crate::scenario::against::Ctx as InventoryCheck;
use crate::scenario::refs::TargetRef;

/// A SQL query condition.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlCond {
    /// Where.
    pub on: SqlEndpoint,
    /// The query.
    pub query: String,
    /// Expected first value as text.
    pub equals: String,
}

pub(crate) struct Sql;

impl ConditionKind for Sql {
    const NAME: &'static str = "sql";
    #[cfg(test)]
    const SAMPLE: &'static str = "{on: leader, query: q, equals: x}";
    const PROBE: bool = true;
    type Body = SqlCond;

    fn targets(s: &SqlCond) -> Vec<TargetRef<'_>> {
        s.on.target_refs()
    }

    fn check_inventory(s: &SqlCond, cx: &mut InventoryCheck<'_>, base: &YPath) {
        cx.need_endpoint(&base.key("on"), &s.on);
    }

    fn describe(s: &SqlCond, _ctx: &Context) -> String {
        format!("`{}` on {} returns {:?}", s.query, s.on, s.equals)
    }

    async fn probe(s: &SqlCond, p: &Probe<'_>) -> Eval {
        all_equal(p, &s.on, &s.query, &s.equals).await
    }
}

/// Substitutes target placeholders in SQL, in one pass, quoted by context (see
/// [`crate::text::template`]): `{t}` is the node bound to target `t` (an SQL literal, or
/// escaped inside the literal or identifier it stands in), `{t:list}` its nodes as a list
/// of literals, `{t:count}` how many there are.
pub(crate) fn render_sql(
    query: &str,
    bindings: &crate::scenario::Bindings,
) -> Result<String, crate::text::template::TemplateError> {
    use crate::text::template::{Value, sql, sql_literal};
    let mut owned: Vec<(String, String, bool)> = Vec::new();
    for (name, nodes) in bindings {
        let list: Vec<String> = nodes.iter().map(|n| sql_literal(n)).collect();
        owned.push((format!("{name}:list"), list.join(", "), true));
        owned.push((format!("{name}:count"), nodes.len().to_string(), true));
        owned.push((
            name.clone(),
            nodes.first().cloned().unwrap_or_default(),
            false,
        ));
    }
    let vars: Vec<(&str, Value<'_>)> = owned
        .iter()
        .map(|(k, v, verbatim)| {
            let v = if *verbatim {
                Value::Verbatim(v.as_str())
            } else {
                Value::Text(v.as_str())
            };
            (k.as_str(), v)
        })
        .collect();
    sql(query, &vars)
}

/// Runs `query` on the endpoint; returns (where, first value) for each node asked.
pub(crate) async fn sql_values(
    p: &Probe<'_>,
    on: &SqlEndpoint,
    query: &str,
) -> Result<Vec<(String, Option<String>)>, String> {
    let query = &render_sql(query, p.bindings).map_err(|e| e.to_string())?;
    let inv = p.inventory;
    let port = inv.cluster.postgres.port;
    let creds = p.creds;
    let targets: Vec<(String, String, u16)> = match on {
        SqlEndpoint::Leader => {
            let l = p.world.leader().ok_or("no leader to run SQL on")?;
            let n = inv
                .node(&l)
                .ok_or_else(|| format!("leader {l} is not in the inventory"))?;
            vec![(l.clone(), n.host.clone(), port)]
        }
        SqlEndpoint::WritePort | SqlEndpoint::ReadPort => {
            let h = inv
                .entrypoints
                .haproxy
                .as_ref()
                .ok_or("no HAProxy entry point in the inventory")?;
            let port = if matches!(on, SqlEndpoint::WritePort) {
                h.write_port
            } else {
                h.read_port.ok_or("no HAProxy read port in the inventory")?
            };
            vec![(format!("{}:{port}", h.host), h.host.clone(), port)]
        }
        SqlEndpoint::AllMembers => inv
            .nodes
            .iter()
            .filter(|n| p.world.member(&n.name).is_some())
            .map(|n| (n.name.clone(), n.host.clone(), port))
            .collect(),
        SqlEndpoint::Target(t) => p
            .bindings
            .get(t)
            .ok_or_else(|| format!("target {t:?} is not bound"))?
            .iter()
            .filter_map(|n| inv.node(n).map(|x| (n.clone(), x.host.clone(), port)))
            .collect(),
    };
    let futs = targets.into_iter().map(|(label, host, port)| async move {
        let r = pg::query_first(&host, port, creds, query).await;
        (label, r)
    });
    let mut out = Vec::new();
    for (label, r) in futures::future::join_all(futs).await {
        match r {
            Ok(v) => out.push((label, v)),
            Err(e) => return Err((p.redact)(&e.to_string())),
        }
    }
    Ok(out)
}

/// Holds when every node asked returns `want` as the first value.
pub(crate) async fn all_equal(p: &Probe<'_>, on: &SqlEndpoint, query: &str, want: &str) -> Eval {
    match sql_values(p, on, query).await {
        Ok(v) => Eval::new(
            !v.is_empty() && v.iter().all(|(_, x)| x.as_deref() == Some(want)),
            fmt_values(&v),
        ),
        Err(e) => Eval::new(false, e),
    }
}

/// `node: value; ...` for values returned by [`sql_values`].
pub(crate) fn fmt_values(v: &[(String, Option<String>)]) -> String {
    v.iter()
        .map(|(n, x)| format!("{n}: {}", x.as_deref().unwrap_or("(no row)")))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::render_sql;

    #[test]
    fn renders_target_placeholders() {
        let mut b = crate::scenario::Bindings::new();
        b.insert("replicas".into(), vec!["pg2".into(), "pg3".into()]);
        b.insert("primary".into(), vec!["pg1".into()]);
        assert_eq!(
            render_sql(
                "select {replicas:count}, {primary}, x in ({replicas:list})",
                &b
            )
            .unwrap(),
            "select 2, 'pg1', x in ('pg2', 'pg3')"
        );
        // Written inside a literal (as scenarios do), the value is escaped there.
        b.insert("newcomer".into(), vec!["pg4'; drop table t; --".into()]);
        assert_eq!(
            render_sql("where application_name = '{newcomer}'", &b).unwrap(),
            "where application_name = 'pg4''; drop table t; --'"
        );
        // A value is never expanded again.
        b.insert("odd".into(), vec!["{primary}".into()]);
        assert_eq!(render_sql("{odd}", &b).unwrap(), "'{primary}'");
    }
}
