//! Fields that describe one connection rather than the message (RFC 9110 §7.6.1), taken off the
//! upstream's answers before they go on to the client. Pingora strips them from the requests it
//! sends upstream, not from the responses it sends back: an upstream's `Keep-Alive:
//! timeout=5` (Node.js sends one by default) would tell the client about a connection the
//! client is not on.

use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// The connection fields removed by name. `Proxy-Authenticate` is addressed to the next
/// client on the chain — the gateway — not to the gateway's client. `Connection` itself is not
/// one: it is the proxy's own to write (pingora replaces it on every HTTP/1 answer and drops it
/// from HTTP/2 ones), as is `Transfer-Encoding`, by which the proxy frames the answer it writes.
const REMOVED_FIELDS: [&str; 4] = [
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "proxy-authenticate",
];

/// The fields a `Connection` value names beyond the connection options `close`, `keep-alive`
/// and `upgrade` (whose fields, if any, go anyway) — never the framing fields or `Connection`.
fn nominated_fields(value: &HeaderValue) -> impl Iterator<Item = HeaderName> + '_ {
    value
        .as_bytes()
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|token| {
            !token.eq_ignore_ascii_case(b"close")
                && !token.eq_ignore_ascii_case(b"keep-alive")
                && !token.eq_ignore_ascii_case(b"upgrade")
        })
        .filter_map(|token| HeaderName::from_bytes(token).ok())
        .filter(|name| name != CONNECTION && name != CONTENT_LENGTH && name != TRANSFER_ENCODING)
}

/// Removes the connection fields from an upstream's answer, with the fields its `Connection`
/// names (never the framing fields). A `101 Switching Protocols` keeps them: its `Connection:
/// upgrade` and `Upgrade` are the answer. Nearly every answer has no connection field but
/// `Connection: keep-alive`, so one pass over the names, matched by length and bytes, finds
/// which are there, and only those are removed — for most answers, nothing.
pub fn strip_from_response(headers: &mut HeaderMap, status: StatusCode) {
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return;
    }
    let mut present = [false; REMOVED_FIELDS.len()];
    // Empty, and so not allocated, unless `Connection` names a field.
    let mut nominated: Vec<HeaderName> = Vec::new();
    for (name, value) in headers.iter() {
        if name == CONNECTION {
            nominated.extend(nominated_fields(value));
        } else if let Some(i) = REMOVED_FIELDS.iter().position(|f| *f == name.as_str()) {
            present[i] = true;
        }
    }
    for name in nominated {
        headers.remove(name);
    }
    for (field, present) in REMOVED_FIELDS.into_iter().zip(present) {
        if present {
            headers.remove(field);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::header_map;

    /// The names left, sorted (removals reorder a map).
    fn names(headers: &HeaderMap) -> Vec<&str> {
        let mut names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn connection_fields_go_and_the_rest_stays() {
        let mut headers = header_map(&[
            ("content-type", "text/plain"),
            ("connection", "keep-alive"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("proxy-authenticate", "Basic realm=\"up\""),
            ("upgrade", "h2c"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("content-length", "5"),
        ]);
        strip_from_response(&mut headers, StatusCode::OK);
        // `Connection` is the proxy's own to replace.
        assert_eq!(
            names(&headers),
            ["connection", "content-length", "content-type", "set-cookie"]
        );
        assert_eq!(headers.get_all("set-cookie").iter().count(), 2);
    }

    #[test]
    fn fields_the_connection_header_names_go_but_never_framing_fields() {
        let mut headers = header_map(&[
            ("connection", "close, X-Hop"),
            ("connection", "x-other ,content-length, transfer-encoding"),
            ("x-hop", "1"),
            ("x-other", "2"),
            ("x-end-to-end", "3"),
            ("content-length", "5"),
        ]);
        strip_from_response(&mut headers, StatusCode::OK);
        assert_eq!(
            names(&headers),
            ["connection", "content-length", "x-end-to-end"]
        );
    }

    #[test]
    fn a_protocol_switch_keeps_its_connection_fields() {
        let mut headers = header_map(&[("connection", "upgrade"), ("upgrade", "websocket")]);
        strip_from_response(&mut headers, StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(names(&headers), ["connection", "upgrade"]);
    }

    #[test]
    fn an_answer_without_connection_fields_is_left_as_it_is() {
        let pairs = [
            ("content-type", "a/b"),
            ("x-keep-alive", "1"),
            ("date", "x"),
        ];
        let mut headers = header_map(&pairs);
        strip_from_response(&mut headers, StatusCode::NOT_FOUND);
        assert_eq!(headers, header_map(&pairs));
    }
}
