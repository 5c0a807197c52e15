//! SHA-256 digests and constant-time comparison: how secrets are kept (application keys and
//! client secrets as digests, tokens in the store by digest) and compared (never with `==`).

/// A SHA-256 digest.
pub type Digest = [u8; 32];

/// SHA-256 of `text`, in one call (aws-lc's one-shot digest: no state allocated).
pub fn digest(text: &str) -> Digest {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The digest as 64 lower-case hex digits, in one allocation.
pub fn digest_hex(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(64);
    for byte in digest(text) {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    hex
}

/// Parses a hex digest as written in config.
pub fn parse_digest(hex: &str) -> Option<Digest> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in hex.as_bytes().chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
    }
    Some(out)
}

/// Whether `presented` hashes to `expected`, compared in constant time.
pub fn digest_matches(presented: &str, expected: &Digest) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(&digest(presented), expected).is_ok()
}

/// Whether two secrets (CSRF tokens, states, PKCE challenges) are the same, compared in constant
/// time; an empty one matches nothing.
pub fn same_secret(a: &str, b: &str) -> bool {
    !a.is_empty()
        && aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_hex_sha256() {
        assert_eq!(
            digest_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn digests_are_sha_256_and_compare_in_constant_time() {
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(digest_hex(""), empty);
        assert_eq!(parse_digest(empty), Some(digest("")));
        assert!(digest_matches("", &digest("")));
        assert!(!digest_matches("x", &digest("")));
        assert_eq!(parse_digest("zz"), None);
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("", ""));
        assert!(!same_secret("abc", "abd"));
    }
}
