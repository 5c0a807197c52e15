//! A response the gateway writes itself — a refusal, a token-service endpoint's answer, a
//! health check — as plain data. Every layer builds one; only the top crate writes it to a
//! connection, so one type means one way to answer (headers, `no-store`, framing).

use serde::Serialize;

/// `application/json`, the content type of every answer except the sign-in pages.
pub const JSON: &str = "application/json";
/// The sign-in and consent pages.
pub const HTML: &str = "text/html; charset=utf-8";

/// Status, extra headers (`WWW-Authenticate`, `Allow`, `Retry-After`, …), content type and
/// body. Bodies are made of fixed strings and the gateway's own data, never of request content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

impl Answer {
    /// A JSON body already serialized.
    pub fn json(status: u16, body: Vec<u8>) -> Self {
        Self {
            status,
            content_type: JSON,
            headers: Vec::new(),
            body,
        }
    }

    /// `{"error": code, "message": message}`: the body of every refusal the gateway makes
    /// (the token service's OAuth2 errors follow RFC 6749 §5.2 instead).
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        let body = serde_json::to_vec(&ErrorBody {
            error: code,
            message,
        })
        .expect("serializing two strings cannot fail");
        Self::json(status, body)
    }

    /// No body at all (`204 No Content`, a redirect).
    pub fn empty(status: u16) -> Self {
        Self::json(status, Vec::new())
    }

    /// An HTML page.
    pub fn html(status: u16, page: String) -> Self {
        Self {
            status,
            content_type: HTML,
            headers: Vec::new(),
            body: page.into_bytes(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn with_headers(
        mut self,
        headers: impl IntoIterator<Item = (&'static str, String)>,
    ) -> Self {
        self.headers.extend(headers);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_body_escapes_what_it_is_given() {
        let answer = Answer::error(400, "invalid_request", "a \"quoted\" word");
        assert_eq!(answer.content_type, JSON);
        assert_eq!(
            answer.body,
            br#"{"error":"invalid_request","message":"a \"quoted\" word"}"#
        );
        let answer = answer.with_header("retry-after", "1");
        assert_eq!(answer.headers, [("retry-after", "1".to_string())]);
    }
}
