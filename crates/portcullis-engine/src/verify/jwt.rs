//! JWT access tokens: one [`JwtIssuer`] per configured issuer, bound to its own keys.

use crate::verify::claims::{numeric_date, string_claim, ClaimMapping};
use crate::verify::jose::{CompactJws, StrictObject};
use crate::verify::jwks::RemoteJwks;
use crate::verify::keys::KeySet;
use crate::verify::VerifyError;
use portcullis_core::principal::Identity;
use portcullis_core::problem::TokenProblem;
use std::sync::Arc;

/// Which token profile an issuer's access tokens follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProfile {
    /// RFC 9068: `typ` is `at+jwt`; `sub`, `client_id`, `jti`, `iat` required.
    AtJwt,
    /// IdPs that do not type their access tokens: `typ` absent or `JWT`, ID tokens (with
    /// `nonce`) refused.
    Legacy,
}

/// Where an issuer's keys come from.
#[derive(Debug)]
pub enum KeySource {
    /// From the config (inline PEM, secrets) or a JWKS file, fixed for the snapshot's life.
    Static(KeySet),
    Remote(Arc<RemoteJwks>),
    /// The built-in token service's keys, which rotate while the gateway runs.
    Local(Arc<dyn super::builtin::LocalKeys>),
}

#[derive(Debug)]
pub struct JwtIssuer {
    /// The config name, also the validator identity in cache keys.
    pub name: Arc<str>,
    /// The exact `iss` value (no normalization: RFC 9068 §4, CL-5).
    pub issuer: String,
    /// Tokens must name at least one of these in `aud`.
    pub audiences: Vec<String>,
    pub leeway: u64,
    pub profile: TokenProfile,
    pub mapping: ClaimMapping,
    pub keys: KeySource,
}

impl JwtIssuer {
    /// Ready when some keys are loaded.
    pub fn is_ready(&self) -> bool {
        match &self.keys {
            KeySource::Static(_) | KeySource::Local(_) => true,
            KeySource::Remote(remote) => remote.has_keys(),
        }
    }

    /// Verifies the signature with this issuer's keys, then every claim.
    pub async fn verify(&self, jws: &CompactJws<'_>, now: u64) -> Result<Identity, VerifyError> {
        let header = &jws.header;
        match &self.keys {
            KeySource::Static(keys) => keys.verify(
                header.kid.as_deref(),
                header.alg,
                jws.signing_input.as_bytes(),
                jws.signature,
            )?,
            KeySource::Local(ring) => ring.current_keys().verify(
                header.kid.as_deref(),
                header.alg,
                jws.signing_input.as_bytes(),
                jws.signature,
            )?,
            KeySource::Remote(remote) => {
                let loaded = remote
                    .keys_for(header.kid.as_deref())
                    .await
                    .map_err(|_| VerifyError::Unavailable)?;
                loaded.keys.verify(
                    header.kid.as_deref(),
                    header.alg,
                    jws.signing_input.as_bytes(),
                    jws.signature,
                )?
            }
        }
        Ok(self.check_claims(jws, now)?)
    }

    fn check_claims(&self, jws: &CompactJws<'_>, now: u64) -> Result<Identity, TokenProblem> {
        let claims: &StrictObject = &jws.claims;
        let typ = jws.header.typ.as_deref();
        match self.profile {
            TokenProfile::AtJwt => {
                let typed = typ.is_some_and(|t| {
                    t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
                });
                if !typed {
                    return Err(TokenProblem::WrongType);
                }
                for required in ["client_id", "jti"] {
                    string_claim(claims, required)?.ok_or(TokenProblem::MissingClaim)?;
                }
                numeric_date(claims, "iat")?.ok_or(TokenProblem::MissingClaim)?;
            }
            TokenProfile::Legacy => {
                if typ.is_some_and(|t| !t.eq_ignore_ascii_case("jwt")) {
                    return Err(TokenProblem::WrongType);
                }
                if claims.get("nonce").is_some() {
                    return Err(TokenProblem::WrongType);
                }
            }
        }
        // `iss` was matched exactly when the issuer was chosen; an array never gets here.
        match string_claim(claims, "iss")? {
            Some(iss) if iss == self.issuer => {}
            _ => return Err(TokenProblem::UnknownIssuer),
        }
        numeric_date(claims, "exp")?.ok_or(TokenProblem::MissingClaim)?;
        if let Some(iat) = numeric_date(claims, "iat")? {
            if iat > now.saturating_add(self.leeway) {
                return Err(TokenProblem::IssuedInFuture);
            }
        }
        let identity = self.mapping.identity(&self.name, claims, self.leeway)?;
        if !identity
            .audiences
            .iter()
            .any(|aud| self.audiences.iter().any(|ours| ours == aud))
        {
            return Err(TokenProblem::WrongAudience);
        }
        identity.is_current(now)?;
        Ok(identity)
    }
}
