//! Small text helpers for what goes into records and reports, and placeholder
//! substitution ([`template`]).

/// The last `lines` lines and at most `bytes` bytes of `s`.
pub(crate) fn tail(s: &str, lines: usize, bytes: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    let start = v.len().saturating_sub(lines);
    let mut out = v[start..].join("\n");
    if out.len() > bytes {
        let mut cut = out.len() - bytes;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        out = format!("[…]{}", &out[cut..]);
    }
    out
}

pub(crate) mod template;
