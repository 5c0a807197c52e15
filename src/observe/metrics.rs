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
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    TextEncoder,
};
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

/// One route's request counters, one per decision, and its duration histograms, one per
/// status class (every series exists from the start; recording is an atomic add).
#[derive(Debug)]
pub struct RouteCounters {
    decisions: [IntCounter; DECISIONS.len()],
    durations: [Histogram; STATUS_CLASSES.len()],
    upstream: Histogram,
}

impl RouteCounters {
    pub fn new(route: &str) -> Self {
        Self {
            decisions: std::array::from_fn(|i| REQUESTS.with_label_values(&[route, DECISIONS[i]])),
            durations: std::array::from_fn(|i| {
                DURATION.with_label_values(&[route, STATUS_CLASSES[i]])
            }),
            upstream: UPSTREAM_DURATION.with_label_values(&[route]),
        }
    }

    pub fn observe_upstream(&self, time: std::time::Duration) {
        self.upstream.observe(time.as_secs_f64());
    }

    pub fn record(&self, forwarded: bool, status: u16, duration: std::time::Duration) {
        self.decisions[decision_index(forwarded, status)].inc();
        self.durations[usize::from(status / 100).min(5)].observe(duration.as_secs_f64());
    }
}

/// Request durations by route and status class, in seconds (what latency alerts are built on).
pub static DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    registered(
        HistogramVec::new(
            HistogramOpts::new(
                "portcullis_request_duration_seconds",
                "Request durations by route and status class (1xx…5xx).",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["route", "status"],
        )
        .expect("valid metric"),
    )
});

/// Upstream response times by route: from choosing the backend to its response head.
pub static UPSTREAM_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    registered(
        HistogramVec::new(
            HistogramOpts::new(
                "portcullis_upstream_duration_seconds",
                "Upstream response times by route (to the response head).",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0,
            ]),
            &["route"],
        )
        .expect("valid metric"),
    )
});

/// Refusals the gateway made itself, by reason (`invalid_token`, `insufficient_scope`, …).
pub static DENIALS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    registered(
        IntCounterVec::new(
            Opts::new(
                "portcullis_denials_total",
                "Requests the gateway refused itself, by reason.",
            ),
            &["reason"],
        )
        .expect("valid metric"),
    )
});

/// `portcullis_build_info{version, commit} 1`, for dashboards and alerts across upgrades.
pub static BUILD_INFO: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    let gauge = registered(
        IntGaugeVec::new(
            Opts::new("portcullis_build_info", "The running build."),
            &["version", "commit"],
        )
        .expect("valid metric"),
    );
    gauge
        .with_label_values(&[env!("CARGO_PKG_VERSION"), env!("PORTCULLIS_COMMIT")])
        .set(1);
    gauge
});

/// Counts one refusal. Reasons are the gateway's own fixed codes (bounded label values).
pub fn count_denial(reason: &str) {
    DENIALS.with_label_values(&[reason]).inc();
}

/// The `status` label of the duration histogram (`0xx`: no answer was written).
const STATUS_CLASSES: [&str; 6] = ["0xx", "1xx", "2xx", "3xx", "4xx", "5xx"];

/// Requests that matched no route, and requests to the token service.
pub static UNROUTED: LazyLock<RouteCounters> = LazyLock::new(|| RouteCounters::new("none"));
pub static TOKEN_SERVICE: LazyLock<RouteCounters> =
    LazyLock::new(|| RouteCounters::new("token_service"));

/// The text exposition of every metric.
pub fn render() -> Vec<u8> {
    LazyLock::force(&BUILD_INFO);
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
