//! `fill_disk`: fill the filesystem holding a node's data directory or its `pg_wal`,
//! leaving a margin (a fault undone by removing exactly the file it wrote).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Call, CheckCx, StepKind, StepResult, StepRunner};
use crate::scenario::refs::TargetRef;

/// Fill a filesystem of the node's PostgreSQL.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FillDiskStep {
    /// The node(s).
    pub target: String,
    /// Which filesystem: the one holding the data directory (default) or `pg_wal`'s
    /// (a separate WAL disk when `pg_wal` is a link to one).
    #[serde(default)]
    pub filesystem: FillWhat,
    /// Space left free for PostgreSQL: `0` (default), `64MiB`, `1GiB`.
    #[serde(default)]
    pub leave: Option<String>,
    /// A name for the fault.
    #[serde(default)]
    pub id: Option<String>,
}

/// The filesystem a `fill_disk` step fills.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FillWhat {
    /// The data directory's.
    #[default]
    Data,
    /// `pg_wal`'s (the same as the data directory's unless `pg_wal` links elsewhere).
    Wal,
}

/// A size in bytes: a whole number with `B`, `KiB`, `MiB`, `GiB` (or `K`, `M`, `G`,
/// also binary), or a bare `0`.
pub(crate) fn size_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t == "0" {
        return Ok(0);
    }
    let units: &[(&str, u64)] = &[
        ("KiB", 1 << 10),
        ("MiB", 1 << 20),
        ("GiB", 1 << 30),
        ("K", 1 << 10),
        ("M", 1 << 20),
        ("G", 1 << 30),
        ("B", 1),
    ];
    for (u, mul) in units {
        if let Some(n) = t.strip_suffix(u) {
            let n: u64 = n
                .trim()
                .parse()
                .map_err(|_| format!("size {s:?}: {n:?} is not a whole number"))?;
            return Ok(n.saturating_mul(*mul));
        }
    }
    Err(format!(
        "size {s:?}: write a whole number with B, KiB, MiB or GiB (`64MiB`), or 0"
    ))
}

pub(crate) struct FillDisk;

impl StepKind for FillDisk {
    const NAME: &'static str = "fill_disk";
    #[cfg(test)]
    const SAMPLE: &'static str = "{target: t}";
    type Body = FillDiskStep;

    fn id(s: &FillDiskStep) -> Option<&str> {
        s.id.as_deref()
    }

    fn is_fault(_s: &FillDiskStep) -> bool {
        true
    }

    fn is_fault_event(_s: &FillDiskStep) -> bool {
        true
    }

    fn targets(s: &FillDiskStep) -> Vec<TargetRef<'_>> {
        vec![TargetRef::new("target", &s.target)]
    }

    fn check<'a>(s: &'a FillDiskStep, cx: &mut CheckCx<'a, '_>) {
        if let Some(l) = &s.leave
            && let Err(e) = size_bytes(l)
        {
            let at = cx.base.key("leave");
            cx.c.err(&at, e, None);
        }
    }

    fn describe(s: &FillDiskStep) -> String {
        let what = match s.filesystem {
            FillWhat::Data => "the data directory's filesystem",
            FillWhat::Wal => "pg_wal's filesystem",
        };
        format!(
            "fill {what} on {}, leaving {}",
            s.target,
            s.leave.as_deref().unwrap_or("0")
        )
    }

    async fn execute<R: StepRunner>(_s: &FillDiskStep, call: Call<'_>, run: &mut R) -> StepResult {
        run.fault(call.step, call.rec).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_binary_units() {
        assert_eq!(size_bytes("0"), Ok(0));
        assert_eq!(size_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(size_bytes("1G"), Ok(1 << 30));
        assert_eq!(size_bytes("512 KiB"), Ok(512 << 10));
        assert!(size_bytes("1.5GiB").unwrap_err().contains("whole number"));
        assert!(size_bytes("10").unwrap_err().contains("B, KiB"));
    }
}
