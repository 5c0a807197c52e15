//! `[token_service.endpoints]` and `[token_service.token_apis]` compiled: where each endpoint
//! of the token service is mounted, and which are switched off. Every problem is reported at
//! its line, under its `token_service.…` key.

use crate::config::token_service::{Mount, TokenServiceConfig};
use crate::config::{ConfigProblem, SourceMap};
use portcullis_tokens::paths::{Endpoint, ServicePaths};
use portcullis_tokens::settings::TokenApi;
use std::ops::Range;
use toml::Spanned;

/// The places of the endpoints and the token APIs, or `None` when a problem was reported.
pub fn mount(
    service: &TokenServiceConfig,
    prefix: &str,
    map: &SourceMap,
    problems: &mut Vec<ConfigProblem>,
) -> Option<(ServicePaths, Vec<TokenApi>)> {
    let before = problems.len();
    let mut report = |span: Range<usize>, key: &str, message: String| {
        problems.push(map.problem(&span, format!("token_service.{key}"), message));
    };
    let sign_in = service.sign_in.as_ref().map(|s| s.get_ref());
    let oidc = sign_in.is_some_and(|s| s.oidc.is_some());
    // What each endpoint needs to make sense at all.
    let available = |endpoint: Endpoint| match endpoint {
        Endpoint::Authorize
        | Endpoint::Login
        | Endpoint::Logout
        | Endpoint::UserInfo
        | Endpoint::DeviceAuthorization
        | Endpoint::Device => sign_in.is_some(),
        Endpoint::Callback => oidc,
        Endpoint::EmailCode | Endpoint::EmailConfirm => service.email_verification.is_some(),
        _ => true,
    };
    for (name, mount) in &service.endpoints {
        let known = Endpoint::NAMED.iter().any(|(n, _, _)| n == name)
            || (matches!(name.as_str(), "create" | "update") && service.token_apis.is_empty());
        if !known {
            let names: Vec<&str> = Endpoint::NAMED.iter().map(|(n, _, _)| *n).collect();
            report(
                mount.span(),
                &format!("endpoints.{name}"),
                format!(
                    "no such endpoint (known: {}; with token_apis, each API names its own create and update)",
                    names.join(", ") + ", create, update"
                ),
            );
        }
    }
    let mut mounted = Vec::new();
    for (name, endpoint, place) in Endpoint::NAMED {
        let configured = service.endpoints.get(name);
        let path = placed(configured, place.path(prefix), name, &mut report);
        match (path, available(endpoint)) {
            (Some(path), true) => mounted.push((endpoint, path)),
            (Some(_), false) if configured.is_some_and(|m| m.get_ref() != &Mount::On(false)) => {
                report(
                    configured.map(Spanned::span).unwrap_or_default(),
                    &format!("endpoints.{name}"),
                    match endpoint {
                        Endpoint::Callback => "needs [token_service.sign_in] with oidc",
                        Endpoint::EmailCode | Endpoint::EmailConfirm => {
                            "needs [token_service.email_verification]"
                        }
                        _ => "needs [token_service.sign_in]",
                    }
                    .to_string(),
                );
            }
            (None, true)
                if sign_in.is_some()
                    && matches!(
                        endpoint,
                        Endpoint::Authorize | Endpoint::Login | Endpoint::Logout
                    ) =>
            {
                report(
                    configured.map(Spanned::span).unwrap_or_default(),
                    &format!("endpoints.{name}"),
                    "cannot be off while sign-in is on (its pages lead from one to the next)"
                        .to_string(),
                );
            }
            (None, true) if oidc && endpoint == Endpoint::Callback => {
                report(
                    configured.map(Spanned::span).unwrap_or_default(),
                    "endpoints.callback",
                    "cannot be off with an oidc sign-in (the provider sends the browser back to it)"
                        .to_string(),
                );
            }
            _ => {}
        }
    }
    let mut apis = Vec::new();
    let mut add_api = |api: TokenApi, create: Option<String>, update: Option<String>| {
        let index = apis.len();
        mounted.extend(create.map(|p| (Endpoint::Create(index), p)));
        mounted.extend(update.map(|p| (Endpoint::Update(index), p)));
        apis.push(api);
    };
    if service.token_apis.is_empty() {
        let create = placed(
            service.endpoints.get("create"),
            format!("{prefix}/token/create"),
            "create",
            &mut report,
        );
        let update = placed(
            service.endpoints.get("update"),
            format!("{prefix}/token/update"),
            "update",
            &mut report,
        );
        add_api(
            TokenApi {
                name: "default".into(),
                resources: Vec::new(),
                default_validity_minutes: service.default_validity_minutes,
                max_validity_minutes: service.max_validity_minutes,
            },
            create,
            update,
        );
    }
    for (name, spanned) in &service.token_apis {
        let api = spanned.get_ref();
        let key = format!("token_apis.{name}");
        let max = api
            .max_validity_minutes
            .unwrap_or(service.max_validity_minutes);
        let default = api
            .default_validity_minutes
            .unwrap_or(service.default_validity_minutes.min(max));
        if max == 0 || default == 0 || default > max {
            report(
                spanned.span(),
                &key,
                "default_validity_minutes must be from 1 to max_validity_minutes".to_string(),
            );
        }
        let create = checked_path(&api.create, &format!("{key}.create"), &mut report);
        let update = api
            .update
            .as_ref()
            .and_then(|u| checked_path(u, &format!("{key}.update"), &mut report));
        add_api(
            TokenApi {
                name: name.clone(),
                resources: api.resources.clone(),
                default_validity_minutes: default,
                max_validity_minutes: max,
            },
            create,
            update,
        );
    }
    let paths = match ServicePaths::new(mounted) {
        Ok(paths) => Some(paths),
        Err(same) => {
            let span = service
                .endpoints
                .values()
                .find(|m| m.get_ref() == &Mount::At(same.path.clone()))
                .map(Spanned::span)
                .unwrap_or_default();
            problems.push(map.problem(
                &span,
                "token_service.endpoints",
                format!(
                    "{:?} is the path of two endpoints: {} and {}",
                    same.path,
                    endpoint_name(same.first, &apis),
                    endpoint_name(same.second, &apis)
                ),
            ));
            None
        }
    };
    (problems.len() == before).then_some(())?;
    Some((paths?, apis))
}

