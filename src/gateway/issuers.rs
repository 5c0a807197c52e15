//! `[issuers.*]` (and the built-in token service's issuer) compiled into the [`Verifier`].
//! One function per kind, each small enough to test alone; every problem names its line.

use super::Problems;
use crate::config::issuer::{
    AppKeyConfig, AppKeysFile, AppKeysIssuerConfig, ClaimsConfig, IntrospectionIssuerConfig,
    IssuerConfig, JwtIssuerConfig, StaticKeyConfig, TokenProfileName,
};
use crate::config::model::Config;
use crate::config::SourceMap;
use jsonwebtoken::Algorithm;
use portcullis_core::credential::Secret;
use portcullis_core::principal::Identity;
use portcullis_engine::verify::appkeys::AppKeys;
use portcullis_engine::verify::builtin::BuiltinIssuer;
use portcullis_engine::verify::claims::ClaimMapping;
use portcullis_engine::verify::introspect::{IntrospectionSettings, Introspector};
use portcullis_engine::verify::jwks::{check_fetch_url, JwksLocation, RemoteJwks, RemoteSettings};
use portcullis_engine::verify::jwt::{JwtIssuer, KeySource, TokenProfile};
use portcullis_engine::verify::keys::{
    check_secret_strength, key_from_pem, key_from_secret, keys_from_jwks, KeyError, KeySet,
    VerifyKey,
};
use portcullis_engine::verify::Issuers;
use portcullis_engine::verify::{CacheSettings, Verifier};
use portcullis_tokens::TokenService;
use std::fmt::Display;
use std::sync::Arc;
use toml::Spanned;

/// Least length of an application key given in plain text (~128 bits as base64/hex text).
const MIN_APP_KEY_LEN: usize = 22;

/// Least length of an introspection client secret.
const MIN_CLIENT_SECRET_LEN: usize = 16;

/// Builds the verifier of every `[issuers.*]`, and of the token service when there is one
/// (`service_settings`, compiled). `token_service` is the opened built-in service; `None`
/// where only the config is checked.
pub fn build_verifier(
    config: &Config,
    map: &SourceMap,
    problems: &mut Problems,
    service_settings: Option<&portcullis_tokens::Settings>,
    token_service: Option<Arc<TokenService>>,
) -> Verifier {
    let mut issuers = Issuers::default();
    if let Some(settings) = service_settings {
        let keys = match &token_service {
            Some(service) => KeySource::Local(service.keys.clone()),
            None => KeySource::Static(KeySet::new(Vec::new())),
        };
        issuers.jwt.push(Arc::new(builtin_issuer(settings, keys)));
        issuers.builtin = token_service.map(|s| s as Arc<dyn BuiltinIssuer>);
    }
    for (name, spanned) in &config.issuers {
        let mut at = Place {
            key: format!("issuers.{name}"),
            span: spanned.span(),
            map,
            problems,
        };
        let before = at.problems.len();
        match spanned.get_ref() {
            IssuerConfig::Jwt(jwt) => {
                let issuer = jwt_issuer(name, jwt, &mut at);
                if at.problems.len() == before {
                    issuers.jwt.push(Arc::new(issuer));
                }
            }
            IssuerConfig::Introspection(introspection) => {
                let introspector =
                    introspector(name, introspection, config.auth.cache_max_entries, &mut at);
                if at.problems.len() == before {
                    issuers.introspectors.push(Arc::new(introspector));
                }
            }
            IssuerConfig::AppKeys(app_keys) => {
                let keys = app_key_issuer(name, app_keys, &mut at);
                if at.problems.len() == before {
                    issuers.app_keys.push(Arc::new(keys));
                }
            }
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

/// Where in the file one issuer is, and the list its problems go to.
struct Place<'a> {
    /// `issuers.<name>`.
    key: String,
    /// The issuer's table, for problems about a key that is missing.
    span: std::ops::Range<usize>,
    map: &'a SourceMap<'a>,
    problems: &'a mut Problems,
}

impl Place<'_> {
    /// A problem at `span` (the table's when `None`), under `issuers.<name>.<field>`.
    fn add(&mut self, span: Option<std::ops::Range<usize>>, field: &str, message: impl Display) {
        let span = span.unwrap_or_else(|| self.span.clone());
        let key = match field {
            "" => self.key.clone(),
            field => format!("{}.{field}", self.key),
        };
        self.problems.push(self.map.problem(&span, key, message));
    }
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

fn jwt_issuer(name: &str, config: &JwtIssuerConfig, at: &mut Place) -> JwtIssuer {
    if config.audiences.is_empty() {
        at.add(
            None,
            "audiences",
            "at least one audience is required (RFC 9068 §4: tokens must be meant for us)",
        );
    }
    let rsa_default = config.rsa_default_alg.algorithm();
    let inline = inline_keys(&config.keys, at);
    let from_file = config
        .jwks_file
        .as_ref()
        .and_then(|file| jwks_file_keys(file, rsa_default, at));
    let keys = match jwks_location(config, at) {
        Some(location) => {
            if !inline.is_empty() {
                at.add(
                    None,
                    "keys",
                    "inline keys cannot be combined with a remote JWKS",
                );
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
                from_file,
            )))
        }
        None => {
            let mut all = inline;
            all.extend(from_file.map(KeySet::into_keys).into_iter().flatten());
            let named_a_source = !config.keys.is_empty()
                || config.jwks_file.is_some()
                || config.jwks_url.is_some()
                || config.discovery;
            if all.is_empty() && !named_a_source {
                at.add(
                    None,
                    "",
                    "no keys: set jwks_url, discovery, jwks_file or keys",
                );
            }
            // Secrets and public keys never mix in one set: a token could pick the family.
            let keys = KeySet::from_operator_keys(all).unwrap_or_else(|problem| {
                at.add(None, "keys", problem);
                KeySet::new(Vec::new())
            });
            KeySource::Static(keys)
        }
    };
    JwtIssuer {
        name: Arc::from(name),
        issuer: config.issuer.get_ref().clone(),
        audiences: config.audiences.clone(),
        leeway: config.leeway.get().as_secs(),
        profile: match config.profile {
            TokenProfileName::AtJwt => TokenProfile::AtJwt,
            TokenProfileName::Legacy => TokenProfile::Legacy,
        },
        mapping: claim_mapping(&config.claims),
        keys,
    }
}

