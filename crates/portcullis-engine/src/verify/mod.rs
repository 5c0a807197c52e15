//! Verification: a credential in, an [`Identity`] (or why not) out.
//!
//! Results are cached in `moka`, keyed by SHA-256 of the validator kind and the exact token
//! bytes (SECURITY.md LG-5, fast-jwt GHSA-rp9m-7r4c-75qg: never a truncated or custom key),
//! and never kept past the token's `exp`. Only the *verification* is cached: time validity,
//! the issuer allowed on the route, audience, level and scopes are checked on every request
//! (Oathkeeper CVE-2021-32701, lua-resty-openidc #569).

pub mod appkeys;
pub mod builtin;
pub mod claims;
mod front;
pub mod introspect;
pub mod jose;
pub mod jwks;
pub mod jwt;
pub mod keys;

use crate::metrics::VerificationTimer;
use appkeys::AppKeys;
use builtin::BuiltinIssuer;
use front::Cached;
use introspect::Introspector;
use jwt::{JwtIssuer, KeySource};
use portcullis_core::credential::{Carrier, Credential};
use portcullis_core::principal::Caller;
use portcullis_core::problem::TokenProblem;
// The synchronous cache: a hit is a plain lookup, without the future cache's async locks.
use moka::sync::Cache;
use moka::Expiry;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why verification did not produce an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// The credential is not good: 401 `invalid_token`.
    Token(TokenProblem),
    /// Whoever could tell was not reachable: 503, never 401 (SECURITY.md ER-7).
    Unavailable,
}

impl From<TokenProblem> for VerifyError {
    fn from(p: TokenProblem) -> Self {
        VerifyError::Token(p)
    }
}

/// A verified identity and whether it came from the cache.
#[derive(Debug, Clone)]
pub struct Verified {
    pub identity: Arc<Caller>,
    pub cache_hit: bool,
}

/// Cache entries live until the credential's `exp`, and at most `max_ttl`.
struct UntilExpiry {
    max_ttl: Duration,
}

impl Expiry<[u8; 32], Cached> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        cached: &Cached,
        _created_at: Instant,
    ) -> Option<Duration> {
        let ttl = match cached.identity.expires_at {
            Some(exp) => {
                Duration::from_secs(exp.saturating_sub(portcullis_core::principal::now_unix()))
            }
            None => self.max_ttl,
        };
        Some(ttl.min(self.max_ttl))
    }
}

/// Cache sizing.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    pub max_entries: u64,
    pub max_ttl: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            max_entries: 100_000,
            max_ttl: Duration::from_secs(300),
        }
    }
}

/// All issuers of a snapshot, and the cache of their results.
pub struct Verifier {
    jwt: Vec<Arc<JwtIssuer>>,
    introspectors: Vec<Arc<Introspector>>,
    app_keys: Vec<Arc<AppKeys>>,
    builtin: Option<Arc<dyn BuiltinIssuer>>,
    cache: Cache<[u8; 32], Cached>,
    /// The cache's `max_ttl` in whole seconds, for the entries' `until`.
    max_ttl_secs: u64,
    /// This verifier's copies of cache entries on each thread (`front`).
    front: front::Owner,
    /// Each issuer's verification-time histograms, resolved once.
    timers: Vec<(Arc<str>, VerificationTimer)>,
    unknown_timer: VerificationTimer,
}

/// The issuers of each kind.
#[derive(Default)]
pub struct Issuers {
    pub jwt: Vec<Arc<JwtIssuer>>,
    pub introspectors: Vec<Arc<Introspector>>,
    pub app_keys: Vec<Arc<AppKeys>>,
    /// The built-in token service (its JWT issuer is also in `jwt`).
    pub builtin: Option<Arc<dyn BuiltinIssuer>>,
}

