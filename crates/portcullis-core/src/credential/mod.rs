//! Finding the one credential a request carries (RFC 6750 §2).
//!
//! Every carrier a route accepts is looked at, and a request that carries more than one
//! credential — even the same value twice, or the same carrier repeated — is refused with
//! `invalid_request` (RFC 6750 §2, §3.1; Kong PR #9946). A gateway that checked one token while
//! the upstream read another would be the bypass. Sizes are checked before anything is parsed,
//! so a megabyte of dots costs a length comparison (CVE-2025-30204).

pub mod secret;
pub mod spelling;

pub use secret::Secret;

use http::header::{AUTHORIZATION, COOKIE};
use http::HeaderMap;

/// Where a credential can travel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Carrier {
    /// `Authorization: Bearer <token>`
    Bearer,
    /// `Authorization: token <application key>`
    TokenScheme,
    /// `?access_token=…`
    Query,
    /// `Cookie: access_token=…`
    Cookie,
    /// A named custom header (lower-case), e.g. `x-api-key`.
    Header(String),
}

/// A carrier in the config that is none of the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a carrier (bearer, token, query, cookie or header:<Name>)")]
pub struct InvalidCarrier(pub String);

impl Carrier {
    /// Parses a carrier as written in config: `bearer`, `token`, `query`, `cookie`,
    /// `header:<Name>`.
    pub fn parse(text: &str) -> Result<Carrier, InvalidCarrier> {
        match text {
            "bearer" => Ok(Carrier::Bearer),
            "token" => Ok(Carrier::TokenScheme),
            "query" => Ok(Carrier::Query),
            "cookie" => Ok(Carrier::Cookie),
            _ => match text.strip_prefix("header:") {
                Some(name)
                    if !name.is_empty()
                        && http::HeaderName::from_bytes(name.as_bytes()).is_ok()
                        && !name.eq_ignore_ascii_case("authorization")
                        && !name.eq_ignore_ascii_case("cookie") =>
                {
                    Ok(Carrier::Header(name.to_ascii_lowercase()))
                }
                _ => Err(InvalidCarrier(text.to_string())),
            },
        }
    }

    /// A short, fixed name for logs and debug output.
    pub fn name(&self) -> &str {
        match self {
            Carrier::Bearer => "bearer",
            Carrier::TokenScheme => "token",
            Carrier::Query => "query",
            Carrier::Cookie => "cookie",
            Carrier::Header(name) => name,
        }
    }
}

/// A credential found in a request, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub carrier: Carrier,
    pub secret: Secret,
}

/// Size limits, checked before any parsing.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest token accepted.
    pub max_token_len: usize,
    /// Longest `Authorization`, custom-header or `Cookie` value looked at.
    pub max_header_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_token_len: 8 * 1024,
            max_header_len: 16 * 1024,
        }
    }
}

/// Why extraction failed. All are `invalid_request` (400) with a fixed description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtractError {
    /// More than one credential, in one carrier or across several.
    MultipleCredentials,
    /// An `Authorization` scheme this route does not accept, or a malformed one.
    MalformedAuthorization,
    /// A token with characters outside RFC 6750's `b64token`.
    MalformedToken,
    /// Bigger than the configured limits.
    TooLarge,
}

impl ExtractError {
    pub fn description(self) -> &'static str {
        match self {
            ExtractError::MultipleCredentials => "more than one credential in the request",
            ExtractError::MalformedAuthorization => "malformed Authorization header",
            ExtractError::MalformedToken => "malformed token",
            ExtractError::TooLarge => "credential too large",
        }
    }
}

/// The name of the token in the query and in the cookie (RFC 6750 §2.3).
pub const ACCESS_TOKEN: &str = "access_token";

/// What the request looks like to the extractor: borrowed, so extraction allocates only the
/// one secret it returns.
pub struct RequestView<'a> {
    pub headers: &'a HeaderMap,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
}

