//! Running an [`Undo`]: every node on its own, its switch disarmed only after its own undo
//! succeeded, retried after reconnecting, and what still failed named with the command to
//! run by hand.
//!
//! Why per node: a fault on `all_etcd` is one undo with three nodes. If the first node is
//! unreachable, the other two must still be healed, and the unreachable one must keep its
//! dead man's switch (and the undo record the switch runs, `/run/pgchaos/STEM.undo`), so
//! that it heals itself when it comes back, and `pgchaos cleanup` finds it until then.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Location, NodeCommand, Undo};
use crate::transport::{Output, TransportError};

/// Runs one command where it belongs (the transport, or a fake in tests).
pub(crate) trait Exec {
    /// Runs `cmd` once.
    fn exec(&self, cmd: &NodeCommand) -> impl Future<Output = Result<Output, TransportError>>;
}

/// One command as it ran, for the step's record.
pub(crate) struct Ran {
    /// Where (`local` or the node name).
    pub(crate) on: String,
    /// The script.
    pub(crate) script: String,
    /// When it started.
    pub(crate) started: DateTime<Utc>,
    /// What came back.
    pub(crate) out: Result<Output, TransportError>,
}

/// An undo that still failed on one node after the retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NodeFailure {
    /// The node (or `local`).
    pub(crate) node: String,
    /// The last error.
    pub(crate) error: String,
    /// The node's undo script (what to run by hand: `sh -c SCRIPT` as root).
    pub(crate) script: String,
    /// The node-side record kept for it (`/run/pgchaos/STEM.undo`), when a switch was armed.
    pub(crate) stem: Option<String>,
}

/// What [`run`] did.
#[derive(Default)]
pub(crate) struct Outcome {
    /// Every command, in order.
    pub(crate) ran: Vec<Ran>,
    /// Nodes whose undo succeeded.
    pub(crate) healed: Vec<String>,
    /// Nodes whose undo still failed.
    pub(crate) failed: Vec<NodeFailure>,
    /// Nodes whose switch had fired before the undo (what it printed first).
    pub(crate) fired: Vec<(String, String)>,
}

/// How often and how patiently a node's undo is tried.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Retry {
    /// Attempts in all (at least 1).
    pub(crate) attempts: u32,
    /// Pause between attempts (the transport reconnects on the next one).
    pub(crate) pause: Duration,
    /// How long a node that refuses SSH connections is waited for before its attempts
    /// count: a node reset by its watchdog, or rebooted by the fault itself, is down for
    /// a while and then comes back, and its undo is owed then (often moot: a reboot
    /// clears what lived in memory, and the undo scripts are idempotent).
    pub(crate) unreachable_for: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 3,
            pause: Duration::from_secs(2),
            unreachable_for: Duration::from_secs(120),
        }
    }
}

/// What a disarm prints when its switch had already fired (see `sh::disarm`).
const FIRED: &str = "had already fired";

fn describe(out: &Result<Output, TransportError>) -> Option<String> {
    match out {
        Ok(o) if o.success() => None,
        Ok(o) => Some(format!(
            "exited with {}: {}",
            o.status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "a signal".into()),
            o.stderr.trim().lines().last().unwrap_or("")
        )),
        Err(e) => Some(e.to_string()),
    }
}

fn location_name(l: &Location) -> String {
    match l {
        Location::Node(n) => n.clone(),
        Location::Local => "local".into(),
    }
}

/// Undoes `undo` node by node. `keep_switch` names nodes whose switch must stay armed
/// even after a successful undo (their inject's outcome is unknown: it may still land,
/// and the switch is what removes it then).
pub(crate) async fn run(
    undo: &Undo,
    keep_switch: &BTreeSet<String>,
    exec: &impl Exec,
    retry: Retry,
) -> Outcome {
    // Group the commands by where they run, keeping the order of first appearance.
    let mut groups: Vec<(Location, Vec<&NodeCommand>)> = Vec::new();
    for c in &undo.commands {
        match groups.iter_mut().find(|(l, _)| *l == c.location) {
            Some((_, v)) => v.push(c),
            None => groups.push((c.location.clone(), vec![c])),
        }
    }
    let results = futures::future::join_all(
        groups
            .iter()
            .map(|(loc, cmds)| one_node(undo, loc, cmds, keep_switch, exec, retry)),
    )
    .await;
    let mut outcome = Outcome::default();
    for (ran, result) in results {
        for r in &ran {
            if let Ok(o) = &r.out
                && let Some(line) = o.stdout.lines().find(|l| l.contains(FIRED))
            {
                outcome.fired.push((r.on.clone(), line.trim().to_owned()));
            }
        }
        outcome.ran.extend(ran);
        match result {
            Ok(n) => outcome.healed.push(n),
            Err(f) => outcome.failed.push(f),
        }
    }
    outcome
}

