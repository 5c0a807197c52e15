//! The compiled, immutable gateway snapshot built from a validated config.
//!
//! Requests load the current snapshot once and finish on it; a reload swaps in a whole new one
//! atomically (`arc-swap`), so no request ever sees half of each.

pub mod auth;
pub mod load;
pub mod metrics;
mod request;
pub mod token_settings;

use crate::config::model::Config;
use crate::config::{ConfigProblem, SourceMap};
use crate::upstream::Upstream;
use arc_swap::ArcSwap;
use ipnet::IpNet;
use portcullis_core::credential::Limits;
use portcullis_core::route::{HostPattern, PathMatch, Route, RouteTable};
use portcullis_engine::policy::RoutePolicy;
use portcullis_engine::verify::Verifier;
use portcullis_tokens::TokenService;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

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
}

/// Everything a request needs to be decided and forwarded.
#[derive(Debug)]
pub struct Gateway {
    pub routes: RouteTable<RouteTarget>,
    upstreams: Vec<Arc<Upstream>>,
    trusted_proxies: Vec<IpNet>,
    pub health_path: String,
    pub ready_path: String,
    pub allow_semicolon_in_path: bool,
    /// Write one access-log event per request.
    pub access_log: bool,
    pub verifier: Verifier,
    pub realm: String,
    pub limits: Limits,
    pub identity_headers: portcullis_engine::request::identity::IdentityHeaderNames,
    pub token_service: Option<Arc<TokenService>>,
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
        check_process_settings(config, &map, &mut problems);

        let verifier = auth::build_verifier(config, &map, &mut problems, token_service.clone());
        let identity_headers = portcullis_engine::request::identity::IdentityHeaderNames::new(
            &config.auth.identity_headers,
        )
        .map_err(|m| problems.push(map.problem(&(0..0), "auth.identity_headers", m)))
        .ok();
        let realm = config.auth.realm.get_ref();
        if realm.is_empty() || portcullis_engine::challenge::sanitize(realm) != *realm {
            problems.push(map.problem(
                &config.auth.realm.span(),
                "auth.realm",
                "must be non-empty printable ASCII without '\"' or '\\'",
            ));
        }
        let mut upstreams_by_name: HashMap<&str, Arc<Upstream>> = HashMap::new();
        for (name, spanned) in &config.upstreams {
            let upstream = spanned.get_ref();
            let key = format!("upstreams.{name}");
            if upstream.addresses.is_empty() {
                problems.push(map.problem(
                    &spanned.span(),
                    format!("{key}.addresses"),
                    "at least one address is required",
                ));
                continue;
            }
            let mut addresses = Vec::new();
            for (i, address) in upstream.addresses.iter().enumerate() {
                match address.get_ref().parse::<SocketAddr>() {
                    Ok(a) => addresses.push(a),
                    Err(_) => problems.push(map.problem(
                        &address.span(),
                        format!("{key}.addresses[{i}]"),
                        format!("{:?} is not an IP:port address", address.get_ref()),
                    )),
                }
            }
            let tls = upstream.tls.as_ref().map(|t| {
                request::build_upstream_tls(t, &format!("{key}.tls"), &map, &mut problems)
            });
            if addresses.len() == upstream.addresses.len() {
                // `None` here: the TLS settings were bad (and reported).
                if let Some(tls) = tls.map_or(Some(None), |t| t.map(Some)) {
                    let pool = Upstream::new(name, upstream, &addresses, tls);
                    upstreams_by_name.insert(name, Arc::new(pool));
                }
            }
        }

