//! The built-in echo upstream: answers every request with a JSON description of it.
//!
//! It lets `portcullis serve` work with no other process, and gives tests and benchmarks an
//! upstream that shows exactly what the gateway forwarded (path, query, headers, body size).

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde::Serialize;

/// What the echo upstream saw.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct EchoedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Every header line in arrival order, names lower-cased; repeated names stay repeated.
    pub headers: Vec<(String, String)>,
    pub body_bytes: u64,
}

impl EchoedRequest {
    /// All values of a header, by lower-case name.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The pingora app behind the echo service.
pub struct EchoApp;

#[async_trait]
impl ServeHttp for EchoApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let mut body_bytes = 0u64;
        let mut read_failed = false;
        loop {
            match session.read_request_body().await {
                Ok(Some(chunk)) => body_bytes += chunk.len() as u64,
                Ok(None) => break,
                Err(_) => {
                    read_failed = true;
                    break;
                }
            }
        }
        let request = session.req_header();
        let echoed = EchoedRequest {
            method: request.method.to_string(),
            path: request.uri.path().to_string(),
            query: request.uri.query().map(str::to_string),
            headers: request
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body_bytes,
        };
        let body = serde_json::to_vec(&echoed).expect("plain strings serialize");
        let status = if read_failed { 400 } else { 200 };
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .header("content-length", body.len())
            .body(body)
            .expect("static header names are valid")
    }
}
