//! Pure helpers on WAL positions and timelines, shared by the samplers, the Patroni model
//! and the checks.

/// Parses a PostgreSQL LSN (`0/3000060`, hexadecimal high and low 32-bit halves) into a
/// byte position. `None` for anything else (including Patroni's `"unknown"`).
pub(crate) fn lsn_to_u64(lsn: &str) -> Option<u64> {
    let (hi, lo) = lsn.trim().split_once('/')?;
    if hi.is_empty() || lo.is_empty() || hi.len() > 8 || lo.len() > 8 {
        return None;
    }
    let hi = u64::from_str_radix(hi, 16).ok()?;
    let lo = u64::from_str_radix(lo, 16).ok()?;
    Some((hi << 32) | lo)
}

/// Formats a byte position as PostgreSQL writes an LSN (`0/3000060`).
#[cfg(test)]
pub(crate) fn u64_to_lsn(pos: u64) -> String {
    format!("{:X}/{:X}", pos >> 32, pos & 0xFFFF_FFFF)
}

/// The timeline encoded in a WAL file name (`000000020000000000000003` is timeline 2),
/// as `pg_walfile_name()` returns it.
pub(crate) fn timeline_from_walfile(name: &str) -> Option<u64> {
    let name = name.trim();
    if name.len() != 24 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(&name[..8], 16).ok().filter(|t| *t > 0)
}

/// A timeline as reported in text: a plain number (`3`), tolerating surrounding blanks,
/// or a WAL file name. Timeline 0 does not exist and is refused.
pub(crate) fn parse_timeline(text: &str) -> Option<u64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    // A WAL file name is all digits often enough to parse as a (wrong) decimal number.
    if t.len() == 24 {
        return timeline_from_walfile(t);
    }
    // Timeline IDs are 32-bit in PostgreSQL.
    t.parse::<u64>()
        .ok()
        .filter(|t| *t > 0 && *t <= u64::from(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lsns() {
        assert_eq!(lsn_to_u64("0/3000060"), Some(0x0300_0060));
        assert_eq!(lsn_to_u64("1/0"), Some(1 << 32));
        assert_eq!(lsn_to_u64("FFFFFFFF/FFFFFFFF"), Some(u64::MAX));
        assert_eq!(lsn_to_u64(" 0/16B3748\n"), Some(0x016B_3748));
        assert_eq!(
            lsn_to_u64("0/3000060").map(u64_to_lsn).as_deref(),
            Some("0/3000060")
        );
    }

    #[test]
    fn refuses_non_lsns() {
        for bad in [
            "",
            "unknown",
            "0/",
            "/1",
            "3000060",
            "0/XYZ",
            "1/2/3",
            "100000000/0",
        ] {
            assert_eq!(lsn_to_u64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn lsn_order_is_numeric_order() {
        let a = lsn_to_u64("0/FFFFFFFF").unwrap();
        let b = lsn_to_u64("1/0").unwrap();
        assert!(a < b);
    }

    #[test]
    fn timelines_from_text_and_walfiles() {
        assert_eq!(parse_timeline("2"), Some(2));
        assert_eq!(parse_timeline(" 14 \n"), Some(14));
        assert_eq!(parse_timeline("000000020000000000000003"), Some(2));
        assert_eq!(parse_timeline("0000001A0000000100000003"), Some(26));
        assert_eq!(parse_timeline("0"), None);
        assert_eq!(parse_timeline(""), None);
        assert_eq!(parse_timeline("000000000000000000000003"), None);
        assert_eq!(parse_timeline("00000002000000000000003"), None);
        assert_eq!(parse_timeline("x"), None);
    }
}
