//! What the upstream is told: forwarding headers set by us, and client-sent impostors removed.
//!
//! Client-sent `X-Forwarded-*`, `Forwarded`, `X-Real-IP` and original-URL headers are believed
//! only from configured trusted proxies (default: none), and their underscore spellings
//! (`X_Forwarded_For`) are always removed: CGI/WSGI upstreams fold `_` into `-`, which turned such
//! headers into identity spoofing in oauth2-proxy (CVE-2025-64484) and routing bypasses in Envoy
//! (CVE-2023-27487) and oauth2-proxy (CVE-2026-40575).

use http::{HeaderMap, HeaderName, HeaderValue};
use std::net::IpAddr;

/// Headers that describe the client's connection or original request. Lower-case, dash form.
pub const FORWARDING_HEADERS: &[&str] = &[
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-uri",
    "x-forwarded-path",
    "forwarded",
    "x-real-ip",
    "x-client-ip",
    "x-original-url",
    "x-original-uri",
    "x-original-path",
    "x-rewrite-url",
    "x-envoy-original-path",
];

/// The facts about the downstream connection the forwarding headers are made from.
#[derive(Debug, Clone)]
pub struct ClientFacts<'a> {
    pub peer: Option<IpAddr>,
    pub peer_is_trusted: bool,
    pub tls: bool,
    /// The `Host` the client asked for, if any.
    pub host: Option<&'a HeaderValue>,
}

/// True when `name` (lower-case, as `http` stores it) is `protected` once `_` is read as `-`,
/// and is spelled with an underscore — a variant no honest client sends.
fn is_underscore_variant(name: &str, protected: &[&str]) -> bool {
    name.contains('_')
        && protected.iter().any(|p| {
            p.len() == name.len()
                && p.bytes()
                    .zip(name.bytes())
                    .all(|(p, n)| p == n || (p == b'-' && n == b'_'))
        })
}

/// Removes every header whose (lower-case) name satisfies `doomed`, all of its values.
pub fn remove_headers_where(headers: &mut HeaderMap, doomed: impl Fn(&str) -> bool) {
    // Usually empty, and an empty Vec does not allocate.
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|name| doomed(name.as_str()))
        .cloned()
        .collect();
    for name in names {
        headers.remove(name);
    }
}

/// True for a name that is `protected` in any case or underscore spelling.
pub fn is_protected(name: &str, protected: &[&str]) -> bool {
    protected.contains(&name) || is_underscore_variant(name, protected)
}

/// The lengths of a set of header names, as bits of a mask (lengths of 63 and more share the
/// top bit). Both spellings of a name have its length, so a name of a length no member has —
/// nearly every name a request carries — is ruled out by one bit test, before the comparisons
/// that every name of every request would otherwise go through.
#[derive(Debug, Clone, Copy)]
pub struct NameLengths(u64);

impl NameLengths {
    pub const fn of(names: &[&str]) -> Self {
        let mut mask = 0;
        let mut i = 0;
        while i < names.len() {
            mask |= Self::bit(names[i].len());
            i += 1;
        }
        Self(mask)
    }

    const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    const fn bit(len: usize) -> u64 {
        1 << if len < 63 { len } else { 63 }
    }

    /// False when no member has `name`'s length: `name` is none of them in any spelling.
    pub fn may_hold(self, name: &str) -> bool {
        self.0 & Self::bit(name.len()) != 0
    }
}

const OVERRIDE_LENGTHS: NameLengths = NameLengths::of(METHOD_OVERRIDE_HEADERS);

/// The lengths of what `set_forwarding_headers` screens: forwarding headers and overrides.
const SCREENED_LENGTHS: NameLengths = NameLengths::of(FORWARDING_HEADERS).union(OVERRIDE_LENGTHS);

