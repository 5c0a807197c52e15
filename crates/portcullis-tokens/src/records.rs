//! What the token service stores, one JSON record per entry.

use portcullis_core::principal::Level;
use serde::{Deserialize, Serialize};

/// An access token's live state. JWTs carry the same facts in their claims, but the record
/// wins: `token/update` adds scopes, `identify`/`verify` raise the level, revocation ends it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenRecord {
    pub sub: String,
    pub level: Level,
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The device an anonymous token was made for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The profile (`usr_…`) that `identify` claimed for the device. A claim is not proof: the
    /// token's subject becomes the profile only when the token is verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_profile: Option<String>,
    /// The OAuth2 grant (refresh-token chain) it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    /// The tenant token API that created it (its `update` only changes its own tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    pub issued_at: u64,
    pub expires_at: u64,
    #[serde(default)]
    pub revoked: bool,
}

/// An anonymous device; linked to a profile once a token of it is verified.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceRecord {
    pub created_at: u64,
    #[serde(default)]
    pub identity: Option<String>,
}

/// An identity profile, found by `email:…` or `partner:…`. Which devices stand for it is
/// kept on the devices (linked at verification), so claims by strangers cannot grow it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdentityRecord {
    pub id: String,
}

/// One refresh token. `used` flips on rotation; presenting a used one revokes the grant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub grant: String,
    pub client_id: String,
    pub sub: String,
    pub level: Level,
    pub scopes: Vec<String>,
    pub expires_at: u64,
    #[serde(default)]
    pub used: bool,
}

/// A chain of rotated refresh tokens and the access tokens issued from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrantRecord {
    pub client_id: String,
    pub sub: String,
    pub created_at: u64,
    pub expires_at: u64,
    #[serde(default)]
    pub revoked: bool,
    /// Store keys of the access tokens issued from this grant.
    #[serde(default)]
    pub access: Vec<String>,
    /// Store key of the refresh token that is live now.
    #[serde(default)]
    pub live_refresh: Option<String>,
}

/// A client-user's live grants, oldest first (for the refresh-token limit).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct GrantList {
    pub grants: Vec<String>,
}

/// A browser session: who signed in, the CSRF token of its forms, and the grants made in it
/// (revoked at sign-out).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionRecord {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub level: Level,
    pub auth_time: u64,
    pub expires_at: u64,
    pub csrf: String,
    #[serde(default)]
    pub grants: Vec<String>,
    #[serde(default)]
    pub ended: bool,
}

/// A device authorization request (RFC 8628): what the device asked for, and the user's answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceCodeRecord {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub user_code: String,
    pub expires_at: u64,
    /// Seconds between polls at first.
    pub interval: u64,
    pub decision: DeviceDecision,
    /// Its tokens were issued.
    #[serde(default)]
    pub used: bool,
}

/// The user's answer to a device's request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum DeviceDecision {
    Pending,
    Denied,
    Approved { sub: String, level: Level },
}

/// An authorization code: one-time, short-lived, bound to its client, redirect URI and PKCE
/// challenge. After use it stays (with `grant`) so that a replay can revoke what it gave.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CodeRecord {
    pub client_id: String,
    pub redirect_uri: String,
    /// `None`: no PKCE (a confidential client let off it); then no verifier may be sent.
    pub code_challenge: Option<String>,
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub level: Level,
    pub auth_time: u64,
    /// Store key of the session it was made in.
    pub session: String,
    pub expires_at: u64,
    #[serde(default)]
    pub used: bool,
    /// Presented again after it was used.
    #[serde(default)]
    pub replayed: bool,
    /// The grant its tokens belong to, once redeemed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
}
