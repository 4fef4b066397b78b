//! The text of every file the lab writes: service configurations, sshd and ssh settings,
//! the shims replacing systemd inside nodes, and the inventory.

use std::path::Path;

use super::topology::{LabNode, LabState, NodeKind, SCOPE};

/// HAProxy's write port (to the node answering `/primary`).
pub(crate) const HAPROXY_WRITE_PORT: u16 = 5000;
/// HAProxy's read port (round-robin over nodes answering `/replica`).
pub(crate) const HAPROXY_READ_PORT: u16 = 5001;
/// HAProxy's stats page.
pub(crate) const HAPROXY_STATS_PORT: u16 = 7000;
/// Patroni's REST API port.
pub(crate) const PATRONI_PORT: u16 = 8008;
/// PgBouncer's port (its default `listen_port`).
pub(crate) const PGBOUNCER_PORT: u16 = 6432;

/// Generated passwords (never logged).
pub(crate) struct Passwords {
    pub rest: String,
    pub superuser: String,
    pub replication: String,
    pub rewind: String,
}

/// Names of the secret files under `DIR/secrets/`.
pub(crate) mod secret_files {
    pub(crate) const REST: &str = "patroni-rest";
    pub(crate) const SUPERUSER: &str = "postgres";
    pub(crate) const REPLICATION: &str = "replicator";
    pub(crate) const REWIND: &str = "rewind";
}

/// A YAML double-quoted scalar (JSON strings are valid YAML).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

fn qp(p: &Path) -> String {
    q(&p.display().to_string())
}

/// Patroni's `/etc/patroni/config.yml` for a Patroni or spare node.
pub(crate) fn patroni_yml(state: &LabState, node: &LabNode, pw: &Passwords) -> String {
    let etcd: Vec<String> = state
        .etcd_members()
        .map(|n| format!("    - {}:2379", n.ip))
        .collect();
    let t = state.timings;
    let cidr = state.cidr();
    format!(
        r#"# Written by `pgchaos lab up`.
scope: {SCOPE}
namespace: /service/
name: {name}

restapi:
  listen: {ip}:{PATRONI_PORT}
  connect_address: {ip}:{PATRONI_PORT}
  authentication:
    username: patroni
    password: {rest}

etcd3:
  hosts:
{etcd}

bootstrap:
  dcs:
    ttl: {ttl}
    loop_wait: {loop_wait}
    retry_timeout: {retry_timeout}
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 128MB
        max_connections: 100
  initdb:
    - encoding: UTF8
    - data-checksums

postgresql:
  listen: {ip}:5432
  connect_address: {ip}:5432
  data_dir: /var/lib/postgresql/15/main
  bin_dir: /usr/lib/postgresql/15/bin
  pgpass: /var/lib/postgresql/.pgpass_patroni
  # A replica created from a busy leader would otherwise wait for a spread checkpoint
  # (minutes); production configurations usually ask for a fast one too.
  basebackup:
    - checkpoint: fast
  authentication:
    superuser:
      username: postgres
      password: {superuser}
    replication:
      username: replicator
      password: {replication}
    rewind:
      username: rewind_user
      password: {rewind}
  parameters:
    unix_socket_directories: /var/run/postgresql
    shared_buffers: 32MB
    logging_collector: "on"
    log_directory: /var/log/postgresql
    log_filename: postgresql.log
    log_line_prefix: "%m [%p] %q%u@%d "
  pg_hba:
    - local all all peer
    - host all all 127.0.0.1/32 scram-sha-256
    - host all all {cidr} scram-sha-256
    - host replication replicator 127.0.0.1/32 scram-sha-256
    - host replication replicator {cidr} scram-sha-256

{watchdog}
tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
  nosync: false
"#,
        name = node.name,
        ip = node.ip,
        rest = q(&pw.rest),
        etcd = etcd.join("\n"),
        ttl = t.ttl,
        loop_wait = t.loop_wait,
        retry_timeout = t.retry_timeout,
        superuser = q(&pw.superuser),
        replication = q(&pw.replication),
        rewind = q(&pw.rewind),
        watchdog = watchdog_yml(state),
    )
}

