//! Compiles the request-shape parts of a route (`[routes.request]`, `[routes.cors]`) and how
//! requests reach an upstream (`[upstreams.<name>.tls]`).

use crate::config::model::{CorsConfig, RequestRulesConfig, UpstreamTlsConfig};
use crate::config::{ConfigProblem, SourceMap};
use http::Method;
use portcullis_engine::request::cors::{is_origin, CorsPolicy, Origins};
use portcullis_engine::request::rules::RequestRules;
use toml::Spanned;

/// Methods named in the config; each bad one is reported under `key[i]`.
pub(super) fn methods(
    list: &[Spanned<String>],
    key: &str,
    map: &SourceMap,
    problems: &mut Vec<ConfigProblem>,
) -> Vec<Method> {
    let mut methods = Vec::new();
    for (i, m) in list.iter().enumerate() {
        let text = m.get_ref().to_ascii_uppercase();
        match Method::from_bytes(text.as_bytes()) {
            Ok(method) if !text.is_empty() => methods.push(method),
            _ => problems.push(map.problem(
                &m.span(),
                format!("{key}[{i}]"),
                format!("{:?} is not an HTTP method", m.get_ref()),
            )),
        }
    }
    methods
}

pub(super) fn build_request_rules(
    config: &RequestRulesConfig,
    key: &str,
    map: &SourceMap,
    problems: &mut Vec<ConfigProblem>,
) -> RequestRules {
    RequestRules {
        json_methods: methods(
            &config.json_methods,
            &format!("{key}.json_methods"),
            map,
            problems,
        ),
        max_body: config.max_body_bytes,
    }
}

/// `route_methods`: the route's own methods, the default for `allow_methods`.
pub(super) fn build_cors(
    config: &CorsConfig,
    route_methods: &[Method],
    key: &str,
    map: &SourceMap,
    problems: &mut Vec<ConfigProblem>,
) -> CorsPolicy {
    let mut problem = |span: std::ops::Range<usize>, field: &str, message: String| {
        problems.push(map.problem(&span, format!("{key}.{field}"), message));
    };
    let any_origin = config.allow_origins.iter().any(|o| o.get_ref() == "*");
    let origins = if any_origin {
        if config.allow_origins.len() > 1 {
            problem(
                config.allow_origins[0].span(),
                "allow_origins",
                "\"*\" must be the only origin".into(),
            );
        }
        if config.allow_credentials {
            problem(
                config.allow_origins[0].span(),
                "allow_origins",
                "\"*\" cannot be used with allow_credentials (browsers refuse it)".into(),
            );
        }
        Origins::Any
    } else {
        for origin in &config.allow_origins {
            if !is_origin(origin.get_ref()) {
                problem(
                    origin.span(),
                    "allow_origins",
                    format!(
                        "{:?} is not an origin (scheme://host[:port], no path)",
                        origin.get_ref()
                    ),
                );
            }
        }
        if config.allow_origins.is_empty() {
            problem(0..0, "allow_origins", "list at least one origin".into());
        }
        Origins::List(
            config
                .allow_origins
                .iter()
                .map(|o| o.get_ref().to_ascii_lowercase())
                .collect(),
        )
    };
    let mut header_names = |list: &[Spanned<String>], field: &str, star_allowed: bool| {
        let mut names = Vec::new();
        for name in list {
            let text = name.get_ref().to_ascii_lowercase();
            if text == "*" && star_allowed {
                return None;
            }
            if http::HeaderName::from_bytes(text.as_bytes()).is_err() {
                problems.push(map.problem(
                    &name.span(),
                    format!("{key}.{field}"),
                    format!("{:?} is not a header name", name.get_ref()),
                ));
            }
            names.push(text);
        }
        Some(names)
    };
    let allow_headers = header_names(
        &config.allow_headers,
        "allow_headers",
        !config.allow_credentials,
    );
    let expose_headers =
        header_names(&config.expose_headers, "expose_headers", false).unwrap_or_default();
    let mut methods = methods(
        &config.allow_methods,
        &format!("{key}.allow_methods"),
        map,
        problems,
    );
    if config.allow_methods.is_empty() {
        methods = if route_methods.is_empty() {
            [
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ]
            .to_vec()
        } else {
            route_methods.to_vec()
        };
    }
    CorsPolicy {
        origins,
        methods,
        allow_headers,
        expose_headers,
        credentials: config.allow_credentials,
        max_age_secs: config.max_age.get().as_secs(),
    }
}

/// `Some(tls)` when valid, `None` after reporting a problem.
pub(super) fn build_upstream_tls(
    config: &UpstreamTlsConfig,
    key: &str,
    map: &SourceMap,
    problems: &mut Vec<ConfigProblem>,
) -> Option<crate::upstream::tls::UpstreamTls> {
    let before = problems.len();
    let sni = config.sni.as_ref().map(|s| s.get_ref().clone());
    match &config.sni {
        Some(sni)
            if sni.get_ref().parse::<http::uri::Authority>().is_err()
                || sni.get_ref().contains(':') =>
        {
            problems.push(map.problem(
                &sni.span(),
                format!("{key}.sni"),
                format!("{:?} is not a host name", sni.get_ref()),
            ));
        }
        _ => {}
    }
    let ca = config.ca_file.as_ref().and_then(|file| {
        crate::upstream::tls::load_ca_file(std::path::Path::new(file.get_ref()))
            .map_err(|m| problems.push(map.problem(&file.span(), format!("{key}.ca_file"), m)))
            .ok()
    });
    (problems.len() == before).then(|| crate::upstream::tls::UpstreamTls {
        sni,
        verify: config.verify,
        ca,
    })
}
