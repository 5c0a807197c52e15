//! Identity an upstream can verify: a short-lived JWT the gateway signs with the token
//! service's key ring for one upstream (`aud`), carrying who the caller is — instead of
//! `X-Auth-*` headers that an upstream must trust blindly (anyone who reaches it directly can
//! set them). The upstream checks it against the gateway's JWKS.
//!
//! Its `typ` is `JWT`, never `at+jwt`: presented to the gateway as a bearer token it is refused
//! (the built-in issuer takes access tokens only), and its `aud` is an upstream, not the API.
//! Assertions are cached per identity and audience and re-minted when half their life is
//! gone, so a busy caller costs a cache lookup, not a signature, per request.

use super::{random_id, TokenService};
use http::HeaderValue;
use moka::sync::Cache;
use portcullis_core::principal::{now_unix, Identity};
use serde::Serialize;

/// The claims of an identity assertion.
#[derive(Debug, Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    level: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<&'a str>,
    /// The issuer (by config name) that vouched for the caller.
    orig_iss: &'a str,
    iat: u64,
    exp: u64,
    jti: String,
}

/// Minted assertions by identity and audience.
pub struct Assertions {
    /// Kept as header values: a cached assertion costs a reference count, not a copy.
    cache: Cache<String, (HeaderValue, u64)>,
}

impl Default for Assertions {
    fn default() -> Self {
        Self {
            cache: Cache::builder().max_capacity(100_000).build(),
        }
    }
}

impl std::fmt::Debug for Assertions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assertions")
            .field("cached", &self.cache.entry_count())
            .finish()
    }
}

impl Assertions {
    /// The assertion of `identity` for `audience`, valid `ttl` seconds from when it was minted
    /// (a cached one is reused while more than half of its life is left).
    pub fn for_identity(
        &self,
        service: &TokenService,
        identity: &Identity,
        audience: &str,
        ttl: u64,
    ) -> HeaderValue {
        let now = now_unix();
        let key = cache_key(identity, audience);
        if let Some((token, exp)) = self.cache.get(&key) {
            if exp > now + ttl / 2 {
                return token;
            }
        }
        let claims = Claims {
            iss: &service.settings.issuer,
            aud: audience,
            sub: &identity.subject,
            level: identity.level.as_str(),
            scope: identity.scopes.join(" "),
            tenant: identity.tenant.as_deref(),
            orig_iss: &identity.issuer,
            iat: now,
            exp: now + ttl,
            jti: random_id(12),
        };
        let token = service.keys.current().current.mint_typed(&claims, "JWT");
        let token = HeaderValue::try_from(token).expect("a JWT is a valid header value");
        self.cache.insert(key, (token.clone(), claims.exp));
        token
    }
}

/// Everything an assertion says, so that a changed identity (an update of its scopes, a new
/// level) gets a new assertion.
fn cache_key(identity: &Identity, audience: &str) -> String {
    let mut key = String::with_capacity(96);
    for part in [
        audience,
        &identity.issuer,
        &identity.subject,
        identity.level.as_str(),
        identity.tenant.as_deref().unwrap_or(""),
    ] {
        key.push_str(part);
        key.push('\u{0}');
    }
    for scope in &identity.scopes {
        key.push_str(scope);
        key.push(' ');
    }
    key
}
