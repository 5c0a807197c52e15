//! Remote JWKS (and OIDC discovery) with the promises of SECURITY.md §4.5:
//!
//! - one fetch at a time per issuer; requests that waited for it reuse its result (P2);
//! - a failed or empty fetch never replaces the last good keys (P3, P4); they are served until
//!   `max_stale` past their refresh time, then verification answers 503, never 401;
//! - an unknown `kid` triggers at most one refresh per `cooldown` (P5);
//! - the background refresher renews keys before they are due, so requests do not wait.

use crate::verify::keys::{keys_from_jwks, KeySet};
use arc_swap::ArcSwapOption;
use jsonwebtoken::Algorithm;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Largest JWKS or discovery document read.
const MAX_DOCUMENT: usize = 1024 * 1024;

/// Keys as fetched, with when.
#[derive(Debug)]
pub struct LoadedKeys {
    pub keys: KeySet,
    pub fetched_at: Instant,
}

/// Where the JWKS comes from.
#[derive(Debug, Clone)]
pub enum JwksLocation {
    Url(String),
    /// OIDC discovery: `{issuer}/.well-known/openid-configuration` names the `jwks_uri`.
    Discovery {
        issuer: String,
    },
}

/// Settings of one remote key source.
#[derive(Debug, Clone)]
pub struct RemoteSettings {
    pub location: JwksLocation,
    pub refresh_every: Duration,
    pub cooldown: Duration,
    pub fetch_timeout: Duration,
    pub max_stale: Duration,
    pub rsa_default: Algorithm,
}

/// Counters for operators (exported as metrics later).
#[derive(Debug, Default)]
pub struct JwksCounters {
    pub fetches: AtomicU64,
    pub failures: AtomicU64,
}

pub struct RemoteJwks {
    settings: RemoteSettings,
    client: reqwest::Client,
    current: ArcSwapOption<LoadedKeys>,
    /// Held while fetching; holds when the last fetch attempt ended.
    gate: Mutex<Option<Instant>>,
    discovered_url: ArcSwapOption<String>,
    pub counters: JwksCounters,
    /// Fetch failures are logged once a minute with a count (an outage fails every fetch).
    failures_logged: crate::repeats::Repeats,
}

impl std::fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("location", &self.settings.location)
            .finish()
    }
}

/// Why keys could not be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeysUnavailable;

impl RemoteJwks {
    /// Time since the keys in use were fetched; `None` before the first successful fetch.
    pub fn age(&self) -> Option<std::time::Duration> {
        self.current.load().as_ref().map(|k| k.fetched_at.elapsed())
    }

