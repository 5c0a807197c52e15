//! Browser sign-in state: who may sign in (a users file or an upstream OpenID provider), the
//! failed-attempt limiter, and the session and authorization-code records in the store.
//!
//! Sessions and codes are named in the store by the SHA-256 of their secret, like tokens, so a
//! copy of the store lets nobody sign in as anyone.

use super::login_limit::LoginLimiter;
use super::records::{CodeRecord, SessionRecord};
use super::settings::{SignInSettings, UserSource};
use super::store::{Space, StoreError};
use super::upstream_oidc::UpstreamProvider;
use super::users::{SignedIn, UserEntry, Users};
use super::{random_id, ServiceError, TokenService};
use portcullis_core::digest::digest_hex as digest;
use portcullis_core::principal::{now_unix, Level};
use portcullis_core::problem::TokenProblem;
use std::sync::Arc;

/// Failed-attempt counters kept at most (names and addresses together).
const LIMITER_CAPACITY: u64 = 100_000;

pub struct SignIn {
    pub settings: SignInSettings,
    pub users: Option<Arc<Users>>,
    pub upstream: Option<UpstreamProvider>,
    pub limiter: LoginLimiter,
}

impl SignIn {
    /// Reads the users file (or prepares the upstream provider's client).
    pub fn open(settings: &SignInSettings) -> Result<SignIn, super::OpenError> {
        let (users, upstream) = match &settings.users {
            UserSource::File(path) => (Some(Arc::new(Users::load(path)?)), None),
            UserSource::Oidc(oidc) => (None, Some(UpstreamProvider::new(oidc.clone())?)),
        };
        Ok(SignIn {
            limiter: LoginLimiter::new(
                settings.max_failures,
                settings.failure_window,
                LIMITER_CAPACITY,
            ),
            settings: settings.clone(),
            users,
            upstream,
        })
    }

    /// The user, if `password` is theirs. Hashing is slow by design, so it runs off the
    /// async workers.
    pub async fn check_password(&self, name: &str, password: &str) -> Option<UserEntry> {
        let users = self.users.clone()?;
        let (name, password) = (name.to_string(), password.to_string());
        tokio::task::spawn_blocking(move || users.verify(&name, &password).cloned())
            .await
            .ok()
            .flatten()
    }
}

impl TokenService {
    /// Starts a session for `user`; returns the cookie value and the record.
    pub async fn start_session(
        &self,
        sign_in: &SignIn,
        user: SignedIn,
    ) -> Result<(String, SessionRecord), StoreError> {
        let now = now_unix();
        let secret = random_id(32);
        let record = SessionRecord {
            sub: user.sub,
            email: user.email,
            level: Level::Verified,
            auth_time: now,
            expires_at: now + sign_in.settings.session_ttl,
            csrf: random_id(24),
            grants: Vec::new(),
            ended: false,
        };
        self.records()
            .put(
                Space::Sessions,
                &digest(&secret),
                &record,
                record.expires_at,
            )
            .await?;
        Ok((secret, record))
    }

    /// The live session a cookie value names.
    pub async fn session(&self, secret: &str) -> Result<Option<SessionRecord>, StoreError> {
        let record: Option<SessionRecord> =
            self.records().get(Space::Sessions, &digest(secret)).await?;
        Ok(record.filter(|r| !r.ended && r.expires_at > now_unix()))
    }

    /// Ends a session and revokes every grant (refresh and access tokens) made in it.
    pub async fn end_session(&self, secret: &str) -> Result<(), StoreError> {
        let ended = self
            .records()
            .update(
                Space::Sessions,
                &digest(secret),
                |session: &mut SessionRecord| session.ended = true,
                |session| session.expires_at,
            )
            .await?;
        for grant in ended.iter().flat_map(|session| &session.grants) {
            self.revoke_grant(grant).await?;
        }
        Ok(())
    }

    /// Until when a used code is kept: while the tokens it gave may live, so that a replay can
    /// still revoke them.
    fn used_code_expiry(&self) -> u64 {
        now_unix() + self.settings.access_ttl.max(self.settings.refresh_ttl)
    }

    /// Issues a one-time code for `record`; returns the code.
    pub async fn issue_code(&self, record: &CodeRecord) -> Result<String, StoreError> {
        let code = random_id(32);
        self.records()
            .put(Space::Codes, &digest(&code), record, record.expires_at)
            .await?;
        Ok(code)
    }

    /// Redeems a code for `client_id` when `bound` accepts it (redirect URI, PKCE): marks it
    /// used, atomically (one winner). A code used before means it leaked: what it gave is
    /// revoked and it is refused.
    pub async fn redeem_code(
        &self,
        code: &str,
        client_id: &str,
        bound: impl Fn(&CodeRecord) -> bool,
    ) -> Result<CodeRecord, ServiceError> {
        let key = digest(code);
        let records = self.records();
        let inactive = ServiceError::Invalid(TokenProblem::Inactive);
        let record: CodeRecord = records
            .get(Space::Codes, &key)
            .await?
            .ok_or(inactive.clone())?;
        if record.client_id != client_id || (!record.used && !bound(&record)) {
            return Err(inactive);
        }
        let mut used = record.clone();
        used.used = true;
        let keep_until = self.used_code_expiry();
        let before: Option<CodeRecord> = records
            .replace(Space::Codes, &key, &used, keep_until)
            .await?;
        match before {
            Some(b) if !b.used && b.expires_at > now_unix() => Ok(record),
            Some(mut b) if b.used => {
                tracing::warn!(
                    client = client_id,
                    "authorization code reused: its grant revoked"
                );
                if let Some(grant) = &b.grant {
                    self.revoke_grant(grant).await?;
                }
                // Put back as it was, marked: a grant noted later is revoked at once.
                b.replayed = true;
                records.put(Space::Codes, &key, &b, keep_until).await?;
                Err(ServiceError::Invalid(TokenProblem::Revoked))
            }
            Some(_) => Err(ServiceError::Invalid(TokenProblem::Expired)),
            None => Err(inactive),
        }
    }

    /// Notes the grant a redeemed code gave, on the code (for replays) and on its session
    /// (for sign-out).
    pub async fn note_code_grant(
        &self,
        code: &str,
        record: &CodeRecord,
        grant: &str,
    ) -> Result<(), StoreError> {
        let records = self.records();
        let noted = records
            .update(
                Space::Codes,
                &digest(code),
                |used: &mut CodeRecord| used.grant = Some(grant.to_string()),
                |_| self.used_code_expiry(),
            )
            .await?;
        // Replayed while its tokens were being issued.
        let replayed = noted.is_some_and(|used| used.replayed);
        let session = records
            .update(
                Space::Sessions,
                &record.session,
                |session: &mut SessionRecord| {
                    session.grants.push(grant.to_string());
                    // Bounded, like a grant's access-token list.
                    if session.grants.len() > 100 {
                        session.grants.remove(0);
                    }
                },
                |session| session.expires_at,
            )
            .await?;
        // Or signed out between the code and its exchange.
        if replayed || session.is_some_and(|s| s.ended) {
            self.revoke_grant(grant).await?;
        }
        Ok(())
    }
}
