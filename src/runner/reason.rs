//! A scenario's reason is one readable line: the step, the node and what went wrong. The
//! full commands and their output are evidence, kept in the step records
//! ([`crate::results::CommandRecord`]), never in the reason.

/// Longest reason kept, in characters: a line a person reads, not a log.
const MAX_CHARS: usize = 300;

/// `text` as one line: lines joined with " / ", runs of whitespace collapsed, cut at
/// [`MAX_CHARS`] characters (the evidence holds the rest).
pub(crate) fn one_line(text: &str) -> String {
    let joined = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ");
    if joined.chars().count() <= MAX_CHARS {
        return joined;
    }
    let mut out: String = joined.chars().take(MAX_CHARS).collect();
    out.push_str(" … (full output in the step's evidence)");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_one_bounded_line() {
        assert_eq!(
            one_line(
                "step 2 (stop patroni on pg1):\n  command on pg1 exited with 1:\n\n  no such unit"
            ),
            "step 2 (stop patroni on pg1): / command on pg1 exited with 1: / no such unit"
        );
        let script = "é".repeat(3000);
        let r = one_line(&format!("step 1 (shell on pg1): {script}"));
        assert!(!r.contains('\n'));
        assert!(r.chars().count() < MAX_CHARS + 60, "{}", r.len());
        assert!(r.starts_with("step 1 (shell on pg1): "));
        assert!(r.ends_with("(full output in the step's evidence)"));
    }
}
