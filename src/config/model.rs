//! The TOML config file, as written by operators.
//!
//! Every struct denies unknown keys: a typo such as `path_prefx` must fail loudly at load time
//! rather than silently open a route. Fields that later validation refers to are wrapped in
//! [`Spanned`] so that a problem can name the line it came from.

use super::duration::ConfigDuration;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub log: LogSettings,
    /// Where clients connect. At least one is required.
    #[serde(default)]
    pub listeners: Vec<Spanned<ListenerConfig>>,
    /// The built-in echo upstream: a pingora service in this process that answers every request
    /// with a JSON description of it. Meant for demos, tests and benchmarks.
    pub echo: Option<EchoConfig>,
    /// Prometheus metrics on their own listener.
    pub metrics: Option<MetricsConfig>,
    /// Who may ask for decision traces with `X-Portcullis-Debug`.
    pub debug: Option<DebugConfig>,
    #[serde(default)]
    pub upstreams: BTreeMap<String, Spanned<UpstreamConfig>>,
    /// Routes are tried in file order; the first match wins.
    #[serde(default)]
    pub routes: Vec<Spanned<RouteConfig>>,
    #[serde(default)]
    pub auth: AuthSettings,
    /// Token issuers, by name.
    #[serde(default)]
    pub issuers: BTreeMap<String, Spanned<IssuerConfig>>,
    /// The built-in token service (its issuer is named by `token_service.name`).
    pub token_service: Option<Spanned<TokenServiceConfig>>,
    /// Where answers of `respond_within` routes wait to be polled.
    #[serde(default)]
    pub polling: PollingConfig,
}

/// `[token_service]`: the gateway as its own token issuer.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TokenServiceConfig {
    /// The issuer's name in routes' `issuers` lists.
    #[serde(default = "default_service_name")]
    pub name: String,
    /// Where the endpoints live on the listeners.
    #[serde(default = "default_service_prefix")]
    pub prefix: Spanned<String>,
    /// The exact `iss` of the tokens (and of the discovery document).
    pub issuer: Spanned<String>,
    /// The `aud` of access tokens.
    #[serde(default = "default_service_audience")]
    pub audience: String,
    /// `jwt` (default: signed, with a `jti` looked up in the store) or `opaque`.
    #[serde(default = "default_token_format")]
    pub format: Spanned<String>,
    /// `ES256` (default) or `EdDSA`.
    #[serde(default = "default_signing_alg")]
    pub algorithm: Spanned<String>,
    pub store: Spanned<StoreConfig>,
    /// The signing keys (mode 0600). Default: the redb path with `.keys.json`; required with Redis.
    pub keys_file: Option<Spanned<String>>,
    /// A new signing key after this long; the old one stays published until its tokens expire.
    #[serde(default = "default_rotate_after")]
    pub rotate_after: ConfigDuration,
    /// Lifetime of access tokens from the OAuth2 endpoints and of identified/verified devices.
    #[serde(default = "default_access_ttl")]
    pub access_ttl: ConfigDuration,
    /// Lifetime of anonymous device tokens.
    #[serde(default = "default_device_ttl")]
    pub device_ttl: ConfigDuration,
    #[serde(default = "default_refresh_ttl")]
    pub refresh_ttl: ConfigDuration,
    /// Live refresh-token grants per client and user; beyond it the oldest stop working.
    #[serde(default = "default_max_grants")]
    pub max_refresh_grants: usize,
    /// Anonymous device tokens one client address may get within `device_token_window`
    /// (`0`: no limit). They need no credential and are kept for `device_ttl`.
    #[serde(default = "default_device_tokens_per_address")]
    pub max_device_tokens_per_address: u32,
    #[serde(default = "default_device_token_window")]
    pub device_token_window: ConfigDuration,
    /// `token/create`: default and longest `validity`, in minutes.
    #[serde(default = "default_validity")]
    pub default_validity_minutes: u64,
    #[serde(default = "default_max_validity")]
    pub max_validity_minutes: u64,
    /// OAuth2 clients by `client_id`.
    #[serde(default)]
    pub clients: BTreeMap<String, Spanned<ClientConfig>>,
    /// Tenants by `tenant_hash`.
    #[serde(default)]
    pub tenants: BTreeMap<String, Spanned<TenantConfig>>,
    /// Browser sign-in (`{prefix}/oauth/authorize`); off without it.
    pub sign_in: Option<Spanned<SignInConfig>>,
    /// CORS for the service's endpoints (browser apps on other origins calling the token
    /// endpoint); same keys as `[routes.cors]`.
    pub cors: Option<CorsConfig>,
}

