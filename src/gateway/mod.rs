//! The compiled, immutable gateway snapshot built from a validated config.
//!
//! Requests load the current snapshot once and finish on it; a reload swaps in a whole new one
//! atomically (`arc-swap`), so no request ever sees half of each.

mod issuers;
pub mod load;
pub mod metrics;
mod odata;
mod process;
mod request;
mod route_auth;
mod routes;
mod token_paths;
mod token_settings;
mod upstreams;
pub mod warnings;

use crate::config::model::Config;
use crate::config::{ConfigProblem, SourceMap};
use crate::upstream::Upstream;
use arc_swap::ArcSwap;
use ipnet::IpNet;
use portcullis_core::credential::Limits;
use portcullis_core::route::RouteTable;
use portcullis_engine::policy::RoutePolicy;
use portcullis_engine::verify::Verifier;
use portcullis_tokens::TokenService;
use std::net::IpAddr;
use std::sync::Arc;

/// Every problem found while compiling, each at its line.
type Problems = Vec<ConfigProblem>;

/// The snapshot every request reads; swapped whole on reload.
pub type SharedGateway = Arc<ArcSwap<Gateway>>;

/// What a matched route leads to.
#[derive(Debug)]
pub struct RouteTarget {
    pub upstream: Arc<Upstream>,
    /// `None`: no credential is looked at (identity headers are still stripped).
    pub policy: Option<RoutePolicy>,
    /// `None`: the query is not looked at.
    pub odata: Option<portcullis_odata::policy::ODataPolicy>,
    /// `None`: any media type and body size.
    pub rules: Option<portcullis_engine::request::rules::RequestRules>,
    /// `None`: preflights are routed like any `OPTIONS` request; no CORS headers are added.
    pub cors: Option<portcullis_engine::request::cors::CorsPolicy>,
    /// Slower upstream answers go to polling (`None`: the client waits).
    pub respond_within: Option<std::time::Duration>,
    /// Its `portcullis_requests_total` series.
    pub counters: crate::observe::metrics::RouteCounters,
    /// `Some`: the upstream gets a signed identity assertion instead of `X-Auth-*` headers.
    pub assertion: Option<AssertionSettings>,
    /// The verified credential is passed on, where the client put it.
    pub keep_credential: bool,
}

/// A route's signed identity assertion.
#[derive(Debug)]
pub struct AssertionSettings {
    pub header: http::HeaderName,
    pub audience: String,
    /// Seconds.
    pub ttl: u64,
}

impl portcullis_engine::pipeline::RouteRules for RouteTarget {
    fn policy(&self) -> Option<&RoutePolicy> {
        self.policy.as_ref()
    }

    fn odata(&self) -> Option<&portcullis_odata::policy::ODataPolicy> {
        self.odata.as_ref()
    }

    fn rules(&self) -> Option<&portcullis_engine::request::rules::RequestRules> {
        self.rules.as_ref()
    }

    fn keeps_credential(&self) -> bool {
        self.keep_credential
    }
}

/// Everything a request needs to be decided and forwarded.
#[derive(Debug)]
pub struct Gateway {
    pub routes: RouteTable<RouteTarget>,
    upstreams: Vec<Arc<Upstream>>,
    trusted_proxies: Vec<IpNet>,
    pub health_path: String,
    /// `[forward_auth] path`: checks from nginx or Traefik are answered here.
    pub forward_auth_path: Option<String>,
    /// `[forward_auth] envoy_path_prefix`: paths under it are Envoy `ext_authz` checks.
    pub envoy_path_prefix: Option<String>,
    pub ready_path: String,
    pub allow_semicolon_in_path: bool,
    /// Write one access-log event per request.
    pub access_log: bool,
    pub verifier: Verifier,
    pub realm: String,
    pub limits: Limits,
    pub identity_headers: portcullis_engine::request::identity::IdentityHeaderNames,
    pub token_service: Option<Arc<TokenService>>,
    /// Identity assertions minted for upstreams, cached per identity and audience.
    pub assertions: portcullis_tokens::assertion::Assertions,
    /// `[token_service.cors]`: for the service's endpoints, which no route covers.
    pub token_service_cors: Option<portcullis_engine::request::cors::CorsPolicy>,
    /// Who may see decision traces (nobody without `[debug]`).
    pub debug: portcullis_engine::request::debug::DebugAccess,
}

