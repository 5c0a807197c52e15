//! The TOML config file, as written by operators.
//!
//! Every struct denies unknown keys: a typo such as `path_prefx` must fail loudly at load time
//! rather than silently open a route. Fields that later validation refers to are wrapped in
//! [`Spanned`] so that a problem can name the line it came from.

use super::duration::ConfigDuration;
use super::issuer::IssuerConfig;
use super::token_service::TokenServiceConfig;
use portcullis_core::principal::Level;
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
    /// Routes are tried in file order; the first match wins. Read apart, one by one, so
    /// that every broken route is reported.
    #[serde(skip)]
    pub routes: Vec<Spanned<RouteConfig>>,
    #[serde(default)]
    pub auth: AuthSettings,
    /// Token issuers, by name. Read apart, by kind (`super::issuer`), so not by serde here.
    #[serde(skip)]
    pub issuers: BTreeMap<String, Spanned<IssuerConfig>>,
    /// The built-in token service (its issuer is named by `token_service.name`).
    pub token_service: Option<Spanned<TokenServiceConfig>>,
    /// Where answers of `respond_within` routes wait to be polled.
    #[serde(default)]
    pub polling: PollingConfig,
    /// Portcullis as the decision service of another proxy (nginx `auth_request`, Traefik
    /// ForwardAuth).
    pub forward_auth: Option<Spanned<ForwardAuthConfig>>,
    /// What a partial read left out (see `config::parse_partial`), so that checks of the rest
    /// do not report it a second time as missing.
    #[serde(skip)]
    pub unread: Unread,
}

/// `[forward_auth]`: where another proxy asks for decisions.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ForwardAuthConfig {
    /// The check endpoint of nginx `auth_request` and Traefik ForwardAuth, on every listener,
    /// e.g. `/_portcullis/check`: the original request's facts come in `X-Forwarded-*`.
    pub path: Option<Spanned<String>>,
    /// Envoy `ext_authz` in HTTP service mode: its `path_prefix`, e.g.
    /// `/_portcullis/ext-authz`. A check is the original request with this in front of its path.
    pub envoy_path_prefix: Option<Spanned<String>>,
}

/// Parts of a config file that were broken and left out of a partial read.
#[derive(Debug, Default, PartialEq)]
pub struct Unread {
    /// Some `[[routes]]` could not be read.
    pub routes: bool,
    /// The names of `[issuers.*]` that could not be read.
    pub issuers: std::collections::BTreeSet<String>,
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
    pub level: Option<Level>,
    /// Scopes the default rule needs.
    #[serde(default)]
    pub scopes: Vec<Spanned<String>>,
    /// `all` (default) or `any`.
    #[serde(default)]
    pub scope_match: ScopeMatch,
    /// Rules per method, e.g. `[routes.auth.methods.PUT]`.
    #[serde(default)]
    pub methods: BTreeMap<String, Spanned<RuleConfig>>,
}

/// A minimum level and scopes, for one method.
#[derive(Debug, Deserialize, Default, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub level: Option<Level>,
    #[serde(default)]
    pub scopes: Vec<Spanned<String>>,
    /// `all` (default) or `any`.
    #[serde(default)]
    pub scope_match: ScopeMatch,
}

/// `scope_match`: whether a rule needs all of its scopes or any one.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ScopeMatch {
    #[default]
    All,
    Any,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Worker threads of the proxy service.
    pub threads: usize,
    /// `false` (default): one single-threaded runtime per worker thread, each connection
    /// staying on the thread that took it, as nginx's and Envoy's workers do — no cross-thread
    /// scheduling on the request path. `true`: pingora's default, one runtime whose threads
    /// steal each other's tasks (evens out a few very uneven connections).
    pub work_stealing: bool,
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
    /// Idle upstream keep-alive connections each worker thread keeps (all upstreams together).
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
            work_stealing: false,
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
    /// The header that asks for a trace and carries it back (default `X-Portcullis-Debug`;
    /// e.g. `X-Extole-Debug` for Extole's clients).
    pub header: Option<Spanned<String>>,
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
    /// `IP:port` or `host:port` of each backend; every address a name resolves to is a
    /// backend, and requests are spread round-robin over the healthy ones.
    pub addresses: Vec<Spanned<String>>,
    /// How often host names are resolved again (DNS answers change under Compose and
    /// Kubernetes); a name that stops resolving keeps its last addresses.
    #[serde(default = "default_resolve_every")]
    pub resolve_every: ConfigDuration,
    /// Start even when a name does not resolve yet: the upstream (and `/readyz`) is not ready
    /// until it does. Default: such a config is refused.
    #[serde(default)]
    pub start_unresolved: bool,
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

fn default_resolve_every() -> ConfigDuration {
    ConfigDuration::from_secs(30)
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
    /// What the upstream learns of the caller (default: `X-Auth-*` headers).
    pub upstream_identity: Option<UpstreamIdentityConfig>,
}

/// `[routes.upstream_identity]`: how the upstream learns who is calling.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpstreamIdentityConfig {
    /// `headers` (`X-Auth-*`, which the upstream must trust) or `assertion` (a short-lived JWT
    /// signed with the token service's keys, which the upstream verifies with its JWKS).
    #[serde(default)]
    pub send: IdentityForm,
    /// The header the assertion travels in.
    #[serde(default = "default_assertion_header")]
    pub header: Spanned<String>,
    /// The assertion's `aud`; default: the route's upstream name.
    pub audience: Option<String>,
    /// The assertion's lifetime (1 s to 1 h).
    #[serde(default = "default_assertion_ttl")]
    pub ttl: Spanned<ConfigDuration>,
    /// Also pass the verified credential on, where the client put it (for a backend that must
    /// see it). Off by default: the credential is removed.
    #[serde(default)]
    pub keep_credential: bool,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum IdentityForm {
    #[default]
    Headers,
    Assertion,
}

fn default_assertion_header() -> Spanned<String> {
    Spanned::new(0..0, "x-portcullis-assertion".into())
}
fn default_assertion_ttl() -> Spanned<ConfigDuration> {
    Spanned::new(0..0, ConfigDuration::from_secs(60))
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
    pub private_level: Option<Level>,
    pub private_scope: Option<String>,
    pub select_allow: Option<Vec<String>>,
    pub orderby_allow: Option<Vec<String>>,
    pub expand_allow: Option<Vec<String>>,
    /// `as_sent` (default) or `canonical`.
    #[serde(default)]
    pub forward: ODataForward,
    /// Whose reading of queries to follow: `strict` (the OASIS ABNF, default), `olingo`
    /// (Apache Olingo 4) or `aspnet` (ASP.NET Core OData / Microsoft.OData.Core).
    #[serde(default)]
    pub dialect: ODataDialect,
}

/// `dialect`: the OData server behind the route.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ODataDialect {
    #[default]
    Strict,
    Olingo,
    AspNet,
}

/// `forward`: which spelling of an accepted OData query the upstream gets.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ODataForward {
    /// The client's own text.
    #[default]
    AsSent,
    /// The parsed query printed back (one spelling per meaning).
    Canonical,
}