/// `[token_service.sign_in]`: who may sign in through the browser, and for how long.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SignInConfig {
    /// A users file written by `portcullis user add` (argon2id hashes).
    pub users_file: Option<Spanned<String>>,
    /// Or: an upstream OpenID provider that signs users in (Portcullis is its client).
    pub oidc: Option<Spanned<UpstreamOidcConfig>>,
    /// How long a browser session lasts.
    #[serde(default = "default_session_ttl")]
    pub session_ttl: ConfigDuration,
    /// How long an authorization code may wait to be exchanged.
    #[serde(default = "default_code_ttl")]
    pub code_ttl: ConfigDuration,
    /// Failed sign-ins per user name and per address before further tries are refused...
    #[serde(default = "default_max_failures")]
    pub max_failures: u32,
    /// ...for this long after the latest failure.
    #[serde(default = "default_failure_window")]
    pub failure_window: ConfigDuration,
}

/// An upstream OpenID Connect provider for `[token_service.sign_in.oidc]`.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpstreamOidcConfig {
    /// The provider's issuer; its discovery document is read at start.
    pub issuer: Spanned<String>,
    pub client_id: String,
    /// The client secret Portcullis authenticates with (client_secret_post).
    pub client_secret: String,
    /// Where the provider sends the browser back: the public URL of `{prefix}/oauth/callback`.
    pub redirect_uri: Spanned<String>,
    /// Scopes asked of the provider.
    #[serde(default = "default_upstream_scopes")]
    pub scopes: Vec<String>,
    /// The claim that becomes the user's name (and subject).
    #[serde(default = "default_upstream_name_claim")]
    pub name_claim: String,
}

/// Where the token service keeps its state.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `redb` (default) or `redis`.
    #[serde(default = "default_store_kind")]
    pub kind: Spanned<String>,
    /// `redb`: the database file.
    pub path: Option<Spanned<String>>,
    /// `redis`: e.g. `redis://127.0.0.1:6379/0`.
    pub url: Option<Spanned<String>>,
    /// `redis`: prefix of every key.
    #[serde(default = "default_redis_prefix")]
    pub key_prefix: String,
    /// Longest wait for the store (503 after).
    #[serde(default = "default_store_timeout")]
    pub timeout: ConfigDuration,
}

/// An OAuth2 client of the token service.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// SHA-256 (hex) of the client secret: `printf %s "$SECRET" | sha256sum`. Public clients
    /// (browser and mobile apps, which cannot keep a secret) have none.
    pub secret_sha256: Option<Spanned<String>>,
    /// A client without a secret; it must use PKCE with `S256`.
    #[serde(default)]
    pub public: bool,
    /// Shown on the consent page (default: the client id).
    pub name: Option<String>,
    /// `authorization_code`: the exact redirect URIs the client may use.
    #[serde(default)]
    pub redirect_uris: Vec<Spanned<String>>,
    /// Scopes the client may ask for.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `client_credentials`, `refresh_token`.
    #[serde(default)]
    pub grants: Vec<Spanned<String>>,
    /// Level of the client's own tokens.
    #[serde(default = "default_client_level")]
    pub level: Spanned<String>,
    /// `client_credentials` also returns a refresh token (off by default, RFC 6749 §4.4.3).
    #[serde(default)]
    pub issue_refresh_tokens: bool,
    /// May raise device tokens to `verified` (`token/verify`).
    #[serde(default)]
    pub may_verify: bool,
}

/// A tenant of `token/create` and `token/update`.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// SHA-256 (hex) of the `oauth_key_secret` header; when set, the header is required.
    pub oauth_key_secret_sha256: Option<Spanned<String>>,
    /// Resources (scopes) the tenant may grant.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Level of the tenant's tokens.
    #[serde(default = "default_client_level")]
    pub level: Spanned<String>,
}

