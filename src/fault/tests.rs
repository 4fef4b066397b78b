//! Unit tests of the generated scripts: their key parts, undo exactness, the dead man's
//! switch wiring, quoting, errors, and a `sh -n` syntax check of everything generated.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::inventory::Inventory;
use crate::scenario::Step;

fn inventory(extra_ops: serde_json::Value) -> Inventory {
    let mut ops = json!({});
    if let serde_json::Value::Object(m) = extra_ops {
        ops = serde_json::Value::Object(m);
    }
    serde_json::from_value(json!({
        "cluster": { "scope": "demo cluster" },
        "ssh": { "port": 2222 },
        "operations": ops,
        "nodes": [
            { "name": "pg1", "host": "10.0.0.1", "roles": ["patroni"] },
            { "name": "pg2", "host": "10.0.0.2", "roles": ["patroni"] },
            { "name": "pg3", "host": "10.0.0.3", "roles": ["patroni"],
              "ssh": { "port": 22 },
              "operations": { "data_dir": "/data/it's here", "postgres_user": "pg user" } },
            { "name": "etcd1", "host": "10.0.0.11", "roles": ["etcd"] },
            { "name": "etcd2", "host": "10.0.0.12", "roles": ["etcd"] }
        ]
    }))
    .expect("test inventory")
}

fn targets() -> BTreeMap<String, Vec<String>> {
    let mut t = BTreeMap::new();
    t.insert("victim".to_owned(), vec!["pg1".to_owned()]);
    t.insert("other".to_owned(), vec!["pg2".to_owned()]);
    t.insert("odd".to_owned(), vec!["pg3".to_owned()]);
    t.insert(
        "etcds".to_owned(),
        vec!["etcd1".to_owned(), "etcd2".to_owned()],
    );
    t.insert("ghost".to_owned(), vec!["nope".to_owned()]);
    t.insert("nobody".to_owned(), vec![]);
    t
}

fn step(v: serde_json::Value) -> Step {
    serde_json::from_value(v).expect("test step")
}

fn plan_with(inv: &Inventory, v: serde_json::Value) -> Result<Option<Action>, FaultError> {
    let t = targets();
    let ctx = FaultContext {
        inventory: inv,
        run_id: "run-7",
        seq: 3,
        deadman_after: Duration::from_secs(660),
        targets: &t,
    };
    plan(&step(v), &ctx)
}

fn action(v: serde_json::Value) -> Action {
    plan_with(&inventory(json!({})), v)
        .expect("plans")
        .expect("is a fault")
}

fn node_script(c: &NodeCommand, node: &str) -> String {
    assert_eq!(c.location, Location::Node(node.to_owned()));
    c.script.clone()
}

/// Every script of an action, for the syntax check.
fn all_scripts(a: &Action) -> Vec<String> {
    let mut v: Vec<String> = a.inject.iter().map(|c| c.script.clone()).collect();
    if let Some(u) = &a.undo {
        v.extend(u.commands.iter().map(|c| c.script.clone()));
        v.extend(u.deadmen.iter().map(|d| d.disarm.clone()));
    }
    v
}

fn pos(hay: &str, needle: &str) -> usize {
    hay.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in:\n{hay}"))
}

#[test]
fn kill_every_postgres_process_is_one_shot() {
    let a =
        action(json!({"signal": {"target": "victim", "process": "postgres", "signal": "KILL"}}));
    assert_eq!(a.description, "SIGKILL every postgres process on pg1");
    assert_eq!(a.inject.len(), 1);
    let s = node_script(&a.inject[0], "pg1");
    assert!(
        s.starts_with("# pgchaos-script signal pgchaos:run-7:3\nset -u\n"),
        "{s}"
    );
    // This cluster's postmaster (from its data directory) and its children only.
    assert!(
        s.contains("pgc_pids=$(head -n 1 /var/lib/postgresql/15/main/postmaster.pid"),
        "{s}"
    );
    assert!(
        s.contains("$(pgrep -P \"$pgc_pids\" -u postgres -x postgres"),
        "{s}"
    );
    assert!(!s.contains("pgrep -u postgres -x postgres)"), "{s}");
    assert!(s.contains("kill -s KILL \"$pgc_p\""), "{s}");
    assert!(
        !s.contains("setsid"),
        "no switch for a one-shot fault:\n{s}"
    );
    assert!(a.undo.is_none());
}

#[test]
fn sigstop_records_pids_arms_switch_first_and_undo_resumes_them() {
    let a =
        action(json!({"signal": {"target": "victim", "process": "postgres", "signal": "STOP"}}));
    let s = node_script(&a.inject[0], "pg1");
    let arm = pos(&s, "setsid sh -c");
    let lookup = pos(&s, "pgrep -P \"$pgc_pids\" -u postgres -x postgres");
    let record = pos(&s, "/run/pgchaos/run-7.3.pg1.stopped.tmp");
    let stop = pos(&s, "kill -s STOP");
    assert!(
        arm < lookup && lookup < record && record < stop,
        "arm, find, record, then stop:\n{s}"
    );
    assert!(
        s.contains("pgchaos-deadman:run-7.3.pg1 \"$pgc_deadline\""),
        "{s}"
    );
    assert!(s.contains("sleep 660"), "{s}");
    let u = a.undo.expect("STOP has an undo");
    assert_eq!(u.description, "SIGCONT the processes stopped on pg1");
    let undo = node_script(&u.commands[0], "pg1");
    assert!(undo.contains("kill -s CONT \"$pgc_p\""), "{undo}");
    assert!(
        undo.contains("pgc_start()"),
        "start times guard PID reuse:\n{undo}"
    );
    assert!(
        undo.contains("done </run/pgchaos/run-7.3.pg1.stopped"),
        "{undo}"
    );
    // The switch runs the very same undo (stored in the .undo file by the inject).
    assert!(
        s.contains(&shell_quote(&undo)),
        "switch stores the undo script:\n{s}"
    );
    assert_eq!(u.deadmen.len(), 1);
    let d = &u.deadmen[0];
    assert_eq!(d.node, "pg1");
    assert_eq!(d.stem, "run-7.3.pg1");
    assert_eq!(d.after, Duration::from_secs(660));
    assert!(
        d.disarm.contains("kill -s TERM -- \"-$pgc_pid\""),
        "{}",
        d.disarm
    );
    assert!(
        d.disarm.contains("grep -qF pgchaos-deadman:run-7.3.pg1;"),
        "{}",
        d.disarm
    );
    assert!(
        d.disarm
            .contains("rm -f /run/pgchaos/run-7.3.pg1.deadman /run/pgchaos/run-7.3.pg1.undo")
    );
}

