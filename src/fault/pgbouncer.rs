//! `pgbouncer_pause`: `PAUSE;` on PgBouncer's admin console, undone by `RESUME;`.
//!
//! Both run on the node PgBouncer runs on (`entrypoints.pgbouncer.node`), with psql on
//! PgBouncer's Unix socket as the operating-system user named by `admin_user` (one of
//! PgBouncer's `admin_users`, authenticated by `peer` or that user's `.pgpass`): the
//! scripts hold no password, so the undo record on the node, the one `pgchaos cleanup`
//! keeps and the reports can all show them. psql sends `-c` with the simple query
//! protocol, the only one the console speaks (PgBouncer docs, usage.html, "Admin
//! console": "only simple text protocol").
//!
//! PAUSE only returns once every server connection is released and closed (usage.html,
//! "PAUSE [db]"), so it is bounded: a transaction that never ends makes the inject fail,
//! and a failed inject is undone at once (see [`super::assemble`]). The undo is
//! idempotent: RESUME on a PgBouncer that is not paused (the dead man's switch fired, or
//! someone resumed it) answers "pooler is not paused/suspended" (PgBouncer's admin.c),
//! which counts as done.

use super::{Action, FaultContext, FaultError, Piece, assemble};
use crate::inventory::Pgbouncer;
use crate::transport::shell_quote;

/// Longest wait for PAUSE to return (every transaction in flight must end first).
const PAUSE_BOUND_SECS: u32 = 30;

pub(super) fn plan(ctx: &FaultContext) -> Result<Action, FaultError> {
    let b = ctx
        .inventory
        .entrypoints
        .pgbouncer
        .as_ref()
        .ok_or_else(|| {
            FaultError::Invalid(
                "`pgbouncer_pause` needs `entrypoints.pgbouncer` in the inventory".into(),
            )
        })?;
    let node = ctx
        .inventory
        .node(&b.node)
        .ok_or_else(|| FaultError::UnknownNode(b.node.clone()))?;
    let pause = format!(
        "command -v psql >/dev/null || {{ echo 'pgchaos: psql is not installed on this node: PgBouncer'\"'\"'s console cannot be reached' >&2; exit 1; }}\n\
         pgc_out=$({}) && echo \"$pgc_out\" || {{ echo \"pgchaos: PAUSE failed: $pgc_out\" >&2; exit 1; }}\n\
         echo 'pgchaos: PgBouncer paused (queries wait in PgBouncer until RESUME)'\n",
        console(b, "PAUSE;", PAUSE_BOUND_SECS)
    );
    let resume = format!(
        "pgc_out=$({} 2>&1)\n\
         pgc_rc=$?\n\
         case $pgc_out in\n\
         \x20 *'not paused'*) echo 'pgchaos: PgBouncer was not paused: nothing to resume' ;;\n\
         \x20 *) if [ \"$pgc_rc\" -ne 0 ]; then echo \"pgchaos: RESUME failed: $pgc_out\" >&2; exit 1; fi\n\
         \x20    echo \"$pgc_out\"; echo 'pgchaos: PgBouncer resumed' ;;\n\
         esac\n",
        console(b, "RESUME;", 10)
    );
    Ok(assemble(
        ctx,
        "pgbouncer_pause",
        format!(
            "PAUSE PgBouncer on {} ({}:{}): queries wait in PgBouncer",
            node.name, b.host, b.port
        ),
        || format!("RESUME PgBouncer on {}", node.name),
        vec![(node, Piece::undone(pause, resume))],
    ))
}

/// psql running one console command on PgBouncer's socket, as the admin user when the
/// script runs as root, bounded by `secs` (stderr joins stdout).
fn console(b: &Pgbouncer, command: &str, secs: u32) -> String {
    let psql = format!(
        "timeout {secs} env PGCONNECT_TIMEOUT=5 psql -h {dir} -p {port} -U {user} -d pgbouncer -XAtq -c {cmd} 2>&1",
        dir = shell_quote(&b.socket_dir),
        port = b.port,
        user = shell_quote(&b.admin_user),
        cmd = shell_quote(command),
    );
    // From `/`: psql run as another user warns when it cannot enter the SSH user's home.
    format!(
        "cd /; if [ \"$(id -u)\" = 0 ]; then runuser -u {user} -- {psql}; else {psql}; fi",
        user = shell_quote(&b.admin_user),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::inventory::Inventory;

    #[test]
    fn pause_runs_on_pgbouncers_node_with_a_switch_and_resume_is_idempotent() {
        let inv: Inventory = serde_json::from_value(serde_json::json!({
            "cluster": { "scope": "demo" },
            "nodes": [
                { "name": "pg1", "host": "10.0.0.1", "roles": ["patroni"] },
                { "name": "lb", "host": "10.0.0.9", "roles": ["haproxy"] }
            ],
            "entrypoints": { "pgbouncer": { "host": "10.0.0.9", "node": "lb" } }
        }))
        .expect("test inventory");
        let targets = BTreeMap::new();
        let ctx = FaultContext {
            inventory: &inv,
            run_id: "r1",
            seq: 2,
            deadman_after: Duration::from_secs(90),
            targets: &targets,
        };
        let a = plan(&ctx).expect("a plan");
        assert_eq!(a.inject.len(), 1);
        assert_eq!(
            a.inject[0].location,
            super::super::Location::Node("lb".into())
        );
        let arm = &a.inject[0].script;
        assert!(arm.contains("/run/pgchaos/r1.2.lb.undo"), "{arm}");
        assert!(arm.contains("runuser -u postgres -- timeout 30"), "{arm}");
        assert!(
            arm.contains("psql -h /var/run/postgresql -p 6432 -U postgres -d pgbouncer"),
            "{arm}"
        );
        assert!(arm.contains("'PAUSE;'"), "{arm}");
        let undo = a.undo.as_ref().expect("an undo");
        assert_eq!(undo.deadmen.len(), 1);
        assert!(undo.commands[0].script.contains("'RESUME;'"));
        assert!(undo.commands[0].script.contains("*'not paused'*"));
        for c in a.inject.iter().chain(&undo.commands) {
            let out = std::process::Command::new("/bin/sh")
                .args(["-n", "-c", &c.script])
                .output()
                .expect("sh -n");
            assert!(out.status.success(), "{}", c.script);
        }

        let mut none = inv.clone();
        none.entrypoints.pgbouncer = None;
        let ctx = FaultContext {
            inventory: &none,
            ..ctx
        };
        assert!(plan(&ctx).is_err());
    }
}
