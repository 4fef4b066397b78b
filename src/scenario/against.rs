//! Checks of scenarios against an inventory: can every target be bound, does the
//! inventory have what the steps need (HAProxy, etcd, a power-on command)? Run by
//! `validate --inventory` and by `run` before any node is touched.

use super::load::diag_in;
use super::{LoadedScenario, Selector, SqlEndpoint, TargetSpec, WriteVia};
use crate::diag::{Diagnostic, Located, YPath, closest, list};
use crate::inventory::{Inventory, LoadedInventory, Node, Role};

/// Checks that every scenario can run against `inv`: selectors can be satisfied, and the
/// entry points and commands the steps use are configured. Returns every problem found,
/// each located in the scenario file and naming the inventory file.
pub(crate) fn check_against(
    scenarios: &[LoadedScenario],
    inv: &LoadedInventory,
) -> Result<(), Vec<Diagnostic>> {
    let mut out = Vec::new();
    for s in scenarios {
        out.extend(check_one(s, inv));
    }
    if out.is_empty() { Ok(()) } else { Err(out) }
}

/// What checks against the inventory see, and the diagnostics they report.
pub(crate) struct Ctx<'a> {
    s: &'a LoadedScenario,
    tree: Located,
    inv: &'a Inventory,
    inv_path: String,
    out: Vec<Diagnostic>,
}

impl Ctx<'_> {
    /// Reports that `what` needs HAProxy (its read port when `read`) when the inventory
    /// has none.
    pub(crate) fn need_haproxy(&mut self, at: &YPath, what: &str, read: bool) {
        let haproxy = self.inv.entrypoints.haproxy.as_ref();
        let has_write = haproxy.is_some();
        let has_read = haproxy.is_some_and(|h| h.read_port.is_some());
        if read && !has_read {
            let inv_path = self.inv_path.clone();
            self.err(
                at,
                format!("{what} needs HAProxy's read port, but inventory {inv_path} has no `entrypoints.haproxy.read_port`"),
                "set `entrypoints.haproxy: { host: ..., write_port: 5000, read_port: 5001 }` in the inventory".into(),
            );
        } else if !read && !has_write {
            let inv_path = self.inv_path.clone();
            self.err(
                at,
                format!(
                    "{what} needs HAProxy, but inventory {inv_path} has no `entrypoints.haproxy`"
                ),
                "set `entrypoints.haproxy: { host: ..., write_port: 5000 }` in the inventory"
                    .into(),
            );
        }
    }

    /// Reports that `what` needs PgBouncer when the inventory has none.
    pub(crate) fn need_pgbouncer(&mut self, at: &YPath, what: &str) {
        if self.inv.entrypoints.pgbouncer.is_none() {
            let inv_path = self.inv_path.clone();
            self.err(
                at,
                format!("{what} needs PgBouncer, but inventory {inv_path} has no `entrypoints.pgbouncer`"),
                "set `entrypoints.pgbouncer: { host: ..., port: 6432, node: NODE }` in the inventory (NODE: where PgBouncer runs)".into(),
            );
        }
    }

    /// Reports that SQL `on:` HAProxy's ports needs them.
    pub(crate) fn need_endpoint(&mut self, at: &YPath, on: &SqlEndpoint) {
        match on {
            SqlEndpoint::WritePort => self.need_haproxy(at, "`sql` on `write_port`", false),
            SqlEndpoint::ReadPort => self.need_haproxy(at, "`sql` on `read_port`", true),
            _ => {}
        }
    }

    /// The inventory checked against.
    pub(crate) fn inventory(&self) -> &Inventory {
        self.inv
    }

    /// The inventory file's path, for messages.
    pub(crate) fn inventory_path(&self) -> &str {
        &self.inv_path
    }

    /// The nodes `target` could bind to (`None` for a target the scenario does not
    /// declare: its own checks report that).
    pub(crate) fn target_nodes(&self, target: &str) -> Option<Vec<&Node>> {
        let spec = self.s.scenario.targets.get(target)?;
        Some(candidates(spec, self.inv))
    }

    /// Reports an error at `at` in the scenario, with a help line.
    pub(crate) fn error(&mut self, at: &YPath, message: String, help: String) {
        self.err(at, message, help);
    }

    fn err(&mut self, at: &YPath, message: String, help: String) {
        let d = diag_in(self.s, &self.tree, at, message).with_help(help);
        self.out.push(d);
    }

    fn names(&self, role: Role) -> Vec<&str> {
        self.inv.nodes_with(role).map(|n| n.name.as_str()).collect()
    }

    fn all_names(&self) -> String {
        list(self.inv.nodes.iter().map(|n| n.name.as_str()))
    }

    /// Nodes a target may be bound to.
    fn candidates(&self, spec: &TargetSpec) -> Vec<&Node> {
        candidates(spec, self.inv)
    }
}