fn default_service_name() -> String {
    "portcullis".into()
}
fn default_service_prefix() -> Spanned<String> {
    Spanned::new(0..0, "/auth".into())
}
fn default_service_audience() -> String {
    "portcullis".into()
}
fn default_token_format() -> Spanned<String> {
    Spanned::new(0..0, "jwt".into())
}
fn default_signing_alg() -> Spanned<String> {
    Spanned::new(0..0, "ES256".into())
}
fn default_rotate_after() -> ConfigDuration {
    ConfigDuration::from_secs(30 * 86_400)
}
fn default_access_ttl() -> ConfigDuration {
    ConfigDuration::from_secs(15 * 60)
}
fn default_device_ttl() -> ConfigDuration {
    ConfigDuration::from_secs(30 * 86_400)
}
fn default_refresh_ttl() -> ConfigDuration {
    ConfigDuration::from_secs(30 * 86_400)
}
fn default_max_grants() -> usize {
    5
}
fn default_device_tokens_per_address() -> u32 {
    60
}
fn default_device_token_window() -> ConfigDuration {
    ConfigDuration::from_secs(60)
}
fn default_validity() -> u64 {
    15
}
fn default_max_validity() -> u64 {
    24 * 60
}
fn default_store_kind() -> Spanned<String> {
    Spanned::new(0..0, "redb".into())
}
fn default_redis_prefix() -> String {
    "portcullis:".into()
}
fn default_store_timeout() -> ConfigDuration {
    ConfigDuration::from_secs(1)
}
fn default_session_ttl() -> ConfigDuration {
    ConfigDuration::from_secs(8 * 3600)
}
fn default_code_ttl() -> ConfigDuration {
    ConfigDuration::from_secs(60)
}
fn default_max_failures() -> u32 {
    5
}
fn default_failure_window() -> ConfigDuration {
    ConfigDuration::from_secs(15 * 60)
}
fn default_upstream_scopes() -> Vec<String> {
    vec!["openid".into(), "email".into(), "profile".into()]
}
fn default_upstream_name_claim() -> String {
    "sub".into()
}
fn default_client_level() -> Spanned<String> {
    Spanned::new(0..0, "verified".into())
}

/// Settings shared by every route's auth.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// `realm` of every `WWW-Authenticate` challenge.
    pub realm: Spanned<String>,
    /// Longest token accepted (bytes).
    pub max_token_len: usize,
    /// Longest `Authorization`, `Cookie` or custom credential header looked at (bytes).
    pub max_header_len: usize,
    /// Verified credentials kept in the cache.
    pub cache_max_entries: u64,
    /// Longest a verification result is cached (never past the token's `exp`).
    pub cache_max_ttl: ConfigDuration,
    pub identity_headers: IdentityHeaders,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            realm: Spanned::new(0..0, "portcullis".to_string()),
            max_token_len: 8 * 1024,
            max_header_len: 16 * 1024,
            cache_max_entries: 100_000,
            cache_max_ttl: ConfigDuration::from_secs(300),
            identity_headers: IdentityHeaders::default(),
        }
    }
}

pub use portcullis_engine::request::identity::IdentityHeaders;

