//! `patroni_restarted`: whether the Patroni daemon on a node runs and was started after the
//! scenario began — with no `service: start` step, that means something on the host started
//! it again by itself (its service manager: Debian 12's `patroni.service` has
//! `Restart=on-failure`).

use chrono::{TimeDelta, Utc};

use super::{ConditionKind, Context, NodeAnswer, NodeBoolCond, Probe};
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
        // Start times are computed from the node's uptime when the probe ran, and that
        // moment is known here only up to the SSH round trip: a second of slack, towards
        // accepting a process started just before (a Patroni older than the scenario is
        // minutes or hours old, never one second).
        let began = Utc::now()
            - TimeDelta::from_std(p.started.elapsed()).unwrap_or_default()
            - TimeDelta::seconds(1);
        let script = |_: &str, node: Option<&crate::inventory::Node>| match node {
            Some(node) => Ok(pids::probe_script(&p.inventory.ops_for(node))),
            None => Err(NodeAnswer {
                holds: false,
                seen: None,
            }),
        };
        let read = |name: &str, at, out: super::SshOutcome| match out {
            Ok(o) => {
                let snap = pids::parse(&o.stdout, at);
                let fresh = snap.patroni.pids.iter().find(|(_, t)| *t > began);
                let restarted = fresh.is_some();
                NodeAnswer::new(
                    restarted == c.is,
                    match (fresh, snap.patroni.pids.first()) {
                        (Some((pid, t)), _) => format!(
                            "{name}: Patroni PID {pid} started {:.1}s into the scenario",
                            (*t - began).num_milliseconds() as f64 / 1000.0 - 1.0
                        ),
                        (None, Some((pid, _))) => {
                            format!("{name}: Patroni PID {pid} older than the scenario")
                        }
                        (None, None) => format!("{name}: Patroni not running"),
                    },
                )
            }
            Err(e) => NodeAnswer::new(false, format!("{name}: {}", (p.redact)(&e.to_string()))),
        };
        p.ask_each_node(&c.node, std::time::Duration::from_secs(20), script, read)
            .await
    }
}
