//! Checks of one scenario that serde cannot express: names that must be declared, ids
//! that must exist earlier, values that must not be empty or zero.

use std::collections::BTreeMap;

use super::refs::TargetRef;
use super::{Condition, Scenario, Selector, Step, seeds};
use crate::diag::{Diagnostic, Located, Source, YPath, closest, list};

/// Collects diagnostics for one file, each located by its YAML path.
pub(crate) struct Checker<'a> {
    pub src: &'a Source,
    pub tree: &'a Located,
    pub diags: Vec<Diagnostic>,
}

impl Checker<'_> {
    /// Records a problem with the value at `path`.
    pub fn err(&mut self, path: &YPath, message: String, help: Option<String>) {
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
        match step {
            Step::Undo(u) => {
                let at = base.key("fault");
                match ids.get(u.fault.as_str()) {
                    Some(&j) if sc.steps[j].is_fault() => {
                        if let Some(k) = undone.insert(&u.fault, i) {
                            c.err(
                                &at,
                                format!("fault {:?} is already undone by steps[{k}]", u.fault),
                                None,
                            );
                        }
                    }
                    Some(&j) => c.err(
                        &at,
                        format!(
                            "`undo` refers to {:?}, but steps[{j}] ({}) is not a fault that can be undone",
                            u.fault,
                            sc.steps[j].kind()
                        ),
                        Some(fault_kinds_help()),
                    ),
                    None => {
                        let earlier: Vec<&str> = sc.steps[..i]
                            .iter()
                            .filter(|s| s.is_fault())
                            .filter_map(Step::step_id)
                            .collect();
                        c.err(
                            &at,
                            format!(
                                "`undo` refers to fault {:?}, which no earlier step declares (fault ids declared before this step: {})",
                                u.fault,
                                list(earlier.iter().copied())
                            ),
                            Some(did_you_mean(&u.fault, &earlier).unwrap_or_else(fault_kinds_help)),
                        );
                    }
                }
            }
            Step::Expect(e) => {
                if e.within.get().is_zero() {
                    c.err(
                        &base.key("within"),
                        "`expect.within` is 0: accepted is a positive deadline such as `30s`"
                            .into(),
                        None,
                    );
                }
                if e.all.is_empty() {
                    c.err(
                        &base.key("all"),
                        "`expect.all` is empty: list at least one condition to wait for".into(),
                        Some(format!(
                            "accepted conditions: {}",
                            super::refs::CONDITION_KINDS.join(", ")
                        )),
                    );
                }
            }
            Step::Hold(h) if h.duration.get().is_zero() => c.err(
                &base.key("for"),
                "`hold.for` is 0: accepted is a positive duration such as `20s`".into(),
                None,
            ),
            Step::Pgbench(p) if p.duration.get().is_zero() => c.err(
                &base.key("duration"),
                "`pgbench.duration` is 0: accepted is a positive duration such as `60s`".into(),
                None,
            ),
            _ => {}
        }
        for (j, cond) in step.conditions().iter().enumerate() {
            let cbase = base.key("all").idx(j).key(cond.kind());
            for tr in cond.target_refs() {
                check_declared(&mut c, &cbase, &tr, &declared);
            }
            check_condition(&mut c, sc, i, &ids, &cbase, cond);
        }
    }
    c.diags
}

fn fault_kinds_help() -> String {
    "faults that can be undone early: signal, service, poweroff, block, isolate, patch_config, and shell with `undo:`; give the fault step an `id:`".into()
}

fn did_you_mean(given: &str, accepted: &[&str]) -> Option<String> {
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

fn check_condition(
    c: &mut Checker<'_>,
    sc: &Scenario,
    step_index: usize,
    ids: &BTreeMap<&str, usize>,
    base: &YPath,
    cond: &Condition,
) {
    let empty = |fields: &str| {
        format!(
            "`{}` condition sets none of {fields}: it would check nothing",
            cond.kind()
        )
    };
    match cond {
        Condition::Response(r) => match ids.get(r.step.as_str()) {
            Some(&j) if j < step_index && sc.steps[j].makes_http_call() => {}
            Some(&j) if j < step_index => c.err(
                &base.key("step"),
                format!(
                    "`response` refers to steps[{j}] ({}), which makes no HTTP call",
                    sc.steps[j].kind()
                ),
                Some("accepted: the id of an earlier switchover, failover, restart, reinitialize, reload or patch_config step".into()),
            ),
            _ => {
                let earlier: Vec<&str> = sc.steps[..step_index]
                    .iter()
                    .filter(|s| s.makes_http_call())
                    .filter_map(Step::step_id)
                    .collect();
                c.err(
                    &base.key("step"),
                    format!(
                        "`response` refers to step {:?}, which is not the id of an earlier step (HTTP steps declared before: {})",
                        r.step,
                        list(earlier.iter().copied())
                    ),
                    Some(did_you_mean(&r.step, &earlier).unwrap_or_else(|| {
                        "give the switchover/failover/restart/... step an `id:` and refer to it".into()
                    })),
                );
            }
        },
        Condition::Leader(l) => {
            let n = [l.is.is_some(), l.is_not.is_some(), l.exists.is_some()]
                .iter()
                .filter(|b| **b)
                .count();
            if n != 1 {
                c.err(
                    base,
                    format!("`leader` condition sets {n} of `is`, `is_not`, `exists`: set exactly one"),
                    None,
                );
            }
        }
        Condition::LeaderChanges(x) if x.at_most.is_none() && x.at_least.is_none() => {
            c.err(base, empty("`at_most`, `at_least`"), None)
        }
        Condition::Timeline(x) if x.increased_by.is_none() && x.increased_at_least.is_none() => {
            c.err(base, empty("`increased_by`, `increased_at_least`"), None)
        }
        Condition::Member(m)
            if m.role.is_none()
                && m.state.is_none()
                && m.absent.is_none()
                && m.on_leader_timeline.is_none() =>
        {
            c.err(
                base,
                empty("`role`, `state`, `absent`, `on_leader_timeline`"),
                None,
            )
        }
        Condition::Haproxy(h)
            if h.write_port_reaches.is_none()
                && h.read_port_round_robin.is_none()
                && h.read_port_excludes.is_none()
                && h.read_port_includes.is_none() =>
        {
            c.err(
                base,
                empty("`write_port_reaches`, `read_port_round_robin`, `read_port_excludes`, `read_port_includes`"),
                None,
            )
        }
        _ => {}
    }
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
    fn field_paths() {
        let p = field_path(&YPath::root().key("x"), "peers[2]");
        assert_eq!(p.to_string(), "x.peers[2]");
    }
}