/// Finds the request's credential among the `accepted` carriers. `Ok(None)`: none at all.
///
/// Carriers a route does not accept are still looked at for the "more than one" rule only
/// when they are standard (`Authorization`, query, cookie): a route that takes cookies must not
/// ignore a bearer token the upstream might read.
pub fn extract(
    request: &RequestView<'_>,
    accepted: &[Carrier],
    limits: Limits,
) -> Result<Option<Credential>, ExtractError> {
    let mut found: Option<Credential> = None;
    let mut take = |carrier: Carrier, value: &[u8]| -> Result<(), ExtractError> {
        if found.is_some() {
            return Err(ExtractError::MultipleCredentials);
        }
        if value.len() > limits.max_token_len {
            return Err(ExtractError::TooLarge);
        }
        if !is_b64token(value) {
            return Err(ExtractError::MalformedToken);
        }
        let text = std::str::from_utf8(value).map_err(|_| ExtractError::MalformedToken)?;
        found = Some(Credential {
            carrier,
            secret: Secret::new(text),
        });
        Ok(())
    };

    // Authorization: one header at most; its scheme decides the carrier.
    let mut authorizations = request.headers.get_all(AUTHORIZATION).iter();
    if let Some(value) = authorizations.next() {
        if authorizations.next().is_some() {
            return Err(ExtractError::MultipleCredentials);
        }
        let value = value.as_bytes();
        if value.len() > limits.max_header_len {
            return Err(ExtractError::TooLarge);
        }
        let (scheme, rest) = split_scheme(value).ok_or(ExtractError::MalformedAuthorization)?;
        let carrier = if scheme.eq_ignore_ascii_case(b"bearer") {
            Carrier::Bearer
        } else if scheme.eq_ignore_ascii_case(b"token") {
            Carrier::TokenScheme
        } else {
            return Err(ExtractError::MalformedAuthorization);
        };
        if !accepted.contains(&carrier) {
            return Err(ExtractError::MalformedAuthorization);
        }
        take(carrier, rest)?;
    }

    // Custom headers the route names, in either `-`/`_` spelling (`spelling`).
    for carrier in accepted {
        if let Carrier::Header(name) = carrier {
            for value in header_values(request.headers, name) {
                if value.len() > limits.max_header_len {
                    return Err(ExtractError::TooLarge);
                }
                take(carrier.clone(), value.as_bytes())?;
            }
        }
    }

    // `access_token` in the query: counted always, taken only where accepted.
    if let Some(query) = request.query {
        if query.len() > limits.max_header_len * 4 {
            return Err(ExtractError::TooLarge);
        }
        for pair in spelling::query_pairs(query) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if spelling::is_access_token_name(name.as_bytes()) {
                if !accepted.contains(&Carrier::Query) {
                    return Err(ExtractError::MultipleCredentials.or_unaccepted(found.is_some()));
                }
                let decoded = percent_decode(value).ok_or(ExtractError::MalformedToken)?;
                take(Carrier::Query, decoded.as_bytes())?;
            }
        }
    }

    // `access_token` cookies, in every Cookie header.
    for header in request.headers.get_all(COOKIE) {
        let bytes = header.as_bytes();
        if bytes.len() > limits.max_header_len {
            return Err(ExtractError::TooLarge);
        }
        for (name, value) in cookie_pairs(bytes) {
            if spelling::is_access_token_name(name) {
                if !accepted.contains(&Carrier::Cookie) {
                    return Err(ExtractError::MultipleCredentials.or_unaccepted(found.is_some()));
                }
                let value = value
                    .strip_prefix(b"\"")
                    .and_then(|v| v.strip_suffix(b"\""))
                    .unwrap_or(value);
                take(Carrier::Cookie, value)?;
            }
        }
    }
    Ok(found)
}

/// Every value of the header `name` (lower-case) in any `-`/`_` spelling.
pub fn header_values<'h>(
    headers: &'h HeaderMap,
    name: &'h str,
) -> impl Iterator<Item = &'h http::HeaderValue> {
    headers
        .iter()
        .filter(move |(key, _)| spelling::same_header_name(key.as_str(), name))
        .map(|(_, value)| value)
}

