//! Request framing checks that run before anything else looks at a request: how long it is,
//! and that it names the host it is for.
//!
//! A request whose length two servers could read differently is how smuggling starts
//! (RFC 9112 §6.1, §11.2; pingora CVE-2026-2835). Pingora follows RFC 9112 and lets
//! `Transfer-Encoding` override `Content-Length`; a gateway should not guess, so these are
//! refused with 400 and the connection is closed.

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, Version};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramingError {
    ContentLengthAndTransferEncoding,
    RepeatedTransferEncoding,
    UnsupportedTransferEncoding,
    RepeatedContentLength,
    /// Anything but digits: `5, 5` (a list some servers collapse and others refuse), signs,
    /// spaces, hex.
    InvalidContentLength,
    TransferEncodingInHttp10,
    /// HTTP/1.1 without `Host` (RFC 9112 §3.2: 400).
    MissingHost,
}

impl FramingError {
    pub fn message(self) -> &'static str {
        match self {
            FramingError::ContentLengthAndTransferEncoding => {
                "the request has both Content-Length and Transfer-Encoding"
            }
            FramingError::RepeatedTransferEncoding => "the request repeats Transfer-Encoding",
            FramingError::UnsupportedTransferEncoding => {
                "the only Transfer-Encoding accepted is a single 'chunked'"
            }
            FramingError::RepeatedContentLength => "the request repeats Content-Length",
            FramingError::InvalidContentLength => "Content-Length must be a single number",
            FramingError::MissingHost => "an HTTP/1.1 request must have a Host header",
            FramingError::TransferEncodingInHttp10 => {
                "Transfer-Encoding is not defined for HTTP/1.0 requests"
            }
        }
    }
}

/// Whether the raw HTTP/1 header block has a `Content-Length` line. Pingora deletes
/// `Content-Length` from the parsed headers when `Transfer-Encoding` is also present, so only
/// the raw bytes still show that the client sent both.
pub fn raw_header_has_content_length(raw_header: &[u8]) -> bool {
    raw_header
        .split(|&b| b == b'\n')
        .skip(1)
        .filter_map(|line| line.iter().position(|&b| b == b':').map(|i| &line[..i]))
        .any(|name| name.trim_ascii().eq_ignore_ascii_case(b"content-length"))
}

/// Checks the framing headers of a request. `raw_content_length` says whether the raw header
/// block held a `Content-Length` (see [`raw_header_has_content_length`]).
pub fn check_framing(
    headers: &HeaderMap,
    version: Version,
    raw_content_length: bool,
) -> Result<(), FramingError> {
    let mut te = headers.get_all(TRANSFER_ENCODING).iter();
    let first_te = te.next();
    if te.next().is_some() {
        return Err(FramingError::RepeatedTransferEncoding);
    }
    let mut cl = headers.get_all(CONTENT_LENGTH).iter();
    let first_cl = cl.next();
    if cl.next().is_some() {
        return Err(FramingError::RepeatedContentLength);
    }
    // RFC 9110 §8.6: `Content-Length = 1*DIGIT`. A list of equal values may be collapsed by a
    // recipient; a gateway that forwards it verbatim leaves the upstream to guess.
    if first_cl.is_some_and(|v| v.is_empty() || !v.as_bytes().iter().all(u8::is_ascii_digit)) {
        return Err(FramingError::InvalidContentLength);
    }
    if let Some(te) = first_te {
        if first_cl.is_some() || raw_content_length {
            return Err(FramingError::ContentLengthAndTransferEncoding);
        }
        if version == Version::HTTP_10 {
            return Err(FramingError::TransferEncodingInHttp10);
        }
        if !te.as_bytes().trim_ascii().eq_ignore_ascii_case(b"chunked") {
            return Err(FramingError::UnsupportedTransferEncoding);
        }
    }
    if version == Version::HTTP_11 && !headers.contains_key(http::header::HOST) {
        return Err(FramingError::MissingHost);
    }
    Ok(())
}

/// Whether the request may carry a body (so an early answer must close the connection rather
/// than leave unread body bytes to be parsed as the next request).
pub fn may_have_body(headers: &HeaderMap) -> bool {
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn plain_requests_pass() {
        for h in [
            headers(&[("host", "a")]),
            headers(&[("host", "a"), ("content-length", "10")]),
            headers(&[("host", "a"), ("transfer-encoding", "Chunked")]),
        ] {
            assert_eq!(check_framing(&h, Version::HTTP_11, false), Ok(()));
        }
        assert_eq!(
            check_framing(&headers(&[]), Version::HTTP_10, false),
            Ok(())
        );
    }

    #[test]
    fn content_length_is_one_number_and_http_1_1_names_its_host() {
        use FramingError::*;
        for value in ["5, 5", "5,5", "+5", "0x5", "-1", "5 5", ""] {
            let h = headers(&[("host", "a"), ("content-length", value)]);
            assert_eq!(
                check_framing(&h, Version::HTTP_11, false),
                Err(InvalidContentLength),
                "{value:?}"
            );
        }
        assert_eq!(
            check_framing(&headers(&[]), Version::HTTP_11, false),
            Err(MissingHost)
        );
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        use FramingError::*;
        let cases = [
            (
                headers(&[("content-length", "5"), ("transfer-encoding", "chunked")]),
                ContentLengthAndTransferEncoding,
            ),
            (
                headers(&[
                    ("transfer-encoding", "chunked"),
                    ("transfer-encoding", "chunked"),
                ]),
                RepeatedTransferEncoding,
            ),
            (
                headers(&[("transfer-encoding", "chunked, identity")]),
                UnsupportedTransferEncoding,
            ),
            (
                headers(&[("transfer-encoding", "gzip, chunked")]),
                UnsupportedTransferEncoding,
            ),
            (
                headers(&[("content-length", "5"), ("content-length", "5")]),
                RepeatedContentLength,
            ),
        ];
        for (h, expected) in cases {
            assert_eq!(
                check_framing(&h, Version::HTTP_11, false),
                Err(expected),
                "{h:?}"
            );
        }
        assert_eq!(
            check_framing(
                &headers(&[("transfer-encoding", "chunked")]),
                Version::HTTP_10,
                false
            ),
            Err(TransferEncodingInHttp10)
        );
        // The parser already dropped Content-Length; the raw header block still has it.
        assert_eq!(
            check_framing(
                &headers(&[("transfer-encoding", "chunked")]),
                Version::HTTP_11,
                true
            ),
            Err(ContentLengthAndTransferEncoding)
        );
    }

    #[test]
    fn raw_content_length_is_found_in_any_case() {
        let raw = b"POST / HTTP/1.1\r\nHost: x\r\ncontent-LENGTH : 5\r\n\r\n";
        assert!(raw_header_has_content_length(raw));
        let raw = b"POST /content-length: HTTP/1.1\r\nX-Content-Length: 5\r\n\r\n";
        assert!(!raw_header_has_content_length(raw));
    }

    #[test]
    fn body_detection() {
        assert!(!may_have_body(&headers(&[])));
        assert!(!may_have_body(&headers(&[("content-length", "0")])));
        assert!(may_have_body(&headers(&[("content-length", "3")])));
        assert!(may_have_body(&headers(&[("transfer-encoding", "chunked")])));
    }
}
