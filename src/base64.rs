//! Standard base64 with padding: etcd's v3 JSON gateway encodes keys and values so (proto3
//! JSON's `bytes`), and HTTP Basic authentication encodes credentials so.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes `data`, padded with `=` to a multiple of four characters.
pub(crate) fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes `s` (padding optional); `None` on a character outside the alphabet.
pub(crate) fn decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    for b in s.bytes().filter(|b| *b != b'=') {
        let v = ALPHABET.iter().position(|c| *c == b)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in ["", "a", "ab", "abc", "/service/pgchaos-lab/leader"] {
            let e = encode(s.as_bytes());
            assert_eq!(e.len() % 4, 0);
            assert_eq!(decode(&e).unwrap(), s.as_bytes(), "{s}");
        }
        assert_eq!(encode(b"pg1"), "cGcx");
        assert_eq!(encode(b"ab"), "YWI=");
        assert_eq!(encode(b"patroni:s3cret"), "cGF0cm9uaTpzM2NyZXQ=");
        assert_eq!(decode("?"), None);
    }
}
