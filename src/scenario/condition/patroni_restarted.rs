//! `patroni_restarted`: whether the Patroni daemon on a node runs and was started after the
//! scenario began — with no `service: start` step, that means something on the host started
//! it again by itself (its service manager: Debian 12's `patroni.service` has
//! `Restart=on-failure`).

use chrono::{TimeDelta, Utc};

use super::{ConditionKind, Context, NodeBoolCond, Probe};
use crate::check::Eval;
use crate::procs as pids;
use crate::scenario::refs::TargetRef;

pub(crate) struct PatroniRestarted;

impl ConditionKind for PatroniRestarted {
    const NAME: &'static str = "patroni_restarted";
    #[cfg(test)]
    const SAMPLE: &'static str = "{node: a, is: true}";
    const PROBE: bool = true;
    type Body = NodeBoolCond;

    fn targets(n: &NodeBoolCond) -> Vec<TargetRef<'_>> {
        n.targets()
    }

    fn describe(n: &NodeBoolCond, ctx: &Context) -> String {
        format!(
            "Patroni on {} {} since the scenario started",
            ctx.label(&n.node),
            if n.is {
                "runs, (re)started"
            } else {
                "not restarted"
            }
        )
    }

    async fn probe(c: &NodeBoolCond, p: &Probe<'_>) -> Eval {
        let nodes = p.bindings.get(&c.node).cloned().unwrap_or_default();
        // Start times are computed from the node's uptime when the probe ran, and that
        // moment is known here only up to the SSH round trip: a second of slack, towards
        // accepting a process started just before (a Patroni older than the scenario is
        // minutes or hours old, never one second).
        let began = Utc::now()
            - TimeDelta::from_std(p.started.elapsed()).unwrap_or_default()
            - TimeDelta::seconds(1);
        let mut ok = !nodes.is_empty();
        let mut seen = Vec::new();
        for name in &nodes {
            let Some(node) = p.inventory.node(name) else {
                ok = false;
                continue;
            };
            let script = pids::probe_script(&p.inventory.ops_for(node));
            let at = Utc::now();
            match p
                .transport
                .run_with_timeout(name, &script, std::time::Duration::from_secs(20))
                .await
            {
                Ok(o) => {
                    let snap = pids::parse(&o.stdout, at);
                    let fresh = snap.patroni.pids.iter().find(|(_, t)| *t > began);
                    let restarted = fresh.is_some();
                    ok &= restarted == c.is;
                    seen.push(match (fresh, snap.patroni.pids.first()) {
                        (Some((pid, t)), _) => format!(
                            "{name}: Patroni PID {pid} started {:.1}s into the scenario",
                            (*t - began).num_milliseconds() as f64 / 1000.0 - 1.0
                        ),
                        (None, Some((pid, _))) => {
                            format!("{name}: Patroni PID {pid} older than the scenario")
                        }
                        (None, None) => format!("{name}: Patroni not running"),
                    });
                }
                Err(e) => {
                    ok = false;
                    seen.push(format!("{name}: {}", (p.redact)(&e.to_string())));
                }
            }
        }
        Eval::new(ok, seen.join("; "))
    }
}