/// Every node `spec` could bind to, whatever the cluster's state at the scenario's start
/// (for checks made before any scenario starts: `validate` against the inventory, and
/// preflight's node probes).
pub(crate) fn candidates<'a>(spec: &TargetSpec, inv: &'a Inventory) -> Vec<&'a Node> {
    if let Some(n) = spec.node.as_deref().and_then(|n| inv.node(n)) {
        return vec![n];
    }
    let role = match spec.select {
        Selector::Spare => Role::Spare,
        Selector::EtcdMember | Selector::EtcdLeader | Selector::AllEtcd => Role::Etcd,
        Selector::Haproxy => Role::Haproxy,
        _ => Role::Patroni,
    };
    inv.nodes_with(role).collect()
}

fn check_one(s: &LoadedScenario, inv: &LoadedInventory) -> Vec<Diagnostic> {
    let mut c = Ctx {
        s,
        tree: Located::parse(&s.source),
        inv: &inv.inventory,
        inv_path: inv.path.display().to_string(),
        out: Vec::new(),
    };
    let sc = &s.scenario;
    let root = YPath::root();

    let members = c.names(Role::Patroni);
    if members.len() < sc.requires.min_members {
        let at = if c
            .tree
            .find_key(&root.key("requires").key("min_members"))
            .is_some()
        {
            root.key("requires").key("min_members")
        } else {
            root.key("id")
        };
        c.err(
            &at,
            format!(
                "scenario needs at least {} Patroni members (`requires.min_members`), but inventory {} has {} ({})",
                sc.requires.min_members,
                c.inv_path,
                members.len(),
                list(members.iter().copied())
            ),
            "add nodes with role `patroni` to the inventory, or lower `requires.min_members`".into(),
        );
    }

    for (name, spec) in &sc.targets {
        check_target(&mut c, name, spec);
    }

    if let Some(w) = &sc.workload {
        if let Some(wr) = &w.writer {
            let at = root.key("workload").key("writer");
            match wr.via {
                WriteVia::WritePort => {
                    c.need_haproxy(&at, "the writer (`via: write_port`, the default)", false)
                }
                WriteVia::Pgbouncer => c.need_pgbouncer(&at, "the writer (`via: pgbouncer`)"),
                WriteVia::MultiHost => {}
            }
        }
        if w.reader.is_some() {
            c.need_haproxy(&root.key("workload").key("reader"), "the reader", true);
        }
    }

    if sc.verdicts.haproxy_flaps_max.is_some()
        && c.inv
            .entrypoints
            .haproxy
            .as_ref()
            .and_then(|h| h.stats_port)
            .is_none()
    {
        let inv_path = c.inv_path.clone();
        c.err(
            &root.key("verdicts").key("haproxy_flaps_max"),
            format!("`haproxy_flaps_max` is read from HAProxy's stats page, but inventory {inv_path} has no `entrypoints.haproxy.stats_port`"),
            "set `entrypoints.haproxy.stats_port` (and `stats_path` when its `stats uri` is not `/`) in the inventory".into(),
        );
    }

    for (i, step) in sc.steps.iter().enumerate() {
        let base = root.key("steps").idx(i).key(step.kind());
        step.check_inventory(&mut c, &base);
        for (j, cond) in step.conditions().iter().enumerate() {
            let cbase = base.key("all").idx(j).key(cond.kind());
            cond.check_inventory(&mut c, &cbase);
        }
        for (k, a) in step.alternatives().iter().enumerate() {
            for (j, cond) in a.all.iter().enumerate() {
                let cbase = base.key("or").idx(k).key("all").idx(j).key(cond.kind());
                cond.check_inventory(&mut c, &cbase);
            }
        }
    }
    c.out
}

