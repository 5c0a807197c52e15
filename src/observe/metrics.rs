//! Prometheus metrics, served in the text format on their own listener (`[metrics]`).
//!
//! Series touched on the request path are resolved once — per route, per issuer, per cache —
//! so that counting is an atomic add, never a label lookup (which hashes and takes a lock in
//! the `prometheus` crate). What describes the current snapshot — JWKS fetches and staleness, backend health, cache size — is
//! read from it at scrape time, so a reload needs no re-registration.

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use portcullis_engine::metrics::{registered, REGISTRY};
use prometheus::{Encoder, IntCounter, IntCounterVec, Opts, TextEncoder};
use std::sync::LazyLock;

/// Requests by route and decision: `allow` (sent upstream), the gateway's own refusal status
/// (`400`, `401`, `403`, `404`, `405`, `413`, `415`, other `4xx`), or `5xx`.
pub static REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    registered(
        IntCounterVec::new(
            Opts::new(
                "portcullis_requests_total",
                "Requests by route and decision.",
            ),
            &["route", "decision"],
        )
        .expect("valid metric"),
    )
});

/// Every value of the `decision` label.
const DECISIONS: [&str; 12] = [
    "allow", "400", "401", "403", "404", "405", "413", "415", "4xx", "5xx", "answered", "aborted",
];

/// Which of [`DECISIONS`] a request is: `allow` when it went upstream (whatever the upstream
/// answered), else the class of the gateway's own answer.
fn decision_index(forwarded: bool, status: u16) -> usize {
    match (forwarded, status) {
        // The client left before an answer was written.
        (_, 0) => 11,
        (_, 500..) => 9,
        (true, _) => 0,
        (false, 400) => 1,
        (false, 401) => 2,
        (false, 403) => 3,
        (false, 404) => 4,
        (false, 405) => 5,
        (false, 413) => 6,
        (false, 415) => 7,
        (false, 400..=499) => 8,
        // The gateway's own successful answers: health, token service, CORS preflight.
        (false, _) => 10,
    }
}

/// The `decision` label of a request (the tests' reading of the counters' index).
#[cfg(test)]
fn decision_label(forwarded: bool, status: u16) -> &'static str {
    DECISIONS[decision_index(forwarded, status)]
}

/// One route's request counters, one per decision (every series exists from the start).
#[derive(Debug)]
pub struct RouteCounters([IntCounter; DECISIONS.len()]);

impl RouteCounters {
    pub fn new(route: &str) -> Self {
        Self(std::array::from_fn(|i| {
            REQUESTS.with_label_values(&[route, DECISIONS[i]])
        }))
    }

    pub fn record(&self, forwarded: bool, status: u16) {
        self.0[decision_index(forwarded, status)].inc();
    }
}

/// Requests that matched no route, and requests to the token service.
pub static UNROUTED: LazyLock<RouteCounters> = LazyLock::new(|| RouteCounters::new("none"));
pub static TOKEN_SERVICE: LazyLock<RouteCounters> =
    LazyLock::new(|| RouteCounters::new("token_service"));

/// The text exposition of every metric.
pub fn render() -> Vec<u8> {
    let mut text = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&REGISTRY.gather(), &mut text) {
        tracing::error!(error = %e, "metrics: encoding");
    }
    text
}

/// The pingora app on the metrics listener: `GET /metrics`.
pub struct MetricsApp;

#[async_trait]
impl ServeHttp for MetricsApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let request = session.req_header();
        let (status, content_type, body) = match (request.method.as_str(), request.uri.path()) {
            ("GET", "/metrics") => (200, TextEncoder::new().format_type().to_string(), render()),
            _ => (
                404,
                "application/json".to_string(),
                br#"{"error":"not_found","error_description":"metrics are at /metrics"}"#.to_vec(),
            ),
        };
        Response::builder()
            .status(status)
            .header("content-type", content_type)
            .header("content-length", body.len())
            .body(body)
            .expect("static header names are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_are_labelled_by_who_answered() {
        assert_eq!(decision_label(true, 200), "allow");
        assert_eq!(decision_label(true, 404), "allow");
        assert_eq!(decision_label(true, 502), "5xx");
        assert_eq!(decision_label(false, 401), "401");
        assert_eq!(decision_label(false, 429), "4xx");
        assert_eq!(decision_label(false, 200), "answered");
        assert_eq!(decision_label(false, 0), "aborted");
    }
}
