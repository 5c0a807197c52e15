//! Compiling the auth parts of a config: issuers into a [`Verifier`], route auth into
//! [`RoutePolicy`]s. Every problem is reported with its line.

use crate::config::model::{
    AppKeyConfig, AppKeysFile, Config, IssuerConfig, RouteAuthConfig, RuleConfig,
};
use crate::config::{ConfigProblem, SourceMap};
use jsonwebtoken::Algorithm;
use portcullis_core::credential::Carrier;
use portcullis_core::credential::Secret;
use portcullis_core::principal::Identity;
use portcullis_core::principal::Level;
use portcullis_engine::challenge::is_valid_scope_token;
use portcullis_engine::policy::{Requirement, RoutePolicy};
use portcullis_engine::verify::appkeys::AppKeys;
use portcullis_engine::verify::builtin::BuiltinIssuer;
use portcullis_engine::verify::claims::ClaimMapping;
use portcullis_engine::verify::introspect::{IntrospectionSettings, Introspector};
use portcullis_engine::verify::jwks::{check_fetch_url, JwksLocation, RemoteJwks, RemoteSettings};
use portcullis_engine::verify::jwt::{JwtIssuer, KeySource, TokenProfile};
use portcullis_engine::verify::keys::{key_from_pem, key_from_secret, keys_from_jwks, KeySet};
use portcullis_engine::verify::Issuers;
use portcullis_engine::verify::{CacheSettings, Verifier};
use portcullis_tokens::TokenService;
use std::collections::HashMap;
use std::sync::Arc;
use toml::Spanned;

type Problems = Vec<ConfigProblem>;

/// The keys an issuer of each kind reads. `[issuers.<name>]` is one table for three kinds, so
/// serde alone would accept a `jwks_url` on an `app_keys` issuer and ignore it; every key
/// outside its kind's list is a problem at its own line instead.
fn keys_of_kind(kind: &str) -> Option<&'static [&'static str]> {
    const CLAIMS: [&str; 5] = [
        "scope_claims",
        "level_claim",
        "level_values",
        "default_level",
        "tenant_claim",
    ];
    const JWT: [&str; 19] = [
        "kind",
        "issuer",
        "audiences",
        "jwks_url",
        "discovery",
        "jwks_file",
        "keys",
        "profile",
        "leeway",
        "rsa_default_alg",
        "refresh_every",
        "unknown_kid_cooldown",
        "fetch_timeout",
        "max_stale",
        CLAIMS[0],
        CLAIMS[1],
        CLAIMS[2],
        CLAIMS[3],
        CLAIMS[4],
    ];
    const INTROSPECTION: [&str; 15] = [
        "kind",
        "issuer",
        "audiences",
        "introspection_url",
        "client_id",
        "client_secret",
        "timeout",
        "cache_ttl",
        "negative_cache_ttl",
        "leeway",
        CLAIMS[0],
        CLAIMS[1],
        CLAIMS[2],
        CLAIMS[3],
        CLAIMS[4],
    ];
    const APP_KEYS: [&str; 3] = ["kind", "app_keys", "app_keys_file"];
    match kind {
        "jwt" => Some(&JWT),
        "introspection" => Some(&INTROSPECTION),
        "app_keys" => Some(&APP_KEYS),
        _ => None,
    }
}

/// Reports every key of an `[issuers.<name>]` table that its kind does not read.
fn check_issuer_keys(config: &Config, map: &SourceMap, problems: &mut Problems) {
    // The file parsed already; this second, spanned read only finds where each key stands.
    let Ok(document) = toml::de::DeTable::parse(map.text()) else {
        return;
    };
    let Some(issuers) = document.get_ref().get("issuers") else {
        return;
    };
    let toml::de::DeValue::Table(issuers) = issuers.get_ref() else {
        return;
    };
    for (name, table) in issuers {
        let toml::de::DeValue::Table(table) = table.get_ref() else {
            continue;
        };
        let Some(issuer) = config.issuers.get(name.get_ref().as_ref()) else {
            continue;
        };
        let kind = issuer.get_ref().kind.get_ref();
        let Some(allowed) = keys_of_kind(kind) else {
            continue; // an unknown kind is reported where the kind is read
        };
        for key in table.keys() {
            if !allowed.contains(&key.get_ref().as_ref()) {
                problems.push(map.problem(
                    &key.span(),
                    format!("issuers.{}.{}", name.get_ref(), key.get_ref()),
                    format!("not a key of a {kind:?} issuer"),
                ));
            }
        }
    }
}