/// The forwarding headers this proxy writes itself.
const REBUILT: [&str; 3] = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"];

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Sets `X-Forwarded-For/-Proto/-Host` and removes untrusted forwarding headers and method
/// overrides (one pass over the headers for both).
pub fn set_forwarding_headers(headers: &mut HeaderMap, client: &ClientFacts<'_>) {
    let prior = |headers: &HeaderMap, name: &HeaderName| -> Option<String> {
        if !client.peer_is_trusted {
            return None;
        }
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    };
    let prior_for = prior(headers, &X_FORWARDED_FOR);
    let prior_proto = prior(headers, &X_FORWARDED_PROTO);
    let prior_host = prior(headers, &X_FORWARDED_HOST);
    // Underscore spellings go always; real names go unless the peer is trusted; the three we
    // write are rebuilt from the values kept above.
    // Method overrides go in the same pass (see `remove_method_overrides`).
    remove_headers_where(headers, |name| {
        SCREENED_LENGTHS.may_hold(name)
            && (is_underscore_variant(name, FORWARDING_HEADERS)
                || (FORWARDING_HEADERS.contains(&name)
                    && (!client.peer_is_trusted || REBUILT.contains(&name)))
                || is_protected(name, METHOD_OVERRIDE_HEADERS))
    });

    let forwarded_for = match (prior_for, client.peer) {
        (prior, Some(peer)) => {
            let mut text = match prior {
                Some(prior) => prior + ", ",
                None => String::with_capacity(MAX_IPV4_LEN),
            };
            push_ip(&mut text, peer);
            Some(text)
        }
        (Some(prior), None) => Some(prior),
        (None, None) => None,
    };
    let value = |text: String| HeaderValue::try_from(text).ok();
    if let Some(value) = forwarded_for.and_then(value) {
        headers.insert(X_FORWARDED_FOR.clone(), value);
    }
    let proto = match prior_proto.and_then(value) {
        Some(proto) => proto,
        None => HeaderValue::from_static(if client.tls { "https" } else { "http" }),
    };
    headers.insert(X_FORWARDED_PROTO.clone(), proto);
    // A trusted proxy's value, or the client's own Host, shared rather than copied.
    if let Some(host) = prior_host.and_then(value).or_else(|| client.host.cloned()) {
        headers.insert(X_FORWARDED_HOST.clone(), host);
    }
}

/// `255.255.255.255`
const MAX_IPV4_LEN: usize = 15;

/// Appends `ip` as text. IPv4, nearly every client, is written by hand: `Ipv4Addr`'s `Display`
/// goes through the formatter and cost more than the rest of the forwarding headers together.
fn push_ip(text: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    text.push('.');
                }
                if octet >= 100 {
                    text.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    text.push(char::from(b'0' + octet / 10 % 10));
                }
                text.push(char::from(b'0' + octet % 10));
            }
        }
        IpAddr::V6(v6) => {
            use std::fmt::Write;
            let _ = write!(text, "{v6}");
        }
    }
}

