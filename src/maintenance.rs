//! The gateway's background upkeep: whatever snapshot is current gets its upstream health
//! checks, its JWKS refreshed before they are due, and its token service's key ring re-read
//! (rotation by another instance) and expired records purged. A reload needs no re-wiring:
//! parts of a replaced snapshot simply stop being maintained.

use crate::gateway::SharedGateway;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::time::{Duration, Instant};

/// The background service that keeps the current snapshot maintained.
pub struct MaintenanceService {
    gateway: SharedGateway,
}

impl MaintenanceService {
    pub fn new(gateway: SharedGateway) -> Self {
        Self { gateway }
    }
}

/// How often the service looks for due checks; intervals shorter than this are rounded up.
const HEALTH_TICK: Duration = Duration::from_millis(100);

/// How often the token service's key file is re-read (rotation) and expired records purged.
const KEY_CHECK_EVERY: Duration = Duration::from_secs(10);

async fn maintain_token_service(service: &portcullis_tokens::TokenService) {
    let keys = service.key_rotation_task();
    match tokio::task::spawn_blocking(keys).await {
        Ok(Ok(true)) => tracing::info!("token service: signing key rotated"),
        Ok(Ok(false)) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "token service: key file"),
        Err(e) => tracing::error!(error = %e, "token service: key task"),
    }
    if let Err(e) = service.purge_expired().await {
        tracing::warn!(error = %e, "token service: purge");
    }
}

#[async_trait]
impl BackgroundService for MaintenanceService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut last_key_check = Instant::now();
        loop {
            let snapshot = self.gateway.load_full();
            let now = Instant::now();
            if now.duration_since(last_key_check) >= KEY_CHECK_EVERY {
                last_key_check = now;
                if let Some(service) = &snapshot.token_service {
                    maintain_token_service(service).await;
                }
            }
            for (_, remote) in snapshot.verifier.remote_key_sources() {
                if remote.refresh_due() && !remote.is_refreshing() {
                    let remote = remote.clone();
                    tokio::spawn(async move { remote.refresh(None).await });
                }
            }
            for upstream in snapshot.upstreams() {
                upstream.resolve_if_due(now).await;
                upstream.check_health_if_due(now).await;
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(HEALTH_TICK) => {}
            }
        }
    }
}