/// Builds the verifier of every `[issuers.*]`.
/// `token_service` is the opened built-in service; `None` where only the config is checked.
pub fn build_verifier(
    config: &Config,
    map: &SourceMap,
    problems: &mut Problems,
    token_service: Option<Arc<TokenService>>,
) -> Verifier {
    check_issuer_keys(config, map, problems);
    let mut issuers = Issuers::default();
    if let Some(settings) = crate::gateway::token_settings::compile(config, map, problems) {
        let keys = match &token_service {
            Some(service) => KeySource::Local(service.keys.clone()),
            None => KeySource::Static(KeySet::new(Vec::new())),
        };
        issuers.jwt.push(Arc::new(builtin_issuer(&settings, keys)));
        issuers.builtin = token_service.map(|s| s as Arc<dyn BuiltinIssuer>);
    }
    for (name, spanned) in &config.issuers {
        let issuer = spanned.get_ref();
        match issuer.kind.get_ref().as_str() {
            "jwt" => {
                if let Some(i) = build_jwt_issuer(name, spanned, map, problems) {
                    issuers.jwt.push(Arc::new(i));
                }
            }
            "introspection" => {
                if let Some(i) = build_introspector(name, spanned, config, map, problems) {
                    issuers.introspectors.push(Arc::new(i));
                }
            }
            "app_keys" => {
                if let Some(i) = build_app_keys(name, spanned, map, problems) {
                    issuers.app_keys.push(Arc::new(i));
                }
            }
            other => problems.push(map.problem(
                &issuer.kind.span(),
                format!("issuers.{name}.kind"),
                format!("{other:?} is not an issuer kind (jwt, introspection, app_keys)"),
            )),
        }
    }
    Verifier::new(
        issuers,
        CacheSettings {
            max_entries: config.auth.cache_max_entries,
            max_ttl: config.auth.cache_max_ttl.get(),
        },
    )
}

/// The built-in token service's tokens are checked like any other issuer's JWTs.
fn builtin_issuer(settings: &portcullis_tokens::Settings, keys: KeySource) -> JwtIssuer {
    JwtIssuer {
        name: settings.name.clone(),
        issuer: settings.issuer.clone(),
        audiences: vec![settings.audience.clone()],
        leeway: 0,
        profile: TokenProfile::AtJwt,
        mapping: portcullis_tokens::claim_mapping(),
        keys,
    }
}

/// A level name, or a problem at its line (and `verified`, the safe default, meanwhile).
pub(crate) fn level(
    text: &Spanned<String>,
    key: &str,
    map: &SourceMap,
    problems: &mut Problems,
) -> Level {
    Level::parse(text.get_ref()).unwrap_or_else(|| {
        problems.push(map.problem(
            &text.span(),
            key,
            format!(
                "{:?} is not a level (anonymous, identified, verified)",
                text.get_ref()
            ),
        ));
        Level::Verified
    })
}