/// Patroni's `watchdog` section: the `testing` driver on the node's watchdog pipe (see
/// `watchdog.rs`). `required`: Patroni does not take or keep the leader key without a
/// working watchdog (Patroni docs, "Watchdog support"). The watchdog timeout Patroni sets
/// is `ttl - safety_margin` (patroni/watchdog/base.py), 15 s with ttl 20: a leader frozen
/// longer is reset before a replica may take its key.
fn watchdog_yml(state: &LabState) -> String {
    if state.watchdog {
        format!(
            "watchdog:\n  mode: required\n  driver: testing\n  device: {}\n  safety_margin: 5\n",
            super::watchdog::DEVICE
        )
    } else {
        "watchdog:\n  mode: off\n".into()
    }
}

/// etcd's `/etc/default/etcd` (Debian's unit reads its settings from there).
pub(crate) fn etcd_env(state: &LabState, node: &LabNode) -> String {
    let cluster: Vec<String> = state
        .etcd_members()
        .map(|n| format!("{}=http://{}:2380", n.name, n.ip))
        .collect();
    format!(
        "# Written by `pgchaos lab up`.\n\
         ETCD_NAME={name}\n\
         ETCD_DATA_DIR=/var/lib/etcd/default\n\
         ETCD_LISTEN_PEER_URLS=http://{ip}:2380\n\
         ETCD_LISTEN_CLIENT_URLS=http://{ip}:2379,http://127.0.0.1:2379\n\
         ETCD_INITIAL_ADVERTISE_PEER_URLS=http://{ip}:2380\n\
         ETCD_ADVERTISE_CLIENT_URLS=http://{ip}:2379\n\
         ETCD_INITIAL_CLUSTER={cluster}\n\
         ETCD_INITIAL_CLUSTER_TOKEN={SCOPE}\n\
         ETCD_INITIAL_CLUSTER_STATE=new\n",
        name = node.name,
        ip = node.ip,
        cluster = cluster.join(","),
    )
}

/// HAProxy's `/etc/haproxy/haproxy.cfg`, laid out as seeds/004 does (a write listener
/// checked with `/primary`, a round-robin read listener checked with `/replica`, a stats
/// page) with faster checks.
pub(crate) fn haproxy_cfg(state: &LabState, node: &LabNode) -> String {
    let servers: String = state
        .nodes
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::Patroni | NodeKind::Spare))
        .map(|n| {
            format!(
                "    server {} {}:5432 maxconn 100 check port {PATRONI_PORT}\n",
                n.name, n.ip
            )
        })
        .collect();
    format!(
        r#"# Written by `pgchaos lab up`.
global
    maxconn 1000
    log stdout format raw local0
    user haproxy
    group haproxy

defaults
    mode tcp
    log global
    retries 2
    timeout connect 4s
    timeout client 30m
    timeout server 30m
    timeout check 2s

listen stats
    mode http
    bind {ip}:{HAPROXY_STATS_PORT}
    stats enable
    stats uri /
    stats refresh 2s

listen primary
    bind {ip}:{HAPROXY_WRITE_PORT}
    option httpchk OPTIONS /primary
    http-check expect status 200
    default-server inter 1s fastinter 1s rise 2 fall 2 on-marked-down shutdown-sessions
{servers}
listen replicas
    bind {ip}:{HAPROXY_READ_PORT}
    balance roundrobin
    option httpchk OPTIONS /replica
    http-check expect status 200
    default-server inter 1s fastinter 1s rise 2 fall 2 on-marked-down shutdown-sessions
{servers}"#,
        ip = node.ip,
    )
}

