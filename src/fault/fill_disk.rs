//! `fill_disk`: one file at the root of the filesystem that holds the data directory (or
//! `pg_wal`), as large as the free space less the margin; its path recorded on the node
//! before it is written, and the undo removes exactly that file.
//!
//! Why at the filesystem's root and not inside the data directory: a file in PGDATA would
//! be copied by `pg_basebackup` and `pg_rewind`, and seen by whatever scans `pg_wal`. Why
//! its path is recorded first: `fallocate` failing with ENOSPC on ext4 still leaves a file
//! holding what it could allocate, so the undo must remove it whether or not the fill
//! succeeded.

use super::sh::{Stem, mkdir_state};
use super::{Action, FaultContext, FaultError, Piece, assemble, names, nodes};
use crate::scenario::step::size_bytes;
use crate::scenario::{FillDiskStep, FillWhat};
use crate::transport::shell_quote;

/// The file name a fill writes (its path is `MOUNT/NAME`).
pub(super) fn file_name(stem: &Stem) -> String {
    format!("pgchaos-fill.{}", stem.0)
}

pub(super) fn plan(s: &FillDiskStep, ctx: &FaultContext) -> Result<Action, FaultError> {
    let targets = nodes(ctx, &s.target)?;
    let leave = s
        .leave
        .as_deref()
        .map(size_bytes)
        .transpose()
        .map_err(FaultError::Invalid)?
        .unwrap_or(0);
    let leave_kib = leave.div_ceil(1024);
    let mut pieces = Vec::new();
    for node in &targets {
        let ops = ctx.inventory.ops_for(node);
        let dir = match s.filesystem {
            FillWhat::Data => ops.data_dir.clone(),
            FillWhat::Wal => format!("{}/pg_wal", ops.data_dir.trim_end_matches('/')),
        };
        let stem = Stem::new(ctx.run_id, ctx.seq, &node.name);
        let record = stem.path("fill");
        let name = file_name(&stem);
        let inject = format!(
            "pgc_dir={dir_q}\n\
             pgc_dir=$(cd \"$pgc_dir\" 2>/dev/null && pwd -P) || {{ echo \"pgchaos: failed to find the directory \"{dir_q} >&2; exit 1; }}\n\
             pgc_mnt=$(df -P \"$pgc_dir\" | awk 'NR == 2 {{ print $6 }}')\n\
             [ -d \"$pgc_mnt\" ] || {{ echo \"pgchaos: failed to find the filesystem of $pgc_dir\" >&2; exit 1; }}\n\
             pgc_file=\"${{pgc_mnt%/}}/{name}\"\n\
             {mkdir}\
             printf '%s\\n' \"$pgc_file\" >{record}.tmp && mv {record}.tmp {record} || exit 1\n\
             pgc_avail=$(df -Pk \"$pgc_dir\" | awk 'NR == 2 {{ print $4 }}')\n\
             pgc_n=$(( pgc_avail - {leave_kib} ))\n\
             if [ \"$pgc_n\" -le 0 ]; then\n\
             \x20 echo \"pgchaos: $pgc_mnt has $pgc_avail KiB free, not more than the margin: nothing written\"\n\
             else\n\
             \x20 if ! fallocate -l \"${{pgc_n}}KiB\" \"$pgc_file\" 2>/dev/null; then\n\
             \x20   # What fallocate allocated before ENOSPC stays; only what is still free\n\
             \x20   # beyond the margin is written (all of it where fallocate is unsupported).\n\
             \x20   pgc_n=$(( $(df -Pk \"$pgc_dir\" | awk 'NR == 2 {{ print $4 }}') - {leave_kib} ))\n\
             \x20   if [ \"$pgc_n\" -gt 0 ]; then\n\
             \x20     dd if=/dev/zero of=\"$pgc_file\" bs=1024 count=\"$pgc_n\" conv=notrunc oflag=append 2>/dev/null || true\n\
             \x20   fi\n\
             \x20 fi\n\
             \x20 echo \"pgchaos: wrote $pgc_file for $pgc_dir: $(df -Pk \"$pgc_dir\" | awk 'NR == 2 {{ print $4 }}') KiB left on $pgc_mnt\"\n\
             fi\n",
            dir_q = shell_quote(&dir),
            mkdir = mkdir_state(),
        );
        let undo = format!(
            "if [ -f {record} ]; then\n\
             \x20 pgc_file=$(head -n 1 {record})\n\
             \x20 case $pgc_file in\n\
             \x20   */{name}) ;;\n\
             \x20   *) echo \"pgchaos: refusing to remove $pgc_file: not a file of this fault\" >&2; exit 1 ;;\n\
             \x20 esac\n\
             \x20 rm -f \"$pgc_file\" || exit 1\n\
             \x20 rm -f {record}\n\
             \x20 echo \"pgchaos: removed $pgc_file\"\n\
             else\n\
             \x20 echo 'pgchaos: nothing written by this fault is left'\n\
             fi\n"
        );
        pieces.push((*node, Piece::undone(inject, undo)));
    }
    let what = match s.filesystem {
        FillWhat::Data => "the data directory's filesystem",
        FillWhat::Wal => "pg_wal's filesystem",
    };
    let on = names(&targets);
    let description = format!(
        "fill {what} on {on}, leaving {}",
        s.leave.as_deref().unwrap_or("0")
    );
    let undo_description = || format!("remove the file written on {on}");
    Ok(assemble(
        ctx,
        "fill_disk",
        description,
        undo_description,
        pieces,
    ))
}