impl Gateway {
    /// The snapshot as the engine's decision pipeline reads it (borrowed: free per request).
    pub fn decider(&self) -> portcullis_engine::pipeline::Decider<'_, RouteTarget> {
        portcullis_engine::pipeline::Decider {
            routes: &self.routes,
            verifier: &self.verifier,
            limits: self.limits,
            realm: &self.realm,
        }
    }

    /// Validates the whole config and compiles it, reporting every problem found.
    /// `token_service`: the opened built-in service, `None` when only checking the config.
    pub fn build(
        config: &Config,
        source: &str,
        token_service: Option<Arc<TokenService>>,
    ) -> Result<Gateway, Vec<ConfigProblem>> {
        let map = SourceMap::new(source);
        let mut problems = Vec::new();
        process::check(config, &map, &mut problems);
        let service_settings = token_settings::compile(config, &map, &mut problems);
        if let Some(settings) = &service_settings {
            token_paths::check_overlaps(settings, config, &map, &mut problems);
        }
        let verifier = issuers::build_verifier(
            config,
            &map,
            &mut problems,
            service_settings.as_ref(),
            token_service.clone(),
        );
        let identity_headers = portcullis_engine::request::identity::IdentityHeaderNames::new(
            &config.auth.identity_headers,
        )
        .map_err(|m| problems.push(map.problem(&(0..0), "auth.identity_headers", m)))
        .ok();
        check_realm(config, &map, &mut problems);
        let upstreams_by_name = upstreams::compile(config, &map, &mut problems);
        let routes = routes::compile(config, &upstreams_by_name, &map, &mut problems);
        let trusted_proxies = networks(
            &config.server.trusted_proxies,
            "server.trusted_proxies",
            &map,
            &mut problems,
        );
        let debug = config
            .debug
            .as_ref()
            .map(|d| portcullis_engine::request::debug::DebugAccess {
                scope: d.scope.clone(),
                networks: networks(&d.networks, "debug.networks", &map, &mut problems),
                header: match &d.header {
                    None => portcullis_engine::request::debug::HEADER_NAME.clone(),
                    Some(name) => http::HeaderName::from_bytes(name.get_ref().as_bytes())
                        .unwrap_or_else(|_| {
                            problems.push(map.problem(
                                &name.span(),
                                "debug.header",
                                format!("{:?} is not a header name", name.get_ref()),
                            ));
                            portcullis_engine::request::debug::HEADER_NAME.clone()
                        }),
                },
            })
            .unwrap_or_default();

        let forward_auth = config.forward_auth.as_ref();
        if let Some(table) = forward_auth {
            let f = table.get_ref();
            if f.path.is_none() && f.envoy_path_prefix.is_none() {
                problems.push(map.problem(
                    &table.span(),
                    "forward_auth",
                    "needs `path` (nginx, Traefik) or `envoy_path_prefix` (Envoy), or both",
                ));
            }
            if let Some(prefix) = &f.envoy_path_prefix {
                if prefix.get_ref().ends_with('/') {
                    problems.push(map.problem(
                        &prefix.span(),
                        "forward_auth.envoy_path_prefix",
                        "must not end with '/': Envoy puts the original path, '/' and all, right after it",
                    ));
                }
            }
        }
        let forward_auth = forward_auth
            .map(toml::Spanned::get_ref)
            .into_iter()
            .flat_map(|f| {
                [
                    f.path.as_ref().map(|p| ("forward_auth.path", p)),
                    f.envoy_path_prefix
                        .as_ref()
                        .map(|p| ("forward_auth.envoy_path_prefix", p)),
                ]
                .into_iter()
                .flatten()
            });
        for (key, path) in [
            ("server.health_path", &config.server.health_path),
            ("server.ready_path", &config.server.ready_path),
        ]
        .into_iter()
        .chain(forward_auth)
        {
            if !path.get_ref().starts_with('/') {
                problems.push(map.problem(&path.span(), key, "must start with '/'"));
            }
        }

        let token_service_cors = config.token_service.as_ref().and_then(|service| {
            let methods = [http::Method::GET, http::Method::POST];
            service.get_ref().cors.as_ref().map(|c| {
                request::build_cors(c, &methods, "token_service.cors", &map, &mut problems)
            })
        });
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut upstreams: Vec<Arc<Upstream>> = upstreams_by_name.into_values().collect();
        upstreams.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Gateway {
            routes: RouteTable::new(routes),
            upstreams,
            trusted_proxies,
            health_path: config.server.health_path.get_ref().clone(),
            forward_auth_path: config
                .forward_auth
                .as_ref()
                .and_then(|f| f.get_ref().path.as_ref())
                .map(|p| p.get_ref().clone()),
            envoy_path_prefix: config
                .forward_auth
                .as_ref()
                .and_then(|f| f.get_ref().envoy_path_prefix.as_ref())
                .map(|p| p.get_ref().clone()),
            ready_path: config.server.ready_path.get_ref().clone(),
            allow_semicolon_in_path: config.server.allow_semicolon_in_path,
            access_log: config.log.access_log,
            verifier,
            realm: config.auth.realm.get_ref().clone(),
            limits: Limits {
                max_token_len: config.auth.max_token_len,
                max_header_len: config.auth.max_header_len,
            },
            identity_headers: identity_headers.expect("problems were reported above"),
            token_service,
            assertions: Default::default(),
            token_service_cors,
            debug,
        })
    }

    pub fn upstreams(&self) -> &[Arc<Upstream>] {
        &self.upstreams
    }

    /// Whether forwarding headers sent by this peer are believed.
    pub fn is_trusted_proxy(&self, peer: Option<IpAddr>) -> bool {
        peer.is_some_and(|ip| self.trusted_proxies.iter().any(|net| net.contains(&ip)))
    }

    /// Ready to serve: routes compiled, every issuer's keys loaded, and every upstream with a
    /// backend (a host name may not have resolved yet).
    pub fn is_ready(&self) -> bool {
        self.verifier.is_ready() && self.upstreams.iter().all(|u| u.is_ready())
    }
}

