//! `[token_service]` compiled: checked once, with every problem reported at its line.

use crate::config::model::{Config, TokenServiceConfig};
use crate::config::{ConfigProblem, SourceMap};
use crate::principal::Level;
use jsonwebtoken::Algorithm;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFormat {
    Jwt,
    Opaque,
}

#[derive(Debug, Clone)]
pub enum StoreSettings {
    Redb(PathBuf),
    Redis {
        url: String,
        prefix: String,
        timeout: Duration,
    },
}

#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub secret_sha256: Vec<u8>,
    pub scopes: Vec<String>,
    pub client_credentials: bool,
    pub refresh_token: bool,
    pub level: Level,
    pub issue_refresh_tokens: bool,
    pub may_verify: bool,
}

#[derive(Debug, Clone)]
pub struct Tenant {
    pub secret_sha256: Option<Vec<u8>>,
    pub resources: Vec<String>,
    pub level: Level,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub name: Arc<str>,
    /// Normalized: starts with `/`, no trailing `/`.
    pub prefix: String,
    pub issuer: String,
    pub audience: String,
    pub format: TokenFormat,
    pub algorithm: Algorithm,
    pub store: StoreSettings,
    pub keys_file: PathBuf,
    /// Seconds.
    pub rotate_after: u64,
    pub access_ttl: u64,
    pub device_ttl: u64,
    pub refresh_ttl: u64,
    pub max_refresh_grants: usize,
    pub default_validity_minutes: u64,
    pub max_validity_minutes: u64,
    pub cookie_name: String,
    pub clients: HashMap<String, Client>,
    pub tenants: HashMap<String, Tenant>,
}

impl Settings {
    /// The longest any access token may live: how long a rotated-out key stays published.
    pub fn longest_token_life(&self) -> u64 {
        self.access_ttl
            .max(self.device_ttl)
            .max(self.max_validity_minutes * 60)
    }
}

fn hex_digest(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    (0..32)
        .map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
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
    let mut problem = |span: std::ops::Range<usize>, key: &str, message: String| {
        problems.push(map.problem(&span, format!("token_service.{key}"), message));
    };

    let prefix = service.prefix.get_ref().trim_end_matches('/').to_string();
    if !prefix.starts_with('/') || prefix.contains("//") || prefix.contains("..") {
        problem(
            service.prefix.span(),
            "prefix",
            "must be a path such as \"/auth\"".into(),
        );
    }
    if service.issuer.get_ref().is_empty() {
        problem(service.issuer.span(), "issuer", "must not be empty".into());
    }
    if config.issuers.contains_key(&service.name) {
        problem(
            spanned.span(),
            "name",
            format!("{:?} is also an [issuers] name", service.name),
        );
    }
    let format = match service.format.get_ref().as_str() {
        "jwt" => TokenFormat::Jwt,
        "opaque" => TokenFormat::Opaque,
        other => {
            problem(
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
            problem(
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
                problem(url.span(), "store.url", "not a redis:// URL".into());
            }
            Some(StoreSettings::Redis {
                url: url.get_ref().clone(),
                prefix: store_config.key_prefix.clone(),
                timeout: store_config.timeout.get(),
            })
        }
        ("redb", _, _) => {
            problem(
                service.store.span(),
                "store",
                "kind \"redb\" needs `path` (and no `url`)".into(),
            );
            None
        }
        ("redis", _, _) => {
            problem(
                service.store.span(),
                "store",
                "kind \"redis\" needs `url` (and no `path`)".into(),
            );
            None
        }
        (other, _, _) => {
            problem(
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
            problem(
                spanned.span(),
                "keys_file",
                "is required with a redis store (every instance must sign with the same keys)"
                    .into(),
            );
            None
        }
        (None, None) => None,
    };
    let level = |text: &toml::Spanned<String>,
                 key: &str,
                 problem: &mut dyn FnMut(std::ops::Range<usize>, &str, String)| {
        Level::parse(text.get_ref()).unwrap_or_else(|| {
            problem(
                text.span(),
                key,
                format!("{:?} is not a level", text.get_ref()),
            );
            Level::Verified
        })
    };
    let mut clients = HashMap::new();
    for (id, spanned_client) in &service.clients {
        let client = spanned_client.get_ref();
        let key = format!("clients.{id}");
        let secret = hex_digest(client.secret_sha256.get_ref());
        if secret.is_none() {
            problem(
                client.secret_sha256.span(),
                &format!("{key}.secret_sha256"),
                "must be 64 hex digits (SHA-256)".into(),
            );
        }
        let mut grants = (false, false);
        for grant in &client.grants {
            match grant.get_ref().as_str() {
                "client_credentials" => grants.0 = true,
                "refresh_token" => grants.1 = true,
                "authorization_code" => {}
                other => problem(
                    grant.span(),
                    &format!("{key}.grants"),
                    format!("{other:?} is not client_credentials or refresh_token"),
                ),
            }
        }
        let client_level = level(&client.level, &format!("{key}.level"), &mut problem);
        clients.insert(
            id.clone(),
            Client {
                id: id.clone(),
                secret_sha256: secret.unwrap_or_default(),
                scopes: client.scopes.clone(),
                client_credentials: grants.0,
                refresh_token: grants.1,
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
        let secret = tenant.oauth_key_secret_sha256.as_ref().map(|s| {
            hex_digest(s.get_ref()).unwrap_or_else(|| {
                problem(
                    s.span(),
                    &format!("{key}.oauth_key_secret_sha256"),
                    "must be 64 hex digits (SHA-256)".into(),
                );
                Vec::new()
            })
        });
        let tenant_level = level(&tenant.level, &format!("{key}.level"), &mut problem);
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
        problem(
            spanned.span(),
            "default_validity_minutes",
            "must be between 1 and max_validity_minutes".into(),
        );
    }
    if problems.len() > before {
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
        default_validity_minutes: service.default_validity_minutes,
        max_validity_minutes: service.max_validity_minutes,
        cookie_name: service.cookie_name.clone(),
        clients,
        tenants,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digests_parse_only_when_whole() {
        assert_eq!(hex_digest(&"ab".repeat(32)).unwrap()[0], 0xab);
        assert!(hex_digest("abc").is_none());
        assert!(hex_digest(&"zz".repeat(32)).is_none());
    }
}
