//! `clock_step`: set a node's wall clock `by` seconds ahead (or back), recording first the
//! true time and the node's uptime. The undo sets the clock to that true time plus the
//! uptime elapsed since: what the clock would read had it never been stepped, whatever a
//! time-sync daemon did meanwhile, and the same however often it runs (the dead man's
//! switch and pgchaos may both run it). A reboot empties the state directory (`/run`),
//! and the clock is then the RTC's and time sync's again, so nothing is left to undo.

use super::sh::{Stem, mkdir_state};
use super::{Action, FaultContext, FaultError, Piece, assemble, names, nodes};
use crate::scenario::ClockStepStep;

pub(super) fn plan(s: &ClockStepStep, ctx: &FaultContext) -> Result<Action, FaultError> {
    if ctx.inventory.cluster.lab {
        return Err(FaultError::Invalid(
            "clock_step is refused in the lab: its nodes share this machine's clock".into(),
        ));
    }
    let targets = nodes(ctx, &s.target)?;
    if let Some(n) = targets
        .iter()
        .find(|n| !ctx.inventory.ops_for(n).allow_clock_step)
    {
        return Err(FaultError::Invalid(format!(
            "clock_step on {}: the inventory does not allow clock steps there \
             (operations.allow_clock_step)",
            n.name
        )));
    }
    let ms = i64::try_from(s.by.0.as_millis()).unwrap_or(i64::MAX);
    let delta = if s.backwards { -ms } else { ms };
    let delta = format!("{}.{:03}", delta / 1000, (delta % 1000).abs());
    let mut pieces = Vec::new();
    for node in &targets {
        let stem = Stem::new(ctx.run_id, ctx.seq, &node.name);
        let record = stem.path("clock");
        let inject = format!(
            "{mkdir}\
             pgc_now=$(date +%s.%N) && pgc_up=$(cut -d ' ' -f 1 /proc/uptime) || exit 1\n\
             printf '%s %s\\n' \"$pgc_now\" \"$pgc_up\" >{record}.tmp && mv {record}.tmp {record} || exit 1\n\
             pgc_to=$(awk -v n=\"$pgc_now\" -v d={delta} 'BEGIN {{ printf \"%.3f\", n + d }}')\n\
             if ! date -s \"@$pgc_to\" >/dev/null; then\n\
             \x20 rm -f {record}\n\
             \x20 echo 'pgchaos: date -s failed: the clock was not stepped' >&2\n\
             \x20 exit 1\n\
             fi\n\
             echo \"pgchaos: stepped the clock by {delta}s, it reads $(date -u '+%Y-%m-%dT%H:%M:%SZ')\"\n\
             for pgc_d in chronyd systemd-timesyncd ntpd; do\n\
             \x20 if pgrep -x \"$pgc_d\" >/dev/null 2>&1; then echo \"pgchaos: note: $pgc_d runs here and may correct the step before the undo\"; fi\n\
             done\n",
            mkdir = mkdir_state(),
        );
        let undo = format!(
            "if [ -f {record} ]; then\n\
             \x20 read -r pgc_then pgc_up0 <{record} || exit 1\n\
             \x20 pgc_up=$(cut -d ' ' -f 1 /proc/uptime) || exit 1\n\
             \x20 pgc_to=$(awk -v t=\"$pgc_then\" -v a=\"$pgc_up0\" -v b=\"$pgc_up\" 'BEGIN {{ printf \"%.3f\", t + (b - a) }}')\n\
             \x20 date -s \"@$pgc_to\" >/dev/null || {{ echo 'pgchaos: date -s failed: the clock is still stepped' >&2; exit 1; }}\n\
             \x20 rm -f {record}\n\
             \x20 echo \"pgchaos: set the clock to what it would read unstepped: $(date -u '+%Y-%m-%dT%H:%M:%SZ')\"\n\
             else\n\
             \x20 echo 'pgchaos: no clock step of this fault is left'\n\
             fi\n"
        );
        pieces.push((*node, Piece::undone(inject, undo)));
    }
    let on = names(&targets);
    let description = format!(
        "step the clock of {on} {} by {}",
        if s.backwards { "back" } else { "forward" },
        s.by
    );
    let undo_description = || format!("set the clock of {on} to the unstepped time");
    Ok(assemble(
        ctx,
        "clock_step",
        description,
        undo_description,
        pieces,
    ))
}
