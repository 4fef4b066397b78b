//! The canonical seed case IDs of `shared/seed-cases.md`: the contract of what the
//! scenarios under `scenarios/` must cover. None is dropped, none renamed.

/// A documented case: its ID, the runbook it comes from, and what the runbook says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SeedCase {
    /// Canonical ID, e.g. `runbook/primary-4`.
    pub id: &'static str,
    /// The fault or action.
    pub action: &'static str,
    /// The outcome the runbook documents.
    pub documented: &'static str,
}

/// Every seed case, in the order of seed-cases.md.
pub(crate) const SEED_CASES: &[SeedCase] = &[
    SeedCase {
        id: "runbook/standby-1",
        action: "kill -9 every postgres process on a standby",
        documented: "Patroni restarts PostgreSQL; service stays up",
    },
    SeedCase {
        id: "runbook/standby-2",
        action: "`pg_ctl stop` on a standby",
        documented: "Patroni restarts PostgreSQL",
    },
    SeedCase {
        id: "runbook/standby-3",
        action: "reboot a standby",
        documented: "with patroni enabled at boot, PostgreSQL comes back; no service loss",
    },
    SeedCase {
        id: "runbook/standby-4",
        action: "`systemctl stop patroni` on a standby",
        documented: "PostgreSQL stops with it; no failover",
    },
    SeedCase {
        id: "runbook/primary-1",
        action: "kill -9 postgres on the primary",
        documented: "restarted in place; same primary; no failover",
    },
    SeedCase {
        id: "runbook/primary-2",
        action: "`pg_ctl stop` on the primary",
        documented: "restarted in place; node stays primary",
    },
    SeedCase {
        id: "runbook/primary-3",
        action: "reboot the primary",
        documented: "a standby is elected; service continues",
    },
    SeedCase {
        id: "runbook/primary-4",
        action: "`systemctl stop patroni` on the primary",
        documented: "PostgreSQL stops; another node elected",
    },
    SeedCase {
        id: "runbook/primary-5",
        action: "stop patroni on a standby and on the primary",
        documented: "failover works; last node stays primary",
    },
    SeedCase {
        id: "runbook/standby-iso-1",
        action: "iptables DROP tcp/5432 on a standby",
        documented: "leaves `patronictl list`; load balancer drops it",
    },
    SeedCase {
        id: "runbook/standby-iso-1B",
        action: "switchover while that standby is isolated",
        documented: "switchover between the other nodes works",
    },
    SeedCase {
        id: "runbook/standby-iso-1C",
        action: "remove the rule",
        documented: "node rejoins after a few minutes",
    },
    SeedCase {
        id: "runbook/standby-iso-2",
        action: "iptables DROP tcp/8008 on a standby",
        documented: "HAProxy drops it; list does not notice at once",
    },
    SeedCase {
        id: "runbook/standby-iso-2B",
        action: "switchover with the isolated standby as candidate",
        documented: "refused, HTTP 412 (no valid candidate)",
    },
    SeedCase {
        id: "runbook/standby-iso-2C",
        action: "switchover to a healthy standby",
        documented: "works; isolated node shown stopped/unknown",
    },
    SeedCase {
        id: "runbook/standby-iso-3",
        action: "iptables REJECT tcp/5432 on a standby",
        documented: "as DROP; detected after a few minutes",
    },
    SeedCase {
        id: "runbook/standby-iso-4",
        action: "iptables REJECT tcp/8008 on a standby",
        documented: "as DROP; switchover to a healthy node works",
    },
    SeedCase {
        id: "runbook/primary-iso-1",
        action: "iptables DROP tcp/5432 on the primary",
        documented: "leader lost; new leader elected",
    },
    SeedCase {
        id: "runbook/primary-iso-5",
        action: "same fault, second observation",
        documented: "processes keep running, API stops answering; new leader after TTL",
    },
    SeedCase {
        id: "runbook/primary-iso-6",
        action: "iptables DROP tcp/8008 on the primary",
        documented: "NO automatic failover (Patroni does not see itself failing)",
    },
    SeedCase {
        id: "runbook/primary-iso-7",
        action: "iptables REJECT tcp/5432 on the primary",
        documented: "new leader elected",
    },
    SeedCase {
        id: "runbook/primary-iso-8",
        action: "iptables REJECT tcp/8008 on the primary",
        documented: "no failover; isolated at the proxy only",
    },
    SeedCase {
        id: "ops/switchover",
        action: "switchover to a named replica",
        documented: "new leader; old leader rejoins streaming; timeline +1",
    },
    SeedCase {
        id: "ops/failover",
        action: "failover to a named candidate",
        documented: "candidate leads; others follow; timeline +1",
    },
    SeedCase {
        id: "ops/edit-config",
        action: "change postgresql parameters in the DCS config",
        documented: "values reloaded; restart-only ones flag pending restart; after a rolling restart `pg_settings` shows the values and no pending restart",
    },
    SeedCase {
        id: "ops/stop-patroni-primary",
        action: "`systemctl stop patroni` on the primary, then start",
        documented: "PostgreSQL stopped cleanly first; other node leads; restarted node rejoins as replica",
    },
    SeedCase {
        id: "ops/poweroff-primary",
        action: "power off the primary, later power on",
        documented: "leadership moves; node rejoins streaming",
    },
    SeedCase {
        id: "ops/add-node",
        action: "start Patroni on a new node",
        documented: "bootstraps from the leader (basebackup), streams, has the cluster-wide parameters",
    },
    SeedCase {
        id: "faults/sigkill-postgres-primary",
        action: "SIGKILL all postgres on the primary",
        documented: "Patroni restarts it; leader unchanged",
    },
    SeedCase {
        id: "faults/sigstop-postgres-primary",
        action: "SIGSTOP postgres on the primary, later SIGCONT",
        documented: "failover; resumed node is demoted and follows",
    },
    SeedCase {
        id: "faults/sigkill-patroni-primary",
        action: "SIGKILL patroni on the primary, later start it",
        documented: "failover; postgres keeps running meanwhile; on start the old primary demotes and pg_rewinds",
    },
    SeedCase {
        id: "faults/sigstop-patroni-primary",
        action: "SIGSTOP patroni on the primary, later SIGCONT",
        documented: "failover after TTL; resumed node rejoins as replica",
    },
    SeedCase {
        id: "faults/stop-etcd",
        action: "stop the DCS, later start it",
        documented: "all nodes become read-only replicas (REST 503); no split brain; after restart a leader is elected with no restarts needed",
    },
    SeedCase {
        id: "load/tpcc",
        action: "sustained read/write load for a fixed time",
        documented: "no errors beyond a small ignored count, no service loss, no replication lag",
    },
    SeedCase {
        id: "init/cluster-formed",
        action: "`/cluster`",
        documented: "one leader and every other member a running replica, lag 0",
    },
    SeedCase {
        id: "init/listening",
        action: "ports",
        documented: "PostgreSQL on 5432 and the REST API on 8008 on every node",
    },
    SeedCase {
        id: "init/connect-leader",
        action: "`SELECT version()` on the leader",
        documented: "expected PostgreSQL major version",
    },
    SeedCase {
        id: "init/write-replicate",
        action: "create db + table + row on the leader",
        documented: "row visible on the replicas; `pg_stat_replication` lists them; replicas are in recovery",
    },
    SeedCase {
        id: "poc/failover",
        action: "stop Patroni abruptly on the primary",
        documented: "a secondary is promoted",
    },
    SeedCase {
        id: "poc/failback",
        action: "start the old primary again",
        documented: "it resyncs and follows the new primary",
    },
    SeedCase {
        id: "poc/add-secondary",
        action: "add a third Patroni node",
        documented: "basebackup from the leader; follows its timeline",
    },
    SeedCase {
        id: "poc/haproxy-write-port",
        action: "connect to the write port",
        documented: "only the leader answers",
    },
    SeedCase {
        id: "poc/haproxy-read-port",
        action: "connect to the read port repeatedly",
        documented: "round-robin over the replicas",
    },
    SeedCase {
        id: "poc/haproxy-failover",
        action: "lose a secondary, then the leader",
        documented: "the secondary leaves the read pool; the write port follows the new leader",
    },
    SeedCase {
        id: "poc/haproxy-failback",
        action: "bring the node back",
        documented: "it re-enters the read pool only once on the leader's timeline",
    },
    SeedCase {
        id: "poc/etcd-quorum",
        action: "lose one etcd member of three, then a second",
        documented: "one lost: cluster unaffected; quorum lost: behaves as faults/stop-etcd",
    },
];

/// The seed case with this ID.
pub(crate) fn find(id: &str) -> Option<&'static SeedCase> {
    SEED_CASES.iter().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_unique() {
        let mut ids: Vec<_> = super::SEED_CASES.iter().map(|c| c.id).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
        assert_eq!(n, 46);
    }
}
