//! `[token_service]` compiled into the token service's settings: checked once, with every
//! problem reported at its line. The settings types live with the token service
//! (`portcullis_tokens::settings`); turning config into them happens here, with the rest of the
//! config compilation.

use crate::config::model::Config;
use crate::config::token_service::{
    ClientConfig, GrantName, SigningAlgorithm, StoreConfig, StoreKind, TenantConfig,
    TokenFormatName, TokenServiceConfig,
};
use crate::config::{ConfigProblem, SourceMap};
use jsonwebtoken::Algorithm;
use portcullis_core::digest::{parse_digest, Digest};
use portcullis_tokens::settings::*;
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
    fn add(&mut self, span: Range<usize>, key: &str, message: impl std::fmt::Display) {
        self.list.push(
            self.map
                .problem(&span, format!("token_service.{key}"), message),
        );
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
    if service.default_validity_minutes == 0
        || service.default_validity_minutes > service.max_validity_minutes
    {
        report.add(
            spanned.span(),
            "default_validity_minutes",
            "must be between 1 and max_validity_minutes",
        );
    }
    let mounted = super::token_paths::mount(service, &prefix, report.map, report.list);
    let store = store(&service.store, &mut report);
    let keys_file = keys_file(service, store.as_ref(), spanned.span(), &mut report);
    let sign_in = service
        .sign_in
        .as_ref()
        .and_then(|s| compile_sign_in(s, &mut report));
    let clients = service
        .clients
        .iter()
        .map(|(id, client)| (id.clone(), compile_client(id, client, service, &mut report)))
        .collect();
    let tenants = service
        .tenants
        .iter()
        .map(|(hash, tenant)| {
            (
                hash.clone(),
                compile_tenant(hash, tenant.get_ref(), &mut report),
            )
        })
        .collect();
    if report.list.len() > before {
        return None;
    }
    let tenant_host = service.tenant_host.as_ref().and_then(|text| {
        match portcullis_core::route::HostPattern::parse(text.get_ref()) {
            Ok(pattern @ portcullis_core::route::HostPattern::Tenant(_)) => Some(pattern),
            _ => {
                report.add(
                    text.span(),
                    "tenant_host",
                    "must be a '{tenant}.name' host pattern",
                );
                None
            }
        }
    });
    let email = service.email_verification.as_ref().and_then(|spanned| {
        let e = spanned.get_ref();
        let smtp_url = match e.smtp_url.resolve() {
            Ok(url) => url,
            Err(message) => {
                report.add(spanned.span(), "email_verification.smtp_url", message);
                return None;
            }
        };
        if let Err(message) = portcullis_tokens::email::check(&smtp_url, &e.from) {
            report.add(spanned.span(), "email_verification", message);
            return None;
        }
        Some(portcullis_tokens::email::EmailSettings {
            smtp_url,
            from: e.from.clone(),
            subject: e.subject.clone(),
            code_ttl: e.code_ttl.get().as_secs().max(60),
        })
    });
    if report.list.len() > before {
        return None;
    }
    let (paths, token_apis) = mounted?;
    Some(Settings {
        name: Arc::from(service.name.as_str()),
        prefix,
        paths,
        token_apis,
        tenant_host,
        email,
        issuer: service.issuer.get_ref().clone(),
        audience: service.audience.clone(),
        format: match service.format {
            TokenFormatName::Jwt => TokenFormat::Jwt,
            TokenFormatName::Opaque => TokenFormat::Opaque,
        },
        algorithm: match service.algorithm {
            SigningAlgorithm::ES256 => Algorithm::ES256,
            SigningAlgorithm::EdDSA => Algorithm::EdDSA,
        },
        store: store?,
        keys_file: keys_file?,
        rotate_after: service.rotate_after.get().as_secs().max(1),
        access_ttl: service.access_ttl.get().as_secs().max(1),
        device_ttl: service.device_ttl.get().as_secs().max(1),
        refresh_ttl: service.refresh_ttl.get().as_secs().max(1),
        max_refresh_grants: service.max_refresh_grants,
        max_refresh_grants_per_user: service.max_refresh_grants_per_user,
        device_poll_interval: service.device_poll_interval.get().as_secs().max(1),
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

/// `[token_service.store]`: a redb file, or a Redis server shared by every instance.
fn store(spanned: &Spanned<StoreConfig>, report: &mut Report) -> Option<StoreSettings> {
    let config = spanned.get_ref();
    match (config.kind, &config.path, &config.url) {
        (StoreKind::Redb, Some(path), None) => {
            Some(StoreSettings::Redb(PathBuf::from(path.get_ref())))
        }
        (StoreKind::Redis, None, Some(source)) => {
            let url = source.get_ref().resolve().unwrap_or_else(|message| {
                report.add(source.span(), "store.url", message);
                String::new()
            });
            if !url.is_empty() && redis::Client::open(url.as_str()).is_err() {
                report.add(source.span(), "store.url", "not a redis:// URL");
            }
            Some(StoreSettings::Redis {
                url,
                prefix: config.key_prefix.clone(),
                timeout: config.timeout.get(),
            })
        }
        (StoreKind::Redb, _, _) => {
            report.add(
                spanned.span(),
                "store",
                "kind \"redb\" needs `path` (and no `url`)",
            );
            None
        }
        (StoreKind::Redis, _, _) => {
            report.add(
                spanned.span(),
                "store",
                "kind \"redis\" needs `url` (and no `path`)",
            );
            None
        }
    }
}

/// Where the signing keys live: `keys_file`, or beside a redb store; a Redis store needs it
/// named, since every instance must sign with the same keys.
fn keys_file(
    service: &TokenServiceConfig,
    store: Option<&StoreSettings>,
    span: Range<usize>,
    report: &mut Report,
) -> Option<PathBuf> {
    match (&service.keys_file, store) {
        (Some(file), _) => Some(PathBuf::from(file.get_ref())),
        (None, Some(StoreSettings::Redb(path))) => Some(path.with_extension("keys.json")),
        (None, Some(StoreSettings::Redis { .. })) => {
            report.add(
                span,
                "keys_file",
                "is required with a redis store (every instance must sign with the same keys)",
            );
            None
        }
        (None, None) => None,
    }
}

/// One `[token_service.clients.<id>]`.
fn compile_client(
    id: &str,
    spanned: &Spanned<ClientConfig>,
    service: &TokenServiceConfig,
    report: &mut Report,
) -> Client {
    let client = spanned.get_ref();
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
                spanned.span(),
                &format!("{key}.secret_sha256"),
                "is required (or set `public = true` for a client that cannot keep a secret)",
            );
            None
        }
    };
    let grants = grants(&client.grants, client.public, &key, report);
    let mut redirect_uris = Vec::new();
    for uri in &client.redirect_uris {
        match check_redirect_uri(uri.get_ref()) {
            Ok(()) => redirect_uris.push(uri.get_ref().clone()),
            Err(message) => report.add(uri.span(), &format!("{key}.redirect_uris"), message),
        }
    }
    if grants.authorization_code && client.redirect_uris.is_empty() {
        report.add(
            spanned.span(),
            &format!("{key}.redirect_uris"),
            "authorization_code needs at least one redirect URI",
        );
    }
    if client.public && !client.require_pkce.get_ref() {
        report.add(
            client.require_pkce.span(),
            &format!("{key}.require_pkce"),
            "a public client always uses PKCE: it has no secret to prove the code is its own",
        );
    }
    if grants.device_code && service.sign_in.is_none() {
        report.add(
            spanned.span(),
            &format!("{key}.grants"),
            "device_code needs [token_service.sign_in] (the user answers on its pages)",
        );
    }
    if grants.authorization_code && service.sign_in.is_none() {
        report.add(
            spanned.span(),
            &format!("{key}.grants"),
            "authorization_code needs [token_service.sign_in]",
        );
    }
    Client {
        id: id.to_string(),
        name: client.name.clone().unwrap_or_else(|| id.to_string()),
        secret_sha256: secret,
        scopes: client.scopes.clone(),
        client_credentials: grants.client_credentials,
        refresh_token: grants.refresh_token,
        authorization_code: grants.authorization_code,
        device_code: grants.device_code,
        redirect_uris,
        level: client.level,
        issue_refresh_tokens: client.issue_refresh_tokens,
        may_verify: client.may_verify,
        require_pkce: *client.require_pkce.get_ref(),
    }
}