fn build_jwt_issuer(
    name: &str,
    spanned: &Spanned<IssuerConfig>,
    map: &SourceMap,
    problems: &mut Problems,
) -> Option<JwtIssuer> {
    let config = spanned.get_ref();
    let key = format!("issuers.{name}");
    let before = problems.len();
    let Some(issuer_value) = &config.issuer else {
        problems.push(map.problem(
            &spanned.span(),
            format!("{key}.issuer"),
            "a jwt issuer needs `issuer` (the exact iss value)",
        ));
        return None;
    };
    if config.audiences.is_empty() {
        problems.push(map.problem(
            &spanned.span(),
            format!("{key}.audiences"),
            "at least one audience is required (RFC 9068 §4: tokens must be meant for us)",
        ));
    }
    let profile = match config.profile.get_ref().as_str() {
        "at+jwt" => TokenProfile::AtJwt,
        "legacy" => TokenProfile::Legacy,
        other => {
            problems.push(map.problem(
                &config.profile.span(),
                format!("{key}.profile"),
                format!("{other:?} is not a profile (at+jwt, legacy)"),
            ));
            TokenProfile::AtJwt
        }
    };
    let rsa_default = match config.rsa_default_alg.get_ref().parse::<Algorithm>() {
        Ok(
            alg @ (Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512),
        ) => alg,
        _ => {
            problems.push(map.problem(
                &config.rsa_default_alg.span(),
                format!("{key}.rsa_default_alg"),
                "must be an RSA algorithm (RS256…PS512)",
            ));
            Algorithm::RS256
        }
    };

    // Static keys: inline and file.
    let mut static_keys = Vec::new();
    for (i, spanned_key) in config.keys.iter().enumerate() {
        let k = spanned_key.get_ref();
        let key_name = format!("{key}.keys[{i}]");
        let Ok(alg) = k.alg.parse::<Algorithm>() else {
            problems.push(map.problem(
                &spanned_key.span(),
                format!("{key_name}.alg"),
                format!("{:?} is not a supported algorithm", k.alg),
            ));
            continue;
        };
        let result = match (&k.pem, &k.pem_file, &k.secret) {
            (Some(pem), None, None) => key_from_pem(k.kid.clone(), alg, pem.as_bytes()),
            (None, Some(file), None) => std::fs::read(file)
                .map_err(|e| format!("cannot read {file:?}: {e}"))
                .and_then(|pem| key_from_pem(k.kid.clone(), alg, &pem)),
            (None, None, Some(secret)) => key_from_secret(k.kid.clone(), alg, secret.as_bytes()),
            _ => Err("set exactly one of pem, pem_file or secret".to_string()),
        };
        match result {
            Ok(v) => static_keys.push(v),
            Err(message) => problems.push(map.problem(&spanned_key.span(), key_name, message)),
        }
    }
    let file_keys = config.jwks_file.as_ref().and_then(|file| {
        match std::fs::read(file.get_ref())
            .map_err(|e| format!("cannot read {:?}: {e}", file.get_ref()))
            .and_then(|doc| keys_from_jwks(&doc, rsa_default))
        {
            Ok((keys, _)) if !keys.is_empty() => Some(keys),
            Ok(_) => {
                problems.push(map.problem(
                    &file.span(),
                    format!("{key}.jwks_file"),
                    "holds no usable signing key",
                ));
                None
            }
            Err(message) => {
                problems.push(map.problem(&file.span(), format!("{key}.jwks_file"), message));
                None
            }
        }
    });

    let location = match (&config.jwks_url, config.discovery) {
        (Some(url), false) => {
            if let Err(m) = check_fetch_url(url.get_ref()) {
                problems.push(map.problem(&url.span(), format!("{key}.jwks_url"), m));
            }
            Some(JwksLocation::Url(url.get_ref().clone()))
        }
        (None, true) => {
            if let Err(m) = check_fetch_url(issuer_value.get_ref()) {
                problems.push(map.problem(&issuer_value.span(), format!("{key}.issuer"), m));
            }
            Some(JwksLocation::Discovery {
                issuer: issuer_value.get_ref().clone(),
            })
        }
        (None, false) => None,
        (Some(url), true) => {
            problems.push(map.problem(
                &url.span(),
                format!("{key}.jwks_url"),
                "set jwks_url or discovery, not both",
            ));
            None
        }
    };
    let keys = match location {
        Some(location) => {
            if !static_keys.is_empty() {
                problems.push(map.problem(
                    &spanned.span(),
                    format!("{key}.keys"),
                    "inline keys cannot be combined with a remote JWKS",
                ));
            }
            KeySource::Remote(Arc::new(RemoteJwks::new(
                RemoteSettings {
                    location,
                    refresh_every: config.refresh_every.get(),
                    cooldown: config.unknown_kid_cooldown.get(),
                    fetch_timeout: config.fetch_timeout.get(),
                    max_stale: config.max_stale.get(),
                    rsa_default,
                },
                file_keys,
            )))
        }
        None => {
            let mut all = static_keys;
            if let Some(file_keys) = file_keys {
                all.extend(file_keys.into_keys());
            }
            if all.is_empty() && problems.len() == before {
                problems.push(map.problem(
                    &spanned.span(),
                    key.clone(),
                    "no keys: set jwks_url, discovery, jwks_file or keys",
                ));
            }
            KeySource::Static(KeySet::new(all))
        }
    };

    let mapping = claim_mapping(config, &key, map, problems);
    (problems.len() == before).then(|| JwtIssuer {
        name: Arc::from(name),
        issuer: issuer_value.get_ref().clone(),
        audiences: config.audiences.clone(),
        leeway: config.leeway.get().as_secs(),
        profile,
        mapping,
        keys,
    })
}

