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
}

impl Space {
    pub const ALL: [Space; 5] = [
        Space::Tokens,
        Space::Devices,
        Space::Identities,
        Space::Refresh,
        Space::Grants,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Space::Tokens => "tokens",
            Space::Devices => "devices",
            Space::Identities => "identities",
            Space::Refresh => "refresh",
            Space::Grants => "grants",
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

/// Prefixes a value with its expiry (8 bytes, big-endian) for stores without native expiry.
pub fn with_expiry(value: &[u8], expires_at: u64) -> Vec<u8> {
    let mut stored = Vec::with_capacity(8 + value.len());
    stored.extend_from_slice(&expires_at.to_be_bytes());
    stored.extend_from_slice(value);
    stored
}

/// The value of a stored entry if it has not expired at `now`.
pub fn unless_expired(stored: &[u8], now: u64) -> Option<Vec<u8>> {
    let (expiry, value) = stored.split_at_checked(8)?;
    let expires_at = u64::from_be_bytes(expiry.try_into().ok()?);
    (now < expires_at).then(|| value.to_vec())
}

/// Hex SHA-256 of a token or handle: how tokens are named in the store (never raw).
pub fn digest(text: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_prefix_round_trips_and_expires() {
        let stored = with_expiry(b"{}", 100);
        assert_eq!(unless_expired(&stored, 99).as_deref(), Some(&b"{}"[..]));
        assert_eq!(unless_expired(&stored, 100), None);
        assert_eq!(unless_expired(b"short", 0), None);
    }

    #[test]
    fn digests_are_hex_sha256() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
