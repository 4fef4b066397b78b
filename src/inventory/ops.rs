//! Operations resolved for one node: the inventory-wide values, overridden by the node's,
//! falling back to defaults that fit a systemd host (Debian or RHEL).

use super::{Inventory, Node, Operations};

/// Every operation of one node, with defaults applied and placeholders left in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ops {
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
    /// Log command (`{service}`, `{since}`, `{until}`).
    pub patroni_log: String,
}

impl Inventory {
    /// The operations of `node`, with every default applied.
    pub fn ops_for(&self, node: &Node) -> Ops {
        resolve(&self.operations, &node.operations)
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
        patroni_log: pick!(
            patroni_log,
            "journalctl -u {service} --no-pager --since '{since}' --until '{until}'"
        ),
    }
}

/// Substitutes `{name}` placeholders in `template`.
pub fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
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
    fn renders_placeholders() {
        assert_eq!(
            render("systemctl stop {service}", &[("service", "patroni")]),
            "systemctl stop patroni"
        );
    }
}