/// Header `name` read once in every `-`/`_` spelling: `Ok(None)` when absent, `Err(Repeated)`
/// when it comes twice (a second value is refused, never silently ignored beside the one read).
pub fn single_header_value<'h>(
    headers: &'h HeaderMap,
    name: &'h str,
) -> Result<Option<&'h http::HeaderValue>, Repeated> {
    let mut values = header_values(headers, name);
    let first = values.next();
    match values.next() {
        Some(_) => Err(Repeated),
        None => Ok(first),
    }
}

/// A header that may come once came more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeated;

/// The `name=value` pairs of one `Cookie` header value, both trimmed (a pair without `=` has an
/// empty value). The one cookie parser: credential extraction, credential removal and the
/// sign-in pages all read cookies through it.
pub fn cookie_pairs(header: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    header.split(|&b| b == b';').map(split_cookie_pair)
}

/// One `name=value` pair of a `Cookie` header, both trimmed.
pub fn split_cookie_pair(pair: &[u8]) -> (&[u8], &[u8]) {
    let pair = pair.trim_ascii();
    match pair.iter().position(|&b| b == b'=') {
        Some(i) => (pair[..i].trim_ascii(), pair[i + 1..].trim_ascii()),
        None => (pair, &[][..]),
    }
}

impl ExtractError {
    /// A token in a carrier the route does not accept is a second credential if another was
    /// found, and otherwise a malformed request (the client sent it where it is not read).
    fn or_unaccepted(self, other_found: bool) -> ExtractError {
        if other_found {
            ExtractError::MultipleCredentials
        } else {
            ExtractError::MalformedAuthorization
        }
    }
}

/// Splits `Scheme 1*SP credentials`.
fn split_scheme(value: &[u8]) -> Option<(&[u8], &[u8])> {
    let space = value.iter().position(|&b| b == b' ')?;
    let (scheme, rest) = value.split_at(space);
    let rest = rest.trim_ascii_start();
    (!scheme.is_empty() && !rest.is_empty()).then_some((scheme, rest))
}

