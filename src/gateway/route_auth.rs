//! `[routes.auth]` compiled into the engine's [`RoutePolicy`]: carriers, issuers, and the
//! level and scopes each method needs. Every problem is reported with its line.

use super::Problems;
use crate::config::model::{Config, RouteAuthConfig, RuleConfig, ScopeMatch};
use crate::config::SourceMap;
use portcullis_core::credential::Carrier;
use portcullis_core::principal::Level;
use portcullis_engine::challenge::is_valid_scope_token;
use portcullis_engine::policy::{Requirement, RoutePolicy};
use std::sync::Arc;
use toml::Spanned;

fn requirement(
    level: Option<Level>,
    scopes: &[Spanned<String>],
    scope_match: ScopeMatch,
    key: &str,
    map: &SourceMap,
    problems: &mut Problems,
) -> Requirement {
    for scope in scopes {
        if !is_valid_scope_token(scope.get_ref()) {
            problems.push(map.problem(
                &scope.span(),
                format!("{key}.scopes"),
                format!("{:?} is not a valid scope token", scope.get_ref()),
            ));
        }
    }
    Requirement {
        level: level.unwrap_or(Level::Anonymous),
        scopes: scopes.iter().map(|s| s.get_ref().clone()).collect(),
        all_scopes: scope_match == ScopeMatch::All,
    }
}

/// Compiles `[routes.auth]`. `issuers` are the configured issuer names.
pub fn build_route_policy(
    auth: &RouteAuthConfig,
    config: &Config,
    key: &str,
    map: &SourceMap,
    problems: &mut Problems,
) -> RoutePolicy {
    let mut carriers = Vec::new();
    for c in &auth.carriers {
        match Carrier::parse(c.get_ref()) {
            Ok(carrier) => carriers.push(carrier),
            Err(m) => problems.push(map.problem(&c.span(), format!("{key}.carriers"), m)),
        }
    }
    if auth.carriers.is_empty() {
        carriers.push(Carrier::Bearer);
    }
    let mut issuers = Vec::new();
    let builtin = config
        .token_service
        .as_ref()
        .map(|t| t.get_ref().name.as_str());
    for name in &auth.issuers {
        let known = config.issuers.contains_key(name.get_ref())
            || builtin == Some(name.get_ref().as_str())
            || config.unread.issuers.contains(name.get_ref());
        if known {
            issuers.push(Arc::from(name.get_ref().as_str()));
        } else {
            problems.push(map.problem(
                &name.span(),
                format!("{key}.issuers"),
                format!("no [issuers.{}] is defined", name.get_ref()),
            ));
        }
    }
    let default = requirement(
        auth.level,
        &auth.scopes,
        auth.scope_match,
        key,
        map,
        problems,
    );
    let mut per_method = Vec::new();
    for (method, rule) in &auth.methods {
        let method_key = format!("{key}.methods.{method}");
        let RuleConfig {
            level: l,
            scopes,
            scope_match,
        } = rule.get_ref();
        let parsed = http::Method::from_bytes(method.to_ascii_uppercase().as_bytes());
        let Ok(parsed) = parsed else {
            problems.push(map.problem(&rule.span(), method_key, "not an HTTP method"));
            continue;
        };
        per_method.push((
            parsed,
            requirement(*l, scopes, *scope_match, &method_key, map, problems),
        ));
    }
    if auth.issue_device_token && builtin.is_none() {
        problems.push(map.problem(
            &(0..0),
            format!("{key}.issue_device_token"),
            "needs a [token_service]",
        ));
    }
    if config.issuers.is_empty()
        && config.unread.issuers.is_empty()
        && builtin.is_none()
        && (default.level > Level::Anonymous || !auth.allow_anonymous)
    {
        problems.push(map.problem(
            &(0..0),
            key,
            "the route needs credentials but no [issuers.*] is configured",
        ));
    }
    RoutePolicy {
        carriers,
        issuers,
        allow_anonymous: auth.allow_anonymous || auth.issue_device_token,
        issue_device_token: auth.issue_device_token,
        audience: auth.audience.clone(),
        tenant_header: auth.tenant_header.as_ref().map(|h| h.to_ascii_lowercase()),
        default,
        per_method,
    }
}