/// Where a remote JWKS is fetched from: `jwks_url`, or discovery on `issuer`; `None` for
/// static keys only.
fn jwks_location(config: &JwtIssuerConfig, at: &mut Place) -> Option<JwksLocation> {
    match (&config.jwks_url, config.discovery) {
        (Some(url), false) => {
            if let Err(message) = check_fetch_url(url.get_ref()) {
                at.add(Some(url.span()), "jwks_url", message);
            }
            Some(JwksLocation::Url(url.get_ref().clone()))
        }
        (None, true) => {
            let issuer = &config.issuer;
            if let Err(message) = check_fetch_url(issuer.get_ref()) {
                at.add(Some(issuer.span()), "issuer", message);
            }
            Some(JwksLocation::Discovery {
                issuer: issuer.get_ref().clone(),
            })
        }
        (None, false) => None,
        (Some(url), true) => {
            at.add(
                Some(url.span()),
                "jwks_url",
                "set jwks_url or discovery, not both",
            );
            None
        }
    }
}

/// `keys = [...]`: PEM public keys (inline or file) and HMAC secrets.
fn inline_keys(keys: &[Spanned<StaticKeyConfig>], at: &mut Place) -> Vec<VerifyKey> {
    let mut loaded = Vec::new();
    for (i, spanned) in keys.iter().enumerate() {
        let k = spanned.get_ref();
        let key = match (&k.pem, &k.pem_file, &k.secret) {
            (Some(pem), None, None) => {
                key_from_pem(k.kid.clone(), k.alg, pem.as_bytes()).map_err(|e| e.to_string())
            }
            (None, Some(file), None) => read(file).and_then(|pem| {
                key_from_pem(k.kid.clone(), k.alg, &pem).map_err(|e| e.to_string())
            }),
            (None, None, Some(source)) => source.resolve().and_then(|secret| {
                key_from_secret(k.kid.clone(), k.alg, secret.as_bytes()).map_err(|e| e.to_string())
            }),
            _ => Err("set exactly one of pem, pem_file or secret".to_string()),
        };
        match key {
            Ok(key) => loaded.push(key),
            Err(message) => at.add(Some(spanned.span()), &format!("keys[{i}]"), message),
        }
    }
    loaded
}

/// `jwks_file`: a JWKS document on disk; it must hold at least one usable key.
fn jwks_file_keys(
    file: &Spanned<String>,
    rsa_default: Algorithm,
    at: &mut Place,
) -> Option<KeySet> {
    let loaded = read(file.get_ref())
        .and_then(|document| keys_from_jwks(&document, rsa_default).map_err(|e| e.to_string()));
    match loaded {
        Ok((keys, _)) if !keys.is_empty() => Some(keys),
        Ok(_) => {
            at.add(
                Some(file.span()),
                "jwks_file",
                "holds no usable signing key",
            );
            None
        }
        Err(message) => {
            at.add(Some(file.span()), "jwks_file", message);
            None
        }
    }
}