/// PgBouncer's `/etc/pgbouncer/pgbouncer.ini` on the HAProxy node: every database is
/// forwarded to HAProxy's write port on the same node (a `*` fallback entry, PgBouncer
/// docs config.html, "Section [databases]").
///
/// - `pool_mode = transaction`: PAUSE "waits for all queries to complete" only in
///   transaction mode; in session mode it waits for clients to disconnect (usage.html,
///   "PAUSE [db]"), which a long-lived application connection never does.
/// - `auth_type = hba`: the lab's PostgreSQL rule (`scram-sha-256` from the lab's subnet)
///   for applications, and `peer` on the Unix socket for the console user, so that PAUSE
///   and RESUME need no password (config.html, "auth_hba_file"). The user list holds the
///   password in plain text, which lets PgBouncer answer SCRAM and log in to PostgreSQL
///   with it (config.html, "auth_file").
/// - Everything else is left at PgBouncer's defaults, as Debian ships it; in particular
///   `server_login_retry` (15 s): after a failed login to the server (through HAProxy
///   while no node can take it) PgBouncer waits that long before it tries again
///   (config.html, "server_login_retry"), which is what a switchover without PAUSE
///   costs an application behind it.
pub(crate) fn pgbouncer_ini(node: &LabNode) -> String {
    format!(
        r#"; Written by `pgchaos lab up`.
[databases]
* = host={ip} port={HAPROXY_WRITE_PORT}

[pgbouncer]
listen_addr = {ip}
listen_port = {PGBOUNCER_PORT}
unix_socket_dir = /var/run/postgresql
auth_type = hba
auth_file = /etc/pgbouncer/userlist.txt
auth_hba_file = /etc/pgbouncer/pg_hba.conf
admin_users = postgres
pool_mode = transaction
max_client_conn = 200
default_pool_size = 20
ignore_startup_parameters = extra_float_digits
logfile = /var/log/postgresql/pgbouncer.log
pidfile = /var/run/postgresql/pgbouncer.pid
"#,
        ip = node.ip,
    )
}

/// PgBouncer's HBA file: the console for the local postgres user by `peer`, applications
/// from the lab's subnet with SCRAM, as the lab's PostgreSQL has them.
pub(crate) fn pgbouncer_hba(state: &LabState) -> String {
    format!(
        "# Written by `pgchaos lab up`.\n\
         local pgbouncer postgres peer\n\
         host all all 127.0.0.1/32 scram-sha-256\n\
         host all all {} scram-sha-256\n",
        state.cidr()
    )
}

/// PgBouncer's user list: the superuser with its password.
pub(crate) fn pgbouncer_userlist(pw: &Passwords) -> String {
    format!("\"postgres\" \"{}\"\n", pw.superuser.replace('"', "\"\""))
}

/// A node's `sshd_config`.
pub(crate) fn sshd_config(state: &LabState, node: &LabNode) -> String {
    let nd = state.node_dir(&node.name);
    format!(
        "# Written by `pgchaos lab up`.\n\
         ListenAddress {ip}:22\n\
         HostKey {hostkey}\n\
         AuthorizedKeysFile {auth}\n\
         PermitRootLogin prohibit-password\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         StrictModes no\n\
         PidFile /run/sshd.pid\n\
         PrintMotd no\n\
         UseDNS no\n\
         MaxSessions 64\n\
         MaxStartups 64:30:128\n\
         AcceptEnv LANG LC_*\n\
         Subsystem sftp /usr/lib/openssh/sftp-server\n",
        ip = node.ip,
        hostkey = nd.join("ssh/ssh_host_ed25519_key").display(),
        auth = state.dir.join("ssh/authorized_keys").display(),
    )
}

/// The lab's ssh_config: so a user's `~/.ssh/config` cannot interfere, and so that
/// `ssh -F DIR/ssh/ssh_config pg1` works.
pub(crate) fn ssh_config(state: &LabState) -> String {
    let ssh = state.dir.join("ssh");
    let mut out = String::from("# Written by `pgchaos lab up`.\n");
    for n in &state.nodes {
        out.push_str(&format!("Host {}\n    HostName {}\n", n.name, n.ip));
    }
    out.push_str(&format!(
        "Host *\n    User root\n    IdentityFile {key}\n    IdentitiesOnly yes\n    \
         UserKnownHostsFile {kh}\n    GlobalKnownHostsFile /dev/null\n    \
         StrictHostKeyChecking accept-new\n    BatchMode yes\n    ConnectTimeout 5\n    \
         LogLevel ERROR\n",
        key = ssh.join("id_ed25519").display(),
        kh = ssh.join("known_hosts").display(),
    ));
    out
}

