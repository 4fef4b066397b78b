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
    assert!(
        s.contains("pgc_pids=$(pgrep -u postgres -x postgres)"),
        "{s}"
    );
    assert!(
        s.contains("no process named postgres owned by postgres"),
        "{s}"
    );
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
    let lookup = pos(&s, "pgrep -u postgres -x postgres");
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
fn failed_inject_disarms_and_undoes_at_once() {
    let a = action(json!({"block": {"target": "victim", "port": 5432}}));
    let s = node_script(&a.inject[0], "pg1");
    let inject = pos(&s, "iptables -w -I INPUT 1");
    let check = pos(&s, "pgc_rc=$?\nif [");
    // The undo also appears earlier, stored for the switch: look at the last occurrences.
    let disarm = s.rfind("kill -s TERM --").unwrap();
    let undo = s.rfind("pgc_del INPUT").unwrap();
    let exit = pos(&s, "exit \"$pgc_rc\"\nfi");
    assert!(
        inject < check && check < disarm && disarm < undo && undo < exit,
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

/// The words after `iptables -w -I CHAIN POS` and after `pgc_del CHAIN`.
fn rule_words(script: &str) -> (Vec<String>, Vec<String>) {
    let ins = script
        .lines()
        .filter_map(|l| l.strip_prefix("iptables -w -I "))
        .map(|l| {
            let l = l.trim_end_matches(" || exit 1");
            let mut w = l.splitn(3, ' ');
            let chain = w.next().unwrap();
            let _pos = w.next().unwrap();
            format!("{chain} {}", w.next().unwrap())
        })
        .collect();
    let del = script
        .lines()
        .filter_map(|l| l.strip_prefix("pgc_del "))
        .map(|l| l.trim_end_matches(" || pgc_rc=1").to_owned())
        .collect();
    (ins, del)
}

#[test]
fn block_undo_deletes_exactly_the_inserted_rule() {
    let a = action(json!({"block": {"target": "victim", "port": 5432}}));
    assert_eq!(a.description, "DROP inbound tcp/5432 on pg1");
    let s = node_script(&a.inject[0], "pg1");
    assert!(s.contains(
        "iptables -w -I INPUT 1 -p tcp --dport 5432 -m comment --comment pgchaos:run-7:3 -j DROP || exit 1"
    ), "{s}");
    assert!(
        pos(&s, "setsid sh -c") < pos(&s, "iptables -w -I"),
        "switch armed first"
    );
    let u = a.undo.expect("undo");
    let (ins, _) = rule_words(&s);
    let (_, del) = rule_words(&u.commands[0].script);
    assert_eq!(ins, del);
    assert_eq!(
        u.description,
        "remove the iptables rules tagged pgchaos:run-7:3"
    );
    assert!(
        u.commands[0].script.contains("iptables -w -C \"$@\""),
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
    for host in ["10.0.0.2", "10.0.0.11", "10.0.0.12"] {
        assert!(s.contains(&format!(
            "iptables -w -I OUTPUT 1 -p tcp --dport 8008 -d {host} -m comment --comment pgchaos:run-7:3 -j REJECT"
        )), "{host}:\n{s}");
    }
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
fn isolate_keeps_ssh_and_loopback_and_undo_is_exact() {
    let a = action(json!({"isolate": {"target": "victim"}}));
    let s = node_script(&a.inject[0], "pg1");
    let expect = [
        "iptables -w -I INPUT 1 -i lo -m comment --comment pgchaos:run-7:3 -j ACCEPT",
        "iptables -w -I INPUT 2 -p tcp --dport 2222 -m comment --comment pgchaos:run-7:3 -j ACCEPT",
        "iptables -w -I OUTPUT 1 -o lo -m comment --comment pgchaos:run-7:3 -j ACCEPT",
        "iptables -w -I OUTPUT 2 -p tcp --sport 2222 -m comment --comment pgchaos:run-7:3 -j ACCEPT",
        "iptables -w -I INPUT 3 -m comment --comment pgchaos:run-7:3 -j DROP",
        "iptables -w -I OUTPUT 3 -m comment --comment pgchaos:run-7:3 -j DROP",
    ];
    let mut last = 0;
    for e in expect {
        let p = pos(&s, e);
        assert!(p > last, "exceptions before drops: {e}\n{s}");
        last = p;
    }
    let u = a.undo.unwrap();
    let undo = &u.commands[0].script;
    assert!(
        pos(undo, "pgc_del OUTPUT -m comment") < pos(undo, "pgc_del INPUT -i lo"),
        "drops removed first"
    );
    let (mut ins, _) = rule_words(&s);
    let (_, del) = rule_words(undo);
    ins.reverse();
    assert_eq!(ins, del);
    // A node-level SSH port wins over the inventory's.
    let a = action(json!({"isolate": {"target": "odd"}}));
    assert!(a.inject[0].script.contains("--dport 22 -m comment"));
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
    assert!(a.inject[0].script.ends_with("set +u\necho 'hi'; exit 3\n"));
    assert!(
        a.undo.unwrap().deadmen.is_empty(),
        "a command expected to fail gets no switch"
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
fn dry_run_shows_every_command_wrapped() {
    let a = action(json!({"block": {"target": "victim", "port": 5432}}));
    let out = describe_dry_run(&a, |node, script| {
        format!("sudo -n sh -c {} # {node}", shell_quote(script))
    });
    assert!(
        out.starts_with("fault: DROP inbound tcp/5432 on pg1\n  inject on pg1: sudo -n sh -c '"),
        "{out}"
    );
    assert!(
        out.contains("  undo: remove the iptables rules tagged pgchaos:run-7:3\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "dead man's switch run-7.3.pg1 fires after 660s unless disarmed; disarm on pg1: sudo -n"
        ),
        "{out}"
    );
    let inv = inventory(json!({"power_on": "bmc {node}"}));
    let a = plan_with(&inv, json!({"poweroff": {"target": "victim"}}))
        .unwrap()
        .unwrap();
    let out = describe_dry_run(&a, |_, s| s.to_owned());
    assert!(out.contains("    locally: sh -c 'bmc pg1'\n"), "{out}");
    let a = action(json!({"reboot": {"target": "victim"}}));
    assert!(describe_dry_run(&a, |_, s| s.to_owned()).contains("undo: none (one-shot)"));
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
    let inv = inventory(json!({"power_on": "bmc {node} {host}"}));
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
