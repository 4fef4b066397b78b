//! Conditions that need a probe of their own: HAProxy routing, SQL results, settings.
//! Probes open short connections, so they run at most once a second per condition while
//! waiting (every observation during a hold would hammer the cluster for nothing).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::live::Live;
use crate::check::Eval;
use crate::inventory::Role;
use crate::pg;
use crate::scenario::{Condition, SqlEndpoint};

/// Last probe result per condition, to rate-limit probes.
#[derive(Default)]
pub(crate) struct ProbeCache {
    last: BTreeMap<String, (Instant, Eval)>,
}

const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Substitutes target placeholders in SQL: `{t}` is the node bound to target `t`,
/// `{t:list}` its nodes as a quoted SQL list, `{t:count}` how many there are.
pub(crate) fn render_sql(query: &str, bindings: &crate::plan::Bindings) -> String {
    let mut out = query.to_owned();
    for (name, nodes) in bindings {
        let quoted: Vec<String> = nodes
            .iter()
            .map(|n| format!("'{}'", n.replace('\'', "''")))
            .collect();
        out = out
            .replace(&format!("{{{name}:list}}"), &quoted.join(", "))
            .replace(&format!("{{{name}:count}}"), &nodes.len().to_string())
            .replace(
                &format!("{{{name}}}"),
                nodes.first().map(String::as_str).unwrap_or(""),
            );
    }
    out
}

/// Runs `query` on the endpoint; returns (where, first value) for each node asked.
pub(crate) async fn sql_values(
    live: &Live<'_>,
    on: &SqlEndpoint,
    query: &str,
) -> Result<Vec<(String, Option<String>)>, String> {
    let query = &render_sql(query, &live.bindings);
    let inv = &live.engine.inventory;
    let port = inv.cluster.postgres.port;
    let creds = &live.engine.creds;
    let targets: Vec<(String, String, u16)> = match on {
        SqlEndpoint::Leader => {
            let l = live.world.leader().ok_or("no leader to run SQL on")?;
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
            let p = if matches!(on, SqlEndpoint::WritePort) {
                h.write_port
            } else {
                h.read_port.ok_or("no HAProxy read port in the inventory")?
            };
            vec![(format!("{}:{p}", h.host), h.host.clone(), p)]
        }
        SqlEndpoint::AllMembers => inv
            .nodes
            .iter()
            .filter(|n| live.world.member(&n.name).is_some())
            .map(|n| (n.name.clone(), n.host.clone(), port))
            .collect(),
        SqlEndpoint::Target(t) => live
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
            Err(e) => return Err(live.engine.redact(&e.to_string())),
        }
    }
    Ok(out)
}

/// Evaluates a probe condition, at most once a second (`fresh`, holds) or every two
/// seconds (waits).
pub(crate) async fn evaluate(
    live: &Live<'_>,
    c: &Condition,
    cache: &mut ProbeCache,
    fresh: bool,
) -> Eval {
    let key = format!("{c:?}");
    // Holds ask for `fresh` answers, but a probe opens connections: once a second is the
    // resolution of probe conditions in holds too, while state conditions are evaluated
    // on every sample.
    let every = if fresh { PROBE_EVERY } else { PROBE_EVERY * 2 };
    if let Some((at, e)) = cache.last.get(&key)
        && at.elapsed() < every
    {
        return e.clone();
    }
    let e = probe(live, c).await;
    cache.last.insert(key, (Instant::now(), e.clone()));
    e
}

async fn probe(live: &Live<'_>, c: &Condition) -> Eval {
    match c {
        Condition::Sql(s) => all_equal(live, &s.on, &s.query, &s.equals).await,
        Condition::Setting(s) => {
            let on = match &s.node {
                Some(t) => SqlEndpoint::Target(t.clone()),
                None => SqlEndpoint::AllMembers,
            };
            all_equal(
                live,
                &on,
                &format!("SHOW {}", quote_ident(&s.name)),
                &s.equals,
            )
            .await
        }
        Condition::Haproxy(h) => haproxy(live, h).await,
        Condition::PostgresRunning(n) => postgres_running(live, n).await,
        Condition::PostgresRestarted(n) => postgres_restarted(live, n).await,
        Condition::SettingsMatch(m) => settings_match(live, m).await,
        _ => Eval {
            holds: false,
            observed: "not a probe condition".into(),
        },
    }
}

