//! `haproxy`: HAProxy routing, probed through its ports.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CheckCx, ConditionKind, Context, Probe};
use crate::check::Eval;
use crate::diag::YPath;
use crate::pg;
use crate::scenario::against::Ctx as InventoryCheck;
use crate::scenario::refs::TargetRef;

/// HAProxy routing conditions.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HaproxyCond {
    /// The write port reaches this target (`leader` for the current leader).
    #[serde(default)]
    pub write_port_reaches: Option<String>,
    /// Repeated reads on the read port are served by exactly the current replicas.
    #[serde(default)]
    pub read_port_round_robin: Option<bool>,
    /// The read port never reaches this target.
    #[serde(default)]
    pub read_port_excludes: Option<String>,
    /// The read port reaches this target.
    #[serde(default)]
    pub read_port_includes: Option<String>,
    /// The write port accepts a connection and a query (true) or refuses or times out (false).
    #[serde(default)]
    pub write_port_available: Option<bool>,
}

pub(crate) struct Haproxy;

impl ConditionKind for Haproxy {
    const NAME: &'static str = "haproxy";
    #[cfg(test)]
    const SAMPLE: &'static str = "{}";
    const PROBE: bool = true;
    type Body = HaproxyCond;

    /// `write_port_reaches: leader` means the current leader and is not a target name.
    fn targets(h: &HaproxyCond) -> Vec<TargetRef<'_>> {
        let mut out = Vec::new();
        for (f, v) in [
            ("write_port_reaches", &h.write_port_reaches),
            ("read_port_excludes", &h.read_port_excludes),
            ("read_port_includes", &h.read_port_includes),
        ] {
            if let Some(v) = v
                && v != "leader"
            {
                out.push(TargetRef::new(f, v));
            }
        }
        out
    }

    fn check(h: &HaproxyCond, cx: &mut CheckCx<'_, '_>) {
        if h.write_port_reaches.is_none()
            && h.read_port_round_robin.is_none()
            && h.read_port_excludes.is_none()
            && h.read_port_includes.is_none()
            && h.write_port_available.is_none()
        {
            cx.empty(
                Self::NAME,
                "`write_port_reaches`, `write_port_available`, `read_port_round_robin`, `read_port_excludes`, `read_port_includes`",
            );
        }
    }

    fn check_inventory(h: &HaproxyCond, cx: &mut InventoryCheck<'_>, base: &YPath) {
        if h.write_port_reaches.is_some() {
            cx.need_haproxy(
                &base.key("write_port_reaches"),
                "`haproxy.write_port_reaches`",
                false,
            );
        }
        for (f, set) in [
            ("read_port_round_robin", h.read_port_round_robin.is_some()),
            ("read_port_excludes", h.read_port_excludes.is_some()),
            ("read_port_includes", h.read_port_includes.is_some()),
        ] {
            if set {
                cx.need_haproxy(&base.key(f), &format!("`haproxy.{f}`"), true);
            }
        }
    }

    fn describe(h: &HaproxyCond, ctx: &Context) -> String {
        let mut parts = Vec::new();
        if let Some(t) = &h.write_port_reaches {
            parts.push(format!("write port reaches {}", ctx.label(t)));
        }
        if h.read_port_round_robin == Some(true) {
            parts.push("read port round-robins over exactly the running replicas".into());
        }
        if let Some(t) = &h.read_port_excludes {
            parts.push(format!("read port never reaches {}", ctx.label(t)));
        }
        if let Some(t) = &h.read_port_includes {
            parts.push(format!("read port reaches {}", ctx.label(t)));
        }
        if let Some(a) = h.write_port_available {
            parts.push(if a {
                "write port accepts queries".into()
            } else {
                "write port unavailable".into()
            });
        }
        format!("HAProxy: {}", parts.join("; "))
    }

    async fn probe(h: &HaproxyCond, p: &Probe<'_>) -> Eval {
        let inv = p.inventory;
        let Some(hp) = inv.entrypoints.haproxy.as_ref() else {
            return Eval::new(false, "no HAProxy entry point in the inventory");
        };
        let creds = p.creds;
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
                p.world.leader().into_iter().collect()
            } else {
                p.bindings.get(t).cloned().unwrap_or_default()
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
                return Eval::new(false, "no HAProxy read port in the inventory");
            };
            let replicas: BTreeSet<String> = p
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
                match pg::query_first(&hp.host, rp, creds, "select inet_server_addr()::text").await
                {
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
                let nodes = p.bindings.get(t).cloned().unwrap_or_default();
                holds &= !nodes.iter().any(|n| set.contains(n)) && !set.is_empty();
            }
            if let Some(t) = &h.read_port_includes {
                let nodes = p.bindings.get(t).cloned().unwrap_or_default();
                holds &= nodes.iter().all(|n| set.contains(n));
            }
        }
        Eval::new(holds, seen.join("; "))
    }
}
