//! Operations resolved for one node: the inventory-wide values, overridden by the node's,
//! falling back to defaults that fit a systemd host (Debian or RHEL).

use super::{Inventory, Node, Operations};

/// Every operation of one node, with defaults applied and placeholders left in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ops {
    /// Patroni's service name.
    pub patroni_service: String,
    /// etcd's service name.
    pub etcd_service: String,
    /// HAProxy's service name.
    pub haproxy_service: String,
    /// Start a service (`{service}`).
    pub service_start: String,
    /// Stop a service (`{service}`).
    pub service_stop: String,
    /// Restart a service (`{service}`).
    pub service_restart: String,
    /// Enable a service at boot (`{service}`).
    pub service_enable: String,
    /// Exit 0 when a service runs (`{service}`).
    pub service_is_active: String,
    /// Stop the supervisor from restarting `{service}`.
    pub service_keep_down: String,
    /// Undo `service_keep_down`.
    pub service_keep_down_undo: String,
    /// PostgreSQL's process name.
    pub postgres_process: String,
    /// Pattern matching Patroni's command line.
    pub patroni_process: String,
    /// etcd's process name.
    pub etcd_process: String,
    /// OS user of PostgreSQL.
    pub postgres_user: String,
    /// Data directory.
    pub data_dir: String,
    /// Bin directory.
    pub bin_dir: String,
    /// Unix socket directory.
    pub socket_dir: String,
    /// Reboot command.
    pub reboot: String,
    /// Power-off command.
    pub poweroff: String,
    /// Local power-on command (`{node}`, `{host}`), if any.
    pub power_on: Option<String>,
    /// patronictl invocation.
    pub patronictl: String,
    /// Path of Patroni's configuration file.
    pub patroni_config: String,
    /// Log command (`{service}`, `{since}`, `{until}`).
    pub patroni_log: String,
    /// Prints the resets the node's watchdog caused, if the host can tell.
    pub watchdog_log: Option<String>,
    /// Whether `clock_step` may step the node's clock.
    pub allow_clock_step: bool,
}

impl Inventory {
    /// The operations of `node`, with every default applied.
    pub(crate) fn ops_for(&self, node: &Node) -> Ops {
        resolve(&self.operations, &node.operations)
    }
}

impl Ops {
    /// The command printing Patroni's log between `since` and `until` (UTC,
    /// `YYYY-MM-DD HH:MM:SS`), every value quoted where the template puts it.
    pub(crate) fn patroni_log_command(&self, since: &str, until: &str) -> String {
        crate::text::template::shell(
            &self.patroni_log,
            &[
                ("service", &self.patroni_service),
                ("since", since),
                ("until", until),
            ],
        )
    }
}

fn resolve(global: &Operations, node: &Operations) -> Ops {
    macro_rules! pick {
        ($field:ident, $default:expr) => {
            node.$field
                .clone()
                .or_else(|| global.$field.clone())
                .unwrap_or_else(|| String::from($default))
        };
    }
    Ops {
        patroni_service: pick!(patroni_service, "patroni"),
        etcd_service: pick!(etcd_service, "etcd"),
        haproxy_service: pick!(haproxy_service, "haproxy"),
        service_start: pick!(service_start, "systemctl start {service}"),
        service_stop: pick!(service_stop, "systemctl stop {service}"),
        service_restart: pick!(service_restart, "systemctl restart {service}"),
        service_enable: pick!(service_enable, "systemctl enable {service}"),
        service_is_active: pick!(service_is_active, "systemctl is-active {service}"),
        service_keep_down: pick!(
            service_keep_down,
            "mkdir -p /run/systemd/system/{service}.service.d && \
             printf '[Service]\\nRestart=no\\n' \
             >/run/systemd/system/{service}.service.d/pgchaos-keep-down.conf && \
             systemctl daemon-reload"
        ),
        service_keep_down_undo: pick!(
            service_keep_down_undo,
            "rm -f /run/systemd/system/{service}.service.d/pgchaos-keep-down.conf && \
             systemctl daemon-reload"
        ),
        postgres_process: pick!(postgres_process, "postgres"),
        patroni_process: pick!(patroni_process, "bin/patroni"),
        etcd_process: pick!(etcd_process, "etcd"),
        postgres_user: pick!(postgres_user, "postgres"),
        data_dir: pick!(data_dir, "/var/lib/postgresql/15/main"),
        bin_dir: pick!(bin_dir, "/usr/lib/postgresql/15/bin"),
        socket_dir: pick!(socket_dir, "/var/run/postgresql"),
        reboot: pick!(reboot, "systemctl reboot"),
        poweroff: pick!(poweroff, "systemctl poweroff"),
        power_on: node.power_on.clone().or_else(|| global.power_on.clone()),
        patronictl: pick!(patronictl, "patronictl -c /etc/patroni/config.yml"),
        patroni_config: pick!(patroni_config, "/etc/patroni/config.yml"),
        patroni_log: pick!(
            patroni_log,
            // `{since}`/`{until}` are UTC; journalctl reads a bare time in the node's
            // local time zone, so say UTC explicitly.
            "journalctl -u {service} --no-pager --since '{since} UTC' --until '{until} UTC'"
        ),
        watchdog_log: node
            .watchdog_log
            .clone()
            .or_else(|| global.watchdog_log.clone()),
        allow_clock_step: node
            .allow_clock_step
            .or(global.allow_clock_step)
            .unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_overrides_global_overrides_default() {
        let global = Operations {
            patroni_service: Some("patroni@main".into()),
            ..Default::default()
        };
        let node = Operations {
            reboot: Some("reboot".into()),
            ..Default::default()
        };
        let ops = resolve(&global, &node);
        assert_eq!(ops.patroni_service, "patroni@main");
        assert_eq!(ops.reboot, "reboot");
        assert_eq!(ops.etcd_service, "etcd");
    }

    #[test]
    fn the_log_command_quotes_the_service_wherever_the_template_puts_it() {
        let run = |template: Option<&str>, service: &str| {
            let ops = resolve(
                &Operations {
                    patroni_service: Some(service.into()),
                    patroni_log: template.map(str::to_owned),
                    ..Default::default()
                },
                &Operations::default(),
            );
            let cmd = ops.patroni_log_command("2026-12-01 10:00:00", "2026-12-01 {since}");
            // What sh would pass as arguments, printed one a line.
            let probe = cmd.replacen("journalctl", "printf '%s\\n'", 1);
            let o = std::process::Command::new("sh")
                .arg("-c")
                .arg(&probe)
                .output()
                .unwrap();
            (cmd, String::from_utf8_lossy(&o.stdout).into_owned())
        };
        let (cmd, args) = run(None, "patroni@a; touch /tmp/pgc-log-pwned");
        assert_eq!(
            args,
            "-u\npatroni@a; touch /tmp/pgc-log-pwned\n--no-pager\n--since\n2026-12-01 10:00:00 UTC\n--until\n2026-12-01 {since} UTC\n",
            "{cmd}"
        );
        // An inventory that quoted the placeholder itself gets the same words.
        let (cmd, args) = run(
            Some("journalctl -u '{service}' -S \"{since}\""),
            "it's $(id)",
        );
        assert_eq!(args, "-u\nit's $(id)\n-S\n2026-12-01 10:00:00\n", "{cmd}");
        assert!(!std::path::Path::new("/tmp/pgc-log-pwned").exists());
    }
}