/// One byte of a `b64token` body. Comparisons without branches, so that the check of a whole
/// token compiles to vector code: every request's token goes through it.
const fn is_b64token_byte(b: u8) -> bool {
    // `| 0x20` folds ASCII upper-case letters onto lower-case ones and nothing else onto them.
    // `+` (0x2b), `-`, `.`, `/` and the digits (0x30..=0x39) are one range less `,` (0x2c):
    // five comparisons a byte instead of eight.
    ((b | 0x20).wrapping_sub(b'a') < 26)
        | ((b.wrapping_sub(b'+') < 15) & (b != b','))
        | (b == b'_')
        | (b == b'~')
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
pub fn is_b64token(value: &[u8]) -> bool {
    let body_end = value.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
    let body = &value[..body_end];
    // A fold per chunk rather than `all`: no exit after each byte, so a chunk is checked with
    // vector compares.
    !body.is_empty()
        && body
            .chunks(64)
            .all(|chunk| chunk.iter().fold(true, |ok, &b| ok & is_b64token_byte(b)))
}

/// Percent-decodes a query value (`+` stays `+`: a b64token may contain it).
fn percent_decode(value: &str) -> Option<String> {
    if !value.contains('%') {
        return Some(value.to_string());
    }
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .ok()
        .map(|v| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Carrier> {
        vec![
            Carrier::Bearer,
            Carrier::TokenScheme,
            Carrier::Query,
            Carrier::Cookie,
            Carrier::Header("x-api-key".into()),
        ]
    }

    fn run(
        headers: &[(&'static str, &str)],
        query: Option<&str>,
        accepted: &[Carrier],
    ) -> Result<Option<(Carrier, String)>, ExtractError> {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(*k, v.parse().unwrap());
        }
        let view = RequestView {
            headers: &map,
            query,
        };
        extract(&view, accepted, Limits::default())
            .map(|c| c.map(|c| (c.carrier, c.secret.expose().to_string())))
    }

    /// Headers, query, and the carrier expected to be found.
    type Case = (
        Vec<(&'static str, &'static str)>,
        Option<&'static str>,
        Carrier,
    );

    #[test]
    fn each_carrier_is_found() {
        let cases: Vec<Case> = vec![
            (
                vec![("authorization", "Bearer abc.def.ghi")],
                None,
                Carrier::Bearer,
            ),
            (
                vec![("authorization", "bEaReR   abc")],
                None,
                Carrier::Bearer,
            ),
            (
                vec![("authorization", "token key_123")],
                None,
                Carrier::TokenScheme,
            ),
            (vec![], Some("a=1&access_token=abc&b=2"), Carrier::Query),
            (
                vec![("cookie", "x=1; access_token=abc")],
                None,
                Carrier::Cookie,
            ),
            (
                vec![("x-api-key", "abc")],
                None,
                Carrier::Header("x-api-key".into()),
            ),
        ];
        for (headers, query, carrier) in cases {
            let got = run(&headers, query, &all()).unwrap().unwrap();
            assert_eq!(got.0, carrier);
            assert!(got.1 == "abc" || got.1 == "abc.def.ghi" || got.1 == "key_123");
        }
    }

    #[test]
    fn no_credential_is_none() {
        assert_eq!(
            run(&[("cookie", "session=1")], Some("a=b"), &all()),
            Ok(None)
        );
    }

    #[test]
    fn two_carriers_are_refused_even_with_the_same_value() {
        use ExtractError::MultipleCredentials as M;
        assert_eq!(
            run(
                &[("authorization", "Bearer abc")],
                Some("access_token=abc"),
                &all()
            ),
            Err(M)
        );
        assert_eq!(
            run(
                &[
                    ("authorization", "Bearer abc"),
                    ("cookie", "access_token=abc")
                ],
                None,
                &all()
            ),
            Err(M)
        );
        assert_eq!(
            run(
                &[("cookie", "access_token=abc")],
                Some("access_token=abc"),
                &all()
            ),
            Err(M)
        );
        assert_eq!(
            run(
                &[("x-api-key", "k"), ("authorization", "Bearer abc")],
                None,
                &all()
            ),
            Err(M)
        );
    }

    #[test]
    fn duplicates_within_one_carrier_are_refused() {
        use ExtractError::MultipleCredentials as M;
        assert_eq!(
            run(
                &[("authorization", "Bearer a"), ("authorization", "Bearer b")],
                None,
                &all()
            ),
            Err(M)
        );
        assert_eq!(
            run(&[], Some("access_token=a&access_token=b"), &all()),
            Err(M)
        );
        assert_eq!(
            run(
                &[("cookie", "access_token=a; access_token=b")],
                None,
                &all()
            ),
            Err(M)
        );
        assert_eq!(
            run(
                &[("cookie", "access_token=a"), ("cookie", "access_token=a")],
                None,
                &all()
            ),
            Err(M)
        );
        assert_eq!(
            run(&[("x-api-key", "a"), ("x-api-key", "a")], None, &all()),
            Err(M)
        );
    }

    #[test]
    fn every_spelling_of_a_carrier_counts_as_that_carrier() {
        use ExtractError::MultipleCredentials as M;
        let bearer = ("authorization", "Bearer abc");
        for query in [
            "ACCESS_TOKEN=x",
            "access%5Ftoken=x",
            "Access_Token=x",
            "access.token=x",
            "access_token%5B%5D=x",
            "a=1;access_token=x",
        ] {
            assert_eq!(run(&[bearer], Some(query), &all()), Err(M), "{query}");
            assert_eq!(
                run(&[], Some(query), &all()),
                Ok(Some((Carrier::Query, "x".into()))),
                "{query} alone is the query carrier"
            );
        }
        for cookie in ["ACCESS_TOKEN=x", "access%5Ftoken=x", "access.token=x"] {
            assert_eq!(run(&[bearer, ("cookie", cookie)], None, &all()), Err(M));
        }
        // Frameworks behind the gateway read X_API_Key as X-API-Key.
        assert_eq!(
            run(&[("x-api-key", "a"), ("x_api_key", "b")], None, &all()),
            Err(M)
        );
        assert_eq!(run(&[bearer, ("X_API_Key", "b")], None, &all()), Err(M));
        assert_eq!(
            run(&[("x_api_key", "b")], None, &all()),
            Ok(Some((Carrier::Header("x-api-key".into()), "b".into())))
        );
    }

    #[test]
    fn tokens_in_carriers_the_route_does_not_take_are_not_ignored() {
        // Alone: the client put it where this route does not read it.
        assert_eq!(
            run(&[], Some("access_token=abc"), &[Carrier::Bearer]),
            Err(ExtractError::MalformedAuthorization)
        );
        // Beside an accepted one: two credentials.
        assert_eq!(
            run(
                &[("authorization", "Bearer abc")],
                Some("access_token=abc"),
                &[Carrier::Bearer]
            ),
            Err(ExtractError::MultipleCredentials)
        );
        assert_eq!(
            run(&[("authorization", "token abc")], None, &[Carrier::Bearer]),
            Err(ExtractError::MalformedAuthorization)
        );
    }

    #[test]
    fn malformed_values_are_refused() {
        use ExtractError::*;
        assert_eq!(
            run(&[("authorization", "Bearer")], None, &all()),
            Err(MalformedAuthorization)
        );
        assert_eq!(
            run(&[("authorization", "Basic dXNlcjpwYXNz")], None, &all()),
            Err(MalformedAuthorization)
        );
        assert_eq!(
            run(&[("authorization", "Bearer a,b")], None, &all()),
            Err(MalformedToken)
        );
        assert_eq!(
            run(&[("authorization", "Bearer a\"b")], None, &all()),
            Err(MalformedToken)
        );
        assert_eq!(
            run(&[("authorization", "Bearer a b")], None, &all()),
            Err(MalformedToken)
        );
        assert_eq!(
            run(&[("authorization", "Bearer ===")], None, &all()),
            Err(MalformedToken)
        );
        assert_eq!(
            run(&[], Some("access_token=%ff"), &all()),
            Err(MalformedToken)
        );
        assert!(run(&[("authorization", "Bearer abc==")], None, &all()).is_ok());
    }

    #[test]
    fn b64token_accepts_exactly_the_grammar() {
        let in_grammar = |b: u8| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        };
        for b in 0..=255u8 {
            assert_eq!(is_b64token_byte(b), in_grammar(b), "byte {b:#04x}");
            // Also at every position of a long token, where the check runs 64 bytes at a time.
            for at in [0, 63, 64, 130] {
                let mut token = vec![b'a'; 131];
                token[at] = b;
                let padding = b == b'=' && at == token.len() - 1;
                let expected = in_grammar(b) || padding;
                assert_eq!(is_b64token(&token), expected, "byte {b:#04x} at {at}");
            }
        }
        assert!(is_b64token(b"a=="));
        assert!(!is_b64token(b"=a"));
        assert!(!is_b64token(b"=="));
        assert!(!is_b64token(b""));
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let dots = format!("Bearer {}", ".".repeat(1 << 20));
        assert_eq!(
            run(&[("authorization", &dots)], None, &all()),
            Err(ExtractError::TooLarge)
        );
        let long = format!("Bearer {}", "a".repeat(9000));
        assert_eq!(
            run(&[("authorization", &long)], None, &all()),
            Err(ExtractError::TooLarge)
        );
    }

    #[test]
    fn carriers_parse_from_config_text() {
        assert_eq!(
            Carrier::parse("header:X-API-Key"),
            Ok(Carrier::Header("x-api-key".into()))
        );
        assert!(Carrier::parse("header:Authorization").is_err());
        assert!(Carrier::parse("header:").is_err());
        assert!(Carrier::parse("basic").is_err());
    }
}