/// A compact JWS has three base64url segments; opaque tokens and keys rarely do.
pub fn looks_like_jws(token: &str) -> bool {
    // Counted in bytes per 64-byte chunk: a count in `usize` per byte compiled to a loop of
    // four bytes a turn, a quarter of a cached verification's own time.
    let dots: usize = token
        .as_bytes()
        .chunks(64)
        .map(|chunk| chunk.iter().map(|&b| u8::from(b == b'.')).sum::<u8>() as usize)
        .sum();
    dots == 2 && token.starts_with("eyJ")
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("jwt", &self.jwt).finish()
    }
}

/// SHA-256(validator kind ‖ 0x00 ‖ token).
pub fn cache_key(validator: &str, token: &str) -> [u8; 32] {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    context.update(validator.as_bytes());
    context.update(&[0]);
    context.update(token.as_bytes());
    let digest = context.finish();
    let mut key = [0u8; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

/// The key of the verifier's cache, which holds JWT verifications only: the token's SHA-256,
/// in one call (a multi-part digest, as in [`cache_key`], allocates its state and runs a
/// `pthread_once` each time: a third of the hashing time for a token of a few hundred bytes).
fn jwt_cache_key(token: &str) -> [u8; 32] {
    portcullis_core::digest::digest(token)
}

impl Verifier {
    pub fn new(issuers: Issuers, cache: CacheSettings) -> Self {
        let timers = issuers
            .jwt
            .iter()
            .map(|i| i.name.clone())
            .chain(issuers.introspectors.iter().map(|i| i.name.clone()))
            .chain(issuers.app_keys.iter().map(|k| k.name.clone()))
            .map(|name| {
                let timer = VerificationTimer::new(&name);
                (name, timer)
            })
            .collect();
        Self {
            timers,
            unknown_timer: VerificationTimer::new("unknown"),
            jwt: issuers.jwt,
            introspectors: issuers.introspectors,
            app_keys: issuers.app_keys,
            builtin: issuers.builtin,
            max_ttl_secs: cache.max_ttl.as_secs(),
            front: front::Owner::new(),
            cache: Cache::builder()
                .max_capacity(cache.max_entries)
                .expire_after(UntilExpiry {
                    max_ttl: cache.max_ttl,
                })
                .support_invalidation_closures()
                .build(),
        }
    }

    /// After a reload: keeps what the running verifier learned for issuers whose config did not
    /// change — fetched JWKS (and their refresh state), introspection clients and answers, and,
    /// when the cache settings are the same, the cached verifications of those issuers.
    pub fn carry_over(
        &mut self,
        previous: &Verifier,
        unchanged: &dyn Fn(&str) -> bool,
        same_cache: bool,
    ) {
        for issuer in &mut self.jwt {
            let old = previous.jwt.iter().find(|o| o.name == issuer.name);
            if let Some(old) = old.filter(|o| unchanged(&o.name)) {
                if matches!(old.keys, KeySource::Remote(_)) {
                    *issuer = old.clone();
                }
            }
        }
        for introspector in &mut self.introspectors {
            let old = previous
                .introspectors
                .iter()
                .find(|o| o.name == introspector.name);
            if let Some(old) = old.filter(|o| unchanged(&o.name)) {
                *introspector = old.clone();
            }
        }
        if same_cache {
            self.cache = previous.cache.clone();
            let kept: Vec<Arc<str>> = self
                .jwt
                .iter()
                .map(|i| i.name.clone())
                .chain(self.introspectors.iter().map(|i| i.name.clone()))
                .chain(self.app_keys.iter().map(|k| k.name.clone()))
                .filter(|name| unchanged(name))
                .collect();
            // Entries of changed or removed issuers were decided under rules that no longer hold.
            let _ = self
                .cache
                .invalidate_entries_if(move |_, cached| !kept.contains(&cached.identity.issuer));
        }
    }

    pub fn jwt_issuers(&self) -> &[Arc<JwtIssuer>] {
        &self.jwt
    }

    /// Remote key sources, for the background refresher.
    /// The remote key sources with the name of the issuer each belongs to.
    pub fn remote_key_sources(&self) -> impl Iterator<Item = (&str, &Arc<jwks::RemoteJwks>)> {
        self.jwt.iter().filter_map(|issuer| match &issuer.keys {
            KeySource::Remote(remote) => Some((&*issuer.name, remote)),
            KeySource::Static(_) | KeySource::Local(_) => None,
        })
    }

    fn timer(&self, issuer: &str) -> &VerificationTimer {
        self.timers
            .iter()
            .find(|(name, _)| &**name == issuer)
            .map_or(&self.unknown_timer, |(_, timer)| timer)
    }

    /// How many verifications the cache holds (approximate, for metrics).
    pub fn cached_entries(&self) -> u64 {
        self.cache.entry_count()
    }

    pub fn is_ready(&self) -> bool {
        self.jwt.iter().all(|issuer| issuer.is_ready())
    }

    /// Verifies `credential` with one of the issuers in `allowed` (all when empty): application
    /// keys for the `token` scheme; JWT issuers for JWS-shaped tokens; otherwise application
    /// keys, then introspection.
    pub async fn verify(
        &self,
        credential: &Credential,
        allowed: &[Arc<str>],
        now: u64,
    ) -> Result<Verified, VerifyError> {
        let started = std::time::Instant::now();
        let result = self.verify_untimed(credential, allowed, now).await;
        let timer = match &result {
            Ok(verified) => self.timer(&verified.identity.issuer),
            Err(_) => &self.unknown_timer,
        };
        timer.record(result.is_ok(), started.elapsed());
        result
    }

    /// Lookups that may wait on I/O (a store, introspection, a key fetch on a cache miss) are
    /// boxed: their futures are large, and unboxed they would size the future of every request,
    /// the cached JWT's included.
    async fn verify_untimed(
        &self,
        credential: &Credential,
        allowed: &[Arc<str>],
        now: u64,
    ) -> Result<Verified, VerifyError> {
        let token = credential.secret.expose();
        let is_allowed = |name: &str| allowed.is_empty() || allowed.iter().any(|a| &**a == name);
        let jwt_allowed = self.jwt.iter().any(|i| is_allowed(&i.name));
        if credential.carrier != Carrier::TokenScheme && jwt_allowed && looks_like_jws(token) {
            let mut verified = self.verify_jwt(token, &is_allowed, now).await?;
            if let Some(service) = &self.builtin {
                // The signature may come from the cache; the token's record never does.
                if *verified.identity.issuer == *service.name() {
                    let current = Box::pin(service.current_identity(&verified.identity));
                    verified.identity = current.await?;
                }
            }
            return Ok(verified);
        }
        if let Some(service) = self.builtin.as_ref().filter(|s| {
            s.issues_opaque_tokens()
                && credential.carrier != Carrier::TokenScheme
                && is_allowed(s.name())
        }) {
            match Box::pin(service.opaque_identity(token)).await {
                Ok(identity) => {
                    return Ok(Verified {
                        identity,
                        cache_hit: false,
                    })
                }
                // Not ours: other issuers may know it.
                Err(VerifyError::Token(TokenProblem::Inactive)) => {}
                Err(e) => return Err(e),
            }
        }
        for keys in self.app_keys.iter().filter(|k| is_allowed(&k.name)) {
            if let Some(identity) = keys.lookup(token) {
                return Ok(Verified {
                    identity,
                    cache_hit: false,
                });
            }
        }
        if credential.carrier != Carrier::TokenScheme {
            if let Some(introspector) = self.introspectors.iter().find(|i| is_allowed(&i.name)) {
                let (identity, cache_hit) = Box::pin(introspector.verify(token, now)).await?;
                return Ok(Verified {
                    identity,
                    cache_hit,
                });
            }
        }
        Err(TokenProblem::UnknownIssuer.into())
    }

    /// The shared cache's verification of `token` under `key`, copied for the thread's next
    /// request with the same token.
    fn shared_cached(&self, token: &str, key: &[u8; 32]) -> Option<Arc<Caller>> {
        let cached = self.cache.get(key)?;
        let identity = cached.identity.clone();
        self.front.keep(token, cached);
        Some(identity)
    }

    async fn verify_jwt(
        &self,
        token: &str,
        is_allowed: &impl Fn(&str) -> bool,
        now: u64,
    ) -> Result<Verified, VerifyError> {
        // This thread's copy first: found by the token itself, without hashing all of it.
        if let Some(identity) = self.front.get(token, now) {
            return cached_verification(identity, is_allowed, now);
        }
        let key = jwt_cache_key(token);
        if let Some(identity) = self.shared_cached(token, &key) {
            return cached_verification(identity, is_allowed, now);
        }
        crate::metrics::JWT_CACHE.record(false);
        let jws = jose::parse_compact(token)?;
        let issuer = match claims::string_claim(&jws.claims, "iss")? {
            Some(iss) => self
                .jwt
                .iter()
                .find(|i| i.issuer == iss && is_allowed(&i.name))
                .ok_or(TokenProblem::UnknownIssuer)?,
            None => return Err(TokenProblem::MissingClaim.into()),
        };
        // Boxed, as in `verify_untimed`: a miss may fetch keys.
        let identity = Arc::new(Caller::from(Box::pin(issuer.verify(&jws, now)).await?));
        self.cache.insert(
            key,
            Cached {
                identity: identity.clone(),
                since: now,
                until: now.saturating_add(self.max_ttl_secs),
            },
        );
        Ok(Verified {
            identity,
            cache_hit: false,
        })
    }
}

/// A cached verification, as a request may use it: from an allowed issuer, and current at
/// `now` (its `exp` and `nbf` are checked on every request, the signature only once).
fn cached_verification(
    identity: Arc<Caller>,
    is_allowed: &impl Fn(&str) -> bool,
    now: u64,
) -> Result<Verified, VerifyError> {
    crate::metrics::JWT_CACHE.record(true);
    if !is_allowed(&identity.issuer) {
        return Err(TokenProblem::UnknownIssuer.into());
    }
    identity.is_current(now)?;
    Ok(Verified {
        identity,
        cache_hit: true,
    })
}

/// The signature layer alone: is `token` a compact JWS signed by a key of `keys`, with that
/// key's algorithm? (Claims are not looked at; the Wycheproof vectors test this layer.)
pub fn verify_jws_signature(token: &str, keys: &keys::KeySet) -> Result<(), TokenProblem> {
    let (header, signing_input, signature) = jose::parse_signature_parts(token)?;
    keys.verify(
        header.kid.as_deref(),
        header.alg,
        signing_input.as_bytes(),
        signature,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_separate_validators_and_never_collide_on_affixes() {
        let a = cache_key("jwt", "abc");
        assert_ne!(a, cache_key("introspection", "abc"));
        assert_ne!(a, cache_key("jwt", "abcd"));
        assert_ne!(a, cache_key("jw", "tabc"));
        assert_ne!(cache_key("jwt", "x"), cache_key("jwt\0x", ""));
        assert_eq!(a, cache_key("jwt", "abc"));
    }

    #[test]
    fn jws_shape_counts_dots_across_chunk_edges() {
        assert!(looks_like_jws("eyJa.b.c"));
        assert!(!looks_like_jws("eyJa.b"));
        assert!(!looks_like_jws("eyJa.b.c.d"));
        assert!(!looks_like_jws("abc.b.c"));
        for first in 3..200 {
            for second in first + 1..200 {
                let mut token = vec![b'a'; 200];
                token[..3].copy_from_slice(b"eyJ");
                token[first] = b'.';
                token[second] = b'.';
                let token = String::from_utf8(token).unwrap();
                assert!(looks_like_jws(&token), "dots at {first}, {second}");
                assert!(
                    !looks_like_jws(&format!("{token}.")),
                    "dots at {first}, {second}, end"
                );
            }
        }
    }

    #[test]
    fn the_jwt_cache_key_is_the_full_sha256_of_the_token() {
        // FIPS 180-2 test vector: SHA-256("abc").
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let hex: String = jwt_cache_key("abc")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, expected);
        assert_ne!(jwt_cache_key("abc"), jwt_cache_key("abcd"));
    }
}
