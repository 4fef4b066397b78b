//! `tags`: Patroni's tags changed in the node's own configuration file, then reloaded.
//!
//! Tags are node-local (the `tags` section of the file Patroni was started with, at the
//! inventory's `operations.patroni_config`), so the change is made where they live: the
//! file is copied byte for byte beside itself (`FILE.pgchaos-STEM`, on the same
//! filesystem and not under `/run`, so it survives a reboot of the node), its `tags`
//! section rewritten with PyYAML (Patroni is Python and reads its file with PyYAML, so a
//! node running Patroni has it: `python3` is tried first, then the interpreter of the
//! inventory's `patronictl`, which is Patroni's own in a virtualenv), and Patroni told to
//! reload it (`patronictl reload SCOPE MEMBER --force`, the REST API's `POST /reload`).
//!
//! The undo copies the backup back (the exact bytes, owner and mode), reloads, and only
//! then removes the backup, so that a failed reload can be retried by the dead man's
//! switch or `pgchaos cleanup`. patronictl prints "Failed: reload ..." and still exits
//! 0 when the REST call fails (patroni/ctl.py `reload`), so its output is checked.
//!
//! An undo that fails (the node down at the time) is kept on this machine for `pgchaos
//! cleanup` like any other. What no record covers: pgchaos dying and the node rebooting
//! before its switch fires (the undo record is on `/run`); the backup beside the file
//! still holds the original then, for the operator to put back.

use super::sh::Stem;
use super::{Action, FaultContext, FaultError, Piece, assemble, names, nodes};
use crate::inventory::{Inventory, Node};
use crate::scenario::step::TagsStep;
use crate::transport::shell_quote;

/// The Python program rewriting the `tags` of the file `argv[1]` with the JSON object
/// `argv[2]` (a `null` removes a tag): written to a temporary file beside it with its
/// owner and mode, then renamed over it, so Patroni never reads half a file.
const EDIT_TAGS: &str = r#"import json, os, sys, yaml
path, change = sys.argv[1], json.loads(sys.argv[2])
with open(path) as f:
    doc = yaml.safe_load(f) or {}
if not isinstance(doc, dict):
    sys.exit("pgchaos: %s is not a YAML mapping" % path)
tags = doc.get("tags") or {}
if not isinstance(tags, dict):
    sys.exit("pgchaos: the tags of %s are not a mapping" % path)
for k, v in change.items():
    if v is None:
        tags.pop(k, None)
    else:
        tags[k] = v
doc["tags"] = tags
st = os.stat(path)
tmp = path + ".pgchaos-tmp"
with open(tmp, "w") as f:
    yaml.safe_dump(doc, f, default_flow_style=False, sort_keys=False)
os.chown(tmp, st.st_uid, st.st_gid)
os.chmod(tmp, st.st_mode & 0o7777)
os.replace(tmp, path)
print("pgchaos: tags in %s are now %s" % (path, json.dumps(tags, sort_keys=True)))
"#;

pub(super) fn plan(s: &TagsStep, ctx: &FaultContext) -> Result<Action, FaultError> {
    let targets = nodes(ctx, &s.target)?;
    if s.set.is_empty() {
        return Err(FaultError::Invalid("`tags.set` names no tag".into()));
    }
    let change = serde_json::Value::Object(s.set.clone().into_iter().collect());
    let mut pieces = Vec::new();
    for node in &targets {
        let stem = Stem::new(ctx.run_id, ctx.seq, &node.name);
        pieces.push((*node, piece(ctx.inventory, node, &stem, &change)));
    }
    let set: Vec<String> = s.set.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let on = names(&targets);
    Ok(assemble(
        ctx,
        "tags",
        format!(
            "set the Patroni tags {} in the configuration file of {on} and reload",
            set.join(", ")
        ),
        || format!("restore the Patroni configuration file of {on} and reload"),
        pieces,
    ))
}

/// The inject and undo of one node.
fn piece(inv: &Inventory, node: &Node, stem: &Stem, change: &serde_json::Value) -> Piece {
    let ops = inv.ops_for(node);
    let locate = format!(
        "pgc_cfg=$(readlink -f {cfg}) && [ -f \"$pgc_cfg\" ] || {{ echo \"pgchaos: no Patroni configuration file at \"{cfg} >&2; exit 1; }}\n\
         pgc_bak=\"$pgc_cfg.pgchaos-{stem}\"\n",
        cfg = shell_quote(&ops.patroni_config),
        stem = stem.0,
    );
    let reload = reload(inv, node, &ops.patronictl);
    let ctl = ops
        .patronictl
        .split_whitespace()
        .next()
        .unwrap_or("patronictl");
    let inject = format!(
        "{locate}\
         if [ ! -e \"$pgc_bak\" ]; then\n\
         \x20 cp -p \"$pgc_cfg\" \"$pgc_bak.tmp\" && mv \"$pgc_bak.tmp\" \"$pgc_bak\" || exit 1\n\
         fi\n\
         pgc_py=python3\n\
         if ! python3 -c 'import yaml' 2>/dev/null; then\n\
         \x20 pgc_ctl=$(command -v {ctl_q}) && pgc_py=$(sed -n '1s/^#! *//p' \"$pgc_ctl\" | cut -d' ' -f1)\n\
         \x20 [ -n \"$pgc_py\" ] && \"$pgc_py\" -c 'import yaml' 2>/dev/null || {{ echo 'pgchaos: no python3 with PyYAML here (nor the interpreter of patronictl) to edit the tags' >&2; exit 1; }}\n\
         fi\n\
         \"$pgc_py\" -c {prog} \"$pgc_cfg\" {change} || exit 1\n\
         {reload}",
        ctl_q = shell_quote(ctl),
        prog = shell_quote(EDIT_TAGS),
        change = shell_quote(&change.to_string()),
    );
    let undo = format!(
        "{locate}\
         if [ -e \"$pgc_bak\" ]; then\n\
         \x20 cp -p \"$pgc_bak\" \"$pgc_cfg.pgchaos-tmp\" && mv \"$pgc_cfg.pgchaos-tmp\" \"$pgc_cfg\" || exit 1\n\
         \x20 echo \"pgchaos: restored $pgc_cfg\"\n\
         \x20 {reload}\
         \x20 rm -f \"$pgc_bak\"\n\
         else\n\
         \x20 echo \"pgchaos: no backup of $pgc_cfg left: nothing to restore\"\n\
         fi\n",
    );
    Piece {
        inject,
        undo: Some(undo),
        deadman: true,
        prelude: "",
    }
}

