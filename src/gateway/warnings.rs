//! What is valid but most likely a mistake: a route that can never match because an earlier
//! one takes all of its requests, an upstream no route uses, and a query-string credential
//! that a forward-auth proxy would pass on to the backend. `check` prints these as
//! warnings; they do not stop a config from loading.

use crate::config::model::{Config, RouteConfig};
use crate::config::{ConfigProblem, SourceMap};

/// Every warning of a config that compiled.
pub fn warnings(config: &Config, source: &str) -> Vec<ConfigProblem> {
    let map = SourceMap::new(source);
    let mut found = Vec::new();
    for (later, spanned) in config.routes.iter().enumerate() {
        let route = spanned.get_ref();
        if let Some(earlier) = config.routes[..later]
            .iter()
            .position(|e| covers(e.get_ref(), route))
        {
            found.push(map.problem(
                &spanned.span(),
                format!("routes[{later}]"),
                format!("never matches: routes[{earlier}] (earlier, first match wins) takes all of its requests"),
            ));
        }
    }
    for (name, upstream) in &config.upstreams {
        if !config
            .routes
            .iter()
            .any(|r| r.get_ref().upstream.get_ref() == name)
        {
            found.push(map.problem(
                &upstream.span(),
                format!("upstreams.{name}"),
                "no route uses this upstream",
            ));
        }
    }
    if config.forward_auth.is_some() {
        for (index, spanned) in config.routes.iter().enumerate() {
            let route = spanned.get_ref();
            let kept = route
                .upstream_identity
                .as_ref()
                .is_some_and(|u| u.keep_credential);
            let query = route.auth.as_ref().is_some_and(|a| {
                a.carriers
                    .iter()
                    .any(|c| c.get_ref().eq_ignore_ascii_case("query"))
            });
            if query && !kept {
                found.push(map.problem(
                    &spanned.span(),
                    format!("routes[{index}].auth.carriers"),
                    "behind forward_auth the proxy forwards the original URI, so an access_token \
                     query parameter reaches the backend (nginx and Envoy cannot remove it); \
                     the gateway's own listener removes it",
                ));
            }
        }
    }
    found
}

/// Whether every request `later` matches is matched by `earlier` too.
fn covers(earlier: &RouteConfig, later: &RouteConfig) -> bool {
    let text =
        |s: &Option<toml::Spanned<String>>| s.as_ref().map(|s| s.get_ref().to_ascii_lowercase());
    let hosts = match (text(&earlier.host), text(&later.host)) {
        (None, _) => true,
        (Some(a), Some(b)) => a == b,
        (Some(_), None) => false,
    };
    let later_path = later
        .path
        .as_ref()
        .or(later.path_prefix.as_ref())
        .map(|p| p.get_ref().as_str());
    let paths = match (&earlier.path, &earlier.path_prefix, later_path) {
        (Some(exact), None, Some(p)) => later.path.is_some() && exact.get_ref() == p,
        (None, Some(prefix), Some(p)) => {
            let prefix = prefix.get_ref().trim_end_matches('/');
            prefix.is_empty()
                || p == prefix
                || p.strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        }
        _ => false,
    };
    let method_names = |r: &RouteConfig| -> Vec<String> {
        r.methods
            .iter()
            .map(|m| m.get_ref().to_ascii_uppercase())
            .collect()
    };
    let (a, b) = (method_names(earlier), method_names(later));
    let methods = a.is_empty() || (!b.is_empty() && b.iter().all(|m| a.contains(m)));
    hosts && paths && methods
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shadowed_routes_and_unused_upstreams_are_named() {
        let text = r#"
[[listeners]]
address = "127.0.0.1:1"
[upstreams.app]
addresses = ["127.0.0.1:2"]
[upstreams.spare]
addresses = ["127.0.0.1:3"]
[[routes]]
path_prefix = "/api"
upstream = "app"
[[routes]]
path = "/api/users"
methods = ["GET"]
upstream = "app"
[[routes]]
path_prefix = "/apiv2"
upstream = "app"
[[routes]]
host = "admin.example.com"
path_prefix = "/"
methods = ["GET"]
upstream = "app"
[[routes]]
host = "admin.example.com"
path_prefix = "/x"
upstream = "app"
"#;
        let config = crate::config::parse(text).unwrap();
        let keys: Vec<(String, usize)> = warnings(&config, text)
            .into_iter()
            .map(|w| (w.key, w.line))
            .collect();
        assert_eq!(
            keys,
            [
                ("routes[1]".to_string(), 11),
                ("upstreams.spare".to_string(), 6)
            ]
        );
    }
}
