//! `[[routes]]` compiled into the route table's entries: where a route matches, what it leads
//! to, and the policies checked on the way.

use super::{odata, request, route_auth, Problems, RouteTarget};
use crate::config::model::{Config, RouteConfig};
use crate::config::SourceMap;
use crate::upstream::Upstream;
use portcullis_core::route::{HostPattern, PathMatch, Route};
use std::collections::HashMap;
use std::sync::Arc;
use toml::Spanned;

/// Every route that compiled, in file order; each broken one is reported and left out.
pub(super) fn compile(
    config: &Config,
    upstreams: &HashMap<&str, Arc<Upstream>>,
    map: &SourceMap,
    problems: &mut Problems,
) -> Vec<Route<RouteTarget>> {
    if config.routes.is_empty() && !config.unread.routes {
        problems.push(map.problem(&(0..0), "routes", "at least one [[routes]] is required"));
    }
    config
        .routes
        .iter()
        .enumerate()
        .filter_map(|(index, spanned)| {
            compile_route(index, spanned, config, upstreams, map, problems)
        })
        .collect()
}

/// One route; `None` when something it needs is broken (and reported).
fn compile_route(
    index: usize,
    spanned: &Spanned<RouteConfig>,
    config: &Config,
    upstreams_by_name: &HashMap<&str, Arc<Upstream>>,
    map: &SourceMap,
    problems: &mut Problems,
) -> Option<Route<RouteTarget>> {
    let route = spanned.get_ref();
    let key = format!("routes[{index}]");
    let host = match &route.host {
        None => Some(HostPattern::Any),
        Some(h) => HostPattern::parse(h.get_ref())
            .map_err(|m| problems.push(map.problem(&h.span(), format!("{key}.host"), m)))
            .ok(),
    };
    let path = match (&route.path, &route.path_prefix) {
        (Some(p), None) => {
            check_route_path(p, &format!("{key}.path"), map, problems).map(PathMatch::Exact)
        }
        (None, Some(p)) => {
            check_route_path(p, &format!("{key}.path_prefix"), map, problems).map(PathMatch::Prefix)
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
    let methods = request::methods(&route.methods, &format!("{key}.methods"), map, problems);
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
    let policy = route
        .auth
        .as_ref()
        .map(|a| route_auth::build_route_policy(a, config, &format!("{key}.auth"), map, problems));
    let odata = route
        .odata
        .as_ref()
        .map(|o| odata::compile(o, &format!("{key}.odata"), map, problems));
    let rules = route
        .request
        .as_ref()
        .map(|r| request::build_request_rules(r, &format!("{key}.request"), map, problems));
    let cors = route
        .cors
        .as_ref()
        .map(|c| request::build_cors(c, &methods, &format!("{key}.cors"), map, problems));
    let respond_within = route.respond_within.map(|d| d.get());
    if respond_within.is_some_and(|d| d.is_zero()) {
        problems.push(map.problem(
            &spanned.span(),
            format!("{key}.respond_within"),
            "must be longer than 0",
        ));
    }
    let assertion = route.upstream_identity.as_ref().and_then(|identity| {
        assertion_settings(
            identity,
            route,
            config,
            &format!("{key}.upstream_identity"),
            map,
            problems,
        )
    });
    let (host, path, upstream) = (host?, path?, upstream?);
    let name = route
        .name
        .clone()
        .unwrap_or_else(|| format!("route-{index}"));
    let counters = crate::observe::metrics::RouteCounters::new(&name);
    Some(Route {
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
            assertion,
            keep_credential: route
                .upstream_identity
                .as_ref()
                .is_some_and(|i| i.keep_credential),
        },
    })
}

/// Checks a route's `path`/`path_prefix`: it must already be in normalized form, or it could
/// never match a normalized request path.
fn check_route_path(
    path: &toml::Spanned<String>,
    key: &str,
    map: &SourceMap,
    problems: &mut Problems,
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

/// `[routes.upstream_identity]`: `None` for plain headers (or a problem, reported).
fn assertion_settings(
    identity: &crate::config::model::UpstreamIdentityConfig,
    route: &RouteConfig,
    config: &Config,
    key: &str,
    map: &SourceMap,
    problems: &mut Problems,
) -> Option<super::AssertionSettings> {
    use crate::config::model::IdentityForm;
    if identity.send == IdentityForm::Headers {
        return None;
    }
    if config.token_service.is_none() {
        problems.push(map.problem(
            &(0..0),
            format!("{key}.send"),
            "an assertion is signed with the token service's keys: it needs a [token_service]",
        ));
    }
    let header = http::HeaderName::from_bytes(identity.header.get_ref().as_bytes())
        .map_err(|_| {
            problems.push(map.problem(
                &identity.header.span(),
                format!("{key}.header"),
                "not a header name",
            ))
        })
        .ok();
    let ttl = identity.ttl.get_ref().get().as_secs();
    if !(1..=3600).contains(&ttl) {
        problems.push(map.problem(
            &identity.ttl.span(),
            format!("{key}.ttl"),
            "must be between 1s and 1h: an assertion is meant to be short-lived",
        ));
    }
    Some(super::AssertionSettings {
        header: header?,
        audience: identity
            .audience
            .clone()
            .unwrap_or_else(|| route.upstream.get_ref().clone()),
        ttl,
    })
}
