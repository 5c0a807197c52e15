//! `[issuers.<name>]`: one table in the file, three kinds of issuer, each with its own keys.
//!
//! serde cannot read a table whose shape depends on one of its keys without losing the
//! positions of the others (an internally tagged enum buffers the table first), so the
//! issuers are read from the parsed document in two steps: `kind` first, then the rest of the
//! table as that kind's struct. A key of another kind is then an unknown key, reported at its
//! own line like any typo.

use super::duration::ConfigDuration;
use super::secret::SecretSource;
use super::{ConfigProblem, SourceMap};
use portcullis_core::principal::Level;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

/// One issuer, as its kind reads it.
#[derive(Debug, PartialEq)]
pub enum IssuerConfig {
    /// Signed JWTs, checked against keys (remote JWKS, discovery, file or inline).
    Jwt(JwtIssuerConfig),
    /// Opaque tokens, checked by an RFC 7662 introspection endpoint.
    Introspection(IntrospectionIssuerConfig),
    /// Static application keys (`Authorization: token <key>`).
    AppKeys(AppKeysIssuerConfig),
}

/// The closed set of `kind`s.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum IssuerKind {
    Jwt,
    Introspection,
    AppKeys,
}

impl IssuerKind {
    fn name(self) -> &'static str {
        match self {
            IssuerKind::Jwt => "jwt",
            IssuerKind::Introspection => "introspection",
            IssuerKind::AppKeys => "app_keys",
        }
    }
}

/// `kind = "jwt"`.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JwtIssuerConfig {
    /// The exact `iss` value.
    pub issuer: Spanned<String>,
    /// Tokens must carry at least one of these in `aud` (at least one is required).
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Fetch keys from this JWKS URL.
    pub jwks_url: Option<Spanned<String>>,
    /// Find the JWKS through OIDC discovery on `issuer`.
    #[serde(default)]
    pub discovery: bool,
    /// Keys from a JWKS file (also the fallback while a remote source has not loaded).
    pub jwks_file: Option<Spanned<String>>,
    /// Keys written in the config.
    #[serde(default)]
    pub keys: Vec<Spanned<StaticKeyConfig>>,
    #[serde(default)]
    pub profile: TokenProfileName,
    #[serde(default = "default_leeway")]
    pub leeway: ConfigDuration,
    /// Algorithm for RSA JWKs that do not name one.
    #[serde(default)]
    pub rsa_default_alg: RsaAlgorithm,
    #[serde(default = "default_refresh")]
    pub refresh_every: ConfigDuration,
    #[serde(default = "default_cooldown")]
    pub unknown_kid_cooldown: ConfigDuration,
    #[serde(default = "default_fetch_timeout")]
    pub fetch_timeout: ConfigDuration,
    /// How long past `refresh_every` the last good keys stay usable while fetches fail.
    #[serde(default = "default_max_stale")]
    pub max_stale: ConfigDuration,
    /// Read from the same table; see [`ClaimsConfig`].
    #[serde(skip)]
    pub claims: ClaimsConfig,
}

/// `kind = "introspection"`.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionIssuerConfig {
    /// The RFC 7662 endpoint.
    pub introspection_url: Spanned<String>,
    /// Our client credentials at the endpoint (RFC 7662 §2.1: endpoints authenticate callers).
    pub client_id: Spanned<String>,
    pub client_secret: Spanned<SecretSource>,
    /// When set, answers must name this `iss`.
    pub issuer: Option<Spanned<String>>,
    /// When set, answers must name one of these in `aud`.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Longest wait for an answer (503 after).
    #[serde(default = "default_introspection_timeout")]
    pub timeout: ConfigDuration,
    /// How long an active answer is reused (never past `exp`).
    #[serde(default = "default_introspection_ttl")]
    pub cache_ttl: ConfigDuration,
    /// How long an inactive answer is reused.
    #[serde(default = "default_negative_ttl")]
    pub negative_cache_ttl: ConfigDuration,
    #[serde(default = "default_leeway")]
    pub leeway: ConfigDuration,
    /// Read from the same table; see [`ClaimsConfig`].
    #[serde(skip)]
    pub claims: ClaimsConfig,
}