fn check_target(c: &mut Ctx<'_>, name: &str, spec: &TargetSpec) {
    let base = YPath::root().key("targets").key(name.to_owned());
    let sel = super::check::selector_name(spec.select);
    if let Some(node) = spec.node.as_deref() {
        let at = base.key("node");
        match c.inv.node(node) {
            None => {
                let known: Vec<&str> = c.inv.nodes.iter().map(|n| n.name.as_str()).collect();
                let help = closest(node, known.iter().copied())
                    .map(|k| format!("did you mean `{k}`?"))
                    .unwrap_or_else(|| "use the `name` of one of the inventory's nodes".into());
                let all = c.all_names();
                let inv_path = c.inv_path.clone();
                c.err(
                    &at,
                    format!("target {name:?} names node {node:?}, which is not in inventory {inv_path} (nodes: {all})"),
                    help,
                );
            }
            Some(n) => {
                let needed = match spec.select {
                    Selector::EtcdMember => Some(Role::Etcd),
                    Selector::Spare => Some(Role::Spare),
                    _ => None,
                };
                if let Some(role) = needed
                    && !n.roles.contains(&role)
                {
                    let role_name = role_name(role);
                    let with_role = list(c.names(role));
                    let inv_path = c.inv_path.clone();
                    c.err(
                        &at,
                        format!(
                            "target {name:?} (`select: {sel}`) names node {node:?}, which has no role `{role_name}` in inventory {inv_path} (nodes with that role: {with_role})"
                        ),
                        format!("add `{role_name}` to the node's `roles:`, or name another node"),
                    );
                }
            }
        }
        return;
    }
    let (role, min) = match spec.select {
        Selector::Spare => (Role::Spare, 1),
        Selector::EtcdMember | Selector::EtcdLeader | Selector::AllEtcd => (Role::Etcd, 1),
        Selector::Haproxy => (Role::Haproxy, 1),
        Selector::Replica | Selector::SyncStandby | Selector::AllReplicas => (Role::Patroni, 2),
        Selector::Leader | Selector::AllMembers | Selector::Node => (Role::Patroni, 1),
    };
    let have = c.names(role);
    if have.len() < min {
        let role_name = role_name(role);
        let all = c.all_names();
        let inv_path = c.inv_path.clone();
        let what = if min == 1 {
            format!("a node with role `{role_name}`")
        } else {
            format!("at least {min} nodes with role `{role_name}`")
        };
        c.err(
            &base,
            format!(
                "target {name:?} (`select: {sel}`) needs {what}, but inventory {inv_path} has {} (nodes: {all})",
                have.len()
            ),
            format!("add a node with `roles: [{role_name}]` to the inventory"),
        );
    }
    if spec.select == Selector::Haproxy && c.inv.entrypoints.haproxy.is_none() {
        let inv_path = c.inv_path.clone();
        c.err(
            &base,
            format!("target {name:?} (`select: haproxy`) needs HAProxy, but inventory {inv_path} has no `entrypoints.haproxy`"),
            "set `entrypoints.haproxy: { host: ..., write_port: 5000 }` in the inventory".into(),
        );
    }
}

