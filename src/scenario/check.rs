//! Checks of one scenario that serde cannot express: names that must be declared, ids
//! that must exist earlier, values that must not be empty or zero.

use std::collections::BTreeMap;

use super::condition::CheckCx as CondCheck;
use super::refs::TargetRef;
use super::step::CheckCx as StepCheck;
use super::{Scenario, Selector, seeds};
use crate::diag::{Diagnostic, Located, Source, YPath, closest, list};

/// Collects diagnostics for one file, each located by its YAML path.
pub(crate) struct Checker<'a> {
    pub src: &'a Source,
    pub tree: &'a Located,
    pub diags: Vec<Diagnostic>,
}

impl Checker<'_> {
    /// Records a problem with the value at `path`.
    pub(crate) fn err(&mut self, path: &YPath, message: String, help: Option<String>) {
        let mut d = self.src.diag(self.tree.find(path), message);
        d.help = help;
        self.diags.push(d);
    }
}

/// `field` of a target reference (`target`, `peers[2]`) appended to `base`.
pub(crate) fn field_path(base: &YPath, field: &str) -> YPath {
    let mut p = base.clone();
    for part in field.split('.') {
        match part.split_once('[') {
            Some((k, rest)) => {
                p = p.key(k.to_owned());
                if let Ok(i) = rest.trim_end_matches(']').parse() {
                    p = p.idx(i);
                }
            }
            None => p = p.key(part.to_owned()),
        }
    }
    p
}

/// Whether `id` matches `[a-z0-9][a-z0-9-]*`.
pub(crate) fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Every check of a single scenario file.
pub(crate) fn check(src: &Source, tree: &Located, sc: &Scenario) -> Vec<Diagnostic> {
    let mut c = Checker {
        src,
        tree,
        diags: Vec::new(),
    };
    let root = YPath::root();

    if !valid_id(&sc.id) {
        c.err(
            &root.key("id"),
            format!(
                "invalid scenario id {:?}: accepted are lowercase letters, digits and `-`, starting with a letter or digit (`[a-z0-9][a-z0-9-]*`)",
                sc.id
            ),
            Some(format!("e.g. `{}`", suggest_id(&sc.id))),
        );
    }
    if sc.expected_split_brain.is_some() {
        c.err(
            &root.key("expected_split_brain"),
            "`expected_split_brain` is no longer accepted in a scenario: whether a cluster \
             tolerates two writable nodes is a property of that cluster, not of the failure \
             mode"
                .into(),
            Some(
                "remove it here; if the cluster's owner accepts a bounded window (e.g. no \
                 watchdog), declare it in the inventory: `cluster: {accepted_risks: \
                 {split_brain: {max: 15s, reason: ...}}}`"
                    .into(),
            ),
        );
    }
    if sc.title.trim().is_empty() {
        c.err(
            &root.key("title"),
            "`title` is empty: say in one line what the scenario tests".into(),
            None,
        );
    }
    if sc.max_duration.get().is_zero() {
        c.err(
            &root.key("max_duration"),
            "`max_duration` is 0: accepted is a positive duration such as `10m`".into(),
            None,
        );
    }

    check_covers(&mut c, sc);
    check_reads(&mut c, sc);
    let declared: Vec<&str> = sc.targets.keys().map(String::as_str).collect();
    check_targets(&mut c, sc, &declared);

    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    let mut undone: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, step) in sc.steps.iter().enumerate() {
        let base = root.key("steps").idx(i).key(step.kind());
        for tr in step.target_refs() {
            check_declared(&mut c, &base, &tr, &declared);
        }
        if let Some(id) = step.step_id() {
            if let Some(first) = ids.get(id) {
                c.err(
                    &base.key("id"),
                    format!(
                        "step id {id:?} is used twice: steps[{first}] already has it; step ids must be unique"
                    ),
                    None,
                );
            } else {
                ids.insert(id, i);
            }
        }
        step.check(&mut StepCheck {
            c: &mut c,
            sc,
            index: i,
            ids: &ids,
            undone: &mut undone,
            base: &base,
        });
        let alternatives = step.alternatives().iter().enumerate().flat_map(|(k, a)| {
            let b = base.key("or").idx(k);
            a.all
                .iter()
                .enumerate()
                .map(move |(j, c)| (b.key("all").idx(j), c))
        });
        let documented = step
            .conditions()
            .iter()
            .enumerate()
            .map(|(j, c)| (base.key("all").idx(j), c));
        for (at, cond) in documented.chain(alternatives) {
            let cbase = at.key(cond.kind());
            for tr in cond.target_refs() {
                check_declared(&mut c, &cbase, &tr, &declared);
            }
            cond.check(&mut CondCheck {
                c: &mut c,
                sc,
                step_index: i,
                ids: &ids,
                base: &cbase,
            });
        }
    }
    check_budget(&mut c, sc);
    c.diags
}