/// `kind = "app_keys"`.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppKeysIssuerConfig {
    /// The keys, inline.
    #[serde(default)]
    pub app_keys: Vec<Spanned<AppKeyConfig>>,
    /// A TOML file with `[[app_keys]]` entries.
    pub app_keys_file: Option<Spanned<String>>,
}

/// How a token's claims (or an introspection answer's members) become scopes, a level and a
/// tenant: the keys `jwt` and `introspection` issuers share.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClaimsConfig {
    /// Claims holding scopes, tried in order.
    #[serde(default = "default_scope_claims")]
    pub scope_claims: Vec<String>,
    pub level_claim: Option<String>,
    /// Claim value → level, e.g. `{ "urn:acr:2fa" = "verified" }`.
    #[serde(default)]
    pub level_values: BTreeMap<String, Level>,
    /// Level of tokens without the level claim.
    #[serde(default = "default_level")]
    pub default_level: Level,
    pub tenant_claim: Option<String>,
}

impl ClaimsConfig {
    const KEYS: [&'static str; 5] = [
        "scope_claims",
        "level_claim",
        "level_values",
        "default_level",
        "tenant_claim",
    ];
}

impl Default for ClaimsConfig {
    fn default() -> Self {
        Self {
            scope_claims: default_scope_claims(),
            level_claim: None,
            level_values: BTreeMap::new(),
            default_level: default_level(),
            tenant_claim: None,
        }
    }
}

/// `profile`: which token profile an issuer's access tokens follow.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenProfileName {
    /// RFC 9068: `typ` must be `at+jwt`.
    #[default]
    #[serde(rename = "at+jwt")]
    AtJwt,
    /// Plain JWTs of issuers older than RFC 9068.
    #[serde(rename = "legacy")]
    Legacy,
}

/// `rsa_default_alg`: the RSA algorithms a JWK without `alg` may be used with.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
pub enum RsaAlgorithm {
    #[default]
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
}

impl RsaAlgorithm {
    pub fn algorithm(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm;
        match self {
            RsaAlgorithm::RS256 => Algorithm::RS256,
            RsaAlgorithm::RS384 => Algorithm::RS384,
            RsaAlgorithm::RS512 => Algorithm::RS512,
            RsaAlgorithm::PS256 => Algorithm::PS256,
            RsaAlgorithm::PS384 => Algorithm::PS384,
            RsaAlgorithm::PS512 => Algorithm::PS512,
        }
    }
}

/// A key written in the config: a PEM public key (inline or file) or an HMAC secret.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StaticKeyConfig {
    pub kid: Option<String>,
    pub alg: jsonwebtoken::Algorithm,
    pub pem: Option<String>,
    pub pem_file: Option<String>,
    /// An HMAC secret: inline, `{ env = … }` or `{ file = … }`.
    pub secret: Option<SecretSource>,
}

/// One application key: who holds it and what it may do. Give the key as its SHA-256 digest
/// (`sha256 = "hex"`) or, for development, as `key` (refused if weak).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppKeyConfig {
    /// The client name (becomes the subject).
    pub client: String,
    pub sha256: Option<String>,
    pub key: Option<SecretSource>,
    pub tenant: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default = "default_app_key_level")]
    pub level: Level,
}

/// The file named by `app_keys_file`.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppKeysFile {
    #[serde(default)]
    pub app_keys: Vec<Spanned<AppKeyConfig>>,
}

/// The issuers read, by name.
pub type Issuers = BTreeMap<String, Spanned<IssuerConfig>>;

/// Reads the document's `issuers` table: the good issuers, the names of the broken ones, and
/// one problem per broken one — all of them at once.
pub(super) fn read_issuers(
    value: Spanned<DeValue<'_>>,
    map: &SourceMap,
) -> (Issuers, BTreeSet<String>, Vec<ConfigProblem>) {
    let span = value.span();
    let DeValue::Table(tables) = value.into_inner() else {
        let problem = map.problem(
            &span,
            "issuers",
            "must be a table of [issuers.<name>] tables",
        );
        return (Issuers::new(), BTreeSet::new(), vec![problem]);
    };
    let mut issuers = Issuers::new();
    let mut broken = BTreeSet::new();
    let mut problems = Vec::new();
    for (name, table) in tables {
        let name = name.into_inner().into_owned();
        match read_issuer(&name, table, map) {
            Ok(issuer) => {
                issuers.insert(name, issuer);
            }
            Err(problem) => {
                problems.push(problem);
                broken.insert(name);
            }
        }
    }
    (issuers, broken, problems)
}