/// The lab's inventory, in the format users write for real clusters.
pub(crate) fn inventory_yml(state: &LabState) -> String {
    let dir = &state.dir;
    let secrets = dir.join("secrets");
    let ssh = dir.join("ssh");
    let power_on = format!(
        "{} lab --dir {} power-on {{node}}",
        shell_quote(&state.exe.display().to_string()),
        shell_quote(&dir.display().to_string()),
    );
    let reset = format!(
        "{} lab --dir {} reset",
        shell_quote(&state.exe.display().to_string()),
        shell_quote(&dir.display().to_string()),
    );
    let mut out = format!(
        r#"# The pgchaos lab ({cidr}), written by `pgchaos lab up`. See docs/lab.md.
cluster:
  scope: {SCOPE}
  lab: true
  # What the lab's Patroni configuration says (watchdog.mode), verified before every run.
  watchdog: {watchdog}
  patroni:
    port: {PATRONI_PORT}
    scheme: http
    auth:
      username: patroni
      password:
        file: {rest}
  postgres:
    port: 5432
    database: postgres
    user: postgres
    password:
      file: {superuser}
    sslmode: prefer
ssh:
  user: root
  key: {key}
  host_key_checking: accept-new
  known_hosts: {kh}
  config_file: {cfg}
operations:
  reboot: reboot
  poweroff: poweroff
  power_on: {power_on}
  reset_cluster: {reset}
  patronictl: patronictl -c /etc/patroni/config.yml
  patroni_log: pgchaos-patroni-log '{{since}}' '{{until}}'
  watchdog_log: pgchaos-watchdog-log
nodes:
"#,
        watchdog = if state.watchdog { "required" } else { "off" },
        cidr = state.cidr(),
        rest = qp(&secrets.join(secret_files::REST)),
        superuser = qp(&secrets.join(secret_files::SUPERUSER)),
        key = qp(&ssh.join("id_ed25519")),
        kh = qp(&ssh.join("known_hosts")),
        cfg = qp(&ssh.join("ssh_config")),
        power_on = q(&power_on),
        reset = q(&reset),
    );
    for n in &state.nodes {
        let role = match n.kind {
            NodeKind::Patroni => "patroni",
            NodeKind::Spare => "spare",
            NodeKind::Etcd => "etcd",
            NodeKind::Haproxy => "haproxy",
        };
        let extra = if n.kind != NodeKind::Etcd && state.runs_etcd(n) {
            ", etcd"
        } else {
            ""
        };
        out.push_str(&format!(
            "  - name: {}\n    host: {}\n    roles: [{role}{extra}]\n",
            n.name, n.ip
        ));
    }
    out.push_str("entrypoints:\n");
    if let Some(h) = state.nodes_of(NodeKind::Haproxy).next() {
        out.push_str(&format!(
            "  haproxy:\n    host: {}\n    write_port: {HAPROXY_WRITE_PORT}\n    \
             read_port: {HAPROXY_READ_PORT}\n    stats_port: {HAPROXY_STATS_PORT}\n",
            h.ip
        ));
        out.push_str(&format!(
            "  pgbouncer:\n    host: {}\n    port: {PGBOUNCER_PORT}\n    node: {}\n    \
             admin_user: postgres\n    socket_dir: /var/run/postgresql\n",
            h.ip, h.name
        ));
    }
    out.push_str("  etcd:\n");
    for n in state.etcd_members() {
        out.push_str(&format!("    - http://{}:2379\n", n.ip));
    }
    out
}

/// Quotes a word for a POSIX shell.
pub(crate) fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A shim script and the name it is installed under in the node's `/usr/local/sbin`.
pub(crate) struct Shim {
    pub name: &'static str,
    pub text: String,
}