/// The steps' least duration must fit in `max_duration`.
fn check_budget(c: &mut Checker<'_>, sc: &Scenario) {
    if let Some((i, least)) = super::budget::first_overrun(sc) {
        let step = &sc.steps[i];
        c.err(
            &YPath::root().key("steps").idx(i).key(step.kind()),
            format!(
                "the steps up to here take at least {} but `max_duration` is {}: the dead man's switches would undo the faults while the scenario still assumes them in place",
                crate::duration::HumanDuration(least),
                sc.max_duration
            ),
            Some("raise `max_duration` or shorten the holds".into()),
        );
    }
}

/// `stale_read_max` needs a writer (the ledger reads are judged against) and a reader;
/// `lag_check` needs the direct readers and a size Patroni accepts.
fn check_reads(c: &mut Checker<'_>, sc: &Scenario) {
    let root = YPath::root();
    let w = sc.workload.as_ref();
    let reader = w.and_then(|w| w.reader.as_ref());
    if sc.verdicts.stale_read_max.is_some() {
        let missing: Vec<&str> = [
            ("a writer", w.and_then(|w| w.writer.as_ref()).is_none()),
            ("a reader", reader.is_none()),
        ]
        .into_iter()
        .filter_map(|(what, absent)| absent.then_some(what))
        .collect();
        if !missing.is_empty() {
            c.err(
                &root.key("verdicts").key("stale_read_max"),
                format!(
                    "`stale_read_max` needs {} in `workload:`: staleness is measured by reads against the writes acknowledged before them, so without them the verdict could never fail",
                    missing.join(" and ")
                ),
                Some("e.g. `workload: {writer: {rate: 20}, reader: {rate: 10}}`".into()),
            );
        }
    }
    let Some(r) = reader else {
        return;
    };
    let at = root.key("workload").key("reader").key("lag_check");
    match &r.lag_check {
        Some(_) if !r.replicas => c.err(
            &at,
            "`lag_check` is asked of the node a direct read was stale on, so it needs `replicas: true`".into(),
            None,
        ),
        Some(l) if !valid_lag(l) => c.err(
            &at,
            format!(
                "invalid `lag_check` {l:?}: accepted is a number of bytes or a number with a unit `B`, `kB`, `MB`, `GB`, `TB`, as Patroni's `/replica?lag=` reads it"
            ),
            Some("e.g. `lag_check: 1MB`".into()),
        ),
        _ => {}
    }
}

/// Whether `s` is a size as Patroni's `/replica?lag=` accepts it: digits, then optionally
/// `B`, `kB`, `MB`, `GB` or `TB`.
fn valid_lag(s: &str) -> bool {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && ["", "B", "kB", "MB", "GB", "TB"].contains(&&s[digits..])
}

pub(crate) fn fault_kinds_help() -> String {
    "faults that can be undone early: signal, service, poweroff, block, isolate, patch_config, and shell with `undo:`; give the fault step an `id:`".into()
}

pub(crate) fn did_you_mean(given: &str, accepted: &[&str]) -> Option<String> {
    closest(given, accepted.iter().copied()).map(|s| format!("did you mean `{s}`?"))
}

fn suggest_id(id: &str) -> String {
    let mut out = String::new();
    for ch in id.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_owned();
    if out.is_empty() {
        "kill-leader".into()
    } else {
        out
    }
}

fn check_covers(c: &mut Checker<'_>, sc: &Scenario) {
    let known: Vec<&str> = seeds::SEED_CASES.iter().map(|s| s.id).collect();
    for (i, id) in sc.covers.iter().enumerate() {
        if seeds::find(id).is_none() {
            let help = match closest(id, known.iter().copied()) {
                Some(s) => format!(
                    "did you mean `{s}`? (`pgchaos list --coverage` lists every seed case ID)"
                ),
                None => "`pgchaos list --coverage` lists every seed case ID".into(),
            };
            c.err(
                &YPath::root().key("covers").idx(i),
                format!("unknown seed case ID {id:?} in `covers:`: accepted are the IDs of seed-cases.md"),
                Some(help),
            );
        }
    }
}

