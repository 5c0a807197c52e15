//! The built-in token service: the gateway as an issuer for APIs that have no identity provider.
//!
//! Tokens are JWTs signed by [`keyring`] keys (or opaque random strings) and every one has a
//! record in the [`store`] under the SHA-256 of its `jti` (or of the opaque token). The record is
//! read on every request — after the cached signature check — so that scope updates, level
//! changes and revocations take effect on the next request, through every cache, on every
//! instance that shares the store. A JWT without a record (minted by `portcullis token mint`)
//! stands on its claims until revoked.

pub mod answers;
pub mod assertion;
pub mod authorize;
pub mod browser;
pub mod code_grant;
pub mod cookies;
pub mod device_grant;
pub mod email;
pub mod endpoints;
pub mod error;
pub mod grant;
pub mod issue_limit;
pub mod keyring;
pub mod login_limit;
pub mod metrics;
pub mod pages;
pub mod paths;
pub mod pkce;
pub mod private_file;
pub mod records;
pub mod redb_store;
pub mod redis_store;
pub mod request;
pub mod settings;
pub mod sign_in;
pub mod store;
pub mod upstream_oidc;
pub mod users;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
pub use error::OpenError;
use keyring::KeyRing;
use portcullis_core::digest::digest_hex as digest;
use portcullis_core::principal::{now_unix, Caller, Identity, Level};
use portcullis_core::problem::TokenProblem;
use portcullis_engine::verify::claims::{numeric_date, string_claim, ClaimMapping};
use portcullis_engine::verify::VerifyError;
use records::*;
use serde_json::json;
pub use settings::{Settings, TokenFormat};
use std::sync::Arc;
use store::{Records, Space, Store, StoreError};

/// 128 random bits or more, base64url: ids, jtis, opaque tokens.
pub fn random_id(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::Rng::fill(&mut rand::thread_rng(), buffer.as_mut_slice());
    URL_SAFE_NO_PAD.encode(buffer)
}

/// An opaque token: 61 letters and digits (~357 random bits), the shape of the tokens of
/// the token APIs it stands in for (Algonomy's documented example is 61 alphanumerics), and
/// safe in a header, a query and a cookie alike.
pub fn opaque_token() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 61)
}

/// A token just issued.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub expires_in: u64,
    pub record: TokenRecord,
    /// Where its record lives in the store.
    pub key: String,
}

/// A token of ours found from its text: where its record lives and what it says.
#[derive(Debug, Clone)]
pub struct Found {
    pub key: String,
    pub record: TokenRecord,
}

/// What [`TokenService::revoke`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// A refresh token: its grant, and every access token issued from it.
    Grant,
    Access,
    /// Not a token of ours.
    Unknown,
    /// Ours, but `may_revoke` said no.
    NotAllowed,
}

/// Why a token-service operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceError {
    /// Not a live token of ours.
    Invalid(TokenProblem),
    /// `identify` on a token that already stands for an identity (or claimed another).
    AlreadyIdentified,
    /// Too many device tokens for one client address; try again after this long.
    Limited(std::time::Duration),
    Store(StoreError),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        ServiceError::Store(e)
    }
}

pub struct TokenService {
    pub settings: Settings,
    store: Arc<dyn Store>,
    pub keys: Arc<KeyRing>,
    /// Browser sign-in, when configured.
    pub sign_in: Option<sign_in::SignIn>,
    /// Device tokens per client address, when limited.
    device_limit: Option<issue_limit::IssueLimiter>,
    /// The SMTP relay for e-mail verification codes, when configured.
    mailer: Option<email::Mailer>,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("name", &self.settings.name)
            .field("store", &self.store.describe())
            .finish()
    }
}

impl TokenService {
    /// Opens the store and the key ring (creating or rotating the signing key when due).
    pub fn open(settings: Settings) -> Result<TokenService, OpenError> {
        let store = settings.open_store()?;
        let keys = KeyRing::open(
            &settings.keys_file,
            settings.algorithm,
            settings.rotate_after,
            settings.longest_token_life(),
        )?;
        let sign_in = settings
            .sign_in
            .as_ref()
            .map(sign_in::SignIn::open)
            .transpose()?;
        let device_limit = settings
            .device_token_limit
            .map(|(max, window)| issue_limit::IssueLimiter::new(max, window, 100_000));
        let mailer = settings
            .email
            .clone()
            .map(email::Mailer::new)
            .transpose()
            .map_err(OpenError::Mail)?;
        Ok(TokenService {
            settings,
            store,
            keys: Arc::new(keys),
            sign_in,
            device_limit,
            mailer,
        })
    }