/// `[issuers.<name>]`: where tokens come from and how to check them.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// `jwt`, `introspection` or `app_keys`.
    pub kind: Spanned<String>,
    /// The exact `iss` value (required for `jwt`; checked in answers for `introspection`).
    pub issuer: Option<Spanned<String>>,
    /// Tokens must carry at least one of these in `aud` (required for `jwt`).
    #[serde(default)]
    pub audiences: Vec<String>,
    /// `introspection`: the RFC 7662 endpoint.
    pub introspection_url: Option<Spanned<String>>,
    /// `introspection`: our client credentials at the endpoint.
    pub client_id: Option<String>,
    pub client_secret: Option<Spanned<String>>,
    /// `introspection`: longest wait for an answer (503 after).
    #[serde(default = "default_introspection_timeout")]
    pub timeout: ConfigDuration,
    /// `introspection`: how long an active answer is reused (never past `exp`).
    #[serde(default = "default_introspection_ttl")]
    pub cache_ttl: ConfigDuration,
    /// `introspection`: how long an inactive answer is reused.
    #[serde(default = "default_negative_ttl")]
    pub negative_cache_ttl: ConfigDuration,
    /// `app_keys`: the keys, inline.
    #[serde(default)]
    pub app_keys: Vec<Spanned<AppKeyConfig>>,
    /// `app_keys`: a TOML file with `[[app_keys]]` entries.
    pub app_keys_file: Option<Spanned<String>>,
    /// Fetch keys from this JWKS URL.
    pub jwks_url: Option<Spanned<String>>,
    /// Find the JWKS through OIDC discovery on `issuer`.
    #[serde(default)]
    pub discovery: bool,
    /// Keys from a JWKS file (also the fallback while a remote source has not loaded).
    pub jwks_file: Option<Spanned<String>>,
    /// Keys written in the config.
    #[serde(default)]
    pub keys: Vec<Spanned<StaticKeyConfig>>,
    /// `at+jwt` (RFC 9068, default) or `legacy`.
    #[serde(default = "default_profile")]
    pub profile: Spanned<String>,
    #[serde(default = "default_leeway")]
    pub leeway: ConfigDuration,
    /// Algorithm for RSA JWKs that do not name one.
    #[serde(default = "default_rsa_alg")]
    pub rsa_default_alg: Spanned<String>,
    #[serde(default = "default_refresh")]
    pub refresh_every: ConfigDuration,
    #[serde(default = "default_cooldown")]
    pub unknown_kid_cooldown: ConfigDuration,
    #[serde(default = "default_fetch_timeout")]
    pub fetch_timeout: ConfigDuration,
    /// How long past `refresh_every` the last good keys stay usable while fetches fail.
    #[serde(default = "default_max_stale")]
    pub max_stale: ConfigDuration,
    /// Claims holding scopes, tried in order.
    #[serde(default = "default_scope_claims")]
    pub scope_claims: Vec<String>,
    pub level_claim: Option<String>,
    /// Claim value → level, e.g. `{ "urn:acr:2fa" = "verified" }`.
    #[serde(default)]
    pub level_values: BTreeMap<String, Spanned<String>>,
    /// Level of tokens without the level claim.
    #[serde(default = "default_level")]
    pub default_level: Spanned<String>,
    pub tenant_claim: Option<String>,
}

fn default_introspection_timeout() -> ConfigDuration {
    ConfigDuration::from_secs(2)
}
fn default_introspection_ttl() -> ConfigDuration {
    ConfigDuration::from_secs(60)
}
fn default_negative_ttl() -> ConfigDuration {
    ConfigDuration::from_secs(5)
}

/// One application key: who holds it and what it may do. Give the key as its SHA-256 digest
/// (`sha256 = "hex"`) or, for development, as `key` (refused if weak).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppKeyConfig {
    /// The client name (becomes the subject).
    pub client: String,
    pub sha256: Option<String>,
    pub key: Option<String>,
    pub tenant: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default = "default_app_key_level")]
    pub level: Spanned<String>,
}

fn default_app_key_level() -> Spanned<String> {
    Spanned::new(0..0, "anonymous".into())
}

/// The file named by `app_keys_file`.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppKeysFile {
    #[serde(default)]
    pub app_keys: Vec<Spanned<AppKeyConfig>>,
}

fn default_profile() -> Spanned<String> {
    Spanned::new(0..0, "at+jwt".into())
}
fn default_leeway() -> ConfigDuration {
    ConfigDuration::from_secs(60)
}
fn default_rsa_alg() -> Spanned<String> {
    Spanned::new(0..0, "RS256".into())
}
fn default_refresh() -> ConfigDuration {
    ConfigDuration::from_secs(600)
}
fn default_cooldown() -> ConfigDuration {
    ConfigDuration::from_secs(30)
}
fn default_fetch_timeout() -> ConfigDuration {
    ConfigDuration::from_secs(5)
}
fn default_max_stale() -> ConfigDuration {
    ConfigDuration::from_secs(24 * 3600)
}
fn default_scope_claims() -> Vec<String> {
    vec!["scope".into(), "scp".into()]
}
fn default_level() -> Spanned<String> {
    Spanned::new(0..0, "verified".into())
}

/// A key written in the config: a PEM public key (inline or file) or an HMAC secret.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StaticKeyConfig {
    pub kid: Option<String>,
    pub alg: String,
    pub pem: Option<String>,
    pub pem_file: Option<String>,
    pub secret: Option<String>,
}

