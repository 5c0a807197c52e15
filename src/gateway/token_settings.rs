//! `[token_service]` compiled into the token service's settings: checked once, with every
//! problem reported at its line. The settings types live with the token service
//! (`portcullis_tokens::settings`); turning config into them happens here, with the rest of the
//! config compilation.

use crate::config::model::{Config, TokenServiceConfig};
use crate::config::{ConfigProblem, SourceMap};
use jsonwebtoken::Algorithm;
use portcullis_core::digest::{parse_digest, Digest};
use portcullis_core::principal::Level;
use portcullis_tokens::settings::*;
use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

/// Problems of `[token_service]`, each under its `token_service.…` key.
struct Report<'a> {
    map: &'a SourceMap<'a>,
    list: &'a mut Vec<ConfigProblem>,
}

impl Report<'_> {
    fn add(&mut self, span: Range<usize>, key: &str, message: impl Into<String>) {
        self.list.push(
            self.map
                .problem(&span, format!("token_service.{key}"), message.into()),
        );
    }

    fn level(&mut self, text: &Spanned<String>, key: &str) -> Level {
        crate::gateway::auth::level(text, &format!("token_service.{key}"), self.map, self.list)
    }

    fn digest(&mut self, text: &Spanned<String>, key: &str) -> Digest {
        parse_digest(text.get_ref()).unwrap_or_else(|| {
            self.add(text.span(), key, "must be 64 hex digits (SHA-256)");
            Digest::default()
        })
    }
}