    fn records(&self) -> Records<'_> {
        Records(self.store.as_ref())
    }

    /// A blocking task that re-reads the key file (another instance may have rotated) and
    /// rotates when due; for the maintenance service.
    pub fn key_rotation_task(&self) -> impl FnOnce() -> Result<bool, OpenError> + Send + 'static {
        let keys = self.keys.clone();
        let (rotate_after, retire_after) = (
            self.settings.rotate_after,
            self.settings.longest_token_life(),
        );
        move || keys.rotate_if_due(rotate_after, retire_after, now_unix())
    }

    /// Deletes expired records where the store does not expire them by itself.
    pub async fn purge_expired(&self) -> Result<usize, StoreError> {
        self.store.purge_expired().await
    }

    /// Signs (or, for opaque tokens, draws) a token for `record` without storing anything;
    /// returns it with its store key.
    fn make_token(&self, record: &TokenRecord) -> (String, String) {
        match self.settings.format {
            TokenFormat::Jwt => {
                let jti = random_id(16);
                let token = mint_with(&self.keys.current().current, &self.settings, record, &jti);
                (token, digest(&jti))
            }
            TokenFormat::Opaque => {
                let token = opaque_token();
                let key = digest(&token);
                (token, key)
            }
        }
    }

    /// Stores a token record under `key`, expiring with the token.
    async fn put_token(&self, key: &str, record: &TokenRecord) -> Result<(), StoreError> {
        self.records()
            .put(Space::Tokens, key, record, record.expires_at)
            .await
    }

    /// Issues a token for `record` and stores its record.
    pub async fn issue(&self, record: TokenRecord) -> Result<Issued, StoreError> {
        let (token, key) = self.make_token(&record);
        self.put_token(&key, &record).await?;
        // The lifetime granted, not what is left after the store write (which may cross a
        // second boundary and answer 3599 for an hour).
        Ok(Issued {
            token,
            expires_in: record.expires_at.saturating_sub(record.issued_at),
            record,
            key,
        })
    }

    /// A new anonymous device and a token for it, for a client at `client` — unless that
    /// address has had its share ([`issue_limit`]). `tenant`: the tenant whose host it was
    /// asked on (the token is valid there only).
    pub async fn issue_device_token(
        &self,
        client: Option<std::net::IpAddr>,
        tenant: Option<String>,
    ) -> Result<Issued, ServiceError> {
        if let Some(limit) = &self.device_limit {
            if !limit.admit(client) {
                return Err(ServiceError::Limited(limit.window()));
            }
        }
        Ok(self.new_device_token(tenant).await?)
    }

    async fn new_device_token(&self, tenant: Option<String>) -> Result<Issued, StoreError> {
        let now = now_unix();
        let device = format!("dev_{}", random_id(16));
        let expires_at = now + self.settings.device_ttl;
        let record = DeviceRecord {
            created_at: now,
            identity: None,
        };
        self.records()
            .put(Space::Devices, &device, &record, expires_at)
            .await?;
        let token = TokenRecord {
            sub: device.clone(),
            level: Level::Anonymous,
            scopes: Vec::new(),
            tenant,
            client_id: None,
            device: Some(device),
            claimed_profile: None,
            grant: None,
            api: None,
            issued_at: now,
            expires_at,
            revoked: false,
        };
        self.issue(token).await
    }

    /// The identity a verified JWT of ours stands for now: its record, if any, decides.
    pub async fn current_identity(
        &self,
        identity: &Arc<Caller>,
    ) -> Result<Arc<Caller>, VerifyError> {
        let Some(jti) = identity.token_id.as_deref() else {
            return Err(TokenProblem::MissingClaim.into());
        };
        let stored: Option<TokenRecord> = self
            .records()
            .get(Space::Tokens, &digest(jti))
            .await
            .map_err(|_| VerifyError::Unavailable)?;
        match stored {
            None => Ok(identity.clone()),
            Some(record) if record.revoked => Err(TokenProblem::Revoked.into()),
            Some(record) => {
                let current = self.identity_of(&record, identity.token_id.clone());
                current.is_current(now_unix())?;
                Ok(Arc::new(current.into()))
            }
        }
    }

    /// The identity an opaque token of ours stands for, or why not.
    pub async fn opaque_identity(&self, token: &str) -> Result<Arc<Caller>, VerifyError> {
        let record: TokenRecord = self
            .records()
            .get(Space::Tokens, &digest(token))
            .await
            .map_err(|_| VerifyError::Unavailable)?
            .ok_or(TokenProblem::Inactive)?;
        if record.revoked {
            return Err(TokenProblem::Revoked.into());
        }
        let identity = self.identity_of(&record, None);
        identity.is_current(now_unix())?;
        Ok(Arc::new(identity.into()))
    }

    pub fn identity_of(&self, record: &TokenRecord, token_id: Option<String>) -> Identity {
        Identity {
            issuer: self.settings.name.clone(),
            subject: record.sub.clone(),
            tenant: record.tenant.clone(),
            scopes: record.scopes.clone(),
            level: record.level,
            audiences: vec![self.settings.audience.clone()],
            expires_at: Some(record.expires_at),
            not_before: None,
            leeway: 0,
            token_id,
            claimed_subject: record.claimed_profile.clone(),
        }
    }

    /// Finds a token of ours from its text, live or not (signature checked for JWTs).
    pub async fn find(&self, token: &str) -> Result<Option<Found>, StoreError> {
        let (key, from_claims) = if portcullis_engine::verify::looks_like_jws(token) {
            match self.claims_of(token) {
                Some((jti, record)) => (digest(&jti), Some(record)),
                None => return Ok(None),
            }
        } else {
            (digest(token), None)
        };
        let stored: Option<TokenRecord> = self.records().get(Space::Tokens, &key).await?;
        Ok(stored.or(from_claims).map(|record| Found { key, record }))
    }

    /// A JWT's `jti` and what its claims say, if it is signed by one of our keys and ours —
    /// expired or not (revocation and introspection look at expired tokens too).
    fn claims_of(&self, token: &str) -> Option<(String, TokenRecord)> {
        let jws = portcullis_engine::verify::jose::parse_compact(token).ok()?;
        let header = &jws.header;
        self.keys
            .current()
            .verify
            .verify(
                header.kid.as_deref(),
                header.alg,
                jws.signing_input.as_bytes(),
                jws.signature,
            )
            .ok()?;
        let claims = &jws.claims;
        if string_claim(claims, "iss").ok()?? != self.settings.issuer {
            return None;
        }
        let identity = claim_mapping()
            .identity(&self.settings.name, claims, 0)
            .ok()?;
        let record = TokenRecord {
            sub: identity.subject,
            level: identity.level,
            scopes: identity.scopes,
            tenant: identity.tenant,
            // Tokens issued to no client name the service itself (RFC 9068 requires the claim).
            client_id: string_claim(claims, "client_id")
                .ok()?
                .filter(|c| *c != &*self.settings.name)
                .map(str::to_string),
            device: None,
            claimed_profile: None,
            grant: None,
            api: None,
            issued_at: numeric_date(claims, "iat").ok()??,
            expires_at: identity.expires_at?,
            revoked: false,
        };
        Some((identity.token_id?, record))
    }

    /// Writes a changed record back, keeping its expiry.
    pub async fn save(&self, found: &Found) -> Result<(), StoreError> {
        self.put_token(&found.key, &found.record).await
    }

    /// Ends an access token (and, when it came from a grant, nothing else: RFC 7009 §2.1 leaves
    /// that to the server; refresh tokens end their grant, see [`Self::revoke_grant`]).
    pub async fn revoke_access(&self, mut found: Found) -> Result<(), StoreError> {
        found.record.revoked = true;
        self.save(&found).await
    }

    /// A live access token of ours, for the endpoints that change one.
    pub async fn live(&self, token: &str) -> Result<Found, ServiceError> {
        let found = self
            .find(token)
            .await?
            .ok_or(ServiceError::Invalid(TokenProblem::Inactive))?;
        if found.record.revoked {
            return Err(ServiceError::Invalid(TokenProblem::Revoked));
        }
        if found.record.expires_at <= now_unix() {
            return Err(ServiceError::Invalid(TokenProblem::Expired));
        }
        Ok(found)
    }

    /// Lets a live anonymous device token claim an identity (`identity_key`: `email:…` or
    /// `partner:…`) and makes it `identified`. The claim is noted, not believed: the token keeps
    /// its device subject and carries the profile as a claimed subject, so two devices that
    /// claim one e-mail stay two principals (apart for the upstream, for polling answers, for
    /// everything keyed by subject). [`Self::elevate`] turns the claim into the subject.
    ///
    /// A token claims once: the same claim again answers as before; another one is refused
    /// ([`ServiceError::AlreadyIdentified`]) — a device that wants another identity starts
    /// over with a new anonymous token. Tokens above `anonymous` without a claim (verified
    /// directly) are refused too: identify never moves a token that already stands for someone.
    pub async fn identify(&self, token: &str, identity_key: &str) -> Result<Found, ServiceError> {
        let mut found = self.live(token).await?;
        let Some(device) = found.record.device.clone() else {
            return Err(ServiceError::Invalid(TokenProblem::WrongType));
        };
        let records = self.records();
        let existing: Option<IdentityRecord> = records.get(Space::Identities, identity_key).await?;
        if let Some(claimed) = &found.record.claimed_profile {
            return match existing {
                Some(profile) if profile.id == *claimed => Ok(found),
                _ => Err(ServiceError::AlreadyIdentified),
            };
        }
        if found.record.level > Level::Anonymous {
            return Err(ServiceError::AlreadyIdentified);
        }
        let profile = match existing {
            Some(profile) => profile,
            None => {
                let profile = IdentityRecord {
                    id: format!("usr_{}", random_id(16)),
                };
                let far = now_unix() + self.settings.device_ttl.max(self.settings.refresh_ttl);
                records
                    .put(Space::Identities, identity_key, &profile, far)
                    .await?;
                profile
            }
        };
        tracing::debug!(device = %device, "a device claimed an identity");
        found.record.claimed_profile = Some(profile.id);
        found.record.level = Level::Identified;
        self.save(&found).await?;
        Ok(found)
    }

    /// Raises a live token of ours to `verified`. A device token that claimed a profile now
    /// stands for it: its subject becomes the profile, and the device is linked to it.
    pub async fn elevate(&self, token: &str) -> Result<Found, ServiceError> {
        let mut found = self.live(token).await?;
        found.record.level = Level::Verified;
        if let Some(profile) = found.record.claimed_profile.take() {
            if let Some(device) = &found.record.device {
                let far = now_unix() + self.settings.device_ttl.max(self.settings.refresh_ttl);
                let link = DeviceRecord {
                    created_at: found.record.issued_at,
                    identity: Some(profile.clone()),
                };
                self.records()
                    .put(Space::Devices, device, &link, far)
                    .await?;
            }
            found.record.sub = profile;
        }
        self.save(&found).await?;
        Ok(found)
    }

    // ---- OAuth2 grants ----

    /// Starts a grant for `client_id` and `sub`: a first refresh token. Beyond the client-user
    /// limit, the oldest grants are revoked.
    pub async fn start_grant(
        &self,
        client_id: &str,
        sub: &str,
        level: Level,
        scopes: &[String],
    ) -> Result<(String, String), StoreError> {
        let now = now_unix();
        let grant_id = random_id(16);
        let expires_at = now + self.settings.refresh_ttl;
        let records = self.records();
        let grant = GrantRecord {
            client_id: client_id.to_string(),
            sub: sub.to_string(),
            created_at: now,
            expires_at,
            revoked: false,
            access: Vec::new(),
            live_refresh: None,
        };
        records
            .put(Space::Grants, &grant_id, &grant, expires_at)
            .await?;
        // Two limits, as Exepron's: per client and user, and per user across clients.
        let per_client = format!("user:{client_id}\u{0}{sub}");
        self.keep_within(
            &per_client,
            &grant_id,
            self.settings.max_refresh_grants.max(1),
            expires_at,
        )
        .await?;
        if self.settings.max_refresh_grants_per_user > 0 {
            let per_user = format!("user-all:\u{0}{sub}");
            self.keep_within(
                &per_user,
                &grant_id,
                self.settings.max_refresh_grants_per_user,
                expires_at,
            )
            .await?;
        }
        let refresh = self
            .new_refresh(&grant_id, client_id, sub, level, scopes, expires_at)
            .await?;
        Ok((grant_id, refresh))
    }

    /// Adds `grant_id` to the list at `list_key` and revokes the oldest grants beyond `limit`.
    /// Grants that ended by themselves (revoked, expired, gone) leave the list first, so they
    /// never push out a live one.
    async fn keep_within(
        &self,
        list_key: &str,
        grant_id: &str,
        limit: usize,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        let records = self.records();
        let mut list: GrantList = records
            .get(Space::Grants, list_key)
            .await?
            .unwrap_or_default();
        let now = now_unix();
        let mut live = Vec::with_capacity(list.grants.len() + 1);
        for id in list.grants.drain(..) {
            let grant: Option<GrantRecord> = records.get(Space::Grants, &id).await?;
            if grant.is_some_and(|g| !g.revoked && g.expires_at > now) {
                live.push(id);
            }
        }
        live.push(grant_id.to_string());
        while live.len() > limit {
            let oldest = live.remove(0);
            self.revoke_grant(&oldest).await?;
        }
        list.grants = live;
        records
            .put(Space::Grants, list_key, &list, expires_at)
            .await
    }

    async fn new_refresh(
        &self,
        grant_id: &str,
        client_id: &str,
        sub: &str,
        level: Level,
        scopes: &[String],
        expires_at: u64,
    ) -> Result<String, StoreError> {
        let token = random_id(32);
        let key = digest(&token);
        let record = RefreshRecord {
            grant: grant_id.to_string(),
            client_id: client_id.to_string(),
            sub: sub.to_string(),
            level,
            scopes: scopes.to_vec(),
            expires_at,
            used: false,
        };
        self.records()
            .put(Space::Refresh, &key, &record, expires_at)
            .await?;
        self.update_grant(grant_id, |grant| grant.live_refresh = Some(key))
            .await?;
        Ok(token)
    }

    /// Changes a grant's record, if it still exists, and returns it as written.
    async fn update_grant(
        &self,
        grant_id: &str,
        change: impl FnOnce(&mut GrantRecord),
    ) -> Result<Option<GrantRecord>, StoreError> {
        self.records()
            .update(Space::Grants, grant_id, change, |grant: &GrantRecord| {
                grant.expires_at
            })
            .await
    }

    /// Notes an access token issued from a grant, so revoking the grant reaches it.
    pub async fn attach_access(&self, grant_id: &str, access_key: &str) -> Result<(), StoreError> {
        self.update_grant(grant_id, |grant| {
            grant.access.push(access_key.to_string());
            // Bounded: access tokens older than the refresh lifetime are long expired.
            if grant.access.len() > 1000 {
                grant.access.remove(0);
            }
        })
        .await
        .map(drop)
    }

    /// Ends a grant: its refresh token and every access token issued from it.
    pub async fn revoke_grant(&self, grant_id: &str) -> Result<(), StoreError> {
        let Some(grant) = self
            .update_grant(grant_id, |grant| grant.revoked = true)
            .await?
        else {
            return Ok(());
        };
        let records = self.records();
        for key in &grant.access {
            if let Some(mut record) = records.get::<TokenRecord>(Space::Tokens, key).await? {
                record.revoked = true;
                self.put_token(key, &record).await?;
            }
        }
        Ok(())
    }

    /// Redeems a refresh token: marks it used (atomically: one winner) and returns its record
    /// with a rotated successor. A token already used means it leaked: the grant is revoked.
    pub async fn redeem_refresh(
        &self,
        token: &str,
        client_id: &str,
    ) -> Result<(RefreshRecord, String), ServiceError> {
        let key = digest(token);
        let records = self.records();
        let record: RefreshRecord = records
            .get(Space::Refresh, &key)
            .await?
            .ok_or(ServiceError::Invalid(TokenProblem::Inactive))?;
        if record.client_id != client_id {
            return Err(ServiceError::Invalid(TokenProblem::Inactive));
        }
        let mut used = record.clone();
        used.used = true;
        let before: Option<RefreshRecord> = records
            .replace(Space::Refresh, &key, &used, record.expires_at)
            .await?;
        if before.is_none_or(|b| b.used) {
            tracing::warn!(client = client_id, "refresh token reused: grant revoked");
            self.revoke_grant(&record.grant).await?;
            return Err(ServiceError::Invalid(TokenProblem::Revoked));
        }
        let grant: Option<GrantRecord> = records.get(Space::Grants, &record.grant).await?;
        let live = grant.is_some_and(|g| !g.revoked && g.live_refresh.as_deref() == Some(&key));
        if !live {
            return Err(ServiceError::Invalid(TokenProblem::Revoked));
        }
        let next = self
            .new_refresh(
                &record.grant,
                client_id,
                &record.sub,
                record.level,
                &record.scopes,
                record.expires_at,
            )
            .await?;
        Ok((record, next))
    }

    /// Revokes a token of ours: a refresh token ends its whole grant, an access token itself.
    /// `may_revoke` is asked with the client the token was issued to (`None`: to no client).
    pub async fn revoke(
        &self,
        token: &str,
        may_revoke: impl Fn(Option<&str>) -> bool,
    ) -> Result<Revoked, StoreError> {
        if let Some(refresh) = self.find_refresh(token).await? {
            if !may_revoke(Some(&refresh.client_id)) {
                return Ok(Revoked::NotAllowed);
            }
            self.revoke_grant(&refresh.grant).await?;
            return Ok(Revoked::Grant);
        }
        let Some(found) = self.find(token).await? else {
            return Ok(Revoked::Unknown);
        };
        if !may_revoke(found.record.client_id.as_deref()) {
            return Ok(Revoked::NotAllowed);
        }
        if !found.record.revoked {
            self.revoke_access(found).await?;
        }
        Ok(Revoked::Access)
    }

    /// A refresh token's record, if it is one of ours (for revocation and introspection).
    pub async fn find_refresh(&self, token: &str) -> Result<Option<RefreshRecord>, StoreError> {
        self.records().get(Space::Refresh, &digest(token)).await
    }
}

