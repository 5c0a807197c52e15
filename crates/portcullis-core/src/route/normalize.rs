//! Path normalization: authorize exactly the bytes the upstream will receive.
//!
//! Every "the rule matcher saw X, the upstream saw Y" bypass (Kong CVE-2021-27306, Oathkeeper
//! GHSA-p224-6x5r-fjpm, Envoy CVE-2021-32779, oauth2-proxy GHSA-pxq7-h93f-9jrg) comes from
//! matching one spelling of a path and forwarding another. So the path is normalized once, routes
//! match the normalized form, and that same form is what goes upstream.
//!
//! Normalization (RFC 3986 §6.2.2): percent-encoded unreserved characters are decoded, other
//! escapes are kept with upper-case hex, `.`/`..` segments are resolved and empty segments
//! (`//`) collapsed. Anything whose meaning differs between servers is refused instead: a raw
//! `#`, `\`, NUL or control byte, an encoded `/` or `\` (`%2F`, `%5C`), an encoded NUL, escapes
//! that are not UTF-8 (overlong `%C0%AE`), a `..` that climbs above the root, and — unless
//! allowed — `;` matrix parameters.

use std::borrow::Cow;
use std::fmt;

/// Longest path accepted, in bytes, before any work is done on it.
pub const MAX_PATH_LEN: usize = 8 * 1024;

/// Why a path was refused. Each maps to a 400 with a fixed message (no echo of the input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    NotAbsolute,
    TooLong,
    Fragment,
    Backslash,
    Nul,
    ControlOrNonAscii,
    EncodedSlash,
    BadPercentEncoding,
    NotUtf8,
    EscapesRoot,
    Semicolon,
}

impl PathError {
    /// A fixed, client-safe description.
    pub fn message(self) -> &'static str {
        match self {
            PathError::NotAbsolute => "the request path must start with '/'",
            PathError::TooLong => "the request path is too long",
            PathError::Fragment => "the request path contains '#'",
            PathError::Backslash => "the request path contains a backslash",
            PathError::Nul => "the request path contains a NUL byte",
            PathError::ControlOrNonAscii => "the request path contains a control or non-ASCII byte",
            PathError::EncodedSlash => "the request path contains an encoded '/' or '\\'",
            PathError::BadPercentEncoding => "the request path has a malformed percent-escape",
            PathError::NotUtf8 => "the request path's percent-escapes are not valid UTF-8",
            PathError::EscapesRoot => "the request path climbs above the root",
            PathError::Semicolon => "the request path contains ';'",
        }
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for PathError {}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Normalizes the path part of a request target (no query string).
///
/// Returns the input unchanged (borrowed, no allocation) in the common case where it is
/// already normal.
pub fn normalize_path(raw: &str, allow_semicolon: bool) -> Result<Cow<'_, str>, PathError> {
    let bytes = raw.as_bytes();
    if bytes.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong);
    }
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    let mut needs_rewrite = false;
    let mut previous = 0u8;
    for &b in bytes {
        match b {
            b'#' => return Err(PathError::Fragment),
            b'\\' => return Err(PathError::Backslash),
            0 => return Err(PathError::Nul),
            b';' if !allow_semicolon => return Err(PathError::Semicolon),
            b'%' => needs_rewrite = true,
            b'/' if previous == b'/' => needs_rewrite = true,
            b'.' if previous == b'/' => needs_rewrite = true,
            _ if b <= 0x20 || b >= 0x7f => return Err(PathError::ControlOrNonAscii),
            _ => {}
        }
        previous = b;
    }
    if !needs_rewrite {
        return Ok(Cow::Borrowed(raw));
    }
    rewrite(bytes).map(Cow::Owned)
}

