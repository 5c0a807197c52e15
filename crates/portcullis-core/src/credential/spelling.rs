//! Carrier names as the most lenient framework behind the gateway would read them.
//!
//! A credential the gateway did not recognise is one it neither counts, verifies nor removes —
//! and an upstream that reads it anyway has been handed a second, unchecked credential. So
//! every rule here errs towards "this is the carrier": what it matches is counted as a
//! credential (two are refused), verified when taken, and removed before forwarding.
//!
//! - Query parameter and cookie names: percent-decoded and `+` read as a space (PHP decodes
//!   both; Rails and Express decode parameter names), ASCII case folded (ASP.NET Core's query
//!   and cookie collections ignore case), `.`, space, `-` and an unclosed `[` read as `_` (PHP
//!   rewrites the first three in names), a trailing `[…]` ignored (`access_token[]`: an array
//!   in PHP, Rails and `qs`), surrounding whitespace trimmed.
//! - Header names: `_` and `-` are the same (CGI, WSGI and Rack read both as `HTTP_X_API_KEY`;
//!   oauth2-proxy CVE-2025-64484); `http` already lower-cases names.
//! - `Authorization` schemes that carry a token: `Bearer`, `token` and `JWT`
//!   (django-rest-framework, djangorestframework-simplejwt, passport-jwt), recognised by their
//!   first letters whatever follows — a tab, a colon or nothing (RFC 7235 allows only a space,
//!   frameworks split on any whitespace or compare prefixes).

/// `name` (raw, as in the query or `Cookie` header) read as `access_token` by some framework.
pub fn is_access_token_name(name: &[u8]) -> bool {
    parameter_is(name, b"access_token")
}

/// `name` (raw) read as `target` (lower-case, `_` for separators) by some framework.
pub fn parameter_is(name: &[u8], target: &[u8]) -> bool {
    // The cheap exits first: every request's query goes through this for each parameter.
    if name.len() < target.len() {
        return false;
    }
    if name == target {
        return true;
    }
    let mut decoded = Decoded::new(name).skip_while(u8::is_ascii_whitespace);
    for &expected in target {
        match decoded.next() {
            Some(b) if fold_name_byte(b) == expected => {}
            _ => return false,
        }
    }
    // What follows the name: nothing, whitespace or NUL (C-string readers stop there), or a
    // `[…]` suffix.
    let rest: Vec<u8> = decoded.take(4096).collect();
    let rest = rest.trim_ascii();
    rest.is_empty() || rest.starts_with(b"\0") || (rest.starts_with(b"[") && rest.ends_with(b"]"))
}

/// The `name=value` pairs of a query as the most lenient parser splits them: on `&` and on
/// `;` (Rack's default separators, and Python's `parse_qs` before 3.9.2), so that
/// `?a=1;access_token=x` is seen to carry a token.
pub fn query_pairs(query: &str) -> impl Iterator<Item = &str> {
    query.split(['&', ';'])
}

/// One byte of a parameter or cookie name, folded the way lenient frameworks fold it.
fn fold_name_byte(b: u8) -> u8 {
    match b {
        b'.' | b' ' | b'-' | b'[' => b'_',
        _ => b.to_ascii_lowercase(),
    }
}

/// Percent-decoding (and `+` as a space) of a name, byte by byte, without allocating.
struct Decoded<'a> {
    bytes: &'a [u8],
}

impl<'a> Decoded<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }
}

impl Iterator for Decoded<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.bytes.split_first()?;
        let hex = |b: u8| (b as char).to_digit(16);
        if first == b'%' {
            if let [high, low, after @ ..] = rest {
                if let (Some(h), Some(l)) = (hex(*high), hex(*low)) {
                    self.bytes = after;
                    return Some((h * 16 + l) as u8);
                }
            }
        }
        self.bytes = rest;
        Some(if first == b'+' { b' ' } else { first })
    }
}

/// Whether header `name` (lower-case, as `http` stores it) is `carrier` (lower-case) once `_`
/// and `-` are read alike.
pub fn same_header_name(name: &str, carrier: &str) -> bool {
    name.len() == carrier.len()
        && name
            .bytes()
            .zip(carrier.bytes())
            .all(|(n, c)| n == c || (matches!(n, b'_' | b'-') && matches!(c, b'_' | b'-')))
}

/// Whether an `Authorization` value carries a token in some framework's reading: its scheme
/// begins with `bearer`, `token` or `jwt`, whatever separates it from the rest.
pub fn is_token_scheme(value: &[u8]) -> bool {
    let value = value.trim_ascii_start();
    [&b"bearer"[..], b"token", b"jwt"].iter().any(|scheme| {
        value
            .get(..scheme.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_the_token_parameter_is_recognised() {
        for name in [
            "access_token",
            "ACCESS_TOKEN",
            "Access_Token",
            "access%5Ftoken",
            "access%5ftoken",
            "%61ccess_token",
            "access.token",
            "access-token",
            "access token",
            "access+token",
            "access%20token",
            "access[token",
            "access_token[]",
            "access_token[0]",
            "access_token%5B%5D",
            " access_token",
            "access_token ",
            "access_token%00",
        ] {
            assert!(is_access_token_name(name.as_bytes()), "{name}");
        }
        assert!(parameter_is(b".method", b"_method"));
        assert!(parameter_is(b"_METHOD", b"_method"));
        assert!(!parameter_is(b"method", b"_method"));
        for name in [
            "access_tokens",
            "access_toke",
            "accesstoken",
            "xaccess_token",
            "access_token[",
            "access_token]",
            "token",
            "",
        ] {
            assert!(!is_access_token_name(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn queries_split_on_both_separators() {
        let pairs: Vec<&str> = query_pairs("a=1;access_token=x&b=2").collect();
        assert_eq!(pairs, ["a=1", "access_token=x", "b=2"]);
    }

    #[test]
    fn header_names_match_in_either_separator() {
        assert!(same_header_name("x-api-key", "x-api-key"));
        assert!(same_header_name("x_api_key", "x-api-key"));
        assert!(same_header_name("x_api-key", "x-api-key"));
        assert!(same_header_name("tenant-hash", "tenant_hash"));
        assert!(!same_header_name("x-api-keys", "x-api-key"));
        assert!(!same_header_name("x.api.key", "x-api-key"));
    }

    #[test]
    fn token_schemes_are_recognised_whatever_follows_them() {
        for value in [
            "Bearer abc",
            "Bearer\tabc",
            "bearer:abc",
            "BEARERabc",
            "  Bearer abc",
            "Bearer",
            "token key",
            "Token\tkey",
            "JWT abc",
        ] {
            assert!(is_token_scheme(value.as_bytes()), "{value}");
        }
        for value in ["Basic dTpw", "Digest a=b", "Negotiate x", "Bea rer x", ""] {
            assert!(!is_token_scheme(value.as_bytes()), "{value}");
        }
    }
}