/// Where one endpoint goes: its configured path, its default place (`true` or unset), or
/// nowhere (`false`).
fn placed(
    configured: Option<&Spanned<Mount>>,
    default: String,
    name: &str,
    report: &mut impl FnMut(Range<usize>, &str, String),
) -> Option<String> {
    let Some(spanned) = configured else {
        return Some(default);
    };
    match spanned.get_ref() {
        Mount::On(true) => Some(default),
        Mount::On(false) => None,
        Mount::At(path) => checked_path(
            &Spanned::new(spanned.span(), path.clone()),
            &format!("endpoints.{name}"),
            report,
        ),
    }
}

/// A configured endpoint path: absolute, normalized, no query.
fn checked_path(
    path: &Spanned<String>,
    key: &str,
    report: &mut impl FnMut(Range<usize>, &str, String),
) -> Option<String> {
    let text = path.get_ref();
    let normalized = text.starts_with('/')
        && !text.contains("//")
        && !text.split('/').any(|s| s == "." || s == "..")
        && !text.contains(['?', '#', '%', ' '])
        && (text == "/" || !text.ends_with('/'));
    if normalized {
        Some(text.clone())
    } else {
        report(
            path.span(),
            key,
            format!("{text:?} must be a normalized absolute path such as \"/api/o/token\" (no query, no trailing '/')"),
        );
        None
    }
}

/// An endpoint as the config names it.
pub fn endpoint_name(endpoint: Endpoint, apis: &[TokenApi]) -> String {
    match endpoint {
        Endpoint::Create(i) | Endpoint::Update(i)
            if apis.len() > i && apis[i].name != "default" =>
        {
            let which = if matches!(endpoint, Endpoint::Create(_)) {
                "create"
            } else {
                "update"
            };
            format!("token_apis.{}.{which}", apis[i].name)
        }
        Endpoint::Create(_) => "create".into(),
        Endpoint::Update(_) => "update".into(),
        other => Endpoint::NAMED
            .iter()
            .find(|(_, e, _)| *e == other)
            .map(|(n, _, _)| n.to_string())
            .unwrap_or_default(),
    }
}

/// Refuses token-service paths that collide with the gateway's own paths or with a route:
/// the service answers its paths before any route is matched, so a route whose exact path
/// (or prefix root) is a service path would never see it. Routes under a shared prefix are
/// fine — only the service's exact paths are its own.
pub fn check_overlaps(
    settings: &portcullis_tokens::Settings,
    config: &crate::config::model::Config,
    map: &SourceMap,
    problems: &mut Vec<ConfigProblem>,
) {
    let service_span = config
        .token_service
        .as_ref()
        .map(Spanned::span)
        .unwrap_or_default();
    let forward_auth = config.forward_auth.as_ref().map(Spanned::get_ref);
    let own = [
        (
            "server.health_path",
            Some(config.server.health_path.get_ref()),
        ),
        (
            "server.ready_path",
            Some(config.server.ready_path.get_ref()),
        ),
        (
            "forward_auth.path",
            forward_auth
                .and_then(|f| f.path.as_ref())
                .map(Spanned::get_ref),
        ),
    ];
    let envoy_prefix = forward_auth
        .and_then(|f| f.envoy_path_prefix.as_ref())
        .map(Spanned::get_ref);
    let polling_prefix = Some(config.polling.prefix.get_ref().trim_end_matches('/'));
    let under = |path: &str, prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    for (path, endpoint) in settings.paths.mounted() {
        let name = endpoint_name(endpoint, &settings.token_apis);
        let mut clash = |with: String| {
            problems.push(map.problem(
                &service_span,
                "token_service",
                format!("the {name} endpoint's path {path:?} is also {with}: one would shadow the other"),
            ));
        };
        for (key, own_path) in own {
            if own_path.is_some_and(|p| p == path) {
                clash(key.to_string());
            }
        }
        if envoy_prefix.is_some_and(|prefix| under(path, prefix)) {
            clash("under forward_auth.envoy_path_prefix".into());
        }
        if polling_prefix.is_some_and(|prefix| under(path, &format!("{prefix}/poll"))) {
            clash("under the polling prefix".into());
        }
        for (index, route) in config.routes.iter().enumerate() {
            let route = route.get_ref();
            let exact = route.path.as_ref().map(Spanned::get_ref);
            let root = route
                .path_prefix
                .as_ref()
                .map(|p| p.get_ref().trim_end_matches('/'));
            if exact.is_some_and(|p| p == path) {
                clash(format!("routes[{index}].path"));
            } else if root.is_some_and(|p| p == path) {
                clash(format!("routes[{index}].path_prefix"));
            }
        }
    }
}