#[test]
fn failed_inject_undoes_at_once_and_disarms_only_if_the_undo_succeeded() {
    let a = action(json!({"block": {"target": "victim", "port": 5432}}));
    let s = node_script(&a.inject[0], "pg1");
    let inject = pos(&s, "iptables -w 5 -I INPUT 1");
    let check = pos(&s, "pgc_rc=$?\nif [");
    // The undo also appears earlier, stored for the switch: look at the last occurrences.
    let disarm = s.rfind("kill -s TERM --").unwrap();
    let undo = s.rfind("pgc_del iptables INPUT").unwrap();
    let kept = pos(&s, "the undo failed too");
    let exit = pos(&s, "exit \"$pgc_rc\"\nfi");
    assert!(
        inject < check && check < undo && undo < disarm && disarm < kept && kept < exit,
        "{s}"
    );
}

#[test]
fn postmaster_is_read_from_postmaster_pid() {
    let a = action(json!({"signal": {"target": "odd", "process": "postmaster", "signal": "TERM"}}));
    let s = node_script(&a.inject[0], "pg3");
    assert!(
        s.contains(r#"pgc_pids=$(head -n 1 '/data/it'\''s here/postmaster.pid' 2>/dev/null)"#),
        "{s}"
    );
    assert!(s.contains("kill -s TERM"), "{s}");
    assert!(a.undo.is_none(), "Patroni restarts PostgreSQL");
}

#[test]
fn killing_patroni_targets_the_daemon_and_starts_it_again_on_undo() {
    let a = action(json!({"signal": {"target": "victim", "process": "patroni", "signal": "KILL"}}));
    let s = node_script(&a.inject[0], "pg1");
    assert!(
        s.contains("for pgc_p in $(pgrep -f bin/patroni); do"),
        "{s}"
    );
    assert!(
        s.contains("*pgchaos-script*|*patronictl*|'') continue"),
        "{s}"
    );
    let u = a.undo.expect("a killed daemon is started again");
    let undo = node_script(&u.commands[0], "pg1");
    assert!(
        undo.contains("if systemctl is-active patroni >/dev/null 2>&1; then"),
        "{undo}"
    );
    assert!(undo.contains("systemctl start patroni"), "{undo}");
    assert_eq!(u.deadmen.len(), 1);
}

#[test]
fn keep_down_holds_the_supervisor_before_the_kill_and_releases_it_on_undo() {
    let a = action(
        json!({"signal": {"target": "victim", "process": "patroni", "signal": "KILL", "keep_down": true}}),
    );
    let s = node_script(&a.inject[0], "pg1");
    let hold = s
        .find("/run/systemd/system/patroni.service.d/pgchaos-keep-down.conf")
        .expect("the drop-in");
    assert!(s[hold..].contains("Restart=no"), "{s}");
    assert!(
        hold < s.find("pgrep -f bin/patroni").expect("lookup"),
        "{s}"
    );
    let u = a.undo.expect("undo");
    let undo = node_script(&u.commands[0], "pg1");
    let release = undo
        .find("rm -f /run/systemd/system/patroni.service.d/pgchaos-keep-down.conf && systemctl daemon-reload")
        .expect("the drop-in removed");
    assert!(
        release < undo.find("systemctl start patroni").expect("start"),
        "{undo}"
    );
    assert_eq!(u.deadmen.len(), 1, "the dead man's switch undoes it too");
}

#[test]
fn hup_and_cont_have_no_undo() {
    for sig in ["HUP", "CONT"] {
        let a =
            action(json!({"signal": {"target": "victim", "process": "patroni", "signal": sig}}));
        assert!(a.undo.is_none(), "{sig}");
    }
}

#[test]
fn etcd_and_haproxy_by_process_name() {
    let a = action(json!({"signal": {"target": "etcds", "process": "etcd", "signal": "STOP"}}));
    assert_eq!(a.inject.len(), 2, "one command per node of the target");
    assert!(node_script(&a.inject[0], "etcd1").contains("pgrep -x etcd)"));
    assert!(node_script(&a.inject[1], "etcd2").contains("run-7.3.etcd2.stopped"));
    let u = a.undo.expect("undo");
    assert_eq!(u.commands.len(), 2);
    assert_eq!(
        u.deadmen
            .iter()
            .map(|d| d.node.as_str())
            .collect::<Vec<_>>(),
        ["etcd1", "etcd2"]
    );
    let a = action(json!({"signal": {"target": "victim", "process": "haproxy", "signal": "KILL"}}));
    assert!(node_script(&a.inject[0], "pg1").contains("pgrep -x haproxy)"));
}

#[test]
fn service_stop_is_undone_by_start_with_a_switch() {
    let a =
        action(json!({"service": {"target": "victim", "service": "patroni", "action": "stop"}}));
    assert_eq!(a.description, "stop service patroni on pg1");
    let s = node_script(&a.inject[0], "pg1");
    assert!(
        pos(&s, "setsid sh -c") < pos(&s, "(\nsystemctl stop patroni\n)"),
        "{s}"
    );
    let u = a.undo.expect("undo");
    assert_eq!(u.description, "start service patroni on pg1");
    assert!(u.commands[0].script.ends_with("systemctl start patroni\n"));
    assert_eq!(u.deadmen.len(), 1);

    for act in ["start", "restart"] {
        let a = action(json!({"service": {"target": "victim", "service": "etcd", "action": act}}));
        assert!(
            a.inject[0]
                .script
                .contains(&format!("systemctl {act} etcd"))
        );
        assert!(a.undo.is_none(), "{act}");
    }
}

#[test]
fn service_templates_from_ops_with_quoted_names() {
    let inv = inventory(json!({
        "service_stop": "/usr/local/bin/svc down {service}",
        "service_start": "/usr/local/bin/svc up {service}",
        "haproxy_service": "ha proxy"
    }));
    let a = plan_with(
        &inv,
        json!({"service": {"target": "victim", "service": "haproxy", "action": "stop"}}),
    )
    .unwrap()
    .unwrap();
    assert!(
        a.inject[0]
            .script
            .contains("/usr/local/bin/svc down 'ha proxy'\n")
    );
    assert!(
        a.undo.unwrap().commands[0]
            .script
            .contains("/usr/local/bin/svc up 'ha proxy'\n")
    );
}

#[test]
fn operation_templates_get_every_documented_placeholder_quoted_where_it_stands() {
    let inv = inventory(json!({
        "service_stop": "svc down {service} --node={node} --host '{host}' --data \"{data_dir}\" # {bin_dir}",
        "data_dir": "/srv/pg $(touch /tmp/pgc-ops-pwned)",
        "bin_dir": "/opt/pg\nrm -rf /",
        "haproxy_service": "{node}"
    }));
    let a = plan_with(
        &inv,
        json!({"service": {"target": "victim", "service": "haproxy", "action": "stop"}}),
    )
    .unwrap()
    .unwrap();
    let s = &a.inject[0].script;
    // The service named `{node}` is not expanded again; every value stays data.
    assert!(
        s.contains(
            "svc down '{node}' --node=pg1 --host '10.0.0.1' --data \"/srv/pg \\$(touch /tmp/pgc-ops-pwned)\" # /opt/pg rm -rf /\n"
        ),
        "{s}"
    );
}

#[test]
fn pg_ctl_runs_as_the_postgres_user() {
    let a = action(json!({"pg_ctl": {"target": "victim", "mode": "immediate"}}));
    assert_eq!(a.description, "pg_ctl stop -m immediate on pg1");
    let s = node_script(&a.inject[0], "pg1");
    assert!(s.contains(
        "runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl stop -D /var/lib/postgresql/15/main -m immediate"
    ), "{s}");
    assert!(s.contains(
        "su postgres -s /bin/sh -c '/usr/lib/postgresql/15/bin/pg_ctl stop -D /var/lib/postgresql/15/main -m immediate'"
    ), "{s}");
    assert!(a.undo.is_none());
    let a = action(json!({"pg_ctl": {"target": "odd"}}));
    let s = node_script(&a.inject[0], "pg3");
    assert!(s.contains(r#"runuser -u 'pg user' -- /usr/lib/postgresql/15/bin/pg_ctl stop -D '/data/it'\''s here' -m fast"#), "{s}");
}

#[test]
fn reboot_is_detached_so_ssh_returns_first() {
    let a = action(json!({"reboot": {"target": "victim"}}));
    let s = node_script(&a.inject[0], "pg1");
    assert!(
        s.contains("setsid nohup sh -c 'sleep 1; systemctl reboot' </dev/null >/dev/null 2>&1 &"),
        "{s}"
    );
    assert!(a.undo.is_none());
}

#[test]
fn poweroff_needs_power_on_and_undoes_locally() {
    let err = plan_with(
        &inventory(json!({})),
        json!({"poweroff": {"target": "victim"}}),
    )
    .unwrap_err();
    assert!(matches!(err, FaultError::NoPowerOn { ref node, .. } if node == "pg1"));
    assert!(
        err.to_string()
            .starts_with("failed to plan a power-off of pg1"),
        "{err}"
    );

    let inv = inventory(json!({"power_on": "ipmitool -H {host}-bmc power on # {node}"}));
    let a = plan_with(&inv, json!({"poweroff": {"target": "victim"}}))
        .unwrap()
        .unwrap();
    let s = node_script(&a.inject[0], "pg1");
    assert!(
        s.contains("setsid nohup sh -c 'sleep 1; systemctl poweroff'"),
        "{s}"
    );
    let u = a.undo.expect("power on");
    assert!(u.deadmen.is_empty());
    assert_eq!(
        u.commands,
        vec![NodeCommand {
            location: Location::Local,
            script: "ipmitool -H 10.0.0.1-bmc power on # pg1".into()
        }]
    );
}

#[test]
fn power_on_is_local_and_quotes_values() {
    let mut inv = inventory(json!({"power_on": "pgchaos lab power-on {node} --host {host}"}));
    inv.nodes[0].host = "h o$t".into();
    let a = plan_with(&inv, json!({"power_on": {"target": "victim"}}))
        .unwrap()
        .unwrap();
    assert_eq!(a.inject[0].location, Location::Local);
    assert_eq!(
        a.inject[0].script,
        "pgchaos lab power-on pg1 --host 'h o$t'"
    );
    assert!(a.undo.is_none());
    let err = plan_with(
        &inventory(json!({})),
        json!({"power_on": {"target": "victim"}}),
    )
    .unwrap_err();
    assert!(matches!(err, FaultError::NoPowerOn { .. }));
}

/// The words after `iptables|ip6tables -w 5 -I CHAIN POS` and after `pgc_del BIN CHAIN`,
/// each prefixed with the command (`iptables INPUT -p ...`), IPv6 guards removed.
fn rule_words(script: &str) -> (Vec<String>, Vec<String>) {
    let unguard = |l: &str| -> String {
        let l = l.trim();
        let l = l
            .strip_prefix("if [ \"$pgc_v6\" = yes ]; then ")
            .or_else(|| l.strip_prefix("if pgc_v6_usable; then "))
            .unwrap_or(l);
        l.trim_end_matches("; fi").to_owned()
    };
    let ins = script
        .lines()
        .map(unguard)
        .filter_map(|l| {
            let (bin, rest) = l.split_once(" -w 5 -I ")?;
            if bin != "iptables" && bin != "ip6tables" {
                return None;
            }
            let rest = rest.trim_end_matches(" || exit 1");
            let mut w = rest.splitn(3, ' ');
            let chain = w.next().unwrap();
            let _pos = w.next().unwrap();
            Some(format!("{bin} {chain} {}", w.next().unwrap()))
        })
        .collect();
    let del = script
        .lines()
        .map(unguard)
        .filter_map(|l| {
            l.strip_prefix("pgc_del ")
                .map(|l| l.trim_end_matches(" || pgc_rc=1").to_owned())
        })
        .collect();
    (ins, del)
}

#[test]
fn block_undo_deletes_exactly_the_inserted_rule() {
    let a = action(json!({"block": {"target": "victim", "port": 5432}}));
    assert_eq!(a.description, "DROP inbound tcp/5432 on pg1");
    let s = node_script(&a.inject[0], "pg1");
    assert!(s.contains(
        "iptables -w 5 -I INPUT 1 -p tcp --dport 5432 -m comment --comment pgchaos:run-7:3 -j DROP || exit 1"
    ), "{s}");
    assert!(
        pos(&s, "setsid sh -c") < pos(&s, "iptables -w 5 -I"),
        "switch armed first"
    );
    let u = a.undo.expect("undo");
    // The same block for IPv6, where ip6tables is usable.
    assert!(s.contains(
        "if [ \"$pgc_v6\" = yes ]; then ip6tables -w 5 -I INPUT 1 -p tcp --dport 5432 -m comment --comment pgchaos:run-7:3 -j DROP || exit 1; fi"
    ), "{s}");
    let (ins, _) = rule_words(&s);
    let (_, mut del) = rule_words(&u.commands[0].script);
    del.reverse();
    assert_eq!(ins, del);
    assert_eq!(ins.len(), 2);
    assert_eq!(
        u.description,
        "remove the netfilter rules tagged pgchaos:run-7:3"
    );
    assert!(
        u.commands[0].script.contains("\"$pgc_ipt\" -w 5 -C \"$@\""),
        "check before delete"
    );
    assert!(!u.commands[0].script.contains("iptables -F") && !s.contains("-F"));
}

#[test]
fn block_outbound_reject_to_peers() {
    let a = action(
        json!({"block": {"target": "victim", "port": 8008, "action": "REJECT",
        "direction": "outbound", "peers": ["other", "etcds"]}}),
    );
    assert_eq!(
        a.description,
        "REJECT outbound tcp/8008 on pg1 to other, etcds"
    );
    let s = node_script(&a.inject[0], "pg1");
    for (i, host) in ["10.0.0.2", "10.0.0.11", "10.0.0.12"].iter().enumerate() {
        assert!(s.contains(&format!(
            "iptables -w 5 -I OUTPUT {} -p tcp --dport 8008 -d {host} -m comment --comment pgchaos:run-7:3 -j REJECT || exit 1",
            i + 1
        )), "{host}:\n{s}");
    }
    // IPv4 peers only: no IPv6 rule, no IPv6 requirement.
    assert!(!s.contains("ip6tables -w 5 -I"), "{s}");
    let (ins, _) = rule_words(&s);
    let (_, mut del) = rule_words(&a.undo.unwrap().commands[0].script);
    del.reverse();
    assert_eq!(ins, del);
    assert_eq!(ins.len(), 3);
}

#[test]
fn block_inbound_from_peer_uses_source() {
    let a = action(json!({"block": {"target": "victim", "port": 5432, "peers": ["other"]}}));
    assert!(
        a.inject[0]
            .script
            .contains("-p tcp --dport 5432 -s 10.0.0.2 -m comment")
    );
    assert_eq!(a.description, "DROP inbound tcp/5432 on pg1 from other");
}

#[test]
fn block_by_source_port_cuts_a_service_stream() {
    let a = action(
        json!({"block": {"target": "victim", "port": 5432, "direction": "outbound",
        "port_is": "source", "peers": ["other"]}}),
    );
    assert!(
        a.inject[0]
            .script
            .contains("-I OUTPUT 1 -p tcp --sport 5432 -d 10.0.0.2 -m comment"),
        "{}",
        a.inject[0].script
    );
    assert_eq!(
        a.description,
        "DROP outbound tcp/5432 (source port) on pg1 to other"
    );
}

#[test]
fn isolate_keeps_ssh_and_loopback_out_of_its_drops_and_undo_is_exact() {
    let a = action(json!({"isolate": {"target": "victim"}}));
    let s = node_script(&a.inject[0], "pg1");
    // Every SSH port of the inventory (2222 inventory-wide, 22 on pg3) is spared, as
    // source or destination, so an SSH client on the node is spared too.
    let expect = [
        "iptables -w 5 -I INPUT 1 '!' -i lo -p tcp -m multiport '!' --ports 22,2222 -m comment --comment pgchaos:run-7:3 -j DROP || exit 1",
        "ip6tables -w 5 -I INPUT 1 '!' -i lo -p tcp -m multiport '!' --ports 22,2222 -m comment --comment pgchaos:run-7:3 -j DROP || exit 1",
        "iptables -w 5 -I INPUT 2 '!' -i lo '!' -p tcp -m comment --comment pgchaos:run-7:3 -j DROP || exit 1",
        "ip6tables -w 5 -I INPUT 2 '!' -i lo '!' -p tcp -m comment --comment pgchaos:run-7:3 -j DROP || exit 1",
        "iptables -w 5 -I OUTPUT 1 '!' -o lo -p tcp -m multiport '!' --ports 22,2222 -m comment --comment pgchaos:run-7:3 -j DROP || exit 1",
        "ip6tables -w 5 -I OUTPUT 1 '!' -o lo -p tcp -m multiport '!' --ports 22,2222 -m comment --comment pgchaos:run-7:3 -j DROP || exit 1",
        "iptables -w 5 -I OUTPUT 2 '!' -o lo '!' -p tcp -m comment --comment pgchaos:run-7:3 -j DROP || exit 1",
        "ip6tables -w 5 -I OUTPUT 2 '!' -o lo '!' -p tcp -m comment --comment pgchaos:run-7:3 -j DROP || exit 1",
    ];
    // No ACCEPT ahead of the host's own rules.
    assert!(!s.contains("-j ACCEPT"), "{s}");
    let mut last = 0;
    for e in expect {
        let p = pos(&s, e);
        assert!(p > last, "in order: {e}\n{s}");
        last = p;
    }
    // IPv6 only where ip6tables answers; refused where IPv6 would stay open.
    let v6 = pos(&s, "if pgc_v6_usable; then pgc_v6=yes; else");
    let refuse = pos(
        &s,
        "if pgc_v6_global; then echo 'pgchaos: this node has a global IPv6 address but no usable ip6tables: refusing to cut IPv4 only' >&2; exit 1; fi",
    );
    assert!(v6 < refuse && refuse < pos(&s, "iptables -w 5 -I INPUT 1"));
    let u = a.undo.unwrap();
    let undo = &u.commands[0].script;
    assert!(
        pos(undo, "pgc_del ip6tables OUTPUT '!' -o lo '!' -p tcp")
            < pos(undo, "pgc_del iptables INPUT '!' -i lo -p tcp"),
        "removed in reverse order"
    );
    assert!(undo.contains("if pgc_v6_usable; then pgc_del ip6tables"));
    let (mut ins, _) = rule_words(&s);
    let (_, del) = rule_words(undo);
    ins.reverse();
    assert_eq!(ins, del);
    assert_eq!(ins.len(), 8);
}

#[test]
fn start_patroni_enables_and_starts_and_undo_stops() {
    let a = action(json!({"start_patroni": {"target": "victim"}}));
    let s = node_script(&a.inject[0], "pg1");
    assert!(
        s.contains("systemctl enable patroni || exit 1\nsystemctl start patroni\n"),
        "{s}"
    );
    let u = a.undo.unwrap();
    assert!(u.deadmen.is_empty());
    assert!(u.commands[0].script.ends_with("systemctl stop patroni\n"));
}

#[test]
fn shell_step_with_and_without_undo() {
    let a = action(
        json!({"shell": {"target": "victim", "command": "tc qdisc add dev eth0 root netem delay 100ms",
        "undo": "tc qdisc del dev eth0 root || true"}}),
    );
    let s = node_script(&a.inject[0], "pg1");
    assert!(
        s.contains("(\nset +u\ntc qdisc add dev eth0 root netem delay 100ms\n)"),
        "{s}"
    );
    let u = a.undo.unwrap();
    assert_eq!(u.deadmen.len(), 1);
    assert!(
        u.commands[0]
            .script
            .ends_with("set +u\ntc qdisc del dev eth0 root || true\n")
    );

    let a = action(
        json!({"shell": {"target": "victim", "command": "echo 'hi'; exit 3", "expect_status": 3, "undo": "true"}}),
    );
    let s = &a.inject[0].script;
    assert!(
        s.contains("(\nset +u\necho 'hi'; exit 3\n)\npgc_st=$?\n"),
        "{s}"
    );
    assert!(s.contains("if [ \"$pgc_st\" -ne 3 ]; then"), "{s}");
    assert_eq!(
        a.undo.unwrap().deadmen.len(),
        1,
        "the expected status is honoured, the switch kept"
    );

    let a = action(json!({"shell": {"target": "victim", "command": "uptime"}}));
    assert!(a.undo.is_none());
}

#[test]
fn errors_name_what_is_wrong() {
    let inv = inventory(json!({}));
    let e = plan_with(&inv, json!({"reboot": {"target": "missing"}})).unwrap_err();
    assert!(
        matches!(e, FaultError::UnknownTarget(ref t) if t == "missing"),
        "{e}"
    );
    let e = plan_with(&inv, json!({"reboot": {"target": "nobody"}})).unwrap_err();
    assert!(matches!(e, FaultError::UnknownTarget(_)), "{e}");
    let e = plan_with(&inv, json!({"reboot": {"target": "ghost"}})).unwrap_err();
    assert!(
        matches!(e, FaultError::UnknownNode(ref n) if n == "nope"),
        "{e}"
    );
    let e = plan_with(
        &inv,
        json!({"block": {"target": "victim", "port": 1, "peers": ["ghost"]}}),
    )
    .unwrap_err();
    assert!(matches!(e, FaultError::UnknownNode(_)), "{e}");
    assert_eq!(
        e.to_string(),
        "failed to plan the step: node \"nope\" is not in the inventory"
    );

    let t = targets();
    for bad in ["", "a:b", "a.b", "a b", "x'y", &"r".repeat(65)] {
        let ctx = FaultContext {
            inventory: &inv,
            run_id: bad,
            seq: 1,
            deadman_after: Duration::from_secs(5),
            targets: &t,
        };
        let e = plan(&step(json!({"reboot": {"target": "victim"}})), &ctx).unwrap_err();
        assert!(matches!(e, FaultError::BadRunId(_)), "{bad:?}");
    }
}

#[test]
fn non_fault_steps_are_not_planned() {
    let inv = inventory(json!({}));
    for v in [
        json!({"expect": {"within": "10s", "all": [{"steady_state": true}]}}),
        json!({"hold": {"for": "5s"}}),
        json!({"sql": {"on": "leader", "query": "select 1"}}),
        json!({"undo": {"fault": "x"}}),
        json!({"switchover": {"candidate": "other", "via": "patronictl"}}),
        json!({"failover": {"candidate": "other"}}),
        json!({"restart": {"target": "victim"}}),
        json!({"reload": {"target": "victim"}}),
        json!({"patch_config": {"patch": {"ttl": 30}}}),
    ] {
        assert!(plan_with(&inv, v.clone()).unwrap().is_none(), "{v}");
    }
}

#[test]
fn patronictl_commands() {
    let inv = inventory(json!({"patronictl": "/opt/patroni/bin/patronictl -c /etc/patroni.yml"}));
    let c = patronictl_switchover(&inv, "pg2", Some("pg1"), Some("pg3")).unwrap();
    assert_eq!(c.location, Location::Node("pg2".into()));
    assert!(c.script.ends_with(
        "/opt/patroni/bin/patronictl -c /etc/patroni.yml switchover --force --leader pg1 --candidate pg3 'demo cluster'\n"
    ), "{}", c.script);
    let c = patronictl_switchover(&inv, "pg2", None, None).unwrap();
    assert!(c.script.contains("switchover --force 'demo cluster'"));
    let c = patronictl_failover(&inv, "pg1", "pg2").unwrap();
    assert!(
        c.script
            .contains("failover --force --candidate pg2 'demo cluster'")
    );
    assert!(matches!(
        patronictl_failover(&inv, "zz", "pg2"),
        Err(FaultError::UnknownNode(_))
    ));
}

#[test]
fn deadman_after_is_at_least_one_second() {
    let inv = inventory(json!({}));
    let t = targets();
    let ctx = FaultContext {
        inventory: &inv,
        run_id: "r",
        seq: 1,
        deadman_after: Duration::from_millis(10),
        targets: &t,
    };
    let a = plan(
        &step(json!({"block": {"target": "victim", "port": 1}})),
        &ctx,
    )
    .unwrap()
    .unwrap();
    assert!(a.inject[0].script.contains("sleep 1\n"));
}

/// Every step kind, for the syntax check.
fn every_action() -> Vec<Action> {
    let inv = inventory(json!({"power_on": "bmc {node} {host}", "allow_clock_step": true}));
    let mut steps = vec![];
    for p in ["postgres", "postmaster", "patroni", "etcd", "haproxy"] {
        for s in ["KILL", "TERM", "INT", "QUIT", "HUP", "STOP", "CONT"] {
            steps.push(json!({"signal": {"target": "odd", "process": p, "signal": s}}));
        }
    }
    for svc in ["patroni", "etcd", "haproxy"] {
        for act in ["stop", "start", "restart"] {
            steps.push(json!({"service": {"target": "etcds", "service": svc, "action": act}}));
        }
    }
    steps.extend([
        json!({"pg_ctl": {"target": "odd", "mode": "smart"}}),
        json!({"reboot": {"target": "victim"}}),
        json!({"poweroff": {"target": "victim"}}),
        json!({"power_on": {"target": "victim"}}),
        json!({"block": {"target": "victim", "port": 5432, "peers": ["other", "etcds"], "action": "REJECT"}}),
        json!({"block": {"target": "victim", "port": 8008, "direction": "outbound"}}),
        json!({"isolate": {"target": "etcds"}}),
        json!({"partition": {"from": ["victim"], "to": ["etcds"]}}),
        json!({"partition": {"from": ["victim", "other"], "to": ["odd"], "direction": "one_way"}}),
        json!({"degrade": {"target": "victim", "loss": 0.1}}),
        json!({"degrade": {"target": "victim", "peers": ["other"], "loss": 0.05, "rate": "1mbit", "delay": "100ms", "jitter": "10ms"}}),
        json!({"fill_disk": {"target": "odd", "filesystem": "wal", "leave": "64MiB"}}),
        json!({"clock_step": {"target": "victim", "by": "90s"}}),
        json!({"clock_step": {"target": "etcds", "by": "1500ms", "backwards": true}}),
        json!({"start_patroni": {"target": "victim"}}),
        json!({"shell": {"target": "victim", "command": "echo \"it's\" $HOME", "undo": "echo 'undo'"}}),
    ]);
    steps
        .into_iter()
        .map(|v| plan_with(&inv, v).unwrap().unwrap())
        .collect()
}

fn sh_n(script: &str) {
    let out = std::process::Command::new("/bin/sh")
        .arg("-n")
        .arg("-c")
        .arg(script)
        .output()
        .expect("run /bin/sh -n");
    assert!(
        out.status.success(),
        "syntax error: {}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_generated_script_parses_with_sh_n() {
    let mut n = 0;
    for a in every_action() {
        for s in all_scripts(&a) {
            sh_n(&s);
            n += 1;
        }
    }
    for s in [leftovers_script(), cleanup_script()] {
        sh_n(&s);
        n += 1;
    }
    let inv = inventory(json!({}));
    sh_n(
        &patronictl_switchover(&inv, "pg1", Some("a'b"), None)
            .unwrap()
            .script,
    );
    assert!(n > 50, "checked {n} scripts");
}

#[test]
fn sh_n_catches_a_broken_script() {
    // The syntax check itself must be able to fail.
    let out = std::process::Command::new("/bin/sh")
        .args(["-n", "-c", "if true; then echo"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn the_switch_body_is_valid_shell_too() {
    // The switch's body is a quoted argument inside the inject script: extract it by
    // running the inject's `setsid` line through a shell that only prints its arguments.
    let a = action(json!({"block": {"target": "victim", "port": 5432}}));
    let s = &a.inject[0].script;
    let start = pos(s, "setsid sh -c ");
    let end = start + pos(&s[start..], " </dev/null >/dev/null 2>&1 &");
    let printer = format!(
        "setsid() {{ shift 2; printf '%s' \"$1\"; }}\npgc_deadline=1\n{}",
        &s[start..end]
    );
    let out = std::process::Command::new("/bin/sh")
        .args(["-c", &printer])
        .output()
        .unwrap();
    let body = String::from_utf8(out.stdout).unwrap();
    assert!(body.contains("sleep 660\n"), "{body}");
    assert!(body.contains("sh /run/pgchaos/run-7.3.pg1.undo"), "{body}");
    sh_n(&body);
}

#[test]
fn the_switch_runs_as_a_systemd_service_where_systemd_runs_and_detached_elsewhere() {
    let a = action(json!({"block": {"target": "victim", "port": 5432}}));
    let s = node_script(&a.inject[0], "pg1");
    let detect = pos(
        &s,
        "if [ -d /run/systemd/system ] && command -v systemd-run",
    );
    let unit = pos(
        &s,
        "systemd-run --quiet --collect --unit=pgchaos-deadman-run-7.3.pg1 sh -c ",
    );
    let fallback = pos(&s, "setsid sh -c");
    let wait = pos(&s, "while [ ! -s /run/pgchaos/run-7.3.pg1.deadman ]");
    let inject = pos(&s, "iptables -w 5 -I");
    assert!(
        detect < unit && unit < fallback && fallback < wait && wait < inject,
        "{s}"
    );
}

/// An inventory whose pg2 has an IPv6 address (a literal, so nothing is looked up).
fn inventory_v6() -> Inventory {
    serde_json::from_value(json!({
        "cluster": { "scope": "demo" },
        "nodes": [
            { "name": "pg1", "host": "10.0.0.1", "roles": ["patroni"] },
            { "name": "pg2", "host": "fd00::2", "roles": ["patroni"] },
            { "name": "etcd1", "host": "10.0.0.11", "roles": ["etcd"] },
            { "name": "etcd2", "host": "10.0.0.12", "roles": ["etcd"] }
        ]
    }))
    .expect("test inventory")
}

fn plan_on(
    inv: &Inventory,
    t: &[(&str, &[&str])],
    v: serde_json::Value,
) -> Result<Action, FaultError> {
    let targets: BTreeMap<String, Vec<String>> = t
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
        .collect();
    let ctx = FaultContext {
        inventory: inv,
        run_id: "run-7",
        seq: 3,
        deadman_after: Duration::from_secs(660),
        targets: &targets,
    };
    plan(&step(v), &ctx).map(|a| a.expect("a fault"))
}

#[test]
fn partition_cuts_both_sides_by_address_and_spares_ssh() {
    let a = action(json!({"partition": {"from": ["victim"], "to": ["etcds"], "id": "cut"}}));
    assert_eq!(
        a.description,
        "partition pg1 from etcd1, etcd2 (both ways; SSH kept)"
    );
    // One script per node of either side, each with its own switch.
    let on: Vec<_> = a.inject.iter().map(|c| c.location.clone()).collect();
    assert_eq!(
        on,
        ["pg1", "etcd1", "etcd2"].map(|n| Location::Node(n.into()))
    );
    let u = a.undo.as_ref().unwrap();
    assert_eq!(u.deadmen.len(), 3);
    let pg1 = &a.inject[0].script;
    for (i, peer) in ["10.0.0.11", "10.0.0.12"].iter().enumerate() {
        let (p1, p2) = (2 * i + 1, 2 * i + 2);
        for (chain, flag) in [("OUTPUT", "-d"), ("INPUT", "-s")] {
            assert!(pg1.contains(&format!(
                "iptables -w 5 -I {chain} {p1} -p tcp -m multiport '!' --ports 22,2222 {flag} {peer} -m comment --comment pgchaos:run-7:3 -j DROP || exit 1"
            )), "{chain} {peer}:\n{pg1}");
            assert!(pg1.contains(&format!(
                "iptables -w 5 -I {chain} {p2} '!' -p tcp {flag} {peer} -m comment --comment pgchaos:run-7:3 -j DROP || exit 1"
            )), "{chain} {peer}:\n{pg1}");
        }
    }
    // The etcd side drops pg1's address, both ways.
    let e1 = &a.inject[1].script;
    assert!(
        e1.contains("-I INPUT 1 -p tcp -m multiport '!' --ports 22,2222 -s 10.0.0.1 -m comment")
    );
    assert!(
        e1.contains("-I OUTPUT 1 -p tcp -m multiport '!' --ports 22,2222 -d 10.0.0.1 -m comment")
    );
    // No ACCEPT, no address-less rule, no IPv6 for IPv4 peers.
    for c in &a.inject {
        assert!(!c.script.contains("-j ACCEPT"));
        assert!(!c.script.contains("ip6tables -w 5 -I"));
    }
    // Each node's undo deletes exactly what its inject inserted.
    for (i, c) in a.inject.iter().enumerate() {
        let (mut ins, _) = rule_words(&c.script);
        let (_, del) = rule_words(&u.commands[i].script);
        ins.reverse();
        assert_eq!(ins, del, "node {i}");
        assert!(!ins.is_empty());
    }
}

#[test]
fn a_one_way_partition_drops_only_what_the_first_side_sends() {
    let a =
        action(json!({"partition": {"from": ["victim"], "to": ["other"], "direction": "one_way"}}));
    let pg1 = &a.inject[0].script;
    let pg2 = &a.inject[1].script;
    assert!(pg1.contains("-I OUTPUT 1 -p tcp -m multiport '!' --ports 22,2222 -d 10.0.0.2"));
    assert!(!pg1.contains("-I INPUT"), "{pg1}");
    assert!(pg2.contains("-I INPUT 1 -p tcp -m multiport '!' --ports 22,2222 -s 10.0.0.1"));
    assert!(!pg2.contains("-I OUTPUT"), "{pg2}");
}

#[test]
fn a_partition_refuses_a_node_on_both_sides() {
    let inv = inventory(json!({}));
    let err = plan_on(
        &inv,
        &[("a", &["pg1", "pg2"]), ("b", &["pg2"])],
        json!({"partition": {"from": ["a"], "to": ["b"]}}),
    )
    .unwrap_err();
    assert!(
        matches!(err, FaultError::Overlap(ref n) if n == "pg2"),
        "{err}"
    );
}

#[test]
fn ipv6_peers_get_ip6tables_rules_and_need_ip6tables() {
    let inv = inventory_v6();
    let a = plan_on(
        &inv,
        &[("l", &["pg1"]), ("r", &["pg2"])],
        json!({"partition": {"from": ["l"], "to": ["r"]}}),
    )
    .unwrap();
    let pg1 = &a.inject[0].script;
    assert!(pg1.contains("pgc_v6_usable || { echo 'pgchaos: ip6tables is not usable on this node: cannot add rules for its IPv6 peers' >&2; exit 1; }"), "{pg1}");
    assert!(
        pg1.contains(
            "ip6tables -w 5 -I OUTPUT 1 -p tcp -m multiport '!' --ports 22 -d fd00::2 -m comment"
        ),
        "{pg1}"
    );
    assert!(
        !pg1.contains("iptables -w 5 -I OUTPUT 1 -p tcp -m multiport '!' --ports 22 -d fd00::2")
    );
    let pg2 = &a.inject[1].script;
    assert!(
        pg2.contains(
            "iptables -w 5 -I INPUT 1 -p tcp -m multiport '!' --ports 22 -s 10.0.0.1 -m comment"
        ),
        "{pg2}"
    );
    let u = a.undo.unwrap();
    assert!(
        u.commands[0]
            .script
            .contains("if pgc_v6_usable; then pgc_del ip6tables OUTPUT")
    );
    // And a block from an IPv6 peer.
    let b = plan_on(
        &inv,
        &[("v", &["pg1"]), ("p", &["pg2"])],
        json!({"block": {"target": "v", "port": 5432, "peers": ["p"]}}),
    )
    .unwrap();
    assert!(
        b.inject[0]
            .script
            .contains("ip6tables -w 5 -I INPUT 1 -p tcp --dport 5432 -s fd00::2 -m comment")
    );
}

#[test]
fn peers_named_by_host_names_are_resolved_once_to_addresses() {
    let inv: Inventory = serde_json::from_value(json!({
        "cluster": { "scope": "demo" },
        "nodes": [
            { "name": "pg1", "host": "10.0.0.1", "roles": ["patroni"] },
            { "name": "pg2", "host": "localhost", "roles": ["patroni"] }
        ]
    }))
    .unwrap();
    let a = plan_on(
        &inv,
        &[("v", &["pg1"]), ("p", &["pg2"])],
        json!({"block": {"target": "v", "port": 5432, "peers": ["p"]}}),
    )
    .unwrap();
    let s = &a.inject[0].script;
    // Inserted and deleted by the address, never by the name.
    assert!(!s.contains("localhost"), "{s}");
    assert!(s.contains("-s 127.0.0.1") || s.contains("-s ::1"), "{s}");
    let u = &a.undo.unwrap().commands[0].script;
    assert!(!u.contains("localhost"));
    let (mut ins, _) = rule_words(s);
    let (_, del) = rule_words(u);
    ins.reverse();
    assert_eq!(ins, del);
}

#[test]
fn degrade_loss_uses_the_statistic_match_both_ways_and_spares_ssh() {
    let a = action(json!({"degrade": {"target": "victim", "peers": ["other"], "loss": 0.1}}));
    assert_eq!(
        a.description,
        "degrade pg1 (10 % packet loss each way; towards pg2; SSH spared)"
    );
    let s = &a.inject[0].script;
    assert!(s.contains(
        "iptables -w 5 -I INPUT 1 -p tcp -m multiport '!' --ports 22,2222 -m statistic --mode random --probability 0.1 -s 10.0.0.2 -m comment --comment pgchaos:run-7:3 -j DROP || exit 1"
    ), "{s}");
    assert!(s.contains(
        "iptables -w 5 -I OUTPUT 2 '!' -p tcp -m statistic --mode random --probability 0.1 -d 10.0.0.2 -m comment --comment pgchaos:run-7:3 -j DROP || exit 1"
    ), "{s}");
    // No qdisc without rate or delay.
    assert!(!s.contains("tc qdisc add"), "{s}");
    let u = a.undo.unwrap();
    let (mut ins, _) = rule_words(s);
    let (_, del) = rule_words(&u.commands[0].script);
    ins.reverse();
    assert_eq!(ins, del);
    assert_eq!(ins.len(), 4);
    // A whole node: loopback left out, both families.
    let a = action(json!({"degrade": {"target": "victim", "loss": 0.25}}));
    assert!(a.inject[0].script.contains(
        "ip6tables -w 5 -I INPUT 1 '!' -i lo -p tcp -m multiport '!' --ports 22,2222 -m statistic --mode random --probability 0.25 -m comment"
    ));
}

#[test]
fn degrade_rate_adds_one_tagged_qdisc_and_removes_only_that_one() {
    let a = action(json!({"degrade": {"target": "victim", "peers": ["other"], "rate": "1mbit"}}));
    let s = &a.inject[0].script;
    // The device routing to the peer, looked up on the node.
    assert!(
        s.contains("pgc_d=$(ip -o -4 route get 10.0.0.2 | sed -n"),
        "{s}"
    );
    assert!(
        s.contains("tc qdisc add dev \"$pgc_d\" root handle 7003: htb ||"),
        "{s}"
    );
    assert!(s.contains("tc class add dev \"$pgc_d\" parent 7003: classid 7003:1 htb rate 1000kbit ceil 1000kbit"), "{s}");
    // SSH to the unshaped class, the peer to the shaped one.
    assert!(
        s.contains("protocol ip prio 1 u32 match ip sport 2222 0xffff flowid 7003:2"),
        "{s}"
    );
    assert!(
        s.contains("protocol ip prio 1 u32 match ip dport 22 0xffff flowid 7003:2"),
        "{s}"
    );
    assert!(
        s.contains("protocol ip prio 3 u32 match ip dst 10.0.0.2/32 flowid 7003:1"),
        "{s}"
    );
    // No netem probe without delay, no netfilter rule without loss.
    assert!(!s.contains("netem"), "{s}");
    assert!(!s.contains("iptables -w 5 -I"), "{s}");
    let u = &a.undo.unwrap().commands[0].script;
    assert!(u.contains("grep -q '^qdisc htb 7003: root'"), "{u}");
    assert!(u.contains("tc qdisc del dev \"$pgc_d\" root"), "{u}");
    // A whole node: every packet but SSH to the shaped class, on the node's own device.
    let a = action(json!({"degrade": {"target": "victim", "rate": "512kbit"}}));
    let s = &a.inject[0].script;
    assert!(
        s.contains("pgc_d=$(ip -o -4 addr show to 10.0.0.1 | awk"),
        "{s}"
    );
    assert!(s.contains("root handle 7003: htb default 1 ||"), "{s}");
}

#[test]
fn degrade_latency_probes_for_netem_before_touching_anything() {
    let a = action(
        json!({"degrade": {"target": "victim", "loss": 0.1, "delay": "100ms", "jitter": "10ms"}}),
    );
    let s = &a.inject[0].script;
    let probe = pos(
        s,
        "unshare -n sh -c 'ip link set lo up && tc qdisc add dev lo root netem delay 1ms'",
    );
    let message = pos(
        s,
        "pgchaos: the kernel of this node has no sch_netem (tc netem): latency and jitter cannot be injected here (loss and rate can)",
    );
    let first_change = pos(s, "iptables -w 5 -I");
    assert!(first_change < pos(s, "tc qdisc add dev \"$pgc_d\" root"));
    // Before the switch is armed: the refusal is the only line, and nothing is set up.
    assert!(probe < message && message < pos(s, "setsid sh -c"), "{s}");
    assert!(
        s.starts_with(
            "# pgchaos-script degrade pgchaos:run-7:3\nset -u\numask 077\nif ! unshare -n"
        ),
        "{s}"
    );
    // The switch's undo does not probe.
    assert!(!a.undo.unwrap().commands[0].script.contains("unshare"));
    assert!(
        s.contains("parent 7003:1 handle 8003: netem delay 100ms 10ms || exit 1"),
        "{s}"
    );
}

#[test]
fn fill_disk_records_its_file_first_and_removes_exactly_it() {
    let a = action(
        json!({"fill_disk": {"target": "odd", "filesystem": "wal", "leave": "64MiB", "id": "full"}}),
    );
    assert_eq!(
        a.description,
        "fill pg_wal's filesystem on pg3, leaving 64MiB"
    );
    let s = node_script(&a.inject[0], "pg3");
    assert!(s.contains("pgc_dir='/data/it'\\''s here/pg_wal'"), "{s}");
    let record = pos(
        &s,
        "printf '%s\\n' \"$pgc_file\" >/run/pgchaos/run-7.3.pg3.fill.tmp",
    );
    let write = pos(&s, "fallocate -l \"${pgc_n}KiB\" \"$pgc_file\"");
    assert!(pos(&s, "setsid sh -c") < record && record < write, "{s}");
    assert!(
        s.contains("pgc_file=\"${pgc_mnt%/}/pgchaos-fill.run-7.3.pg3\""),
        "{s}"
    );
    assert!(s.contains("pgc_n=$(( pgc_avail - 65536 ))"), "{s}");
    // A partial fallocate is kept and topped up, never truncated and rewritten.
    assert!(s.contains("conv=notrunc oflag=append"), "{s}");
    let u = a.undo.unwrap();
    let undo = &u.commands[0].script;
    assert!(undo.contains("*/pgchaos-fill.run-7.3.pg3) ;;"), "{undo}");
    assert!(undo.contains("rm -f \"$pgc_file\" || exit 1"), "{undo}");
    assert_eq!(u.deadmen.len(), 1);
    assert!(!undo.contains("rm -rf"));
}

#[test]
fn clock_step_records_the_true_time_first_and_its_undo_is_absolute() {
    let inv = inventory(json!({"allow_clock_step": true}));
    let a = plan_with(
        &inv,
        json!({"clock_step": {"target": "victim", "by": "90s", "backwards": true, "id": "skew"}}),
    )
    .unwrap()
    .unwrap();
    assert_eq!(a.description, "step the clock of pg1 back by 90s");
    let s = node_script(&a.inject[0], "pg1");
    let record = pos(&s, ">/run/pgchaos/run-7.3.pg1.clock.tmp");
    let step = pos(&s, "if ! date -s \"@$pgc_to\"");
    // The switch is armed, then the true time recorded, then the clock stepped.
    assert!(pos(&s, "setsid sh -c") < record && record < step, "{s}");
    assert!(s.contains("-v d=-90.000"), "{s}");
    let u = a.undo.unwrap();
    let undo = &u.commands[0].script;
    // Absolute, not "step back by as much": the same result however often it runs and
    // whatever time sync did meanwhile.
    assert!(undo.contains("t + (b - a)"), "{undo}");
    assert!(
        undo.contains("rm -f /run/pgchaos/run-7.3.pg1.clock"),
        "{undo}"
    );
    assert!(!undo.contains("-90"), "{undo}");
    assert_eq!(u.deadmen.len(), 1);
}

#[test]
fn clock_step_is_refused_where_the_inventory_does_not_allow_it_and_in_the_lab() {
    let e = plan_with(
        &inventory(json!({})),
        json!({"clock_step": {"target": "victim", "by": "90s"}}),
    )
    .unwrap_err();
    assert!(e.to_string().contains("operations.allow_clock_step"), "{e}");
    let mut lab = inventory(json!({"allow_clock_step": true}));
    lab.cluster.lab = true;
    let e = plan_with(
        &lab,
        json!({"clock_step": {"target": "victim", "by": "90s"}}),
    )
    .unwrap_err();
    assert!(e.to_string().contains("refused in the lab"), "{e}");
}