        let mut routes = Vec::new();
        if config.routes.is_empty() {
            problems.push(map.problem(&(0..0), "routes", "at least one [[routes]] is required"));
        }
        for (index, spanned) in config.routes.iter().enumerate() {
            let route = spanned.get_ref();
            let key = format!("routes[{index}]");
            let host = match &route.host {
                None => Some(HostPattern::Any),
                Some(h) => HostPattern::parse(h.get_ref())
                    .map_err(|m| problems.push(map.problem(&h.span(), format!("{key}.host"), m)))
                    .ok(),
            };
            let path = match (&route.path, &route.path_prefix) {
                (Some(p), None) => check_route_path(p, &format!("{key}.path"), &map, &mut problems)
                    .map(PathMatch::Exact),
                (None, Some(p)) => {
                    check_route_path(p, &format!("{key}.path_prefix"), &map, &mut problems)
                        .map(PathMatch::Prefix)
                }
                _ => {
                    problems.push(map.problem(
                        &spanned.span(),
                        key.clone(),
                        "set exactly one of `path` or `path_prefix`",
                    ));
                    None
                }
            };
            let methods = request::methods(
                &route.methods,
                &format!("{key}.methods"),
                &map,
                &mut problems,
            );
            let upstream = upstreams_by_name
                .get(route.upstream.get_ref().as_str())
                .cloned();
            if upstream.is_none() && !config.upstreams.contains_key(route.upstream.get_ref()) {
                problems.push(map.problem(
                    &route.upstream.span(),
                    format!("{key}.upstream"),
                    format!("no [upstreams.{}] is defined", route.upstream.get_ref()),
                ));
            }
            let policy = route.auth.as_ref().map(|a| {
                auth::build_route_policy(a, config, &format!("{key}.auth"), &map, &mut problems)
            });
            let odata = route
                .odata
                .as_ref()
                .map(|o| build_odata_policy(o, &format!("{key}.odata"), &map, &mut problems));
            let rules = route.request.as_ref().map(|r| {
                request::build_request_rules(r, &format!("{key}.request"), &map, &mut problems)
            });
            let cors = route.cors.as_ref().map(|c| {
                request::build_cors(c, &methods, &format!("{key}.cors"), &map, &mut problems)
            });
            let respond_within = route.respond_within.map(|d| d.get());
            if respond_within.is_some_and(|d| d.is_zero()) {
                problems.push(map.problem(
                    &spanned.span(),
                    format!("{key}.respond_within"),
                    "must be longer than 0",
                ));
            }
            if let (Some(host), Some(path), Some(upstream)) = (host, path, upstream) {
                let name = route
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("route-{index}"));
                let counters = crate::observe::metrics::RouteCounters::new(&name);
                routes.push(Route {
                    name,
                    host,
                    path,
                    methods,
                    target: RouteTarget {
                        upstream,
                        policy,
                        odata,
                        rules,
                        cors,
                        respond_within,
                        counters,
                    },
                });
            }
        }

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
            })
            .unwrap_or_default();

        for (key, path) in [
            ("server.health_path", &config.server.health_path),
            ("server.ready_path", &config.server.ready_path),
        ] {
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

    /// Ready to serve: routes compiled and every issuer's keys loaded.
    pub fn is_ready(&self) -> bool {
        self.verifier.is_ready()
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

/// Compiles `[routes.odata]`.
fn build_odata_policy(
    config: &crate::config::model::ODataConfig,
    key: &str,
    map: &SourceMap,
    problems: &mut Vec<ConfigProblem>,
) -> portcullis_odata::policy::ODataPolicy {
    use portcullis_odata::policy::{Forwarding, ODataPolicy, PrivateAccess};
    let defaults = ODataPolicy::default();
    let level =
        config
            .private_level
            .as_ref()
            .map_or(portcullis_core::principal::Level::Verified, |l| {
                portcullis_core::principal::Level::parse(l.get_ref()).unwrap_or_else(|| {
                    problems.push(map.problem(
                        &l.span(),
                        format!("{key}.private_level"),
                        "not a level (anonymous, identified, verified)",
                    ));
                    portcullis_core::principal::Level::Verified
                })
            });
    let forwarding = match config.forward.as_ref().map(|f| (f, f.get_ref().as_str())) {
        None | Some((_, "as_sent")) => Forwarding::AsSent,
        Some((_, "canonical")) => Forwarding::Canonical,
        Some((f, other)) => {
            problems.push(map.problem(
                &f.span(),
                format!("{key}.forward"),
                format!("{other:?} is not as_sent or canonical"),
            ));
            Forwarding::AsSent
        }
    };
    if let (Some(default), Some(max)) = (config.default_top, config.max_top) {
        if default > max {
            problems.push(map.problem(
                &(0..0),
                format!("{key}.default_top"),
                "is larger than max_top",
            ));
        }
    }
    ODataPolicy {
        parse: portcullis_odata::ParseOptions {
            plus_as_space: config.plus_as_space,
        },
        max_query_len: config.max_query_len.unwrap_or(defaults.max_query_len),
        max_top: config.max_top,
        clamp_top: config.clamp_top,
        default_top: config.default_top,
        max_skip: config.max_skip,
        max_expand_depth: config.max_expand_depth.unwrap_or(defaults.max_expand_depth),
        max_expand_items: config.max_expand_items.unwrap_or(defaults.max_expand_items),
        max_filter_nodes: config.max_filter_nodes.unwrap_or(defaults.max_filter_nodes),
        max_filter_depth: config.max_filter_depth.unwrap_or(defaults.max_filter_depth),
        allow_search: config.allow_search.unwrap_or(defaults.allow_search),
        allow_apply: config.allow_apply.unwrap_or(defaults.allow_apply),
        private_fields: config.private_fields.clone(),
        private_access: PrivateAccess {
            level,
            scope: config.private_scope.clone(),
        },
        select_allow: config.select_allow.clone(),
        orderby_allow: config.orderby_allow.clone(),
        expand_allow: config.expand_allow.clone(),
        forwarding,
    }
}

/// Checks a route's `path`/`path_prefix`: it must already be in normalized form, or it could
/// never match a normalized request path.
fn check_route_path(
    path: &toml::Spanned<String>,
    key: &str,
    map: &SourceMap,
    problems: &mut Vec<ConfigProblem>,
) -> Option<String> {
    let text = path.get_ref();
    match portcullis_core::route::normalize_path(text, true) {
        Ok(normal) if normal == text.as_str() => Some(text.clone()),
        Ok(normal) => {
            problems.push(map.problem(
                &path.span(),
                key,
                format!("{text:?} is not in normalized form (write {normal:?})"),
            ));
            None
        }
        Err(e) => {
            problems.push(map.problem(&path.span(), key, format!("{text:?}: {e}")));
            None
        }
    }
}

/// Settings that belong to the process (listeners, threads, echo) rather than to a snapshot.
fn check_process_settings(config: &Config, map: &SourceMap, problems: &mut Vec<ConfigProblem>) {
    if config.listeners.is_empty() {
        problems.push(map.problem(
            &(0..0),
            "listeners",
            "at least one [[listeners]] is required",
        ));
    }
    for (i, listener) in config.listeners.iter().enumerate() {
        let listener = listener.get_ref();
        if listener.address.get_ref().parse::<SocketAddr>().is_err() {
            problems.push(map.problem(
                &listener.address.span(),
                format!("listeners[{i}].address"),
                format!("{:?} is not an IP:port address", listener.address.get_ref()),
            ));
        }
        if let Some(tls) = &listener.tls {
            let (cert, key) = (Path::new(tls.cert.get_ref()), Path::new(tls.key.get_ref()));
            if let Err(message) = crate::upstream::tls::check_listener_files(cert, key) {
                problems.push(map.problem(
                    &tls.cert.span(),
                    format!("listeners[{i}].tls"),
                    message,
                ));
            }
        }
    }
    if let Some(echo) = &config.echo {
        if echo.address.get_ref().parse::<SocketAddr>().is_err() {
            problems.push(map.problem(
                &echo.address.span(),
                "echo.address",
                format!("{:?} is not an IP:port address", echo.address.get_ref()),
            ));
        }
    }
    if config.server.threads == 0 {
        problems.push(map.problem(&(0..0), "server.threads", "must be at least 1"));
    }
    let polling = &config.polling;
    let prefix = polling.prefix.get_ref();
    if !prefix.starts_with('/') || prefix.ends_with('/') || prefix.contains(['?', '#', '%']) {
        problems.push(map.problem(
            &polling.prefix.span(),
            "polling.prefix",
            "must be a path like \"/_portcullis\" (a leading '/', no trailing '/')",
        ));
    }
    for (key, value) in [
        ("polling.max_entries", polling.max_entries),
        ("polling.max_body_bytes", polling.max_body_bytes),
        ("polling.max_stored_bytes", polling.max_stored_bytes),
    ] {
        if value == 0 {
            problems.push(map.problem(&(0..0), key, "must be at least 1"));
        }
    }
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
