//! Answers the gateway writes itself: small JSON bodies, never cacheable.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::Session;
use portcullis_core::answer::Answer;

/// An answer the gateway makes itself (errors, health, built-in endpoints), and whether the
/// connection must close after it.
pub struct GatewayResponse {
    pub answer: Answer,
    /// Close the connection after answering (framing errors, unread request bodies).
    pub close: bool,
    /// Headers whose names are configured (a forward-auth answer's identity headers).
    extra: Option<http::HeaderMap>,
}

impl From<Answer> for GatewayResponse {
    fn from(answer: Answer) -> Self {
        Self {
            answer,
            close: false,
            extra: None,
        }
    }
}

impl GatewayResponse {
    /// The answer to a request that breaks its route's `[routes.request]` rules. The body is
    /// left unread, so the connection cannot be reused.
    pub fn rule_breach(breach: portcullis_engine::request::rules::RuleBreach) -> Self {
        Self::error(breach.status(), breach.code(), breach.message()).closing()
    }

    /// `{"error": code, "message": message}` ([`Answer::error`], one format for every refusal
    /// the gateway makes); `code` and `message` are fixed strings, never request content.
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Answer::error(status, code, message).into()
    }

    pub fn json(status: u16, body: Vec<u8>) -> Self {
        Answer::json(status, body).into()
    }

    /// No body at all (`204 No Content`).
    pub fn empty(status: u16) -> Self {
        Answer::empty(status).into()
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.answer.headers.push((name, value.into()));
        self
    }

    pub fn with_headers(mut self, headers: Vec<(&'static str, String)>) -> Self {
        self.answer.headers.extend(headers);
        self
    }

    pub fn with_extra_headers(mut self, headers: http::HeaderMap) -> Self {
        self.extra = Some(headers);
        self
    }

    /// One more header under a configured name (kept beside [`Self::with_extra_headers`]'s).
    pub fn with_extra_header(mut self, name: http::HeaderName, value: http::HeaderValue) -> Self {
        self.extra
            .get_or_insert_with(http::HeaderMap::new)
            .insert(name, value);
        self
    }

    pub fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    /// Writes the answer to the client.
    pub async fn send(self, session: &mut Session, request_id: &http::HeaderValue) -> Result<()> {
        let Answer {
            status,
            content_type,
            headers,
            body,
        } = self.answer;
        if self.close {
            session.set_keepalive(None);
        }
        let mut header = ResponseHeader::build(status, Some(4 + headers.len()))?;
        // RFC 9110 §8.6: a 204 has no content and no Content-Length.
        let no_content = status == 204;
        if !no_content {
            header.insert_header("content-type", content_type)?;
            header.insert_header("content-length", body.len().to_string())?;
        }
        header.insert_header("cache-control", "no-store")?;
        header.insert_header("x-request-id", request_id.clone())?;
        if self.close {
            header.insert_header("connection", "close")?;
        }
        for (name, value) in headers {
            header.append_header(name, value)?;
        }
        for (name, value) in self.extra.iter().flatten() {
            header.append_header(name.clone(), value.clone())?;
        }
        let head_only = no_content || session.req_header().method == http::Method::HEAD;
        session
            .write_response_header(Box::new(header), head_only)
            .await?;
        if !head_only {
            session
                .write_response_body(Some(Bytes::from(body)), true)
                .await?;
        }
        Ok(())
    }
}