/// The grants a client was given.
#[derive(Debug, Default, PartialEq)]
struct Grants {
    client_credentials: bool,
    refresh_token: bool,
    authorization_code: bool,
    device_code: bool,
}

/// A client's `grants`: the refused ones reported with the reason.
fn grants(names: &[Spanned<GrantName>], public: bool, key: &str, report: &mut Report) -> Grants {
    let mut grants = Grants::default();
    for grant in names {
        let mut refuse = |message: &str| {
            report.add(grant.span(), &format!("{key}.grants"), message);
        };
        match grant.get_ref() {
            GrantName::ClientCredentials if public => {
                refuse("a public client cannot use client_credentials")
            }
            GrantName::ClientCredentials => grants.client_credentials = true,
            GrantName::RefreshToken => grants.refresh_token = true,
            GrantName::AuthorizationCode => grants.authorization_code = true,
            GrantName::DeviceCode => grants.device_code = true,
            GrantName::Password => {
                refuse("\"password\" is not supported (RFC 9700 §2.4 advises against it)")
            }
            GrantName::Implicit => {
                refuse("\"implicit\" is not supported (RFC 9700 §2.1.2 advises against it)")
            }
        }
    }
    grants
}

/// One `[token_service.tenants.<tenant_hash>]`.
fn compile_tenant(hash: &str, tenant: &TenantConfig, report: &mut Report) -> Tenant {
    Tenant {
        secret_sha256: tenant
            .oauth_key_secret_sha256
            .as_ref()
            .map(|s| report.digest(s, &format!("tenants.{hash}.oauth_key_secret_sha256"))),
        resources: tenant.resources.clone(),
        level: tenant.level,
    }
}