/// Tells the node's Patroni to reload its file; fails unless patronictl says the request
/// was received (it exits 0 on a failed REST call).
fn reload(inv: &Inventory, node: &Node, patronictl: &str) -> String {
    format!(
        "pgc_out=$({patronictl} reload {scope} {member} --force 2>&1); echo \"$pgc_out\"; case $pgc_out in *'Reload request received'*|*'No changes to apply'*) ;; *) echo 'pgchaos: Patroni did not accept the reload' >&2; exit 1 ;; esac\n",
        scope = shell_quote(&inv.cluster.scope),
        member = shell_quote(&node.name),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;

    fn inv() -> Inventory {
        serde_json::from_value(serde_json::json!({
            "cluster": { "scope": "demo" },
            "operations": { "patroni_config": "/etc/patroni/my config.yml" },
            "nodes": [
                { "name": "pg1", "host": "10.0.0.1", "roles": ["patroni"] },
                { "name": "pg2", "host": "10.0.0.2", "roles": ["patroni"] }
            ]
        }))
        .expect("test inventory")
    }

    #[test]
    fn each_node_backs_up_its_file_edits_the_tags_and_reloads_with_a_switch() {
        let inv = inv();
        let mut targets = BTreeMap::new();
        targets.insert("replicas".to_owned(), vec!["pg1".into(), "pg2".into()]);
        let ctx = FaultContext {
            inventory: &inv,
            run_id: "r1",
            seq: 3,
            deadman_after: Duration::from_secs(90),
            targets: &targets,
        };
        let s: TagsStep =
            crate::diag::from_yaml("{target: replicas, set: {nofailover: true}}").expect("body");
        let a = plan(&s, &ctx).expect("a plan");
        assert_eq!(a.inject.len(), 2);
        let undo = a.undo.as_ref().expect("an undo");
        assert_eq!(undo.deadmen.len(), 2);
        let arm = &a.inject[1].script;
        // The path comes from the inventory, quoted; the backup is named by the stem.
        assert!(
            arm.contains("readlink -f '/etc/patroni/my config.yml'"),
            "{arm}"
        );
        assert!(arm.contains("pgchaos-r1.3.pg2"), "{arm}");
        assert!(arm.contains("'{\"nofailover\":true}'"), "{arm}");
        assert!(
            arm.contains("patronictl -c /etc/patroni/config.yml reload demo pg2 --force"),
            "{arm}"
        );
        assert!(arm.contains("/run/pgchaos/r1.3.pg2.undo"), "{arm}");
        assert!(
            undo.commands[0]
                .script
                .contains("mv \"$pgc_cfg.pgchaos-tmp\" \"$pgc_cfg\"")
        );
        for c in a.inject.iter().chain(&undo.commands) {
            let out = std::process::Command::new("/bin/sh")
                .args(["-n", "-c", &c.script])
                .output()
                .expect("sh -n");
            assert!(out.status.success(), "{}", c.script);
        }
        let empty: TagsStep = crate::diag::from_yaml("{target: replicas, set: {}}").expect("body");
        assert!(plan(&empty, &ctx).is_err());
    }

    /// The edit and the restore on a real file, where python3 with PyYAML is installed.
    #[test]
    fn the_edit_changes_only_the_tags_and_the_restore_is_exact() {
        let ok = std::process::Command::new("python3")
            .args(["-c", "import yaml"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: no python3 with PyYAML");
            return;
        }
        let dir = std::env::temp_dir().join(format!("pgchaos-tags-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("config.yml");
        let original = "# comment\nscope: demo\ntags:\n  nofailover: false\n  rack: a\n";
        std::fs::write(&f, original).expect("write");
        let run = |change: &str| {
            std::process::Command::new("python3")
                .args(["-c", EDIT_TAGS, f.to_str().expect("utf-8"), change])
                .output()
                .expect("python3")
        };
        let out = run(r#"{"nofailover": true, "rack": null, "failover_priority": 2}"#);
        assert!(out.status.success(), "{out:?}");
        let edited = std::fs::read_to_string(&f).expect("read");
        assert!(edited.contains("nofailover: true"), "{edited}");
        assert!(edited.contains("failover_priority: 2"), "{edited}");
        assert!(!edited.contains("rack"), "{edited}");
        assert!(edited.contains("scope: demo"), "{edited}");
        std::fs::write(&f, "- a list\n").expect("write");
        assert!(!run("{}").status.success());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