fn check_targets(c: &mut Checker<'_>, sc: &Scenario, declared: &[&str]) {
    for (name, spec) in &sc.targets {
        let base = YPath::root().key("targets").key(name.clone());
        match (spec.select, &spec.node) {
            (Selector::Node, None) => c.err(
                &base,
                format!(
                    "target {name:?} has `select: node` but no `node:` naming the inventory node"
                ),
                Some(format!(
                    "write `{name}: {{ select: node, node: NODE_NAME }}`"
                )),
            ),
            (Selector::Node | Selector::EtcdMember | Selector::Spare, _) | (_, None) => {}
            (sel, Some(_)) => c.err(
                &base.key("node"),
                format!(
                    "`node:` only applies to `select: node`, `etcd_member` or `spare`, not to `{}`",
                    selector_name(sel)
                ),
                None,
            ),
        }
        for (i, other) in spec.not.iter().enumerate() {
            let tr = TargetRef {
                field: format!("not[{i}]"),
                name: other,
            };
            if other == name {
                c.err(
                    &base.key("not").idx(i),
                    format!("target {name:?} lists itself in `not:`"),
                    None,
                );
            } else {
                check_declared(c, &base, &tr, declared);
            }
        }
    }
}

/// The YAML spelling of a selector.
pub(crate) fn selector_name(s: Selector) -> &'static str {
    match s {
        Selector::Leader => "leader",
        Selector::Replica => "replica",
        Selector::SyncStandby => "sync_standby",
        Selector::Node => "node",
        Selector::EtcdMember => "etcd_member",
        Selector::EtcdLeader => "etcd_leader",
        Selector::AllEtcd => "all_etcd",
        Selector::AllMembers => "all_members",
        Selector::AllReplicas => "all_replicas",
        Selector::Haproxy => "haproxy",
        Selector::Spare => "spare",
    }
}

/// Where SQL may run besides a target (`sql.on`).
const SQL_ENDPOINTS: &[&str] = &["leader", "write_port", "read_port", "all_members"];

fn check_declared(c: &mut Checker<'_>, base: &YPath, tr: &TargetRef<'_>, declared: &[&str]) {
    if declared.contains(&tr.name) {
        return;
    }
    let sql_on = tr.field == "on" && base.to_string().ends_with(".sql");
    let mut candidates = declared.to_vec();
    if sql_on {
        candidates.extend(SQL_ENDPOINTS);
    }
    let mut help = did_you_mean(tr.name, &candidates).unwrap_or_else(|| {
        format!(
            "declare it under `targets:`, e.g. `{}: leader` or `{}: {{ select: replica, not: [..] }}`",
            tr.name, tr.name
        )
    });
    if tr.field.starts_with("write_port_reaches") {
        help.push_str(" (`leader` means the current leader here)");
    }
    let also = if sql_on {
        format!("; SQL also runs on {}", list(SQL_ENDPOINTS.iter().copied()))
    } else {
        String::new()
    };
    c.err(
        &field_path(base, &tr.field),
        format!(
            "target {:?} is not declared in `targets:` (declared: {}{also})",
            tr.name,
            list(declared.iter().copied())
        ),
        Some(help),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_format() {
        for ok in ["kill-leader", "0abc", "a"] {
            assert!(valid_id(ok), "{ok}");
        }
        for bad in ["", "-a", "Kill", "a_b", "a b", "é"] {
            assert!(!valid_id(bad), "{bad}");
        }
        assert_eq!(suggest_id("Kill_Leader"), "kill-leader");
    }

    #[test]
    fn lag_sizes() {
        for ok in ["1048576", "1MB", "16kB", "0B"] {
            assert!(valid_lag(ok), "{ok}");
        }
        for bad in ["", "MB", "1 MB", "1mb", "-1", "1.5MB"] {
            assert!(!valid_lag(bad), "{bad}");
        }
    }

    #[test]
    fn field_paths() {
        let p = field_path(&YPath::root().key("x"), "peers[2]");
        assert_eq!(p.to_string(), "x.peers[2]");
    }
}
