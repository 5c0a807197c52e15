//! The request rules that need no proxy: what may pass (framing, CORS, body rules, the debug
//! trace's audience), what the upstream is told (forwarding headers, method overrides removed),
//! who it is told is calling (credential removed, identity headers), and what of its answer
//! stays between it and the gateway (its connection fields) — all on plain `http` types, for
//! the gateway's pingora glue and anyone's own proxy alike.

pub mod cors;
pub mod debug;
pub mod forward;
pub mod framing;
pub mod hop_by_hop;
pub mod identity;
pub mod rules;
pub mod target;

/// A value the gateway would send that cannot be a header value (a control byte in an
/// identity, say): the request fails rather than go on without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsendableHeader;

impl std::fmt::Display for UnsendableHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a value cannot be a header")
    }
}

impl std::error::Error for UnsendableHeader {}

/// A header map of `(name, value)` pairs, in order, for tests.
#[cfg(test)]
pub(crate) fn header_map(pairs: &[(&str, &str)]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in pairs {
        let name = http::HeaderName::from_bytes(name.as_bytes()).expect("a test header name");
        map.append(
            name,
            http::HeaderValue::from_str(value).expect("a test header value"),
        );
    }
    map
}
