//! Direct edits of pingora's header maps.
//!
//! pingora's `RequestHeader` and `ResponseHeader` keep a second map with each name's original
//! case, and every `insert_header`/`remove_header` edits both: it parses the name anew,
//! allocates it twice and hashes it twice. The gateway makes about ten edits per request, so it
//! edits the plain `http` map once instead and sends lower-case names, as HAProxy and Envoy do
//! (header names are case-insensitive: RFC 9110 §5.1).

use http::{HeaderMap, HeaderValue};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::{ErrorType::InvalidHTTPHeader, OrErr};

/// Runs `edit` on the request's headers, leaving method, target and version as they were.
pub fn edit_request(
    request: &mut RequestHeader,
    edit: impl FnOnce(&mut HeaderMap) -> pingora::Result<()>,
) -> pingora::Result<()> {
    // A target the URI does not reproduce (absolute-form, not UTF-8) is kept verbatim.
    let uri_target = request.uri.path_and_query().map_or("", |pq| pq.as_str());
    let verbatim =
        (request.raw_path() != uri_target.as_bytes()).then(|| request.raw_path().to_vec());
    let end_stream = request.send_end_stream();
    let placeholder = RequestHeader::from(http::Request::new(()).into_parts().0);
    let mut parts = http::request::Parts::from(std::mem::replace(request, placeholder));
    let edited = edit(&mut parts.headers);
    *request = RequestHeader::from(parts);
    if let Some(target) = verbatim {
        request.set_raw_path(&target)?;
    }
    if let Some(end_stream) = end_stream {
        request.set_send_end_stream(end_stream);
    }
    edited
}

/// Runs `edit` on the response's headers, leaving status, reason phrase and version as they
/// were.
pub fn edit_response(
    response: &mut ResponseHeader,
    edit: impl FnOnce(&mut HeaderMap) -> pingora::Result<()>,
) -> pingora::Result<()> {
    let canonical = response.status.canonical_reason();
    let reason = response
        .get_reason_phrase()
        .filter(|reason| Some(*reason) != canonical)
        .map(str::to_string);
    let placeholder = ResponseHeader::from(http::Response::new(()).into_parts().0);
    let mut parts = http::response::Parts::from(std::mem::replace(response, placeholder));
    let edited = edit(&mut parts.headers);
    *response = ResponseHeader::from(parts);
    response.set_reason_phrase(reason.as_deref())?;
    edited
}

/// A header value the gateway made (a trace, a CORS grant, a cookie, the cookies left after
/// a token's removal); one that cannot be a header value fails the request.
pub fn header_value(text: String) -> pingora::Result<HeaderValue> {
    HeaderValue::try_from(text).or_err(InvalidHTTPHeader, "not a header value")
}

/// A value the engine could not make into a header, as the request's failure.
pub fn unsendable(e: portcullis_engine::request::UnsendableHeader) -> Box<pingora::Error> {
    pingora::Error::explain(InvalidHTTPHeader, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(request: &RequestHeader) -> String {
        let mut buf = Vec::new();
        request.header_to_h1_wire(&mut buf);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn request_edits_keep_the_target_and_lower_the_names() {
        let mut request = RequestHeader::build("POST", b"/a/b?c=1", None).unwrap();
        request.append_header("X-Kept", "1").unwrap();
        request.append_header("X-Gone", "2").unwrap();
        edit_request(&mut request, |headers| {
            headers.remove("x-gone");
            headers.insert("x-new", http::HeaderValue::from_static("3"));
            Ok(())
        })
        .unwrap();
        assert_eq!(request.method, http::Method::POST);
        assert_eq!(request.raw_path(), b"/a/b?c=1");
        assert_eq!(wire(&request), "x-kept: 1\r\nx-new: 3\r\n");
    }

    #[test]
    fn a_verbatim_target_survives_an_edit() {
        let mut request = RequestHeader::build("GET", b"http://h.example/p?q", None).unwrap();
        edit_request(&mut request, |_| Ok(())).unwrap();
        assert_eq!(request.raw_path(), b"http://h.example/p?q");
    }

    #[test]
    fn response_edits_keep_status_and_a_custom_reason() {
        let mut response = ResponseHeader::build(299, None).unwrap();
        response.set_reason_phrase(Some("Odd")).unwrap();
        response.append_header("Server", "up").unwrap();
        edit_response(&mut response, |headers| {
            headers.insert("x-request-id", http::HeaderValue::from_static("r1"));
            Ok(())
        })
        .unwrap();
        assert_eq!(response.status.as_u16(), 299);
        assert_eq!(response.get_reason_phrase(), Some("Odd"));
        assert_eq!(response.headers["server"], "up");
        assert_eq!(response.headers["x-request-id"], "r1");
    }
}