/// The slow path: decode, check and resolve segment by segment.
fn rewrite(bytes: &[u8]) -> Result<String, PathError> {
    // Output segments (already in their forwarded spelling) and, per segment, the fully decoded
    // bytes used for the UTF-8 check.
    let mut segments: Vec<String> = Vec::new();
    let mut decoded = Vec::new();
    let raw_segments: Vec<&[u8]> = bytes[1..].split(|&b| b == b'/').collect();
    let last = raw_segments.len() - 1;
    let mut trailing_slash = false;
    for (index, raw_segment) in raw_segments.iter().enumerate() {
        let segment = decode_segment(raw_segment, &mut decoded)?;
        let is_last = index == last;
        match segment.as_str() {
            "" => {
                // `//` collapses; a final empty segment means the path ended with '/'.
                if is_last {
                    trailing_slash = true;
                }
            }
            "." => trailing_slash = is_last,
            ".." => {
                if segments.pop().is_none() {
                    return Err(PathError::EscapesRoot);
                }
                trailing_slash = is_last;
            }
            _ => {
                segments.push(segment);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(bytes.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    Ok(out)
}

/// Decodes unreserved escapes of one segment and validates the others.
fn decode_segment(raw: &[u8], decoded: &mut Vec<u8>) -> Result<String, PathError> {
    let mut out = String::with_capacity(raw.len());
    decoded.clear();
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b != b'%' {
            out.push(b as char);
            decoded.push(b);
            i += 1;
            continue;
        }
        let (hi, lo) = match (raw.get(i + 1), raw.get(i + 2)) {
            (Some(&h), Some(&l)) => (h, l),
            _ => return Err(PathError::BadPercentEncoding),
        };
        let value = match (hex_value(hi), hex_value(lo)) {
            (Some(h), Some(l)) => h << 4 | l,
            _ => return Err(PathError::BadPercentEncoding),
        };
        match value {
            0 => return Err(PathError::Nul),
            b'/' | b'\\' => return Err(PathError::EncodedSlash),
            v if is_unreserved(v) => out.push(v as char),
            v => {
                out.push('%');
                out.push(char::from(b"0123456789ABCDEF"[usize::from(v >> 4)]));
                out.push(char::from(b"0123456789ABCDEF"[usize::from(v & 0xf)]));
            }
        }
        decoded.push(value);
        i += 3;
    }
    if std::str::from_utf8(decoded).is_err() {
        return Err(PathError::NotUtf8);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> Result<String, PathError> {
        normalize_path(p, false).map(Cow::into_owned)
    }

    #[test]
    fn normal_paths_are_borrowed_unchanged() {
        for p in ["/", "/a", "/a/b/", "/api/v1/users(42)", "/x.y/z~_-"] {
            assert!(
                matches!(normalize_path(p, false), Ok(Cow::Borrowed(_))),
                "{p}"
            );
        }
    }

    #[test]
    fn dot_segments_resolve() {
        assert_eq!(norm("/public/../admin").unwrap(), "/admin");
        assert_eq!(norm("/a/./b").unwrap(), "/a/b");
        assert_eq!(norm("/a/b/..").unwrap(), "/a/");
        assert_eq!(norm("/a/b/.").unwrap(), "/a/b/");
        assert_eq!(norm("/a/..").unwrap(), "/");
        assert_eq!(norm("/.").unwrap(), "/");
        assert_eq!(norm("/a/.b/..c").unwrap(), "/a/.b/..c");
    }

    #[test]
    fn encoded_dots_are_decoded_then_resolved() {
        assert_eq!(norm("/public/%2e%2e/admin").unwrap(), "/admin");
        assert_eq!(norm("/public/%2E%2e/admin").unwrap(), "/admin");
        assert_eq!(norm("/public/.%2e/admin").unwrap(), "/admin");
    }

    #[test]
    fn empty_segments_collapse() {
        assert_eq!(norm("//admin").unwrap(), "/admin");
        assert_eq!(norm("/a//b///c").unwrap(), "/a/b/c");
        assert_eq!(norm("/a//").unwrap(), "/a/");
    }

    #[test]
    fn unreserved_escapes_decode_and_others_are_uppercased() {
        assert_eq!(norm("/%61%62c").unwrap(), "/abc");
        assert_eq!(norm("/a%20b").unwrap(), "/a%20b");
        assert_eq!(norm("/a%3fb").unwrap(), "/a%3Fb");
        assert_eq!(norm("/caf%C3%A9").unwrap(), "/caf%C3%A9");
        // An encoded '#' is data, not a fragment, and stays encoded.
        assert_eq!(norm("/public/%23/../admin").unwrap(), "/public/admin");
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        assert_eq!(norm("/../etc/passwd"), Err(PathError::EscapesRoot));
        assert_eq!(norm("/a/../../b"), Err(PathError::EscapesRoot));
        assert_eq!(norm("/%2e%2e/x"), Err(PathError::EscapesRoot));
        assert_eq!(norm("/public%2f..%2fadmin"), Err(PathError::EncodedSlash));
        assert_eq!(norm("/a%2Fb"), Err(PathError::EncodedSlash));
        assert_eq!(norm("/a%5cb"), Err(PathError::EncodedSlash));
        assert_eq!(norm("/a%00b"), Err(PathError::Nul));
        assert_eq!(norm("/a\0b"), Err(PathError::Nul));
        assert_eq!(norm("/public#/../admin"), Err(PathError::Fragment));
        assert_eq!(norm("/a\\b"), Err(PathError::Backslash));
        assert_eq!(norm("/public/..;/admin"), Err(PathError::Semicolon));
        assert_eq!(norm("/a%zz"), Err(PathError::BadPercentEncoding));
        assert_eq!(norm("/a%4"), Err(PathError::BadPercentEncoding));
        assert_eq!(norm("/%c0%ae%c0%ae/x"), Err(PathError::NotUtf8));
        assert_eq!(norm("/a b"), Err(PathError::ControlOrNonAscii));
        assert_eq!(norm("/caf\u{e9}"), Err(PathError::ControlOrNonAscii));
        assert_eq!(norm("admin"), Err(PathError::NotAbsolute));
        assert_eq!(norm(""), Err(PathError::NotAbsolute));
        assert_eq!(
            norm(&format!("/{}", "a".repeat(MAX_PATH_LEN))),
            Err(PathError::TooLong)
        );
    }

    #[test]
    fn semicolons_pass_when_allowed() {
        assert_eq!(
            normalize_path("/a;v=1/b", true).unwrap(),
            Cow::Borrowed("/a;v=1/b")
        );
    }

    #[test]
    fn normalization_is_idempotent() {
        for p in [
            "/public/../admin",
            "/a//b/./c/..",
            "/%41%2e%2E/x%20y",
            "/a/b/",
            "/x/%7e",
        ] {
            let once = norm(p).unwrap();
            assert_eq!(norm(&once).unwrap(), once, "{p}");
        }
    }
}
