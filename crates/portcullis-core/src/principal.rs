//! Who is calling: the principal every request gets, and its security level.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// How much the gateway knows about the caller. Ordered: `Anonymous < Identified < Verified`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// A device or a caller with no identity.
    Anonymous,
    /// Email or partner id known: may add activity, may not read or change private data.
    Identified,
    /// Fully verified: full access.
    Verified,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Anonymous => "anonymous",
            Level::Identified => "identified",
            Level::Verified => "verified",
        }
    }

    pub fn parse(text: &str) -> Option<Level> {
        match text {
            "anonymous" => Some(Level::Anonymous),
            "identified" => Some(Level::Identified),
            "verified" => Some(Level::Verified),
            _ => None,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a verified credential says about its holder: plain facts, compared in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The issuer config that verified it (its name in `[issuers.<name>]`).
    pub issuer: Arc<str>,
    pub subject: String,
    pub tenant: Option<String>,
    pub scopes: Vec<String>,
    pub level: Level,
    /// Audiences the credential was issued for (empty for application keys).
    pub audiences: Vec<String>,
    /// Seconds since the epoch; `None` for credentials that do not expire (application keys).
    pub expires_at: Option<u64>,
    pub not_before: Option<u64>,
    /// Clock skew allowed around `expires_at` and `not_before`, in seconds.
    pub leeway: u64,
    /// `jti` or another stable id of the credential, when it has one.
    pub token_id: Option<String>,
    /// A subject the holder claims but has not proven (an `identified` device token's profile):
    /// told to the upstream apart from `subject`, so a claim never passes for the profile.
    pub claimed_subject: Option<String>,
}

/// An identity as requests share it (through the verification cache): the identity, and its
/// header values rendered on first use, so every request it serves clones refcounted values
/// instead of allocating and copying subject, scopes, issuer and tenant. Reads as its
/// [`Identity`] (`Deref`).
#[derive(Debug)]
pub struct Caller {
    identity: Identity,
    header_values: std::sync::OnceLock<Option<IdentityHeaderValues>>,
}

impl From<Identity> for Caller {
    fn from(identity: Identity) -> Self {
        Caller {
            identity,
            header_values: std::sync::OnceLock::new(),
        }
    }
}

impl std::ops::Deref for Caller {
    type Target = Identity;

    fn deref(&self) -> &Identity {
        &self.identity
    }
}

/// Values of the identity headers, rendered once.
#[derive(Debug, Clone)]
pub struct IdentityHeaderValues {
    pub subject: http::HeaderValue,
    pub scopes: http::HeaderValue,
    pub issuer: http::HeaderValue,
    pub tenant: Option<http::HeaderValue>,
    pub claimed_subject: Option<http::HeaderValue>,
}

impl Caller {
    /// The identity itself.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The identity headers' values; `None` when a value cannot be a header (a control byte).
    pub fn header_values(&self) -> Option<&IdentityHeaderValues> {
        self.header_values
            .get_or_init(|| IdentityHeaderValues::render(&self.identity))
            .as_ref()
    }
}

impl IdentityHeaderValues {
    /// The values as slices of one buffer, so that a request taking all of them touches one
    /// reference count (one cache line) rather than one per value: with many callers cached,
    /// each is cold when its next request comes (`bench/profile.sh`, 1000 tokens).
    fn render(identity: &Identity) -> Option<Self> {
        let scopes = identity.scopes.join(" ");
        let mut buffer = Vec::new();
        let mut place = |text: &str| {
            let start = buffer.len();
            buffer.extend_from_slice(text.as_bytes());
            start..buffer.len()
        };
        let subject = place(&identity.subject);
        let scopes = place(&scopes);
        let issuer = place(&identity.issuer);
        let tenant = identity.tenant.as_deref().map(&mut place);
        let claimed_subject = identity.claimed_subject.as_deref().map(&mut place);
        let shared = bytes::Bytes::from(buffer);
        let value = |range| http::HeaderValue::from_maybe_shared(shared.slice(range)).ok();
        let optional = |range: Option<_>| match range {
            Some(range) => value(range).map(Some),
            None => Some(None),
        };
        Some(IdentityHeaderValues {
            subject: value(subject)?,
            scopes: value(scopes)?,
            issuer: value(issuer)?,
            tenant: optional(tenant)?,
            claimed_subject: optional(claimed_subject)?,
        })
    }
}

impl Identity {
    /// An identity that says only who and how well known: no tenant, scopes, audiences,
    /// validity window, token id or claimed subject (struct update syntax adds what applies).
    pub fn bare(issuer: &str, subject: &str, level: Level) -> Self {
        Identity {
            issuer: Arc::from(issuer),
            subject: subject.to_string(),
            tenant: None,
            scopes: Vec::new(),
            level,
            audiences: Vec::new(),
            expires_at: None,
            not_before: None,
            leeway: 0,
            token_id: None,
            claimed_subject: None,
        }
    }

    /// Whether the credential is within its validity window at `now` (seconds since the epoch).
    /// Checked on every request, cached or not.
    pub fn is_current(&self, now: u64) -> Result<(), crate::problem::TokenProblem> {
        use crate::problem::TokenProblem;
        if self
            .expires_at
            .is_some_and(|exp| now >= exp.saturating_add(self.leeway))
        {
            return Err(TokenProblem::Expired);
        }
        if self
            .not_before
            .is_some_and(|nbf| now.saturating_add(self.leeway) < nbf)
        {
            return Err(TokenProblem::NotYetValid);
        }
        Ok(())
    }
}

/// Seconds since the Unix epoch, by the wall clock (token times are wall-clock times).
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The caller of one request.
#[derive(Debug, Clone)]
pub enum Principal {
    /// No credential on a route that allows that.
    Anonymous,
    Authenticated(Arc<Caller>),
}

impl Principal {
    /// An authenticated caller from a fresh identity (not one shared through a cache).
    pub fn authenticated(identity: Identity) -> Self {
        Principal::Authenticated(Arc::new(identity.into()))
    }

    pub fn level(&self) -> Level {
        match self {
            Principal::Anonymous => Level::Anonymous,
            Principal::Authenticated(id) => id.level,
        }
    }

    pub fn identity(&self) -> Option<&Identity> {
        self.caller().map(Caller::identity)
    }

    /// The caller with its rendered header values, when authenticated.
    pub fn caller(&self) -> Option<&Caller> {
        match self {
            Principal::Anonymous => None,
            Principal::Authenticated(caller) => Some(caller),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_and_round_trip() {
        assert!(Level::Anonymous < Level::Identified && Level::Identified < Level::Verified);
        for l in [Level::Anonymous, Level::Identified, Level::Verified] {
            assert_eq!(Level::parse(l.as_str()), Some(l));
        }
        assert_eq!(Level::parse("admin"), None);
    }

    fn caller(subject: &str, tenant: Option<&str>) -> Caller {
        Caller::from(Identity {
            tenant: tenant.map(str::to_string),
            scopes: vec!["read".into(), "write".into()],
            ..Identity::bare("corp", subject, Level::Verified)
        })
    }

    #[test]
    fn header_values_are_rendered_once_from_one_buffer() {
        let caller = caller("alice", Some("acme"));
        let values = caller.header_values().expect("plain text");
        assert_eq!(values.subject, "alice");
        assert_eq!(values.scopes, "read write");
        assert_eq!(values.issuer, "corp");
        assert_eq!(values.tenant.as_ref().unwrap(), "acme");
        assert!(values.claimed_subject.is_none());
        // Adjacent slices of one buffer.
        let after_subject = values.subject.as_bytes().as_ptr_range().end;
        assert_eq!(values.scopes.as_bytes().as_ptr(), after_subject);
        assert!(std::ptr::eq(values, caller.header_values().unwrap()));
    }

    #[test]
    fn a_value_that_cannot_be_a_header_makes_none() {
        assert!(caller("ali\nce", None).header_values().is_none());
        assert!(caller("alice", Some("ac\u{7f}me"))
            .header_values()
            .is_none());
        assert!(caller("alice", None)
            .header_values()
            .unwrap()
            .tenant
            .is_none());
    }
}