/// Every shim, with the lab's paths filled in.
pub(crate) fn shims(state: &LabState) -> Vec<Shim> {
    let (patroni, patronictl) = super::packages::patroni_binaries(state.patroni4);
    let fill = |t: &str| {
        t.replace("@LAB_DIR@", &state.dir.display().to_string())
            .replace("@PATRONI_BIN@", patroni)
            .replace("@PATRONICTL_BIN@", patronictl)
            .replace("@RESTART_PATRONI@", state.restart.of("patroni"))
            .replace("@RESTART_ETCD@", state.restart.of("etcd"))
            .replace("@RESTART_HAPROXY@", state.restart.of("haproxy"))
            .replace("@WATCHDOG_LOG@", super::watchdog::LOG)
    };
    let systemctl = fill(include_str!("shims/systemctl.sh"));
    let power = fill(include_str!("shims/power.sh"));
    vec![
        Shim {
            name: "systemctl",
            text: systemctl,
        },
        Shim {
            name: "reboot",
            text: power.clone(),
        },
        Shim {
            name: "poweroff",
            text: power.clone(),
        },
        Shim {
            name: "halt",
            text: power.clone(),
        },
        Shim {
            name: "shutdown",
            text: power,
        },
        Shim {
            name: "patronictl",
            text: fill(include_str!("shims/patronictl.sh")),
        },
        Shim {
            name: "pg_ctl",
            text: fill(include_str!("shims/pg_ctl.sh")),
        },
        Shim {
            name: "pgchaos-patroni-log",
            text: fill(include_str!("shims/patroni-log.sh")),
        },
        Shim {
            name: "pgchaos-watchdog-log",
            text: fill(include_str!("shims/watchdog-log.sh")),
        },
    ]
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::lab::topology::DEFAULT_SUBNET;

    fn state() -> LabState {
        LabState::plan(
            &PathBuf::from("/var/lib/pgchaos-lab"),
            &PathBuf::from("/usr/bin/pgchaos"),
            DEFAULT_SUBNET,
            3,
            false,
        )
        .unwrap()
    }

    #[test]
    fn inventory_is_accepted_by_the_loader() {
        let s = state();
        let text = inventory_yml(&s);
        let inv = crate::inventory::parse(Path::new("lab.yml"), &text)
            .unwrap()
            .inventory;
        assert_eq!(inv.cluster.scope, "pgchaos-lab");
        assert!(inv.cluster.lab);
        assert_eq!(inv.nodes.len(), 8);
        assert_eq!(inv.nodes_with(crate::inventory::Role::Spare).count(), 1);
        let ops = inv.ops_for(inv.node("pg1").unwrap());
        assert_eq!(
            ops.power_on.as_deref(),
            Some("/usr/bin/pgchaos lab --dir /var/lib/pgchaos-lab power-on {node}")
        );
        assert_eq!(ops.reboot, "reboot");
        assert_eq!(
            inv.operations.reset_cluster.as_deref(),
            Some("/usr/bin/pgchaos lab --dir /var/lib/pgchaos-lab reset")
        );
        let h = inv.entrypoints.haproxy.unwrap();
        assert_eq!(
            (h.write_port, h.read_port, h.stats_port),
            (5000, Some(5001), Some(7000))
        );
        assert_eq!(inv.entrypoints.etcd.len(), 3);
        let b = inv.entrypoints.pgbouncer.unwrap();
        assert_eq!(
            (b.host.as_str(), b.port, b.node.as_str()),
            (h.host.as_str(), 6432, "haproxy")
        );
    }

    #[test]
    fn pgbouncer_forwards_to_the_write_port_in_transaction_mode() {
        let s = state();
        let h = s.node("haproxy").unwrap();
        let ini = pgbouncer_ini(h);
        assert!(ini.contains("* = host=10.213.47.30 port=5000\n"), "{ini}");
        assert!(ini.contains("listen_port = 6432\n"));
        assert!(ini.contains("pool_mode = transaction\n"));
        assert!(pgbouncer_hba(&s).contains("local pgbouncer postgres peer\n"));
        let pw = Passwords {
            rest: "a".into(),
            superuser: "s\"q".into(),
            replication: "r".into(),
            rewind: "w".into(),
        };
        assert_eq!(pgbouncer_userlist(&pw), "\"postgres\" \"s\"\"q\"\n");
        assert_eq!(s.boot_services(h), vec!["haproxy", "pgbouncer"]);
    }

    #[test]
    fn patroni_config_keeps_timing_invariant_and_quotes_passwords() {
        let s = state();
        let pw = Passwords {
            rest: "a'b\"c".into(),
            superuser: "s".into(),
            replication: "r".into(),
            rewind: "w".into(),
        };
        let text = patroni_yml(&s, s.node("pg2").unwrap(), &pw);
        assert!(text.contains("listen: 10.213.47.12:5432"));
        assert!(text.contains(r#"password: "a'b\"c""#));
        assert!(text.contains("- 10.213.47.23:2379"));
    }

    #[test]
    fn watchdog_and_restart_policy_reach_patroni_the_inventory_and_the_shims() {
        let pw = Passwords {
            rest: "a".into(),
            superuser: "s".into(),
            replication: "r".into(),
            rewind: "w".into(),
        };
        let mut s = state();
        s.watchdog = true;
        s.restart = crate::lab::RestartPolicy::Debian;
        let text = patroni_yml(&s, s.node("pg1").unwrap(), &pw);
        assert!(
            text.contains(
                "watchdog:\n  mode: required\n  driver: testing\n  device: /run/watchdog\n"
            )
        );
        let inv = crate::inventory::parse(Path::new("lab.yml"), &inventory_yml(&s))
            .unwrap()
            .inventory;
        assert_eq!(
            inv.cluster.watchdog,
            crate::inventory::WatchdogMode::Required
        );
        assert_eq!(
            inv.operations.watchdog_log.as_deref(),
            Some("pgchaos-watchdog-log")
        );
        let all = shims(&s);
        let systemctl = &all.iter().find(|s| s.name == "systemctl").unwrap().text;
        assert!(systemctl.contains("UNIT_RESTART='on-failure'"));
        assert!(systemctl.contains("UNIT_RESTART='on-abnormal'"));
        assert!(systemctl.contains("UNIT_RESTART='always'"));
        for shim in &all {
            assert!(!shim.text.contains("@RESTART_"), "{} is filled", shim.name);
            assert!(
                !shim.text.contains("@WATCHDOG_LOG@"),
                "{} is filled",
                shim.name
            );
        }

        s.watchdog = false;
        s.restart = crate::lab::RestartPolicy::No;
        assert!(patroni_yml(&s, s.node("pg1").unwrap(), &pw).contains("watchdog:\n  mode: off\n"));
        let inv = crate::inventory::parse(Path::new("lab.yml"), &inventory_yml(&s))
            .unwrap()
            .inventory;
        assert_eq!(inv.cluster.watchdog, crate::inventory::WatchdogMode::Off);
        let systemctl = shims(&s)
            .into_iter()
            .find(|s| s.name == "systemctl")
            .unwrap()
            .text;
        assert_eq!(systemctl.matches("UNIT_RESTART='no'").count(), 3);
    }

    #[test]
    fn colocated_etcd_runs_on_the_patroni_members() {
        let mut s = state();
        s.colocate_etcd();
        assert_eq!(s.nodes.len(), 5, "pg1-3, the spare, haproxy");
        let pg1 = s.node("pg1").unwrap();
        assert_eq!(s.boot_services(pg1), vec!["etcd", "patroni"]);
        assert!(s.boot_services(s.node("pg4").unwrap()).is_empty());
        let env = etcd_env(&s, pg1);
        assert!(env.contains(
            "ETCD_INITIAL_CLUSTER=pg1=http://10.213.47.11:2380,pg2=http://10.213.47.12:2380,pg3=http://10.213.47.13:2380"
        ));
        let pw = Passwords {
            rest: "a".into(),
            superuser: "s".into(),
            replication: "r".into(),
            rewind: "w".into(),
        };
        assert!(patroni_yml(&s, pg1, &pw).contains("    - 10.213.47.13:2379\n"));
        let inv = crate::inventory::parse(Path::new("lab.yml"), &inventory_yml(&s))
            .unwrap()
            .inventory;
        assert_eq!(inv.nodes_with(crate::inventory::Role::Etcd).count(), 3);
        assert_eq!(inv.nodes_with(crate::inventory::Role::Patroni).count(), 3);
        assert_eq!(
            inv.entrypoints.etcd.first().map(String::as_str),
            Some("http://10.213.47.11:2379")
        );
    }

    #[test]
    fn haproxy_lists_every_postgres_node() {
        let s = state();
        let text = haproxy_cfg(&s, s.node("haproxy").unwrap());
        assert_eq!(text.matches("server pg4 ").count(), 2);
        assert!(text.contains("bind 10.213.47.30:5000"));
        assert!(text.contains("on-marked-down shutdown-sessions"));
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/a/b"), "/a/b");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