async fn one_node(
    undo: &Undo,
    loc: &Location,
    cmds: &[&NodeCommand],
    keep_switch: &BTreeSet<String>,
    exec: &impl Exec,
    retry: Retry,
) -> (Vec<Ran>, Result<String, NodeFailure>) {
    let name = location_name(loc);
    let deadman = undo
        .deadmen
        .iter()
        .find(|d| Location::Node(d.node.clone()) == *loc);
    let mut ran = Vec::new();
    let mut last_error = None;
    let patient_until = std::time::Instant::now() + retry.unreachable_for;
    let mut attempt = 0;
    'attempts: while attempt < retry.attempts.max(1) {
        if attempt > 0 {
            tokio::time::sleep(retry.pause).await;
        }
        attempt += 1;
        last_error = None;
        for c in cmds {
            let started = Utc::now();
            let out = exec.exec(c).await;
            if matches!(out, Err(TransportError::Connect { .. }))
                && std::time::Instant::now() < patient_until
            {
                // Not an attempt: the node is not there to try on (yet).
                attempt -= 1;
                tokio::time::sleep(retry.pause.max(Duration::from_millis(500))).await;
            }
            let err = describe(&out);
            ran.push(Ran {
                on: name.clone(),
                script: c.script.clone(),
                started,
                out,
            });
            if let Some(e) = err {
                last_error = Some(format!("undo on {name} {e}"));
                continue 'attempts;
            }
        }
        break;
    }
    if let Some(error) = last_error {
        return (
            ran,
            Err(NodeFailure {
                node: name,
                error,
                script: cmds
                    .iter()
                    .map(|c| c.script.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                stem: deadman.map(|d| d.stem.clone()),
            }),
        );
    }
    // Only now that this node's undo succeeded may its switch go. A failed disarm is
    // harmless: the switch fires later and runs the same idempotent undo again.
    if let Some(d) = deadman
        && !keep_switch.contains(&d.node)
    {
        let c = NodeCommand {
            location: loc.clone(),
            script: d.disarm.clone(),
        };
        let started = Utc::now();
        let out = exec.exec(&c).await;
        ran.push(Ran {
            on: name.clone(),
            script: c.script,
            started,
            out,
        });
    }
    (ran, Ok(name))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::fault::Deadman;

    /// Fails every command on the nodes in `down`, records every call.
    struct Fake {
        down: BTreeSet<String>,
        /// Connections refused before a node in `down` comes back (0: never).
        back_after: usize,
        fired: BTreeSet<String>,
        calls: Mutex<Vec<(String, String)>>,
    }

    impl Exec for Fake {
        async fn exec(&self, cmd: &NodeCommand) -> Result<Output, TransportError> {
            let n = location_name(&cmd.location);
            self.calls
                .lock()
                .unwrap()
                .push((n.clone(), cmd.script.clone()));
            let refused = self.calls.lock().unwrap().len();
            if self.down.contains(&n) && (self.back_after == 0 || refused <= self.back_after) {
                return Err(TransportError::Connect {
                    node: n,
                    destination: "x".into(),
                    message: "No route to host".into(),
                });
            }
            let fired = cmd.script.starts_with("disarm") && self.fired.contains(&n);
            Ok(Output {
                status: Some(0),
                stdout: if fired {
                    "pgchaos: dead man's switch x had already fired: fired 1700000000\n".into()
                } else {
                    String::new()
                },
                stderr: String::new(),
                duration: Duration::ZERO,
            })
        }
    }

    fn three_nodes() -> Undo {
        let nodes = ["e1", "e2", "e3"];
        Undo {
            description: "start etcd".into(),
            commands: nodes
                .iter()
                .map(|n| NodeCommand {
                    location: Location::Node((*n).into()),
                    script: format!("undo {n}"),
                })
                .collect(),
            deadmen: nodes
                .iter()
                .map(|n| Deadman {
                    node: (*n).into(),
                    disarm: format!("disarm {n}"),
                    stem: format!("run.1.{n}"),
                    after: Duration::from_secs(60),
                })
                .collect(),
        }
    }

    const FAST: Retry = Retry {
        attempts: 3,
        pause: Duration::ZERO,
        unreachable_for: Duration::ZERO,
    };

    #[tokio::test]
    async fn a_node_that_comes_back_within_the_patience_is_healed() {
        let one = Undo {
            description: "resume".into(),
            commands: vec![NodeCommand {
                location: Location::Node("pg1".into()),
                script: "undo pg1".into(),
            }],
            deadmen: vec![],
        };
        // Refused five times (a node rebooting), more than the attempts: still healed.
        let fake = Fake {
            down: ["pg1".to_owned()].into(),
            back_after: 5,
            fired: BTreeSet::new(),
            calls: Mutex::default(),
        };
        let patient = Retry {
            unreachable_for: Duration::from_secs(60),
            ..FAST
        };
        let out = run(&one, &BTreeSet::new(), &fake, patient).await;
        assert_eq!(out.healed, vec!["pg1"]);
        assert!(out.failed.is_empty());
        // Without patience the same node fails after its three attempts.
        let fake = Fake {
            down: ["pg1".to_owned()].into(),
            back_after: 5,
            fired: BTreeSet::new(),
            calls: Mutex::default(),
        };
        let out = run(&one, &BTreeSet::new(), &fake, FAST).await;
        assert_eq!(out.failed.len(), 1);
    }

    #[tokio::test]
    async fn one_unreachable_node_does_not_stop_the_others_and_keeps_its_switch() {
        let fake = Fake {
            down: ["e1".to_owned()].into(),
            back_after: 0,
            fired: ["e3".to_owned()].into(),
            calls: Mutex::default(),
        };
        let out = run(&three_nodes(), &BTreeSet::new(), &fake, FAST).await;
        assert_eq!(out.healed, vec!["e2", "e3"]);
        assert_eq!(out.failed.len(), 1);
        let f = &out.failed[0];
        assert_eq!(f.node, "e1");
        assert_eq!(f.stem.as_deref(), Some("run.1.e1"));
        assert_eq!(f.script, "undo e1");
        assert!(f.error.contains("No route to host"), "{}", f.error);
        let calls = fake.calls.lock().unwrap();
        let on = |n: &str| -> Vec<String> {
            calls
                .iter()
                .filter(|(c, _)| c == n)
                .map(|(_, s)| s.clone())
                .collect()
        };
        // Tried again (the transport reconnects), never disarmed.
        assert_eq!(on("e1"), vec!["undo e1"; 3]);
        // The others: undo first, disarm after.
        assert_eq!(on("e2"), vec!["undo e2", "disarm e2"]);
        assert_eq!(on("e3"), vec!["undo e3", "disarm e3"]);
        // A switch that fired before the undo is reported.
        assert_eq!(out.fired.len(), 1);
        assert_eq!(out.fired[0].0, "e3");
        assert!(out.fired[0].1.contains("fired 1700000000"));
    }

    #[tokio::test]
    async fn a_switch_whose_inject_outcome_is_unknown_stays_armed() {
        let fake = Fake {
            down: BTreeSet::new(),
            back_after: 0,
            fired: BTreeSet::new(),
            calls: Mutex::default(),
        };
        let keep = ["e2".to_owned()].into();
        let out = run(&three_nodes(), &keep, &fake, FAST).await;
        assert!(out.failed.is_empty());
        let calls = fake.calls.lock().unwrap();
        assert!(calls.iter().any(|(_, s)| s == "disarm e1"));
        assert!(!calls.iter().any(|(_, s)| s == "disarm e2"));
        assert!(calls.iter().any(|(_, s)| s == "undo e2"));
    }
}