/// `[routes.auth]`: who may use a route.
#[derive(Debug, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteAuthConfig {
    /// `bearer`, `token`, `query`, `cookie`, `header:<Name>`. Default: `["bearer"]`.
    #[serde(default)]
    pub carriers: Vec<Spanned<String>>,
    /// Issuer names accepted; default: all.
    #[serde(default)]
    pub issuers: Vec<Spanned<String>>,
    /// Let requests without a credential through as `anonymous` (when the rule allows it).
    #[serde(default)]
    pub allow_anonymous: bool,
    /// Give requests without a credential a new anonymous device token from the token service
    /// (set as a cookie) and let them through as `anonymous`.
    #[serde(default)]
    pub issue_device_token: bool,
    /// The token's `aud` must contain this.
    pub audience: Option<String>,
    /// Header that names the tenant, e.g. `tenant_hash`.
    pub tenant_header: Option<String>,
    /// The default rule: minimum level (`anonymous`, `identified`, `verified`).
    pub level: Option<Spanned<String>>,
    /// Scopes the default rule needs.
    #[serde(default)]
    pub scopes: Vec<Spanned<String>>,
    /// `all` (default) or `any`.
    pub scope_match: Option<Spanned<String>>,
    /// Rules per method, e.g. `[routes.auth.methods.PUT]`.
    #[serde(default)]
    pub methods: BTreeMap<String, Spanned<RuleConfig>>,
}

/// A minimum level and scopes, for one method.
#[derive(Debug, Deserialize, Default, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub level: Option<Spanned<String>>,
    #[serde(default)]
    pub scopes: Vec<Spanned<String>>,
    /// `all` (default) or `any`.
    pub scope_match: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Worker threads of the proxy service.
    pub threads: usize,
    /// After SIGTERM (or an upgrade's socket hand-over) no connection is accepted; requests
    /// in flight have this long to finish.
    pub grace_period: ConfigDuration,
    /// Then the runtimes stop; background work gets at most this long.
    pub graceful_shutdown_timeout: ConfigDuration,
    /// Peers whose `X-Forwarded-*` / `Forwarded` headers are believed (CIDRs). Default: none.
    pub trusted_proxies: Vec<Spanned<String>>,
    /// Liveness endpoint path, answered on every listener before routing.
    pub health_path: Spanned<String>,
    /// Readiness endpoint path (ready once routes and keys are loaded).
    pub ready_path: Spanned<String>,
    /// Keep-alive connections kept per upstream.
    pub upstream_keepalive_pool_size: usize,
    /// Refuse paths containing `;` (matrix parameters), which some upstreams (Tomcat, Jetty)
    /// strip before routing — a classic way to make the gateway and the upstream disagree.
    pub allow_semicolon_in_path: bool,
    /// Reload when the config file's content changes (it is also reloaded on SIGHUP).
    pub watch_config: bool,
    /// Where a new process (`serve --upgrade`) receives the listening sockets from the old one.
    pub upgrade_sock: String,
    /// The longest a client connection may take to send a complete request head, counted from
    /// when the gateway starts waiting (so it also ends an idle keep-alive). A client sending
    /// a byte at a time (slowloris) is cut off here, not kept for 60 s per byte. `"0s"`: off
    /// (behind a proxy that already enforces one).
    pub request_header_timeout: ConfigDuration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            threads: 1,
            grace_period: ConfigDuration::from_secs(5),
            graceful_shutdown_timeout: ConfigDuration::from_secs(5),
            trusted_proxies: Vec::new(),
            health_path: Spanned::new(0..0, "/healthz".to_string()),
            ready_path: Spanned::new(0..0, "/readyz".to_string()),
            upstream_keepalive_pool_size: 128,
            allow_semicolon_in_path: false,
            watch_config: true,
            upgrade_sock: "/tmp/portcullis_upgrade.sock".to_string(),
            request_header_timeout: ConfigDuration::from_secs(30),
        }
    }
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter directive such as `info` or `portcullis=debug,pingora=warn`.
    pub level: String,
    /// Write one access-log event per request.
    pub access_log: bool,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            level: "info".to_string(),
            access_log: true,
        }
    }
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// `IP:port` to bind.
    pub address: Spanned<String>,
    pub tls: Option<TlsFiles>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub cert: Spanned<String>,
    pub key: Spanned<String>,
}