fn read_issuer(
    name: &str,
    value: Spanned<DeValue<'_>>,
    map: &SourceMap,
) -> Result<Spanned<IssuerConfig>, ConfigProblem> {
    let span = value.span();
    let key = format!("issuers.{name}");
    let DeValue::Table(mut table) = value.into_inner() else {
        return Err(map.problem(&span, key, "must be a table"));
    };
    let Some(kind) = table.remove("kind") else {
        return Err(map.problem(
            &span,
            format!("{key}.kind"),
            "is required: jwt, introspection or app_keys",
        ));
    };
    let kind: IssuerKind = read(kind, &key, map)?;
    let claims = match kind {
        IssuerKind::AppKeys => None,
        _ => Some(take_keys(&mut table, &ClaimsConfig::KEYS, span.clone())),
    };
    let rest = Spanned::new(span.clone(), DeValue::Table(table));
    let of_kind = |problem: ConfigProblem| foreign_key(problem, &key, kind);
    let issuer = match kind {
        IssuerKind::Jwt => IssuerConfig::Jwt(JwtIssuerConfig {
            claims: read(claims.expect("jwt reads claims"), &key, map)?,
            ..read(rest, &key, map).map_err(of_kind)?
        }),
        IssuerKind::Introspection => IssuerConfig::Introspection(IntrospectionIssuerConfig {
            claims: read(claims.expect("introspection reads claims"), &key, map)?,
            ..read(rest, &key, map).map_err(of_kind)?
        }),
        IssuerKind::AppKeys => IssuerConfig::AppKeys(read(rest, &key, map).map_err(of_kind)?),
    };
    Ok(Spanned::new(span, issuer))
}

/// Moves `keys` out of `table` into a table of their own (at `span`, the issuer's).
fn take_keys<'i>(
    table: &mut DeTable<'i>,
    keys: &[&str],
    span: std::ops::Range<usize>,
) -> Spanned<DeValue<'i>> {
    let mut taken = DeTable::new();
    for key in keys {
        if let Some((k, v)) = table.remove_entry(*key) {
            taken.insert(k, v);
        }
    }
    Spanned::new(span, DeValue::Table(taken))
}

/// Deserializes one value of the issuer's table; a problem names the line serde found and
/// the key there (the issuer's own key, `table_key`, where the text names none).
fn read<'i, T: Deserialize<'i>>(
    value: Spanned<DeValue<'i>>,
    table_key: &str,
    map: &SourceMap,
) -> Result<T, ConfigProblem> {
    let whole = value.span();
    T::deserialize(ValueDeserializer::from(value)).map_err(|e| {
        let span = e.span().unwrap_or(whole);
        let key = map.key_path(&span);
        let key = if key.starts_with(table_key) {
            key
        } else {
            table_key.to_string()
        };
        map.problem(&span, key, e.message().trim())
    })
}

/// An unknown key in an issuer's table most likely belongs to another kind: say so, at the
/// key's own line and under its own name.
fn foreign_key(problem: ConfigProblem, key: &str, kind: IssuerKind) -> ConfigProblem {
    let Some(field) = problem
        .message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
    else {
        return problem;
    };
    ConfigProblem {
        key: format!("{key}.{field}"),
        message: format!("not a key of a {:?} issuer", kind.name()),
        ..problem
    }
}