/// A file the config names, or the problem to report about it.
fn read(file: &str) -> Result<Vec<u8>, String> {
    std::fs::read(file).map_err(|e| format!("cannot read {file:?}: {e}"))
}

fn claim_mapping(claims: &ClaimsConfig) -> ClaimMapping {
    ClaimMapping {
        scope_claims: claims.scope_claims.clone(),
        level_claim: claims.level_claim.clone(),
        level_values: claims
            .level_values
            .iter()
            .map(|(value, level)| (value.clone(), *level))
            .collect(),
        default_level: claims.default_level,
        tenant_claim: claims.tenant_claim.clone(),
    }
}

fn introspector(
    name: &str,
    config: &IntrospectionIssuerConfig,
    max_entries: u64,
    at: &mut Place,
) -> Introspector {
    let url = &config.introspection_url;
    if let Err(message) = check_fetch_url(url.get_ref()) {
        at.add(Some(url.span()), "introspection_url", message);
    }
    if config.client_id.get_ref().is_empty() {
        at.add(
            Some(config.client_id.span()),
            "client_id",
            "must not be empty: RFC 7662 §2.1 endpoints authenticate their callers",
        );
    }
    let span = config.client_secret.span();
    let secret = match config.client_secret.get_ref().resolve() {
        Ok(secret) => {
            if let Err(message) = check_secret_strength(secret.as_bytes(), MIN_CLIENT_SECRET_LEN) {
                at.add(Some(span), "client_secret", message);
            }
            secret
        }
        Err(message) => {
            at.add(Some(span), "client_secret", message);
            String::new()
        }
    };
    Introspector::new(
        name,
        IntrospectionSettings {
            endpoint: url.get_ref().clone(),
            client_id: config.client_id.get_ref().clone(),
            client_secret: Secret::new(&secret),
            timeout: config.timeout.get(),
            cache_ttl: config.cache_ttl.get(),
            negative_cache_ttl: config.negative_cache_ttl.get(),
            issuer: config.issuer.as_ref().map(|i| i.get_ref().clone()),
            audiences: config.audiences.clone(),
            leeway: config.leeway.get().as_secs(),
            max_entries,
        },
        claim_mapping(&config.claims),
    )
}

fn app_key_issuer(name: &str, config: &AppKeysIssuerConfig, at: &mut Place) -> AppKeys {
    let mut entries: Vec<(String, &Spanned<AppKeyConfig>)> = config
        .app_keys
        .iter()
        .enumerate()
        .map(|(i, k)| (format!("app_keys[{i}]"), k))
        .collect();
    let from_file = config
        .app_keys_file
        .as_ref()
        .and_then(|file| read_app_keys_file(file, at));
    if let (Some(file), Some(parsed)) = (&config.app_keys_file, &from_file) {
        let file = file.get_ref();
        entries.extend(
            parsed
                .app_keys
                .iter()
                .enumerate()
                .map(|(i, k)| (format!("{file}[{i}]"), k)),
        );
    }
    let mut keys = Vec::new();
    for (entry_key, spanned) in entries {
        match app_key(name, spanned.get_ref()) {
            Ok(key) => keys.push(key),
            Err(message) => at.add(Some(spanned.span()), &entry_key, message),
        }
    }
    if keys.is_empty() && config.app_keys.is_empty() && config.app_keys_file.is_none() {
        at.add(
            None,
            "",
            "no application keys: set app_keys or app_keys_file",
        );
    }
    AppKeys::new(name, keys)
}

/// `app_keys_file`: a TOML file of `[[app_keys]]`, read at start and on reload.
fn read_app_keys_file(file: &Spanned<String>, at: &mut Place) -> Option<AppKeysFile> {
    let parsed = std::fs::read_to_string(file.get_ref())
        .map_err(|e| format!("cannot read {:?}: {e}", file.get_ref()))
        .and_then(|text| {
            toml::from_str::<AppKeysFile>(&text)
                .map_err(|e| format!("{:?}: {}", file.get_ref(), e.message()))
        });
    parsed
        .map_err(|message| at.add(Some(file.span()), "app_keys_file", message))
        .ok()
}

