//! The metrics of verification, kept where verification is: per-issuer timing, cache hits and
//! introspection calls. They register in [`REGISTRY`], the one registry the gateway serves at
//! `/metrics` (its own series join it from above).
//!
//! Series touched on the request path are resolved once — per issuer, per cache — so that
//! counting is an atomic add, never a label lookup.

use prometheus::core::Collector;
use prometheus::{
    exponential_buckets, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts,
    Registry,
};
use std::sync::LazyLock;
use std::time::Duration;

/// The registry behind `/metrics`.
pub static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::new);

pub fn registered<C: Collector + Clone + 'static>(collector: C) -> C {
    REGISTRY
        .register(Box::new(collector.clone()))
        .expect("metric names are unique");
    collector
}

/// Time to verify a credential, by the issuer that answered (`unknown` when none did).
pub static VERIFICATION_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    registered(
        HistogramVec::new(
            HistogramOpts::new(
                "portcullis_token_verification_seconds",
                "Time to verify a credential, cache hits included.",
            )
            // 5 µs (a cache hit) to about 1.3 s (a slow introspection endpoint).
            .buckets(exponential_buckets(0.000_005, 4.0, 10).expect("valid buckets")),
            &["issuer", "outcome"],
        )
        .expect("valid metric"),
    )
});

/// Verification-cache lookups by result (`hit`, `miss`); hit ratio = hit / (hit + miss).
pub static CACHE_LOOKUPS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    registered(
        IntCounterVec::new(
            Opts::new(
                "portcullis_token_cache_lookups_total",
                "Verification-cache lookups by result.",
            ),
            &["cache", "result"],
        )
        .expect("valid metric"),
    )
});

/// Calls to RFC 7662 endpoints by issuer and result (`active`, `inactive`, `error`); counted
/// beside a network call, so the label lookup does not matter.
pub static INTROSPECTIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    registered(
        IntCounterVec::new(
            Opts::new(
                "portcullis_introspection_requests_total",
                "Calls to introspection endpoints by issuer and result.",
            ),
            &["issuer", "result"],
        )
        .expect("valid metric"),
    )
});

/// One issuer's verification-time histograms (`issuer = "unknown"`: no issuer accepted it).
#[derive(Debug, Clone)]
pub struct VerificationTimer {
    valid: Histogram,
    invalid: Histogram,
}

impl VerificationTimer {
    pub fn new(issuer: &str) -> Self {
        Self {
            valid: VERIFICATION_SECONDS.with_label_values(&[issuer, "valid"]),
            invalid: VERIFICATION_SECONDS.with_label_values(&[issuer, "invalid"]),
        }
    }

    pub fn record(&self, valid: bool, took: Duration) {
        if valid { &self.valid } else { &self.invalid }.observe(took.as_secs_f64());
    }
}

/// Hits and misses of one verification cache.
pub struct CacheCounters {
    hit: IntCounter,
    miss: IntCounter,
}

impl CacheCounters {
    fn new(cache: &str) -> Self {
        Self {
            hit: CACHE_LOOKUPS.with_label_values(&[cache, "hit"]),
            miss: CACHE_LOOKUPS.with_label_values(&[cache, "miss"]),
        }
    }

    pub fn record(&self, hit: bool) {
        if hit { &self.hit } else { &self.miss }.inc();
    }
}

pub static JWT_CACHE: LazyLock<CacheCounters> = LazyLock::new(|| CacheCounters::new("jwt"));
pub static INTROSPECTION_CACHE: LazyLock<CacheCounters> =
    LazyLock::new(|| CacheCounters::new("introspection"));