fn default_leeway() -> ConfigDuration {
    ConfigDuration::from_secs(60)
}
fn default_refresh() -> ConfigDuration {
    ConfigDuration::from_secs(600)
}
fn default_cooldown() -> ConfigDuration {
    ConfigDuration::from_secs(30)
}
fn default_fetch_timeout() -> ConfigDuration {
    ConfigDuration::from_secs(5)
}
fn default_max_stale() -> ConfigDuration {
    ConfigDuration::from_secs(24 * 3600)
}
fn default_scope_claims() -> Vec<String> {
    vec!["scope".into(), "scp".into()]
}
fn default_level() -> Level {
    Level::Verified
}
fn default_app_key_level() -> Level {
    Level::Anonymous
}
fn default_introspection_timeout() -> ConfigDuration {
    ConfigDuration::from_secs(2)
}
fn default_introspection_ttl() -> ConfigDuration {
    ConfigDuration::from_secs(60)
}
fn default_negative_ttl() -> ConfigDuration {
    ConfigDuration::from_secs(5)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuers(text: &str) -> Result<Issuers, Vec<ConfigProblem>> {
        let map = SourceMap::new(text);
        let mut document = DeTable::parse(text).expect("valid TOML").into_inner();
        let value = document.remove("issuers").expect("an [issuers] table");
        match read_issuers(value, &map) {
            (issuers, broken, problems) if problems.is_empty() => {
                assert!(broken.is_empty());
                Ok(issuers)
            }
            (_, broken, problems) => {
                assert_eq!(broken.len(), problems.len());
                Err(problems)
            }
        }
    }

    #[test]
    fn each_kind_reads_its_own_keys_and_the_shared_claims() {
        let read = issuers(
            "[issuers.idp]\nkind = \"jwt\"\nissuer = \"https://idp\"\naudiences = [\"api\"]\n\
             jwks_url = \"https://idp/jwks\"\nprofile = \"legacy\"\ndefault_level = \"identified\"\n\
             [issuers.apps]\nkind = \"app_keys\"\napp_keys = []\n",
        )
        .unwrap();
        let IssuerConfig::Jwt(jwt) = read["idp"].get_ref() else {
            panic!("idp is a jwt issuer: {:?}", read["idp"]);
        };
        assert_eq!(jwt.profile, TokenProfileName::Legacy);
        assert_eq!(jwt.claims.default_level, Level::Identified);
        assert_eq!(jwt.claims.scope_claims, ["scope", "scp"]);
        assert!(matches!(read["apps"].get_ref(), IssuerConfig::AppKeys(_)));
    }

    #[test]
    fn a_key_of_another_kind_is_named_at_its_line() {
        let problems = issuers(
            "[issuers.a]\nkind = \"app_keys\"\ntenant_claim = \"t\"\n\
             [issuers.b]\nkind = \"introspection\"\nintrospection_url = \"https://x\"\n\
             client_id = \"gw\"\nclient_secret = \"s\"\njwks_file = \"k.json\"\n",
        )
        .unwrap_err();
        let seen: Vec<(&str, usize, &str)> = problems
            .iter()
            .map(|p| (p.key.as_str(), p.line, p.message.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "issuers.a.tenant_claim",
                    3,
                    "not a key of a \"app_keys\" issuer"
                ),
                (
                    "issuers.b.jwks_file",
                    9,
                    "not a key of a \"introspection\" issuer"
                ),
            ]
        );
    }

    #[test]
    fn closed_sets_are_refused_at_the_value() {
        let problems = issuers(
            "[issuers.a]\nkind = \"saml\"\n[issuers.b]\nkind = \"jwt\"\nissuer = \"i\"\n\
             rsa_default_alg = \"ES256\"\n[issuers.c]\nkind = \"jwt\"\nissuer = \"i\"\n\
             level_values = { gold = \"platinum\" }\n[issuers.d]\nissuer = \"i\"\n",
        )
        .unwrap_err();
        let seen: Vec<(&str, usize)> = problems.iter().map(|p| (p.key.as_str(), p.line)).collect();
        assert_eq!(
            seen,
            [
                ("issuers.a.kind", 2),
                ("issuers.b.rsa_default_alg", 6),
                ("issuers.c.level_values", 10),
                ("issuers.d.kind", 11)
            ]
        );
        assert!(
            problems[0].message.contains("unknown variant"),
            "{problems:?}"
        );
        assert!(problems[2].message.contains("platinum"), "{problems:?}");
    }

    #[test]
    fn required_keys_of_a_kind_are_required() {
        let problems =
            issuers("[issuers.i]\nkind = \"introspection\"\nclient_id = \"gw\"\n").unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].message.contains("introspection_url"),
            "{problems:?}"
        );
    }
}