/// Why an application key entry cannot be used.
#[derive(Debug, thiserror::Error)]
enum AppKeyProblem {
    #[error("sha256 must be 64 hex digits")]
    BadDigest,
    #[error("set exactly one of sha256 or key")]
    NotExactlyOne,
    #[error(transparent)]
    Weak(#[from] KeyError),
    #[error("{0}")]
    Unavailable(String),
}

/// One application key: its digest and the identity it stands for.
fn app_key(
    issuer: &str,
    entry: &AppKeyConfig,
) -> Result<(portcullis_core::digest::Digest, Identity), AppKeyProblem> {
    let digest = match (&entry.sha256, &entry.key) {
        (Some(hex), None) => {
            portcullis_core::digest::parse_digest(hex).ok_or(AppKeyProblem::BadDigest)?
        }
        (None, Some(source)) => {
            let plain = source.resolve().map_err(AppKeyProblem::Unavailable)?;
            check_secret_strength(plain.as_bytes(), MIN_APP_KEY_LEN)?;
            portcullis_core::digest::digest(&plain)
        }
        _ => return Err(AppKeyProblem::NotExactlyOne),
    };
    Ok((
        digest,
        Identity {
            tenant: entry.tenant.clone(),
            scopes: entry.scopes.clone(),
            ..Identity::bare(issuer, &entry.client, entry.level)
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compiles the issuers of a config text; the problems as `(key, line)`.
    fn compile(text: &str) -> (Verifier, Vec<(String, usize)>) {
        let config = crate::config::parse(text).expect("parses");
        let map = SourceMap::new(text);
        let mut problems = Vec::new();
        let settings = crate::gateway::token_settings::compile(&config, &map, &mut problems);
        let verifier = build_verifier(&config, &map, &mut problems, settings.as_ref(), None);
        let problems = problems.into_iter().map(|p| (p.key, p.line)).collect();
        (verifier, problems)
    }

    #[test]
    fn a_jwt_issuer_with_an_inline_secret_compiles() {
        let (_, problems) = compile(
            "[issuers.idp]\nkind = \"jwt\"\nissuer = \"https://idp\"\naudiences = [\"api\"]\n\
             keys = [{ alg = \"HS256\", secret = \"0123456789abcdef0123456789abcdef\" }]\n",
        );
        assert_eq!(problems, []);
    }

    #[test]
    fn jwt_problems_name_their_keys() {
        let (_, problems) = compile(
            "[issuers.idp]\nkind = \"jwt\"\nissuer = \"https://idp\"\n\
             jwks_url = \"http://idp.example/jwks\"\ndiscovery = true\n\
             [issuers.bare]\nkind = \"jwt\"\nissuer = \"https://idp\"\naudiences = [\"a\"]\n",
        );
        assert_eq!(
            problems,
            [
                ("issuers.bare".to_string(), 6),
                ("issuers.idp.audiences".to_string(), 1),
                ("issuers.idp.jwks_url".to_string(), 4),
            ]
        );
    }

    #[test]
    fn secrets_and_public_keys_never_share_an_issuer() {
        let pem = portcullis_engine::signing::SigningKey::generate(Algorithm::RS256, "k")
            .public_pem
            .expect("an RSA key has a public PEM");
        let (_, problems) = compile(&format!(
            "[issuers.idp]\nkind = \"jwt\"\nissuer = \"https://idp\"\naudiences = [\"api\"]\n\
             keys = [{{ alg = \"HS256\", secret = \"0123456789abcdef0123456789abcdef\" }},\n\
             {{ alg = \"RS256\", pem = \"\"\"{pem}\"\"\" }}]\n"
        ));
        assert_eq!(problems, [("issuers.idp.keys".to_string(), 1)]);
    }

    #[test]
    fn introspection_needs_a_strong_secret_and_a_fetchable_url() {
        let (_, problems) = compile(
            "[issuers.i]\nkind = \"introspection\"\nintrospection_url = \"http://far.example/\"\n\
             client_id = \"\"\nclient_secret = \"short\"\n",
        );
        assert_eq!(
            problems,
            [
                ("issuers.i.introspection_url".to_string(), 3),
                ("issuers.i.client_id".to_string(), 4),
                ("issuers.i.client_secret".to_string(), 5),
            ]
        );
    }

    #[test]
    fn an_app_key_is_a_digest_or_a_strong_key_never_both() {
        let (_, problems) = compile(
            "[issuers.apps]\nkind = \"app_keys\"\napp_keys = [\n\
             { client = \"a\", key = \"weak\" },\n\
             { client = \"b\", sha256 = \"00\", key = \"also-given-here-too-long-enough\" },\n\
             { client = \"c\", key = \"a-key-long-enough-to-be-accepted\" },\n]\n",
        );
        assert_eq!(
            problems,
            [
                ("issuers.apps.app_keys[0]".to_string(), 4),
                ("issuers.apps.app_keys[1]".to_string(), 5),
            ]
        );
    }
}