    pub fn new(settings: RemoteSettings, fallback: Option<KeySet>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(settings.fetch_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client with default TLS settings builds");
        Self {
            settings,
            client,
            current: ArcSwapOption::new(fallback.map(|keys| {
                Arc::new(LoadedKeys {
                    keys,
                    fetched_at: Instant::now(),
                })
            })),
            gate: Mutex::new(None),
            discovered_url: ArcSwapOption::empty(),
            counters: JwksCounters::default(),
            failures_logged: crate::repeats::Repeats::every(Duration::from_secs(60)),
        }
    }

    /// Whether some keys are loaded (readiness).
    pub fn has_keys(&self) -> bool {
        self.current.load().is_some()
    }

    fn usable(&self, loaded: &LoadedKeys) -> bool {
        loaded.fetched_at.elapsed() <= self.settings.refresh_every + self.settings.max_stale
    }

    /// The keys to verify a token whose header names `kid`.
    pub async fn keys_for(&self, kid: Option<&str>) -> Result<Arc<LoadedKeys>, KeysUnavailable> {
        let current = self.current.load_full();
        match &current {
            Some(loaded) if self.usable(loaded) => {
                let known = kid.is_none_or(|kid| loaded.keys.contains_kid(kid));
                if known {
                    return Ok(loaded.clone());
                }
                self.refresh(Some(self.settings.cooldown)).await;
            }
            _ => self.refresh(None).await,
        }
        match self.current.load_full() {
            Some(loaded) if self.usable(&loaded) => Ok(loaded),
            _ => Err(KeysUnavailable),
        }
    }

    /// Whether a fetch is under way.
    pub fn is_refreshing(&self) -> bool {
        self.gate.try_lock().is_err()
    }

    /// Whether the background refresher should fetch now.
    pub fn refresh_due(&self) -> bool {
        let margin = Duration::from_secs(5).min(self.settings.refresh_every / 2);
        match self.current.load().as_ref() {
            None => true,
            Some(loaded) => loaded.fetched_at.elapsed() + margin >= self.settings.refresh_every,
        }
    }

    /// Fetches new keys unless another caller just did. With `cooldown`, skips the fetch when
    /// the last attempt was more recent than that (unknown-`kid` floods).
    pub async fn refresh(&self, cooldown: Option<Duration>) {
        let waited_since = Instant::now();
        let mut last_attempt = self.gate.lock().await;
        if let Some(at) = *last_attempt {
            // Someone's fetch ended while we waited: use its result.
            if at >= waited_since {
                return;
            }
            if cooldown.is_some_and(|c| at.elapsed() < c) {
                return;
            }
        }
        self.counters.fetches.fetch_add(1, Ordering::Relaxed);
        let fetched = self.fetch().await;
        // Stamped when the attempt ends: a slow fetch must not leave its waiters past the
        // cooldown and send them to fetch again (a thousand requests at a rotation: one fetch).
        *last_attempt = Some(Instant::now());
        match fetched {
            Ok(keys) => {
                self.current.store(Some(Arc::new(LoadedKeys {
                    keys,
                    fetched_at: Instant::now(),
                })));
            }
            Err(reason) => {
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
                if let Some(held_back) = self.failures_logged.allow(Instant::now()) {
                    tracing::warn!(location = ?self.settings.location, %reason, held_back, "JWKS fetch failed; keeping the last good keys");
                }
            }
        }
    }

    async fn fetch(&self) -> Result<KeySet, FetchError> {
        let url = self.jwks_url().await?;
        let document = self.get(&url).await?;
        let (keys, rejected) = keys_from_jwks(&document, self.settings.rsa_default)?;
        for rejection in &rejected {
            tracing::warn!(url = %url, ?rejection, "JWKS key not loaded");
        }
        if keys.is_empty() {
            return Err(FetchError::NoUsableKey);
        }
        Ok(keys)
    }

    async fn jwks_url(&self) -> Result<String, FetchError> {
        match &self.settings.location {
            JwksLocation::Url(url) => Ok(url.clone()),
            JwksLocation::Discovery { issuer } => {
                if let Some(url) = self.discovered_url.load_full() {
                    return Ok((*url).clone());
                }
                let discovery = format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                );
                let document = self.get(&discovery).await?;
                let value: serde_json::Value =
                    serde_json::from_slice(&document).map_err(FetchError::DiscoveryNotJson)?;
                // OpenID Connect Discovery §4.3: the issuer must match exactly.
                if value.get("issuer").and_then(|v| v.as_str()) != Some(issuer.as_str()) {
                    return Err(FetchError::OtherIssuer);
                }
                let url = value
                    .get("jwks_uri")
                    .and_then(|v| v.as_str())
                    .ok_or(FetchError::NoJwksUri)?
                    .to_string();
                check_fetch_url(&url)?;
                self.discovered_url.store(Some(Arc::new(url.clone())));
                Ok(url)
            }
        }
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let mut response = self
            .client
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| FetchError::Request(Transport::of(&e)))?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError::Reading(Transport::of(&e)))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Why fetching keys failed (logged; the last good keys stay in use).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("request failed: {0}")]
    Request(Transport),
    #[error("reading failed: {0}")]
    Reading(Transport),
    #[error("answered {0}")]
    Status(u16),
    #[error("the document is too large")]
    TooLarge,
    #[error("the discovery document is not JSON")]
    DiscoveryNotJson(#[source] serde_json::Error),
    #[error("the discovery document names another issuer")]
    OtherIssuer,
    #[error("the discovery document has no jwks_uri")]
    NoJwksUri,
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error(transparent)]
    Keys(#[from] super::keys::KeyError),
    #[error("the JWKS holds no usable signing key")]
    NoUsableKey,
}

/// How a request failed, without its URL (which may carry a secret in its query).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Transport {
    #[error("timed out")]
    TimedOut,
    #[error("could not connect")]
    Connect,
    #[error("failed")]
    Other,
}

impl Transport {
    fn of(e: &reqwest::Error) -> Transport {
        if e.is_timeout() {
            Transport::TimedOut
        } else if e.is_connect() {
            Transport::Connect
        } else {
            Transport::Other
        }
    }
}

/// A key or introspection URL that is neither HTTPS nor on loopback.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} must be an https:// URL (plain http only on loopback)")]
pub struct UrlError(pub String);

/// Key URLs must be HTTPS, except on loopback (local identity providers and tests).
pub fn check_fetch_url(url: &str) -> Result<(), UrlError> {
    if url.starts_with("https://") {
        return Ok(());
    }
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"];
    if loopback.iter().any(|prefix| {
        url.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
    }) {
        return Ok(());
    }
    Err(UrlError(url.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_urls_are_fetched() {
        assert!(check_fetch_url("https://idp.example.com/jwks").is_ok());
        assert!(check_fetch_url("http://127.0.0.1:8080/jwks").is_ok());
        assert!(check_fetch_url("http://localhost/jwks").is_ok());
        assert!(check_fetch_url("http://idp.example.com/jwks").is_err());
        assert!(check_fetch_url("http://127.0.0.1.evil.com/jwks").is_err());
        assert!(check_fetch_url("file:///etc/passwd").is_err());
    }
}