fn claim_mapping(
    config: &IssuerConfig,
    key: &str,
    map: &SourceMap,
    problems: &mut Problems,
) -> ClaimMapping {
    let mut level_values = HashMap::new();
    for (value, target) in &config.level_values {
        level_values.insert(
            value.clone(),
            level(target, &format!("{key}.level_values"), map, problems),
        );
    }
    ClaimMapping {
        scope_claims: config.scope_claims.clone(),
        level_claim: config.level_claim.clone(),
        level_values,
        default_level: level(
            &config.default_level,
            &format!("{key}.default_level"),
            map,
            problems,
        ),
        tenant_claim: config.tenant_claim.clone(),
    }
}

fn build_introspector(
    name: &str,
    spanned: &Spanned<IssuerConfig>,
    root: &Config,
    map: &SourceMap,
    problems: &mut Problems,
) -> Option<Introspector> {
    let config = spanned.get_ref();
    let key = format!("issuers.{name}");
    let before = problems.len();
    let endpoint = match &config.introspection_url {
        Some(url) => {
            if let Err(m) = check_fetch_url(url.get_ref()) {
                problems.push(map.problem(&url.span(), format!("{key}.introspection_url"), m));
            }
            url.get_ref().clone()
        }
        None => {
            problems.push(map.problem(
                &spanned.span(),
                format!("{key}.introspection_url"),
                "required for kind introspection",
            ));
            String::new()
        }
    };
    let client_id = config.client_id.clone().unwrap_or_default();
    let secret = match &config.client_secret {
        Some(secret) => {
            if let Err(m) = portcullis_engine::verify::keys::check_secret_strength(
                secret.get_ref().as_bytes(),
                16,
            ) {
                problems.push(map.problem(&secret.span(), format!("{key}.client_secret"), m));
            }
            secret.get_ref().clone()
        }
        None => String::new(),
    };
    if client_id.is_empty() || secret.is_empty() {
        problems.push(map.problem(&spanned.span(), key.clone(), "client_id and client_secret are required: RFC 7662 §2.1 endpoints authenticate their callers"));
    }
    let mapping = claim_mapping(config, &key, map, problems);
    (problems.len() == before).then(|| {
        Introspector::new(
            name,
            IntrospectionSettings {
                endpoint,
                client_id,
                client_secret: Secret::new(&secret),
                timeout: config.timeout.get(),
                cache_ttl: config.cache_ttl.get(),
                negative_cache_ttl: config.negative_cache_ttl.get(),
                issuer: config.issuer.as_ref().map(|i| i.get_ref().clone()),
                audiences: config.audiences.clone(),
                leeway: config.leeway.get().as_secs(),
                max_entries: root.auth.cache_max_entries,
            },
            mapping,
        )
    })
}

/// Least length of an application key given in plain text (~128 bits as base64/hex text).
const MIN_APP_KEY_LEN: usize = 22;