/// How the built-in issuer's claims map to an identity (used by the verifier and by
/// [`TokenService::find`]).
pub fn claim_mapping() -> ClaimMapping {
    ClaimMapping {
        scope_claims: vec!["scope".into()],
        level_claim: Some("level".into()),
        level_values: std::collections::HashMap::new(),
        default_level: Level::Anonymous,
        tenant_claim: Some("tenant".into()),
    }
}

/// A JWT for `record` with `jti`, signed with `key`.
pub fn mint_with(
    key: &portcullis_engine::signing::SigningKey,
    settings: &Settings,
    record: &TokenRecord,
    jti: &str,
) -> String {
    let mut claims = json!({
        "iss": settings.issuer,
        "sub": record.sub,
        "aud": settings.audience,
        "iat": record.issued_at,
        "exp": record.expires_at,
        "jti": jti,
        "client_id": record.client_id.as_deref().unwrap_or(&settings.name),
        "scope": record.scopes.join(" "),
        "level": record.level.as_str(),
    });
    if let Some(tenant) = &record.tenant {
        claims["tenant"] = json!(tenant);
    }
    key.mint(&claims)
}

/// The verifier reaches the token service through the engine's trait (declared below, here
/// implemented), so verification never names the token service.
#[async_trait::async_trait]
impl portcullis_engine::verify::builtin::BuiltinIssuer for TokenService {
    fn name(&self) -> &str {
        &self.settings.name
    }

    fn issues_opaque_tokens(&self) -> bool {
        self.settings.format == TokenFormat::Opaque
    }

    async fn current_identity(&self, identity: &Arc<Caller>) -> Result<Arc<Caller>, VerifyError> {
        TokenService::current_identity(self, identity).await
    }

    async fn opaque_identity(&self, token: &str) -> Result<Arc<Caller>, VerifyError> {
        TokenService::opaque_identity(self, token).await
    }
}
