//! `[token_service]`: the gateway as its own token issuer, as operators write it. Closed sets
//! (`format`, `algorithm`, `store.kind`, `grants`, levels) are enums, so a misspelt value is
//! refused by the parser at its line, with the list of what is allowed.

use super::duration::ConfigDuration;
use super::model::CorsConfig;
use super::secret::SecretSource;
use portcullis_core::principal::Level;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

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
    #[serde(default)]
    pub format: TokenFormatName,
    /// `ES256` (default) or `EdDSA`.
    #[serde(default)]
    pub algorithm: SigningAlgorithm,
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
    /// Live refresh-token grants per user across all clients (a different limit, as
    /// Exepron's); beyond it the oldest, of whichever client, stop working. `0`: no limit.
    #[serde(default = "default_max_grants_per_user")]
    pub max_refresh_grants_per_user: usize,
    /// RFC 8628: how long a device waits between polls at first (5 s more after each poll
    /// that came too soon).
    #[serde(default = "default_device_poll_interval")]
    pub device_poll_interval: ConfigDuration,
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
    /// E-mail verification codes for identified device tokens, through an SMTP relay.
    pub email_verification: Option<Spanned<EmailVerificationConfig>>,
    /// A `{tenant}.suffix` host pattern: device tokens asked for on such a host (the device
    /// token endpoint, or a route's `issue_device_token`) belong to that tenant.
    pub tenant_host: Option<Spanned<String>>,
    /// Where each endpoint is mounted, or `false` to switch it off; default: under `prefix`.
    #[serde(default)]
    pub endpoints: BTreeMap<String, Spanned<Mount>>,
    /// Tenant token APIs (`create`/`update` with `tenant_hash`), each with its own paths,
    /// resources and validity. Default: one at `{prefix}/token/create` and `/token/update`.
    #[serde(default)]
    pub token_apis: BTreeMap<String, Spanned<TokenApiConfig>>,
}

/// `[token_service.email_verification]`: codes that prove a claimed e-mail address.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EmailVerificationConfig {
    /// The relay: `smtp://[user:password@]host[:port]` (add `?tls=required` for STARTTLS) or
    /// `smtps://…`. Carries a password: inline, `{ env = … }` or `{ file = … }`.
    pub smtp_url: SecretSource,
    /// The sender, e.g. `"Example <no-reply@example.com>"`.
    pub from: String,
    #[serde(default = "default_email_subject")]
    pub subject: String,
    /// How long a code stays good.
    #[serde(default = "default_email_code_ttl")]
    pub code_ttl: ConfigDuration,
}

fn default_email_subject() -> String {
    "Your verification code".into()
}
fn default_email_code_ttl() -> ConfigDuration {
    ConfigDuration::from_secs(15 * 60)
}

/// Where an endpoint is: a path, `true` (its default place) or `false` (off).
#[derive(Debug, Deserialize, PartialEq, Clone)]
#[serde(untagged)]
pub enum Mount {
    At(String),
    On(bool),
}

/// `[token_service.token_apis.<name>]`: one tenant token API (an API product's own
/// `…/create` and `…/update`).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TokenApiConfig {
    /// The path that creates a token.
    pub create: Spanned<String>,
    /// The path that sets a token's resources; none: no update.
    pub update: Option<Spanned<String>>,
    /// The resources this API grants (each tenant grants within its own too); empty: the
    /// tenant's.
    #[serde(default)]
    pub resources: Vec<String>,
    /// `validity` when a request gives none, in minutes.
    pub default_validity_minutes: Option<u64>,
    /// The longest `validity` a request may ask for; beyond it is refused, not clamped.
    pub max_validity_minutes: Option<u64>,
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
    pub client_secret: SecretSource,
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
    #[serde(default)]
    pub kind: StoreKind,
    /// `redb`: the database file.
    pub path: Option<Spanned<String>>,
    /// `redis`: e.g. `redis://127.0.0.1:6379/0`.
    /// (The URL carries the password: inline, `{ env = … }` or `{ file = … }`.)
    pub url: Option<Spanned<SecretSource>>,
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
    /// `client_credentials`, `refresh_token`, `authorization_code`.
    #[serde(default)]
    pub grants: Vec<Spanned<GrantName>>,
    /// Level of the client's own tokens.
    #[serde(default = "default_client_level")]
    pub level: Level,
    /// `client_credentials` also returns a refresh token (off by default, RFC 6749 §4.4.3).
    #[serde(default)]
    pub issue_refresh_tokens: bool,
    /// May raise device tokens to `verified` (`token/verify`).
    #[serde(default)]
    pub may_verify: bool,
    /// PKCE in its authorization-code flow. Always for public clients; a confidential one
    /// whose flow predates PKCE (ItemExtend's) may be let off with `false`.
    #[serde(default = "default_require_pkce")]
    pub require_pkce: Spanned<bool>,
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
    pub level: Level,
}

fn default_device_poll_interval() -> ConfigDuration {
    ConfigDuration::from_secs(5)
}
fn default_max_grants_per_user() -> usize {
    20
}
fn default_require_pkce() -> Spanned<bool> {
    Spanned::new(0..0, true)
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
fn default_client_level() -> Level {
    Level::Verified
}

/// `format`: what an access token of the service looks like.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum TokenFormatName {
    #[default]
    Jwt,
    Opaque,
}

/// `algorithm`: what the service signs with.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
pub enum SigningAlgorithm {
    #[default]
    ES256,
    EdDSA,
}

/// `store.kind`.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    #[default]
    Redb,
    Redis,
}

/// `grants`: the OAuth2 grant types a client may be given. `password` and `implicit` are
/// named so that they are refused with the reason (RFC 9700), not as unknown words.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GrantName {
    ClientCredentials,
    RefreshToken,
    AuthorizationCode,
    /// RFC 8628: devices without a browser.
    DeviceCode,
    Password,
    Implicit,
}