/// Compiles `[token_service]`, or reports why not. `None` when absent or broken.
pub fn compile(
    config: &Config,
    map: &SourceMap,
    problems: &mut Vec<ConfigProblem>,
) -> Option<Settings> {
    let spanned = config.token_service.as_ref()?;
    let service: &TokenServiceConfig = spanned.get_ref();
    let before = problems.len();
    let mut report = Report {
        map,
        list: problems,
    };

    let prefix = service.prefix.get_ref().trim_end_matches('/').to_string();
    if !prefix.starts_with('/') || prefix.contains("//") || prefix.contains("..") {
        report.add(
            service.prefix.span(),
            "prefix",
            "must be a path such as \"/auth\"",
        );
    }
    if service.issuer.get_ref().is_empty() {
        report.add(service.issuer.span(), "issuer", "must not be empty");
    }
    if config.issuers.contains_key(&service.name) {
        report.add(
            spanned.span(),
            "name",
            format!("{:?} is also an [issuers] name", service.name),
        );
    }
    let format = match service.format.get_ref().as_str() {
        "jwt" => TokenFormat::Jwt,
        "opaque" => TokenFormat::Opaque,
        other => {
            report.add(
                service.format.span(),
                "format",
                format!("{other:?} is not jwt or opaque"),
            );
            TokenFormat::Jwt
        }
    };
    let algorithm = match service.algorithm.get_ref().as_str() {
        "ES256" => Algorithm::ES256,
        "EdDSA" => Algorithm::EdDSA,
        other => {
            report.add(
                service.algorithm.span(),
                "algorithm",
                format!("{other:?} is not ES256 or EdDSA"),
            );
            Algorithm::ES256
        }
    };
    let store_config = service.store.get_ref();
    let store = match (
        store_config.kind.get_ref().as_str(),
        &store_config.path,
        &store_config.url,
    ) {
        ("redb", Some(path), None) => Some(StoreSettings::Redb(PathBuf::from(path.get_ref()))),
        ("redis", None, Some(url)) => {
            if redis::Client::open(url.get_ref().as_str()).is_err() {
                report.add(url.span(), "store.url", "not a redis:// URL");
            }
            Some(StoreSettings::Redis {
                url: url.get_ref().clone(),
                prefix: store_config.key_prefix.clone(),
                timeout: store_config.timeout.get(),
            })
        }
        ("redb", _, _) => {
            report.add(
                service.store.span(),
                "store",
                "kind \"redb\" needs `path` (and no `url`)",
            );
            None
        }
        ("redis", _, _) => {
            report.add(
                service.store.span(),
                "store",
                "kind \"redis\" needs `url` (and no `path`)",
            );
            None
        }
        (other, _, _) => {
            report.add(
                store_config.kind.span(),
                "store.kind",
                format!("{other:?} is not redb or redis"),
            );
            None
        }
    };
    let keys_file = match (&service.keys_file, &store) {
        (Some(file), _) => Some(PathBuf::from(file.get_ref())),
        (None, Some(StoreSettings::Redb(path))) => Some(path.with_extension("keys.json")),
        (None, Some(StoreSettings::Redis { .. })) => {
            report.add(
                spanned.span(),
                "keys_file",
                "is required with a redis store (every instance must sign with the same keys)",
            );
            None
        }
        (None, None) => None,
    };
    let sign_in = service
        .sign_in
        .as_ref()
        .and_then(|s| compile_sign_in(s, &mut report));
    let mut clients = HashMap::new();
    for (id, spanned_client) in &service.clients {
        let client = spanned_client.get_ref();
        let key = format!("clients.{id}");
        let secret = match (&client.secret_sha256, client.public) {
            (Some(secret), false) => Some(report.digest(secret, &format!("{key}.secret_sha256"))),
            (None, true) => None,
            (Some(secret), true) => {
                report.add(
                    secret.span(),
                    &format!("{key}.secret_sha256"),
                    "a public client has no secret",
                );
                None
            }
            (None, false) => {
                report.add(
                    spanned_client.span(),
                    &format!("{key}.secret_sha256"),
                    "is required (or set `public = true` for a client that cannot keep a secret)",
                );
                None
            }
        };
        let mut grants = (false, false, false);
        for grant in &client.grants {
            match grant.get_ref().as_str() {
                "client_credentials" if client.public => report.add(
                    grant.span(),
                    &format!("{key}.grants"),
                    "a public client cannot use client_credentials",
                ),
                "client_credentials" => grants.0 = true,
                "refresh_token" => grants.1 = true,
                "authorization_code" => grants.2 = true,
                refused @ ("password" | "implicit") => report.add(
                    grant.span(),
                    &format!("{key}.grants"),
                    format!(
                        "{refused:?} is not supported (RFC 9700 §2.4 and §2.1.2 advise against it)"
                    ),
                ),
                other => report.add(
                    grant.span(),
                    &format!("{key}.grants"),
                    format!(
                        "{other:?} is not client_credentials, refresh_token or authorization_code"
                    ),
                ),
            }
        }
        let mut redirect_uris = Vec::new();
        for uri in &client.redirect_uris {
            match check_redirect_uri(uri.get_ref()) {
                Ok(()) => redirect_uris.push(uri.get_ref().clone()),
                Err(message) => report.add(uri.span(), &format!("{key}.redirect_uris"), message),
            }
        }
        if grants.2 && client.redirect_uris.is_empty() {
            report.add(
                spanned_client.span(),
                &format!("{key}.redirect_uris"),
                "authorization_code needs at least one redirect URI",
            );
        }
        if grants.2 && service.sign_in.is_none() {
            report.add(
                spanned_client.span(),
                &format!("{key}.grants"),
                "authorization_code needs [token_service.sign_in]",
            );
        }
        let client_level = report.level(&client.level, &format!("{key}.level"));
        clients.insert(
            id.clone(),
            Client {
                id: id.clone(),
                name: client.name.clone().unwrap_or_else(|| id.clone()),
                secret_sha256: secret,
                scopes: client.scopes.clone(),
                client_credentials: grants.0,
                refresh_token: grants.1,
                authorization_code: grants.2,
                redirect_uris,
                level: client_level,
                issue_refresh_tokens: client.issue_refresh_tokens,
                may_verify: client.may_verify,
            },
        );
    }
    let mut tenants = HashMap::new();
    for (hash, spanned_tenant) in &service.tenants {
        let tenant = spanned_tenant.get_ref();
        let key = format!("tenants.{hash}");
        let secret = tenant
            .oauth_key_secret_sha256
            .as_ref()
            .map(|s| report.digest(s, &format!("{key}.oauth_key_secret_sha256")));
        let tenant_level = report.level(&tenant.level, &format!("{key}.level"));
        tenants.insert(
            hash.clone(),
            Tenant {
                secret_sha256: secret,
                resources: tenant.resources.clone(),
                level: tenant_level,
            },
        );
    }
    if service.default_validity_minutes == 0
        || service.default_validity_minutes > service.max_validity_minutes
    {
        report.add(
            spanned.span(),
            "default_validity_minutes",
            "must be between 1 and max_validity_minutes",
        );
    }
    if report.list.len() > before {
        return None;
    }
    Some(Settings {
        name: Arc::from(service.name.as_str()),
        prefix,
        issuer: service.issuer.get_ref().clone(),
        audience: service.audience.clone(),
        format,
        algorithm,
        store: store?,
        keys_file: keys_file?,
        rotate_after: service.rotate_after.get().as_secs().max(1),
        access_ttl: service.access_ttl.get().as_secs().max(1),
        device_ttl: service.device_ttl.get().as_secs().max(1),
        refresh_ttl: service.refresh_ttl.get().as_secs().max(1),
        max_refresh_grants: service.max_refresh_grants,
        device_token_limit: (service.max_device_tokens_per_address > 0).then(|| {
            (
                service.max_device_tokens_per_address,
                service
                    .device_token_window
                    .get()
                    .max(Duration::from_secs(1)),
            )
        }),
        default_validity_minutes: service.default_validity_minutes,
        max_validity_minutes: service.max_validity_minutes,
        clients,
        tenants,
        sign_in,
    })
}

