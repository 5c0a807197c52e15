//! Upstream pools: round-robin over healthy backends, with active TCP health checks.

use crate::config::model::{HealthCheckConfig, UpstreamConfig};
use pingora::lb::health_check::TcpHealthCheck;
use pingora::lb::selection::RoundRobin;
use pingora::lb::{Backend, Backends, LoadBalancer};
use pingora::prelude::HttpPeer;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub mod resolve;
pub mod tls;

/// One `[upstreams.<name>]`: its backends and how to talk to them.
pub struct Upstream {
    pub name: String,
    balancer: LoadBalancer<RoundRobin>,
    /// The backend of a one-address pool: picked without a selection round, which costs a
    /// hash-set insert per request in pingora's balancer.
    only: Option<Backend>,
    /// `None`: plain HTTP.
    tls: Option<tls::UpstreamTls>,
    connect_timeout: Duration,
    read_timeout: Duration,
    write_timeout: Duration,
    idle_timeout: Duration,
    health_interval: Option<Duration>,
    /// When the last health check ran; only the background service touches it.
    last_health_check: Mutex<Option<Instant>>,
    /// How often host names are resolved again (`None`: only IP addresses).
    resolve_every: Option<Duration>,
    last_resolved: Mutex<Instant>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.name)
            .finish()
    }
}

impl Upstream {
    /// Builds the pool from its targets and what each resolved to at load (a name that did not
    /// resolve yet has no addresses: the pool is not ready until it does).
    pub fn new(
        name: &str,
        config: &UpstreamConfig,
        resolved: Vec<(resolve::Target, Vec<SocketAddr>)>,
        tls: Option<tls::UpstreamTls>,
    ) -> Self {
        let discovery = resolve::Discovery::new(resolved);
        let has_names = discovery.has_names();
        let mut balancer =
            LoadBalancer::<RoundRobin>::from_backends(Backends::new(Box::new(discovery)));
        // The first discovery answers from what load resolved, without waiting on anything.
        let first = std::pin::pin!(balancer.update())
            .as_mut()
            .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
        assert!(
            matches!(first, std::task::Poll::Ready(Ok(()))),
            "the first discovery completes at once"
        );
        if let Some(HealthCheckConfig {
            unhealthy_after,
            healthy_after,
            ..
        }) = &config.health_check
        {
            let mut check = TcpHealthCheck::new();
            check.consecutive_failure = (*unhealthy_after).max(1);
            check.consecutive_success = (*healthy_after).max(1);
            check.peer_template.options.connection_timeout = Some(config.connect_timeout.get());
            balancer.set_health_check(check);
        }
        // Taken from the balancer so that its identity is the one health is recorded under.
        // Names may resolve to other addresses later: their pools always select.
        let members = balancer.backends().get_backend();
        let only = members
            .first()
            .filter(|_| members.len() == 1 && !has_names)
            .cloned();
        Self {
            name: name.to_string(),
            balancer,
            only,
            tls,
            connect_timeout: config.connect_timeout.get(),
            read_timeout: config.read_timeout.get(),
            write_timeout: config.write_timeout.get(),
            idle_timeout: config.idle_timeout.get(),
            health_interval: config.health_check.as_ref().map(|h| h.interval.get()),
            // Backends start healthy and are first probed one interval later: a probe fired while
            // everything is still starting (the in-process echo upstream, a sidecar) would take a
            // good backend out for a whole interval.
            last_health_check: Mutex::new(Some(Instant::now())),
            resolve_every: has_names
                .then(|| config.resolve_every.get().max(Duration::from_secs(1))),
            last_resolved: Mutex::new(Instant::now()),
        }
    }

    /// Ready to take requests: some backend is known (a name may not have resolved yet).
    pub fn is_ready(&self) -> bool {
        !self.balancer.backends().get_backend().is_empty()
    }

    /// Resolves the pool's host names again when due; a name that fails keeps its addresses.
    pub async fn resolve_if_due(&self, now: Instant) {
        let Some(every) = self.resolve_every else {
            return;
        };
        {
            let mut last = self.last_resolved.lock().expect("not poisoned");
            if now.duration_since(*last) < every {
                return;
            }
            *last = now;
        }
        if let Err(e) = self.balancer.update().await {
            tracing::warn!(upstream = %self.name, error = %e, "resolving upstream names failed");
        }
    }

    /// The next healthy backend as a pingora peer, or `None` when all are down.
    pub fn peer(&self) -> Option<HttpPeer> {
        let backend = match &self.only {
            // Without health checks nothing ever marks a backend down.
            Some(only) if self.health_interval.is_none() => only.clone(),
            Some(only) if self.balancer.backends().ready(only) => only.clone(),
            Some(_) => return None,
            None => self.balancer.select(b"", 256)?,
        };
        let ip = backend.addr.as_inet().map(|a| a.ip());
        let mut peer = HttpPeer::new(backend.addr, self.tls.is_some(), String::new());
        if let Some(tls) = &self.tls {
            tls.apply(&mut peer, ip);
        }
        peer.options.connection_timeout = Some(self.connect_timeout);
        peer.options.read_timeout = Some(self.read_timeout);
        peer.options.write_timeout = Some(self.write_timeout);
        peer.options.idle_timeout = Some(self.idle_timeout);
        Some(peer)
    }

    /// Each backend's address and whether it is healthy (for metrics).
    pub fn backend_health(&self) -> Vec<(String, bool)> {
        let backends = self.balancer.backends();
        backends
            .get_backend()
            .iter()
            .map(|b| (b.addr.to_string(), backends.ready(b)))
            .collect()
    }

    /// Runs a health check if one is configured and due.
    pub async fn check_health_if_due(&self, now: Instant) {
        let Some(interval) = self.health_interval else {
            return;
        };
        {
            let mut last = self.last_health_check.lock().expect("not poisoned");
            if last.is_some_and(|at| now.duration_since(at) < interval) {
                return;
            }
            *last = Some(now);
        }
        self.balancer.backends().run_health_check(true).await;
    }
}
