//! The TOML config file, as written by operators.
//!
//! Every struct denies unknown keys: a typo such as `path_prefx` must fail loudly at load time
//! rather than silently open a route. Fields that later validation refers to are wrapped in
//! [`Spanned`] so that a problem can name the line it came from.

use super::duration::ConfigDuration;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Deserialize)]
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
    #[serde(default)]
    pub upstreams: BTreeMap<String, Spanned<UpstreamConfig>>,
    /// Routes are tried in file order; the first match wins.
    #[serde(default)]
    pub routes: Vec<Spanned<RouteConfig>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Worker threads of the proxy service.
    pub threads: usize,
    /// Seconds to keep accepting connections after SIGTERM (lets a load balancer notice).
    pub grace_period: ConfigDuration,
    /// Upper bound on waiting for in-flight requests after SIGTERM.
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
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            threads: 1,
            grace_period: ConfigDuration::from_secs(0),
            graceful_shutdown_timeout: ConfigDuration::from_secs(5),
            trusted_proxies: Vec::new(),
            health_path: Spanned::new(0..0, "/healthz".to_string()),
            ready_path: Spanned::new(0..0, "/readyz".to_string()),
            upstream_keepalive_pool_size: 128,
            allow_semicolon_in_path: false,
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

#[derive(Debug, Deserialize)]
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// `IP:port` to bind.
    pub address: Spanned<String>,
    pub tls: Option<TlsFiles>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub cert: Spanned<String>,
    pub key: Spanned<String>,
}

#[derive(Debug, Deserialize)]
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

#[derive(Debug, Deserialize)]
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    #[serde(default = "default_health_interval")]
    pub interval: ConfigDuration,
    /// Failed probes in a row before a backend is taken out.
    #[serde(default = "one")]
    pub unhealthy_after: usize,
    /// Successful probes in a row before a backend is put back.
    #[serde(default = "one")]
    pub healthy_after: usize,
}

fn default_health_interval() -> ConfigDuration {
    ConfigDuration::from_secs(5)
}

#[derive(Debug, Deserialize)]
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
}
