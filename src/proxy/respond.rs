//! Answers the gateway writes itself: small JSON bodies, never cacheable.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::Session;

/// A JSON answer made by the gateway (errors, health, built-in endpoints).
pub struct GatewayResponse {
    pub status: u16,
    pub body: Bytes,
    pub headers: Vec<(&'static str, String)>,
    /// Close the connection after answering (framing errors, unread request bodies).
    pub close: bool,
    pub content_type: &'static str,
}

impl From<portcullis_engine::pipeline::Refusal> for GatewayResponse {
    fn from(refusal: portcullis_engine::pipeline::Refusal) -> Self {
        GatewayResponse::json(refusal.status, refusal.body).with_headers(refusal.headers)
    }
}

impl GatewayResponse {
    /// The answer to a request that breaks its route's `[routes.request]` rules. The body is
    /// left unread, so the connection cannot be reused.
    pub fn rule_breach(breach: portcullis_engine::request::rules::RuleBreach) -> Self {
        Self::error(breach.status(), breach.code(), breach.message()).closing()
    }

    /// `{"error": code, "message": message}` (the engine's [`Refusal`] body, one format for
    /// every answer the gateway makes); `code` and `message` are fixed strings, never request
    /// content.
    ///
    /// [`Refusal`]: portcullis_engine::pipeline::Refusal
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        portcullis_engine::pipeline::Refusal::error(status, code, message).into()
    }

    pub fn json(status: u16, body: Vec<u8>) -> Self {
        Self {
            status,
            body: Bytes::from(body),
            headers: Vec::new(),
            close: false,
            content_type: "application/json",
        }
    }

    /// No body at all (`204 No Content`).
    pub fn empty(status: u16) -> Self {
        Self::json(status, Vec::new())
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn with_headers(mut self, headers: Vec<(&'static str, String)>) -> Self {
        self.headers.extend(headers);
        self
    }

    pub fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    /// Writes the answer to the client.
    pub async fn send(self, session: &mut Session, request_id: &http::HeaderValue) -> Result<()> {
        if self.close {
            session.set_keepalive(None);
        }
        let mut header = ResponseHeader::build(self.status, Some(4 + self.headers.len()))?;
        // RFC 9110 §8.6: a 204 has no content and no Content-Length.
        let no_content = self.status == 204;
        if !no_content {
            header.insert_header("content-type", self.content_type)?;
            header.insert_header("content-length", self.body.len().to_string())?;
        }
        header.insert_header("cache-control", "no-store")?;
        header.insert_header("x-request-id", request_id.clone())?;
        if self.close {
            header.insert_header("connection", "close")?;
        }
        for (name, value) in self.headers {
            header.append_header(name, value)?;
        }
        let head_only = no_content || session.req_header().method == http::Method::HEAD;
        session
            .write_response_header(Box::new(header), head_only)
            .await?;
        if !head_only {
            session.write_response_body(Some(self.body), true).await?;
        }
        Ok(())
    }
}