impl Ctx<'_> {
    /// Reports that `poweroff`/`power_on` on `target` needs `operations.power_on`.
    /// Refuses a block of the SSH port of a node the target may be bound to (a port
    /// other than 22, which the scenario check refuses on its own).
    pub(crate) fn check_ssh_cutoff(&mut self, at: &YPath, b: &super::BlockStep) {
        let Some(spec) = self.s.scenario.targets.get(&b.target) else {
            return;
        };
        for n in self.candidates(spec) {
            let port = n.ssh.options.port.or(self.inv.ssh.port).unwrap_or(22);
            if port != 22 && super::cutoff::cuts_ssh(b, port) {
                let msg = super::cutoff::message(port, &format!("{} in {}", n.name, self.inv_path));
                self.err(
                    at,
                    msg,
                    "block another port; `isolate` cuts a node off and keeps SSH".into(),
                );
                return;
            }
        }
    }

    pub(crate) fn check_power_on(&mut self, at: &YPath, kind: &str, target: &str) {
        let c = self;
        // An undeclared target is reported by the scenario's own checks.
        let Some(spec) = c.s.scenario.targets.get(target) else {
            return;
        };
        let missing: Vec<&str> = c
            .candidates(spec)
            .into_iter()
            .filter(|n| c.inv.ops_for(n).power_on.is_none())
            .map(|n| n.name.as_str())
            .collect();
        if !missing.is_empty() {
            let inv_path = c.inv_path.clone();
            let verb = if kind == "poweroff" {
                "a node powered off must be powered on again"
            } else {
                "`power_on` runs it"
            };
            c.err(
            at,
            format!(
                "`{kind}` on target {target:?} needs `operations.power_on` ({verb}), but inventory {inv_path} has none for {}",
                list(missing)
            ),
            "set `operations.power_on` in the inventory (for every node, or under the node), e.g. `ipmitool -H {host}-ipmi chassis power on`".into(),
        );
        }
    }
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Patroni => "patroni",
        Role::Spare => "spare",
        Role::Etcd => "etcd",
        Role::Haproxy => "haproxy",
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn scenario(text: &str) -> LoadedScenario {
        crate::scenario::parse(Path::new("s.yml"), text).expect("valid scenario")
    }

    fn inventory(text: &str) -> LoadedInventory {
        crate::inventory::parse(Path::new("inv.yml"), text).expect("valid inventory")
    }

    #[test]
    fn candidates_are_every_node_a_target_could_bind_to() {
        let s = scenario(
            "id: t\ntitle: t\ntargets:\n  r: replica\n  l: leader\n  e: etcd_member\n  named: { select: node, node: pg3 }\nsteps: []\n",
        );
        let inv = inventory(
            "cluster: {scope: s}\nnodes:\n  - {name: pg1, host: 10.0.0.1, roles: [patroni]}\n  - {name: pg2, host: 10.0.0.2, roles: [patroni]}\n  - {name: pg3, host: 10.0.0.3, roles: [patroni]}\n  - {name: e1, host: 10.0.0.4, roles: [etcd]}\n",
        );
        let names = |t: &str| -> Vec<String> {
            candidates(&s.scenario.targets[t], &inv.inventory)
                .iter()
                .map(|n| n.name.clone())
                .collect()
        };
        assert_eq!(names("r"), ["pg1", "pg2", "pg3"]);
        assert_eq!(names("l"), ["pg1", "pg2", "pg3"]);
        assert_eq!(names("e"), ["e1"]);
        assert_eq!(names("named"), ["pg3"]);
    }

    const THREE: &str = "cluster: {scope: m}\nnodes:\n  - {name: a, host: h1, roles: [patroni, etcd]}\n  - {name: b, host: h2, roles: [patroni, etcd]}\n  - {name: c, host: h3, roles: [patroni, etcd]}\n";

    #[test]
    fn a_satisfiable_scenario_passes() {
        let s = scenario(
            "id: ok\ntitle: t\ntargets: {v: leader, e: {select: etcd_member, node: b}}\nsteps:\n  - reboot: {target: v}\n",
        );
        assert!(check_against(&[s], &inventory(THREE)).is_ok());
    }

    #[test]
    fn reports_every_problem_with_scenario_location_and_inventory_name() {
        let s = scenario(
            "id: many\ntitle: t\nrequires: {min_members: 4}\ntargets:\n  v: leader\n  s: spare\n  n: {select: node, node: z}\nsteps:\n  - poweroff: {target: v}\n  - pgbench: {duration: 10s}\n",
        );
        let diags = check_against(&[s], &inventory(THREE)).unwrap_err();
        let msgs: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
        assert_eq!(diags.len(), 5, "{msgs:#?}");
        for d in &diags {
            assert!(d.message.contains("inv.yml"), "{d}");
            assert_eq!(d.path, Path::new("s.yml"));
        }
        let at = |line: usize, frag: &str| {
            assert!(
                diags
                    .iter()
                    .any(|d| d.line == line && d.message.contains(frag)),
                "no {frag:?} at line {line}: {msgs:#?}"
            )
        };
        at(3, "at least 4 Patroni members");
        at(6, "role `spare`");
        at(7, "node \"z\", which is not in inventory");
        at(9, "needs `operations.power_on`");
        at(10, "`pgbench`");
    }

    #[test]
    fn power_on_on_the_node_or_globally_satisfies_poweroff() {
        let s = scenario(
            "id: off\ntitle: t\ntargets: {v: {select: node, node: b}}\nsteps:\n  - poweroff: {target: v}\n",
        );
        let per_node = THREE.replace(
            "{name: b, host: h2, roles: [patroni, etcd]}",
            "{name: b, host: h2, roles: [patroni, etcd], operations: {power_on: ipmi b}}",
        );
        assert!(check_against(std::slice::from_ref(&s), &inventory(&per_node)).is_ok());
        let global = format!("operations: {{power_on: 'ipmi {{node}}'}}\n{THREE}");
        assert!(check_against(std::slice::from_ref(&s), &inventory(&global)).is_ok());
        assert!(check_against(&[s], &inventory(THREE)).is_err());
    }

    #[test]
    fn pgbouncer_writer_and_pause_need_pgbouncer() {
        let s = scenario(
            "id: pb\ntitle: t\nworkload:\n  writer: {via: pgbouncer}\nsteps:\n  - pgbouncer_pause: {id: p}\n",
        );
        let d = check_against(std::slice::from_ref(&s), &inventory(THREE)).unwrap_err();
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].message.contains("`via: pgbouncer`"), "{}", d[0]);
        assert!(d[0].message.contains("entrypoints.pgbouncer"), "{}", d[0]);
        assert_eq!((d[0].line, d[0].column), (4, 11));
        assert!(d[1].message.contains("`pgbouncer_pause`"), "{}", d[1]);
        assert_eq!(d[1].line, 6);
        let with = format!("{THREE}entrypoints: {{pgbouncer: {{host: lb, node: a}}}}\n");
        assert!(check_against(&[s], &inventory(&with)).is_ok());
    }

    #[test]
    fn read_port_needs_read_port() {
        let s = scenario(
            "id: rr\ntitle: t\nsteps:\n  - expect: {within: 5s, all: [{haproxy: {read_port_round_robin: true}}]}\n",
        );
        let write_only =
            format!("{THREE}entrypoints: {{haproxy: {{host: lb, write_port: 5000}}}}\n");
        let d = check_against(&[s], &inventory(&write_only)).unwrap_err();
        assert!(d[0].message.contains("read_port"), "{}", d[0]);
        assert_eq!((d[0].line, d[0].column), (4, 66));
    }
}