/// `[debug]`: requests with `X-Portcullis-Debug: 1|2|3` get a trace of their decision when they
/// come from one of `networks` or are made by a principal holding `scope`.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DebugConfig {
    pub scope: Option<String>,
    #[serde(default)]
    pub networks: Vec<Spanned<String>>,
}

/// `[metrics]`: where `GET /metrics` is served (keep it off the public listeners).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `IP:port`, e.g. `127.0.0.1:9091`.
    pub address: Spanned<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EchoConfig {
    /// `IP:port` the echo upstream listens on.
    pub address: Spanned<String>,
    #[serde(default = "one")]
    pub threads: usize,
}

fn one() -> usize {
    1
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// `IP:port` of each backend; requests are spread round-robin over the healthy ones.
    pub addresses: Vec<Spanned<String>>,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: ConfigDuration,
    /// Longest wait for each read from the upstream (the response header included).
    #[serde(default = "default_read_timeout")]
    pub read_timeout: ConfigDuration,
    #[serde(default = "default_write_timeout")]
    pub write_timeout: ConfigDuration,
    /// Idle keep-alive connections to this upstream are closed after this long.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: ConfigDuration,
    /// Active TCP health checks; omit to treat every backend as healthy.
    pub health_check: Option<HealthCheckConfig>,
    /// Talk HTTPS to the backends.
    pub tls: Option<UpstreamTlsConfig>,
}

/// `[upstreams.<name>.tls]`: HTTPS to the backends, verified by default.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTlsConfig {
    /// The name sent as SNI and checked against the backend's certificate; default: the
    /// backend's IP address (which its certificate must then name).
    pub sni: Option<Spanned<String>>,
    /// PEM file of the CAs to trust; default: the system's roots.
    pub ca_file: Option<Spanned<String>>,
    /// Check the certificate chain and name. Turn off only for a backend on the same host.
    #[serde(default = "yes")]
    pub verify: bool,
}

fn yes() -> bool {
    true
}

fn default_connect_timeout() -> ConfigDuration {
    ConfigDuration::from_secs(2)
}
fn default_read_timeout() -> ConfigDuration {
    ConfigDuration::from_secs(30)
}
fn default_write_timeout() -> ConfigDuration {
    ConfigDuration::from_secs(30)
}
fn default_idle_timeout() -> ConfigDuration {
    ConfigDuration::from_secs(60)
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    #[serde(default = "default_health_interval")]
    pub interval: ConfigDuration,
    /// Failed probes in a row before a backend is taken out.
    #[serde(default = "two")]
    pub unhealthy_after: usize,
    /// Successful probes in a row before a backend is put back.
    #[serde(default = "two")]
    pub healthy_after: usize,
}

fn two() -> usize {
    2
}

fn default_health_interval() -> ConfigDuration {
    ConfigDuration::from_secs(5)
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// A name for logs and metrics; defaults to `route-<index>`.
    pub name: Option<String>,
    /// `api.example.com`, `*.example.com` (one or more labels), or omitted for any host.
    pub host: Option<Spanned<String>>,
    /// Exact path match.
    pub path: Option<Spanned<String>>,
    /// Segment-aware prefix: `/api` matches `/api` and `/api/x`, not `/apix`.
    pub path_prefix: Option<Spanned<String>>,
    /// Allowed methods; omitted means any.
    #[serde(default)]
    pub methods: Vec<Spanned<String>>,
    /// Name of an `[upstreams.<name>]` table.
    pub upstream: Spanned<String>,
    /// Who may use the route; omitted: anyone (no credential looked at).
    pub auth: Option<RouteAuthConfig>,
    /// Parse and police OData query options on this route.
    pub odata: Option<ODataConfig>,
    /// Checks on the request itself: media type and body size.
    pub request: Option<RequestRulesConfig>,
    /// Answer CORS preflights here and add CORS headers to responses.
    pub cors: Option<CorsConfig>,
    /// Answer within this long: a slower upstream answer is kept for polling and the client
    /// gets `202 Accepted` with a polling id.
    pub respond_within: Option<ConfigDuration>,
}

