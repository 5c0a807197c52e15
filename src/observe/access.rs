//! One structured event per request. It carries the normalized path but never the query string,
//! headers or cookies, where credentials travel (RFC 6750 §5.3).

use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::Duration;

/// What the access log says about one request.
pub struct AccessRecord<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    /// The `Host` (or absolute-form authority) as sent.
    pub host: Option<&'a str>,
    /// Normalized path; `None` when the request was refused before normalization.
    pub path: Option<&'a str>,
    pub route: Option<&'a str>,
    pub upstream: Option<&'a str>,
    /// 0 when no response could be written.
    pub status: u16,
    /// Why the gateway refused it (`invalid_token`, `insufficient_scope`, …).
    pub reason: Option<&'a str>,
    /// [`subject_reference`] of the caller, never the subject itself.
    pub subject: Option<&'a str>,
    pub duration: Duration,
    /// Request and response body bytes.
    pub bytes_in: usize,
    pub bytes_out: usize,
    pub user_agent: Option<&'a str>,
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
            host = self.host.unwrap_or("-"),
            path = self.path.unwrap_or("-"),
            route = self.route.unwrap_or("-"),
            upstream = self.upstream.unwrap_or("-"),
            status = self.status,
            reason = self.reason.unwrap_or("-"),
            subject = self.subject.unwrap_or("-"),
            duration_us = self.duration.as_micros() as u64,
            bytes_in = self.bytes_in,
            bytes_out = self.bytes_out,
            user_agent = self.user_agent.unwrap_or("-"),
            client = %self.client.map_or_else(|| "-".to_string(), |ip| ip.to_string()),
            error = self.error.unwrap_or("-"),
        );
    }
}

/// Drawn once per process: subject references correlate one caller's requests in this
/// process's log without being a dictionary-reversible hash of an e-mail address.
static SUBJECT_KEY: LazyLock<String> = LazyLock::new(|| {
    use rand::RngCore;
    let mut key = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut key);
    key.iter().map(|b| format!("{b:02x}")).collect()
});

/// A non-reversible reference to a subject: 16 hex digits of SHA-256 over a per-process key
/// and the subject.
pub fn subject_reference(subject: &str) -> String {
    let digest = portcullis_core::digest::digest_hex(&format!("{}:{subject}", *SUBJECT_KEY));
    digest[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_reference_is_stable_short_and_not_the_subject() {
        let a = subject_reference("alice@example.com");
        assert_eq!(a, subject_reference("alice@example.com"));
        assert_ne!(a, subject_reference("bob@example.com"));
        assert_eq!(a.len(), 16);
        assert_ne!(
            a,
            portcullis_core::digest::digest_hex("alice@example.com")[..16]
        );
    }
}