/// The realm goes into every `WWW-Authenticate` as a quoted string, so it must stay one.
fn check_realm(config: &Config, map: &SourceMap, problems: &mut Problems) {
    let realm = config.auth.realm.get_ref();
    if realm.is_empty() || portcullis_engine::challenge::sanitize(realm) != *realm {
        problems.push(map.problem(
            &config.auth.realm.span(),
            "auth.realm",
            "must be non-empty printable ASCII without '\"' or '\\'",
        ));
    }
}

/// IP addresses or CIDRs, each problem reported with its index under `key`.
fn networks(
    list: &[toml::Spanned<String>],
    key: &str,
    map: &SourceMap,
    problems: &mut Vec<ConfigProblem>,
) -> Vec<IpNet> {
    let mut nets = Vec::new();
    for (i, cidr) in list.iter().enumerate() {
        let text = cidr.get_ref();
        match text
            .parse::<IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        {
            Ok(net) => nets.push(net),
            Err(_) => problems.push(map.problem(
                &cidr.span(),
                format!("{key}[{i}]"),
                format!("{text:?} is not an IP address or CIDR"),
            )),
        }
    }
    nets
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(text: &str) -> Result<Gateway, Vec<ConfigProblem>> {
        let config = crate::config::parse(text).expect("parses");
        Gateway::build(&config, text, None)
    }

    const GOOD: &str = r#"
[[listeners]]
address = "127.0.0.1:8080"

[upstreams.app]
addresses = ["127.0.0.1:9000"]

[[routes]]
path_prefix = "/"
upstream = "app"
"#;

    #[test]
    fn a_good_config_builds() {
        let gw = build(GOOD).unwrap();
        assert_eq!(gw.routes.routes().len(), 1);
        assert_eq!(gw.routes.routes()[0].name, "route-0");
        assert!(!gw.is_trusted_proxy(Some("127.0.0.1".parse().unwrap())));
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let text = r#"
[server]
trusted_proxies = ["10.0.0.0/8", "nonsense"]

[[listeners]]
address = "localhost"

[upstreams.app]
addresses = ["127.0.0.1"]

[[routes]]
host = "exa mple.com"
path_prefix = "/a/../b"
methods = ["GET", "G E T"]
upstream = "missing"
"#;
        let problems = build(text).unwrap_err();
        let keys: Vec<(&str, usize)> = problems.iter().map(|p| (p.key.as_str(), p.line)).collect();
        assert!(keys.contains(&("listeners[0].address", 6)), "{keys:?}");
        assert!(
            keys.contains(&("upstreams.app.addresses[0]", 9)),
            "{keys:?}"
        );
        assert!(keys.contains(&("routes[0].host", 12)), "{keys:?}");
        assert!(keys.contains(&("routes[0].path_prefix", 13)), "{keys:?}");
        assert!(keys.contains(&("routes[0].methods[1]", 14)), "{keys:?}");
        assert!(keys.contains(&("routes[0].upstream", 15)), "{keys:?}");
        assert!(keys.contains(&("server.trusted_proxies[1]", 3)), "{keys:?}");
    }

    #[test]
    fn a_route_needs_exactly_one_path_kind() {
        let text = GOOD.replace("path_prefix = \"/\"", "path = \"/a\"\npath_prefix = \"/\"");
        let problems = build(&text).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("exactly one"));
    }

    #[test]
    fn trusted_proxies_accept_cidrs_and_single_addresses() {
        let text = GOOD.replace(
            "[[listeners]]",
            "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"192.168.1.1\"]\n\n[[listeners]]",
        );
        let gw = build(&text).unwrap();
        assert!(gw.is_trusted_proxy(Some("10.1.2.3".parse().unwrap())));
        assert!(gw.is_trusted_proxy(Some("192.168.1.1".parse().unwrap())));
        assert!(!gw.is_trusted_proxy(Some("192.168.1.2".parse().unwrap())));
        assert!(!gw.is_trusted_proxy(None));
    }
}