async fn haproxy(live: &Live<'_>, h: &crate::scenario::HaproxyCond) -> Eval {
    let inv = &live.engine.inventory;
    let Some(hp) = inv.entrypoints.haproxy.as_ref() else {
        return Eval {
            holds: false,
            observed: "no HAProxy entry point in the inventory".into(),
        };
    };
    let creds = &live.engine.creds;
    let by_addr: BTreeMap<String, String> = inv
        .nodes
        .iter()
        .map(|n| (n.host.clone(), n.name.clone()))
        .collect();
    let name_of = |addr: Option<String>| -> String {
        let a = addr.unwrap_or_default();
        let a = a.split('/').next().unwrap_or_default().to_owned();
        by_addr.get(&a).cloned().unwrap_or(a)
    };
    let mut holds = true;
    let mut seen = Vec::new();
    if let Some(t) = &h.write_port_reaches {
        let want: Vec<String> = if t == "leader" {
            live.world.leader().into_iter().collect()
        } else {
            live.bindings.get(t).cloned().unwrap_or_default()
        };
        match pg::query_first(
            &hp.host,
            hp.write_port,
            creds,
            "select inet_server_addr()::text",
        )
        .await
        {
            Ok(v) => {
                let n = name_of(v);
                holds &= want.contains(&n);
                seen.push(format!("write port reached {n}"));
            }
            Err(e) => {
                holds = false;
                seen.push(format!("write port: {e}"));
            }
        }
    }
    if let Some(want) = h.write_port_available {
        let r = pg::query_first(&hp.host, hp.write_port, creds, "select 1").await;
        holds &= r.is_ok() == want;
        seen.push(match r {
            Ok(_) => "write port answered".into(),
            Err(e) => format!("write port: {e}"),
        });
    }
    let wants_read = h.read_port_round_robin.is_some()
        || h.read_port_excludes.is_some()
        || h.read_port_includes.is_some();
    if wants_read {
        let Some(rp) = hp.read_port else {
            return Eval {
                holds: false,
                observed: "no HAProxy read port in the inventory".into(),
            };
        };
        let replicas: BTreeSet<String> = live
            .world
            .members()
            .map(|ms| {
                ms.iter()
                    .filter(|m| {
                        matches!(m.role.as_str(), "replica" | "sync_standby")
                            && matches!(m.state.as_str(), "running" | "streaming")
                    })
                    .map(|m| m.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        let tries = (replicas.len().max(1) * 3).max(4);
        let mut served: BTreeMap<String, usize> = BTreeMap::new();
        let mut errors = 0;
        for _ in 0..tries {
            match pg::query_first(&hp.host, rp, creds, "select inet_server_addr()::text").await {
                Ok(v) => *served.entry(name_of(v)).or_default() += 1,
                Err(_) => errors += 1,
            }
        }
        let set: BTreeSet<String> = served.keys().cloned().collect();
        seen.push(format!(
            "read port served {}{}",
            served
                .iter()
                .map(|(k, v)| format!("{k}×{v}"))
                .collect::<Vec<_>>()
                .join(", "),
            if errors > 0 {
                format!(" ({errors} failed)")
            } else {
                String::new()
            }
        ));
        if h.read_port_round_robin == Some(true) {
            holds &= errors == 0 && set == replicas && !replicas.is_empty();
            seen.push(format!(
                "running replicas {}",
                replicas.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        if let Some(t) = &h.read_port_excludes {
            let nodes = live.bindings.get(t).cloned().unwrap_or_default();
            holds &= !nodes.iter().any(|n| set.contains(n)) && !set.is_empty();
        }
        if let Some(t) = &h.read_port_includes {
            let nodes = live.bindings.get(t).cloned().unwrap_or_default();
            holds &= nodes.iter().all(|n| set.contains(n));
        }
    }
    let _ = Role::Haproxy;
    Eval {
        holds,
        observed: seen.join("; "),
    }
}

/// Holds when every node asked returns `want` as the first value.
async fn all_equal(live: &Live<'_>, on: &SqlEndpoint, query: &str, want: &str) -> Eval {
    match sql_values(live, on, query).await {
        Ok(v) => Eval {
            holds: !v.is_empty() && v.iter().all(|(_, x)| x.as_deref() == Some(want)),
            observed: fmt(&v),
        },
        Err(e) => Eval {
            holds: false,
            observed: e,
        },
    }
}

fn fmt(v: &[(String, Option<String>)]) -> String {
    v.iter()
        .map(|(n, x)| format!("{n}: {}", x.as_deref().unwrap_or("(no row)")))
        .collect::<Vec<_>>()
        .join("; ")
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

async fn postgres_running(live: &Live<'_>, c: &crate::scenario::NodeBoolCond) -> Eval {
    let nodes = live.bindings.get(&c.node).cloned().unwrap_or_default();
    let mut holds = !nodes.is_empty();
    let mut seen = Vec::new();
    for name in &nodes {
        let Some(node) = live.engine.inventory.node(name) else {
            continue;
        };
        let ops = live.engine.inventory.ops_for(node);
        let script = format!(
            "pgrep -u {} -x {} >/dev/null; echo $?",
            crate::transport::shell_quote(&ops.postgres_user),
            crate::transport::shell_quote(&ops.postgres_process)
        );
        match live
            .engine
            .transport
            .run_with_timeout(name, &script, Duration::from_secs(10))
            .await
        {
            Ok(o) => {
                let running = o.stdout.trim() == "0";
                holds &= running == c.is;
                seen.push(format!(
                    "{name}: postgres {}",
                    if running { "running" } else { "not running" }
                ));
            }
            Err(e) => {
                holds = false;
                seen.push(format!("{name}: could not ask over SSH: {e}"));
            }
        }
    }
    Eval {
        holds,
        observed: seen.join("; "),
    }
}

async fn postgres_restarted(live: &Live<'_>, c: &crate::scenario::NodeBoolCond) -> Eval {
    let since = live.started.elapsed().as_secs() + 1;
    // Compared on the server's own clock, so clock skew with pgchaos does not matter.
    let q =
        format!("select (pg_postmaster_start_time() > now() - interval '{since} seconds')::text");
    match sql_values(live, &SqlEndpoint::Target(c.node.clone()), &q).await {
        Ok(v) => {
            let restarted = !v.is_empty() && v.iter().all(|(_, x)| x.as_deref() == Some("true"));
            Eval {
                holds: restarted == c.is,
                observed: v
                    .iter()
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
            }
        }
        Err(e) => Eval {
            holds: false,
            observed: e,
        },
    }
}

async fn settings_match(live: &Live<'_>, m: &crate::scenario::SettingsMatchCond) -> Eval {
    let list: Vec<String> = m
        .names
        .iter()
        .map(|n| format!("'{}'", n.replace('\'', "''")))
        .collect();
    let q = format!(
        "select string_agg(name || '=' || setting, ', ' order by name) from pg_settings where name in ({})",
        list.join(", ")
    );
    let a = sql_values(live, &SqlEndpoint::Target(m.node.clone()), &q).await;
    let b = sql_values(live, &SqlEndpoint::Target(m.with.clone()), &q).await;
    match (a, b) {
        (Ok(a), Ok(b)) => {
            let va = a.first().and_then(|(_, v)| v.clone());
            let vb = b.first().and_then(|(_, v)| v.clone());
            Eval {
                holds: va.is_some() && va == vb,
                observed: format!("{}; {}", fmt(&a), fmt(&b)),
            }
        }
        (Err(e), _) | (_, Err(e)) => Eval {
            holds: false,
            observed: e,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::render_sql;

    #[test]
    fn renders_target_placeholders() {
        let mut b = crate::plan::Bindings::new();
        b.insert("replicas".into(), vec!["pg2".into(), "pg3".into()]);
        b.insert("primary".into(), vec!["pg1".into()]);
        assert_eq!(
            render_sql(
                "select {replicas:count}, {primary}, x in ({replicas:list})",
                &b
            ),
            "select 2, pg1, x in ('pg2', 'pg3')"
        );
    }
}