/// `[routes.request]`: what the request itself must look like.
#[derive(Debug, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RequestRulesConfig {
    /// Methods whose body must be JSON (`application/json` or `application/*+json`); 415
    /// otherwise. A request of one of these methods without a body passes.
    #[serde(default)]
    pub json_methods: Vec<Spanned<String>>,
    /// Largest request body in bytes; 413 beyond it (declared or streamed).
    pub max_body_bytes: Option<u64>,
}

/// `[routes.cors]`: the gateway answers preflights itself (they carry no credential).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Exact origins (`https://app.example.com`), or `["*"]` for any (not with credentials).
    pub allow_origins: Vec<Spanned<String>>,
    /// Methods a preflight may ask for; default: the route's methods, or the common ones.
    #[serde(default)]
    pub allow_methods: Vec<Spanned<String>>,
    /// Request headers a preflight may ask for.
    #[serde(default = "default_cors_headers")]
    pub allow_headers: Vec<Spanned<String>>,
    /// Response headers scripts may read.
    #[serde(default)]
    pub expose_headers: Vec<Spanned<String>>,
    /// Let browsers send cookies and `Authorization` (`Access-Control-Allow-Credentials`).
    #[serde(default)]
    pub allow_credentials: bool,
    /// How long browsers may cache a preflight answer.
    #[serde(default = "default_cors_max_age")]
    pub max_age: ConfigDuration,
}

fn default_cors_headers() -> Vec<Spanned<String>> {
    ["authorization", "content-type"]
        .map(|h| Spanned::new(0..0, h.to_string()))
        .to_vec()
}

fn default_cors_max_age() -> ConfigDuration {
    ConfigDuration::from_secs(600)
}

/// `[polling]`: where and for how long slow upstream answers are kept (routes opt in with
/// `respond_within`).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PollingConfig {
    /// Results are polled at `{prefix}/poll/{id}`.
    pub prefix: Spanned<String>,
    /// A kept answer is dropped this long after it arrived (or once it was fetched).
    pub result_ttl: ConfigDuration,
    /// Longest wait for the upstream of a request that went to polling.
    pub upstream_timeout: ConfigDuration,
    /// Requests that may be pending or kept at once; beyond it requests simply wait.
    pub max_entries: u64,
    /// Largest request or answer body on a `respond_within` route (both are buffered whole);
    /// a larger request is 413, a larger answer 502.
    pub max_body_bytes: u64,
    /// All kept answers together; an answer that does not fit becomes a 503 when polled.
    pub max_stored_bytes: u64,
}

impl Default for PollingConfig {
    fn default() -> Self {
        Self {
            prefix: Spanned::new(0..0, "/_portcullis".to_string()),
            result_ttl: ConfigDuration::from_secs(300),
            upstream_timeout: ConfigDuration::from_secs(300),
            max_entries: 10_000,
            max_body_bytes: 1 << 20,
            max_stored_bytes: 64 << 20,
        }
    }
}

/// `[routes.odata]`: limits and field rules for OData queries.
#[derive(Debug, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ODataConfig {
    pub max_top: Option<u64>,
    /// Lower a larger `$top` to `max_top` instead of refusing it.
    #[serde(default)]
    pub clamp_top: bool,
    /// `$top` added when the client sends none.
    pub default_top: Option<u64>,
    pub max_skip: Option<u64>,
    pub max_expand_depth: Option<u32>,
    pub max_expand_items: Option<u32>,
    pub max_filter_nodes: Option<u32>,
    pub max_filter_depth: Option<u32>,
    pub max_query_len: Option<usize>,
    pub allow_search: Option<bool>,
    pub allow_apply: Option<bool>,
    /// Read `+` as a space (form encoding).
    #[serde(default)]
    pub plus_as_space: bool,
    /// Properties only `private_level` (or `private_scope`) may select, filter, order or expand.
    #[serde(default)]
    pub private_fields: Vec<String>,
    pub private_level: Option<Spanned<String>>,
    pub private_scope: Option<String>,
    pub select_allow: Option<Vec<String>>,
    pub orderby_allow: Option<Vec<String>>,
    pub expand_allow: Option<Vec<String>>,
    /// `as_sent` (default) or `canonical`.
    pub forward: Option<Spanned<String>>,
}