fn compile_sign_in(
    spanned: &Spanned<crate::config::token_service::SignInConfig>,
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
                client_secret: o.client_secret.resolve().unwrap_or_else(|message| {
                    report.add(oidc.span(), "sign_in.oidc.client_secret", message);
                    String::new()
                }),
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

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str = "[token_service]\nissuer = \"https://gw\"\n\
                           store = { path = \"/tmp/never-opened.redb\" }\n";

    /// Compiles `[token_service]` from `extra` lines after a minimal service.
    fn compile_with(extra: &str) -> (Option<Settings>, Vec<(String, usize)>) {
        let text = format!("{SERVICE}{extra}");
        let config = crate::config::parse(&text).expect("parses");
        let map = SourceMap::new(&text);
        let mut problems = Vec::new();
        let settings = compile(&config, &map, &mut problems);
        (
            settings,
            problems.into_iter().map(|p| (p.key, p.line)).collect(),
        )
    }

    #[test]
    fn a_minimal_service_compiles_with_its_defaults() {
        let (settings, problems) = compile_with("");
        assert_eq!(problems, []);
        let settings = settings.unwrap();
        assert_eq!(settings.prefix, "/auth");
        assert_eq!(settings.format, TokenFormat::Jwt);
        assert_eq!(settings.algorithm, Algorithm::ES256);
        assert_eq!(
            settings.keys_file,
            PathBuf::from("/tmp/never-opened.keys.json")
        );
        assert_eq!(
            settings.device_token_limit,
            Some((60, Duration::from_secs(60)))
        );
    }

    #[test]
    fn a_clients_grants_are_checked_one_by_one() {
        let (settings, problems) = compile_with(
            "[token_service.clients.spa]\npublic = true\n\
             grants = [\"client_credentials\", \"refresh_token\", \"password\"]\n",
        );
        assert!(settings.is_none());
        assert_eq!(
            problems,
            [
                ("token_service.clients.spa.grants".to_string(), 6),
                ("token_service.clients.spa.grants".to_string(), 6),
            ]
        );
    }

    #[test]
    fn grants_become_named_flags() {
        let (settings, problems) = compile_with(&format!(
            "[token_service.clients.svc]\nsecret_sha256 = \"{}\"\n\
             grants = [\"client_credentials\", \"refresh_token\"]\n",
            "ab".repeat(32)
        ));
        assert_eq!(problems, []);
        let client = &settings.unwrap().clients["svc"];
        assert!(client.client_credentials && client.refresh_token);
        assert!(!client.authorization_code);
    }

    #[test]
    fn a_redis_store_needs_a_shared_keys_file() {
        let text = "[token_service]\nissuer = \"https://gw\"\n\
                    store = { kind = \"redis\", url = \"redis://127.0.0.1/0\" }\n";
        let config = crate::config::parse(text).expect("parses");
        let mut problems = Vec::new();
        assert!(compile(&config, &SourceMap::new(text), &mut problems).is_none());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].key, "token_service.keys_file");
    }

    #[test]
    fn an_unknown_format_is_refused_by_the_parser_at_its_line() {
        let text = format!("{SERVICE}format = \"paseto\"\n");
        let problems = crate::config::parse(&text).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(
            (problems[0].key.as_str(), problems[0].line),
            ("token_service.format", 4)
        );
        assert!(problems[0].message.contains("jwt"), "{problems:?}");
    }
}
