//! Durable state of the token service behind one small trait, so that one process can keep it in
//! an embedded `redb` file and several can share it in Redis.
//!
//! The trait is a key-value store with a few named spaces, an expiry per entry and one atomic
//! read-and-replace (refresh-token rotation needs exactly one winner). Records are JSON; keys are
//! ids or SHA-256 digests, never raw tokens.

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The kinds of record the service keeps, each in its own table (redb) or key prefix (Redis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// Access tokens by digest of their handle: status, level and scopes (updates, revocation).
    Tokens,
    /// Anonymous devices by id.
    Devices,
    /// Identity profiles by `email:…` / `partner:…`.
    Identities,
    /// Refresh tokens by digest.
    Refresh,
    /// OAuth2 grants (a chain of rotated refresh tokens) and per client-user grant lists.
    Grants,
    /// Browser sessions by digest of their cookie.
    Sessions,
    /// Authorization codes by digest, kept (used) until they expire so a replay is noticed.
    Codes,
}

impl Space {
    pub const ALL: [Space; 7] = [
        Space::Tokens,
        Space::Devices,
        Space::Identities,
        Space::Refresh,
        Space::Grants,
        Space::Sessions,
        Space::Codes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Space::Tokens => "tokens",
            Space::Devices => "devices",
            Space::Identities => "identities",
            Space::Refresh => "refresh",
            Space::Grants => "grants",
            Space::Sessions => "sessions",
            Space::Codes => "codes",
        }
    }
}

/// The store could not answer: callers answer 503, never allow (SECURITY.md ER-7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "token store unavailable: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

/// A key-value store with expiry. `expires_at` is seconds since the epoch; entries past it are
/// never returned. Values are opaque bytes.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn get(&self, space: Space, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    async fn put(
        &self,
        space: Space,
        key: &str,
        value: &[u8],
        expires_at: u64,
    ) -> Result<(), StoreError> {
        self.replace(space, key, value, expires_at).await.map(drop)
    }
    /// Stores `value` and returns what was there, in one atomic step.
    async fn replace(
        &self,
        space: Space,
        key: &str,
        value: &[u8],
        expires_at: u64,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Deletes expired entries where the store does not expire them by itself; how many.
    async fn purge_expired(&self) -> Result<usize, StoreError> {
        Ok(0)
    }
    /// A short description for logs (`redb /path`, `redis host:port`).
    fn describe(&self) -> String;
}

/// Typed access to a [`Store`]: records as JSON.
pub struct Records<'s>(pub &'s dyn Store);

impl Records<'_> {
    pub async fn get<T: DeserializeOwned>(
        &self,
        space: Space,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        match self.0.get(space, key).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StoreError(format!("corrupt {} record: {e}", space.name()))),
        }
    }

    pub async fn put<T: Serialize>(
        &self,
        space: Space,
        key: &str,
        value: &T,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).expect("records serialize");
        self.0.put(space, key, &bytes, expires_at).await
    }

    /// Reads a record, changes it and writes it back, expiring at `expires_at` of the changed
    /// record; `None` when there is none. Read-then-write, not atomic: for changes that may
    /// interleave harmlessly (flags that only go one way, lists that only grow).
    pub async fn update<T: Serialize + DeserializeOwned>(
        &self,
        space: Space,
        key: &str,
        change: impl FnOnce(&mut T),
        expires_at: impl FnOnce(&T) -> u64,
    ) -> Result<Option<T>, StoreError> {
        let Some(mut record) = self.get::<T>(space, key).await? else {
            return Ok(None);
        };
        change(&mut record);
        self.put(space, key, &record, expires_at(&record)).await?;
        Ok(Some(record))
    }

    pub async fn replace<T: Serialize + DeserializeOwned>(
        &self,
        space: Space,
        key: &str,
        value: &T,
        expires_at: u64,
    ) -> Result<Option<T>, StoreError> {
        let bytes = serde_json::to_vec(value).expect("records serialize");
        match self.0.replace(space, key, &bytes, expires_at).await? {
            None => Ok(None),
            Some(old) => serde_json::from_slice(&old)
                .map(Some)
                .map_err(|e| StoreError(format!("corrupt {} record: {e}", space.name()))),
        }
    }
}