fn build_app_keys(
    name: &str,
    spanned: &Spanned<IssuerConfig>,
    map: &SourceMap,
    problems: &mut Problems,
) -> Option<AppKeys> {
    let config = spanned.get_ref();
    let key = format!("issuers.{name}");
    let before = problems.len();
    let mut entries: Vec<(String, &Spanned<AppKeyConfig>)> = config
        .app_keys
        .iter()
        .enumerate()
        .map(|(i, k)| (format!("{key}.app_keys[{i}]"), k))
        .collect();
    let from_file;
    if let Some(file) = &config.app_keys_file {
        match std::fs::read_to_string(file.get_ref())
            .map_err(|e| format!("cannot read {:?}: {e}", file.get_ref()))
            .and_then(|text| {
                toml::from_str::<AppKeysFile>(&text)
                    .map_err(|e| format!("{:?}: {}", file.get_ref(), e.message()))
            }) {
            Ok(parsed) => {
                from_file = parsed;
                entries.extend(
                    from_file
                        .app_keys
                        .iter()
                        .enumerate()
                        .map(|(i, k)| (format!("{}[{i}]", file.get_ref()), k)),
                );
            }
            Err(message) => {
                problems.push(map.problem(&file.span(), format!("{key}.app_keys_file"), message))
            }
        }
    }
    let mut keys = Vec::new();
    for (entry_key, spanned_entry) in entries {
        let entry = spanned_entry.get_ref();
        let digest = match (&entry.sha256, &entry.key) {
            (Some(hex), None) => portcullis_core::digest::parse_digest(hex)
                .ok_or("sha256 must be 64 hex digits".to_string()),
            (None, Some(plain)) => portcullis_engine::verify::keys::check_secret_strength(
                plain.as_bytes(),
                MIN_APP_KEY_LEN,
            )
            .map(|()| portcullis_core::digest::digest(plain)),
            _ => Err("set exactly one of sha256 or key".to_string()),
        };
        let level = level(&entry.level, &format!("{entry_key}.level"), map, problems);
        match digest {
            Ok(digest) => keys.push((
                digest,
                Identity {
                    issuer: Arc::from(name),
                    subject: entry.client.clone(),
                    tenant: entry.tenant.clone(),
                    scopes: entry.scopes.clone(),
                    level,
                    audiences: Vec::new(),
                    expires_at: None,
                    not_before: None,
                    leeway: 0,
                    token_id: None,
                    claimed_subject: None,
                },
            )),
            Err(message) => problems.push(map.problem(&spanned_entry.span(), entry_key, message)),
        }
    }
    if keys.is_empty() && problems.len() == before {
        problems.push(map.problem(
            &spanned.span(),
            key,
            "no application keys: set app_keys or app_keys_file",
        ));
    }
    (problems.len() == before).then(|| AppKeys::new(name, keys))
}

fn requirement(
    level_text: Option<&Spanned<String>>,
    scopes: &[Spanned<String>],
    scope_match: Option<&Spanned<String>>,
    key: &str,
    map: &SourceMap,
    problems: &mut Problems,
) -> Requirement {
    let level = level_text.map_or(Level::Anonymous, |l| {
        level(l, &format!("{key}.level"), map, problems)
    });
    for scope in scopes {
        if !is_valid_scope_token(scope.get_ref()) {
            problems.push(map.problem(
                &scope.span(),
                format!("{key}.scopes"),
                format!("{:?} is not a valid scope token", scope.get_ref()),
            ));
        }
    }
    let all_scopes = match scope_match.map(|s| s.get_ref().as_str()) {
        None | Some("all") => true,
        Some("any") => false,
        Some(other) => {
            problems.push(map.problem(
                &scope_match.unwrap().span(),
                format!("{key}.scope_match"),
                format!("{other:?} is not all or any"),
            ));
            true
        }
    };
    Requirement {
        level,
        scopes: scopes.iter().map(|s| s.get_ref().clone()).collect(),
        all_scopes,
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
        if config.issuers.contains_key(name.get_ref()) || builtin == Some(name.get_ref().as_str()) {
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
        auth.level.as_ref(),
        &auth.scopes,
        auth.scope_match.as_ref(),
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
            requirement(
                l.as_ref(),
                scopes,
                scope_match.as_ref(),
                &method_key,
                map,
                problems,
            ),
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