fn compile_sign_in(
    spanned: &Spanned<crate::config::model::SignInConfig>,
    report: &mut Report,
) -> Option<SignInSettings> {
    let config = spanned.get_ref();
    let users = match (&config.users_file, &config.oidc) {
        (Some(file), None) => {
            let path = PathBuf::from(file.get_ref());
            if let Err(message) = portcullis_tokens::users::Users::check_file(&path) {
                report.add(file.span(), "sign_in.users_file", message);
            }
            UserSource::File(path)
        }
        (None, Some(oidc)) => {
            let o = oidc.get_ref();
            if url::Url::parse(o.issuer.get_ref()).is_err() {
                report.add(o.issuer.span(), "sign_in.oidc.issuer", "must be a URL");
            }
            if let Err(message) = check_redirect_uri(o.redirect_uri.get_ref()) {
                report.add(o.redirect_uri.span(), "sign_in.oidc.redirect_uri", message);
            }
            UserSource::Oidc(UpstreamOidc {
                issuer: o.issuer.get_ref().trim_end_matches('/').to_string(),
                client_id: o.client_id.clone(),
                client_secret: o.client_secret.clone(),
                redirect_uri: o.redirect_uri.get_ref().clone(),
                scopes: o.scopes.clone(),
                name_claim: o.name_claim.clone(),
            })
        }
        _ => {
            report.add(
                spanned.span(),
                "sign_in",
                "needs exactly one of users_file and [token_service.sign_in.oidc]",
            );
            return None;
        }
    };
    if config.max_failures == 0 {
        report.add(spanned.span(), "sign_in.max_failures", "must be at least 1");
    }
    Some(SignInSettings {
        users,
        session_ttl: config.session_ttl.get().as_secs().max(60),
        code_ttl: config.code_ttl.get().as_secs().clamp(1, 600),
        max_failures: config.max_failures,
        failure_window: config.failure_window.get(),
    })
}
