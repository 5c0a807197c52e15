//! What `[token_service]` says, compiled (by the gateway's config compiler, which reports every
//! problem at its line): the runtime settings of the token service.

use super::paths::ServicePaths;
use super::redb_store::RedbStore;
use super::redis_store::RedisStore;
use super::store::{Store, StoreError};
use jsonwebtoken::Algorithm;
use portcullis_core::digest::Digest;
use portcullis_core::principal::Level;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFormat {
    Jwt,
    Opaque,
}

#[derive(Debug, Clone)]
pub enum StoreSettings {
    Redb(PathBuf),
    Redis {
        url: String,
        prefix: String,
        timeout: Duration,
    },
}

#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    /// Shown on the consent page.
    pub name: String,
    /// `None`: a public client (no secret; PKCE `S256` required).
    pub secret_sha256: Option<Digest>,
    pub scopes: Vec<String>,
    pub client_credentials: bool,
    pub refresh_token: bool,
    pub authorization_code: bool,
    /// RFC 8628's device authorization grant.
    pub device_code: bool,
    /// Exact matches only (RFC 9700 §4.1.3).
    pub redirect_uris: Vec<String>,
    pub level: Level,
    pub issue_refresh_tokens: bool,
    pub may_verify: bool,
    /// PKCE required in its code flow (always for public clients).
    pub require_pkce: bool,
}

/// One tenant token API: an API product's `create` and `update`.
#[derive(Debug, Clone)]
pub struct TokenApi {
    pub name: String,
    /// What it grants; empty: whatever the tenant may.
    pub resources: Vec<String>,
    pub default_validity_minutes: u64,
    pub max_validity_minutes: u64,
}

#[derive(Debug, Clone)]
pub struct Tenant {
    pub secret_sha256: Option<Digest>,
    pub resources: Vec<String>,
    pub level: Level,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub name: Arc<str>,
    /// Normalized: starts with `/`, no trailing `/`. Where endpoints not placed by the config
    /// are mounted.
    pub prefix: String,
    /// Where each endpoint is mounted (only these paths belong to the service).
    pub paths: ServicePaths,
    /// The tenant token APIs; `Endpoint::Create(i)` is the `i`th.
    pub token_apis: Vec<TokenApi>,
    /// E-mail verification codes through an SMTP relay, when configured.
    pub email: Option<super::email::EmailSettings>,
    /// `{tenant}.suffix`: a device token asked for on such a host is that tenant's.
    pub tenant_host: Option<portcullis_core::route::HostPattern>,
    pub issuer: String,
    pub audience: String,
    pub format: TokenFormat,
    pub algorithm: Algorithm,
    pub store: StoreSettings,
    pub keys_file: PathBuf,
    /// Seconds.
    pub rotate_after: u64,
    pub access_ttl: u64,
    pub device_ttl: u64,
    pub refresh_ttl: u64,
    /// Live grants per client and user; beyond it the oldest stop working.
    pub max_refresh_grants: usize,
    /// Live grants per user across clients (`0`: no limit).
    pub max_refresh_grants_per_user: usize,
    /// RFC 8628: seconds a device waits between polls at first.
    pub device_poll_interval: u64,
    /// Device tokens per client address and window; `None`: unlimited.
    pub device_token_limit: Option<(u32, Duration)>,
    pub default_validity_minutes: u64,
    pub max_validity_minutes: u64,
    pub clients: HashMap<String, Client>,
    pub tenants: HashMap<String, Tenant>,
    pub sign_in: Option<SignInSettings>,
}

/// `[token_service.sign_in]` compiled.
#[derive(Debug, Clone)]
pub struct SignInSettings {
    pub users: UserSource,
    pub session_ttl: u64,
    pub code_ttl: u64,
    pub max_failures: u32,
    pub failure_window: Duration,
}

/// Who checks a user's password.
#[derive(Debug, Clone)]
pub enum UserSource {
    File(PathBuf),
    Oidc(UpstreamOidc),
}

#[derive(Debug, Clone)]
pub struct UpstreamOidc {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub name_claim: String,
}

impl Settings {
    /// Opens the configured store (redb locks its file; Redis connects on first use).
    pub fn open_store(&self) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match &self.store {
            StoreSettings::Redb(path) => Arc::new(RedbStore::open(path)?),
            StoreSettings::Redis {
                url,
                prefix,
                timeout,
            } => Arc::new(RedisStore::new(url, prefix, *timeout)?),
        })
    }

    /// Where a sign-in page endpoint is mounted. The config compiler mounts all of them when
    /// sign-in is on (a page must be able to post to the next); `/` should one be missing.
    pub fn page_path(&self, endpoint: super::paths::Endpoint) -> &str {
        self.paths.path(endpoint).unwrap_or("/")
    }

    /// The longest any access token may live: how long a rotated-out key stays published.
    pub fn longest_token_life(&self) -> u64 {
        let apis = self.token_apis.iter().map(|a| a.max_validity_minutes * 60);
        self.access_ttl
            .max(self.device_ttl)
            .max(self.max_validity_minutes * 60)
            .max(apis.max().unwrap_or(0))
    }
}

/// A redirect URI a client may register: absolute, `https` (or `http` on a loopback host, for
/// native apps and development, RFC 8252 §7.3), no fragment (RFC 6749 §3.1.2).
pub fn check_redirect_uri(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(format!(
                "{text:?} must be https (http only on a loopback host)"
            ))
        }
    }
    if url.fragment().is_some() {
        return Err(format!("{text:?} must not have a fragment"));
    }
    Ok(())
}