/// Headers that ask a framework to run a request as another method (Express's
/// `method-override`, Symfony/Laravel, ASP.NET, Google APIs): a POST authorized by POST's rule
/// would reach the upstream as the PUT or DELETE the route may forbid. Never forwarded.
pub const METHOD_OVERRIDE_HEADERS: &[&str] = &[
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// The query parameter Symfony and Laravel read as the method of a POST (`_method=DELETE`).
pub const METHOD_OVERRIDE_PARAMETER: &[u8] = b"_method";

/// Removes method overrides in every case and `_` spelling.
pub fn remove_method_overrides(headers: &mut HeaderMap) {
    remove_headers_where(headers, |name| {
        OVERRIDE_LENGTHS.may_hold(name) && is_protected(name, METHOD_OVERRIDE_HEADERS)
    });
}

/// Whether a raw query parameter name is the method override in some framework's reading.
pub fn is_method_override_parameter(name: &[u8]) -> bool {
    portcullis_core::credential::spelling::parameter_is(name, METHOD_OVERRIDE_PARAMETER)
}

/// A client-sent request id is kept only if it is short and plain; otherwise a new one is made.
pub fn acceptable_request_id(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A fresh request id: 128 random bits as 32 hex digits, made once as a header value so the
/// upstream request, the response and the log share it without copies.
pub fn new_request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let value: u128 = rand::random();
    let mut digits = [0u8; 32];
    for (i, digit) in digits.iter_mut().enumerate() {
        *digit = HEX[((value >> (124 - 4 * i)) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&digits).expect("hex digits are a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::request::header_map as request;

    fn values(r: &HeaderMap, name: &str) -> Vec<String> {
        r.get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    static HOST: HeaderValue = HeaderValue::from_static("api.example.com");

    fn facts(trusted: bool) -> ClientFacts<'static> {
        ClientFacts {
            peer: Some("10.0.0.7".parse().unwrap()),
            peer_is_trusted: trusted,
            tls: false,
            host: Some(&HOST),
        }
    }

    #[test]
    fn untrusted_peers_cannot_spoof_forwarding_headers() {
        let mut r = request(&[
            ("X-Forwarded-For", "1.2.3.4"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "evil.com"),
            ("X_Forwarded_For", "5.6.7.8"),
            ("X-Original-URL", "/admin"),
            ("x-real-ip", "9.9.9.9"),
            ("Forwarded", "for=1.2.3.4"),
            ("X-HTTP-Method-Override", "DELETE"),
            ("X-Other", "kept"),
        ]);
        set_forwarding_headers(&mut r, &facts(false));
        assert_eq!(values(&r, "x-forwarded-for"), ["10.0.0.7"]);
        assert_eq!(values(&r, "x-forwarded-proto"), ["http"]);
        assert_eq!(values(&r, "x-forwarded-host"), ["api.example.com"]);
        for gone in [
            "x_forwarded_for",
            "x-original-url",
            "x-real-ip",
            "forwarded",
            "x-http-method-override",
        ] {
            assert!(values(&r, gone).is_empty(), "{gone} should be gone");
        }
        assert_eq!(values(&r, "x-other"), ["kept"]);
    }

    #[test]
    fn trusted_peers_extend_the_chain() {
        let mut r = request(&[
            ("X-Forwarded-For", "1.2.3.4"),
            ("X-Forwarded-For", "5.6.7.8"),
            ("X-Forwarded-Proto", "https"),
            ("X_Forwarded_Host", "evil.com"),
            ("X-Real-IP", "1.2.3.4"),
        ]);
        set_forwarding_headers(&mut r, &facts(true));
        assert_eq!(
            values(&r, "x-forwarded-for"),
            ["1.2.3.4, 5.6.7.8, 10.0.0.7"]
        );
        assert_eq!(values(&r, "x-forwarded-proto"), ["https"]);
        assert_eq!(values(&r, "x-forwarded-host"), ["api.example.com"]);
        assert!(values(&r, "x_forwarded_host").is_empty());
        assert_eq!(values(&r, "x-real-ip"), ["1.2.3.4"]);
    }

    #[test]
    fn name_lengths_rule_out_only_names_of_other_lengths() {
        let lengths = NameLengths::of(FORWARDING_HEADERS);
        for name in FORWARDING_HEADERS {
            assert!(lengths.may_hold(name), "{name}");
            assert!(lengths.may_hold(&name.replace('-', "_")), "{name}");
        }
        assert!(!lengths.may_hold("host"));
        assert!(!lengths.may_hold("user-agent"));
        // Lengths past the mask share its top bit, so long names are never ruled out wrongly.
        let long = "x".repeat(70);
        let lengths = NameLengths::of(&[long.as_str()]);
        assert!(lengths.may_hold(&"y".repeat(90)));
        assert!(!lengths.may_hold("host"));
    }

    #[test]
    fn underscore_variants_are_detected_exactly() {
        assert!(is_underscore_variant("x_forwarded_for", FORWARDING_HEADERS));
        assert!(is_underscore_variant("x-forwarded_for", FORWARDING_HEADERS));
        assert!(!is_underscore_variant(
            "x-forwarded-for",
            FORWARDING_HEADERS
        ));
        assert!(!is_underscore_variant(
            "x_forwarded_fort",
            FORWARDING_HEADERS
        ));
        assert!(!is_underscore_variant("my_header", FORWARDING_HEADERS));
    }

    #[test]
    fn method_overrides_go_in_every_spelling() {
        let mut r = request(&[
            ("X-HTTP-Method-Override", "PUT"),
            ("x_http_method", "DELETE"),
            ("X-Method-Override", "PATCH"),
            ("X-Other", "kept"),
        ]);
        remove_method_overrides(&mut r);
        assert_eq!(r.len(), 1);
        assert!(is_method_override_parameter(b"_method"));
        assert!(is_method_override_parameter(b"%5Fmethod"));
        assert!(!is_method_override_parameter(b"method"));
    }

    #[test]
    fn request_ids_are_checked_and_generated() {
        assert!(acceptable_request_id(b"abc-123_X.y:z"));
        assert!(!acceptable_request_id(b""));
        assert!(!acceptable_request_id(b"a b"));
        assert!(!acceptable_request_id(&[b'a'; 129]));
        let a = new_request_id();
        assert_eq!(a.len(), 32);
        assert!(a.as_bytes().iter().all(u8::is_ascii_hexdigit));
        assert_ne!(a, new_request_id());
    }

    #[test]
    fn client_addresses_are_written_as_display_writes_them() {
        let addresses = [
            "0.0.0.0",
            "9.10.99.100",
            "127.0.0.1",
            "255.255.255.255",
            "10.200.3.45",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:192.0.2.1",
        ];
        for text in addresses {
            let ip: IpAddr = text.parse().unwrap();
            let mut written = String::from("prior, ");
            push_ip(&mut written, ip);
            assert_eq!(written, format!("prior, {ip}"));
        }
        for octet in 0..=255u8 {
            let ip = IpAddr::from([octet, 0, 255 - octet, 7]);
            let mut written = String::new();
            push_ip(&mut written, ip);
            assert_eq!(written, ip.to_string());
        }
    }
}
