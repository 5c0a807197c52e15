//! One structured event per request. It carries the normalized path but never the query string,
//! headers or cookies, where credentials travel (RFC 6750 §5.3).

use std::net::IpAddr;
use std::time::Duration;

/// What the access log says about one request.
pub struct AccessRecord<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    /// Normalized path; `None` when the request was refused before normalization.
    pub path: Option<&'a str>,
    pub route: Option<&'a str>,
    pub upstream: Option<&'a str>,
    /// 0 when no response could be written.
    pub status: u16,
    pub duration: Duration,
    pub client: Option<IpAddr>,
    /// Pingora's error type name, when the request failed.
    pub error: Option<&'a str>,
}

impl AccessRecord<'_> {
    pub fn emit(&self) {
        tracing::info!(
            target: "access",
            request_id = self.request_id,
            method = self.method,
            path = self.path.unwrap_or("-"),
            route = self.route.unwrap_or("-"),
            upstream = self.upstream.unwrap_or("-"),
            status = self.status,
            duration_us = self.duration.as_micros() as u64,
            client = %self.client.map_or_else(|| "-".to_string(), |ip| ip.to_string()),
            error = self.error.unwrap_or("-"),
        );
    }
}
