//! The snapshot's own metrics, read from it at scrape time (JWKS fetches and staleness, backend
//! health, cache size), so that a reload needs no re-registration. They join the one registry
//! beside the request counters of `observe::metrics`.

use crate::gateway::SharedGateway;
use crate::observe::metrics::{TOKEN_SERVICE, UNROUTED};
use portcullis_engine::metrics::{INTROSPECTIONS, INTROSPECTION_CACHE, JWT_CACHE, REGISTRY};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounterVec, IntGauge, IntGaugeVec, Opts};
use std::sync::{LazyLock, Mutex};

/// Metrics read from the current snapshot at scrape time.
struct SnapshotCollector {
    gateway: SharedGateway,
    jwks_fetches: IntCounterVec,
    jwks_failures: IntCounterVec,
    jwks_age: IntGaugeVec,
    backend_up: IntGaugeVec,
    cache_entries: IntGauge,
    /// Scrapes rebuild the values above; one at a time.
    scraping: Mutex<()>,
}

impl SnapshotCollector {
    fn new(gateway: SharedGateway) -> Self {
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric")
        };
        let counter = |name: &str, help: &str| {
            IntCounterVec::new(Opts::new(name, help), &["issuer"]).expect("valid metric")
        };
        Self {
            gateway,
            jwks_fetches: counter(
                "portcullis_jwks_fetches_total",
                "JWKS fetch attempts by issuer (since the issuer's config last changed).",
            ),
            jwks_failures: counter(
                "portcullis_jwks_fetch_failures_total",
                "Failed JWKS fetches by issuer (since the issuer's config last changed).",
            ),
            jwks_age: gauge(
                "portcullis_jwks_age_seconds",
                "Seconds since the issuer's keys were last fetched (staleness).",
                &["issuer"],
            ),
            backend_up: gauge(
                "portcullis_upstream_backend_up",
                "1 when the backend passes its health checks, else 0.",
                &["upstream", "backend"],
            ),
            cache_entries: IntGauge::new(
                "portcullis_token_cache_entries",
                "Verifications held in the cache.",
            )
            .expect("valid metric"),
            scraping: Mutex::new(()),
        }
    }
}

impl Collector for SnapshotCollector {
    fn desc(&self) -> Vec<&Desc> {
        [
            self.jwks_fetches.desc(),
            self.jwks_failures.desc(),
            self.jwks_age.desc(),
            self.backend_up.desc(),
            self.cache_entries.desc(),
        ]
        .concat()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        use std::sync::atomic::Ordering::Relaxed;
        let _one_scrape = self.scraping.lock().unwrap_or_else(|e| e.into_inner());
        let gateway = self.gateway.load_full();
        self.jwks_fetches.reset();
        self.jwks_failures.reset();
        self.jwks_age.reset();
        self.backend_up.reset();
        for (issuer, remote) in gateway.verifier.remote_key_sources() {
            let fetches = remote.counters.fetches.load(Relaxed);
            let failures = remote.counters.failures.load(Relaxed);
            // Totals kept by the key source, exposed as counters.
            self.jwks_fetches
                .with_label_values(&[issuer])
                .inc_by(fetches);
            self.jwks_failures
                .with_label_values(&[issuer])
                .inc_by(failures);
            if let Some(age) = remote.age() {
                self.jwks_age
                    .with_label_values(&[issuer])
                    .set(i64::try_from(age.as_secs()).unwrap_or(i64::MAX));
            }
        }
        for upstream in gateway.upstreams() {
            for (backend, up) in upstream.backend_health() {
                self.backend_up
                    .with_label_values(&[upstream.name.as_str(), backend.as_str()])
                    .set(i64::from(up));
            }
        }
        self.cache_entries
            .set(i64::try_from(gateway.verifier.cached_entries()).unwrap_or(i64::MAX));
        [
            self.jwks_fetches.collect(),
            self.jwks_failures.collect(),
            self.jwks_age.collect(),
            self.backend_up.collect(),
            self.cache_entries.collect(),
        ]
        .concat()
    }
}

/// Registers the snapshot metrics and touches the request metrics so that every family is
/// listed from the first scrape. Call once per process.
pub fn install(gateway: SharedGateway) {
    LazyLock::force(&UNROUTED);
    LazyLock::force(&TOKEN_SERVICE);
    LazyLock::force(&JWT_CACHE);
    LazyLock::force(&INTROSPECTION_CACHE);
    LazyLock::force(&INTROSPECTIONS);
    if let Err(e) = REGISTRY.register(Box::new(SnapshotCollector::new(gateway))) {
        tracing::error!(error = %e, "metrics: snapshot collector");
    }
}
