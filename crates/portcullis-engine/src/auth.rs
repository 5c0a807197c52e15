//! The auth decision for one request: extract → verify → authorize. No pingora types here, so
//! the decision is unit-testable, benchmarkable and embeddable in any proxy.

use crate::challenge::AuthError;
use crate::policy::RoutePolicy;
use crate::verify::{Verifier, VerifyError};
use http::Method;
use portcullis_core::credential::{self, Carrier, Limits, RequestView};
use portcullis_core::principal::Principal;

/// An allowed request: who, and how they proved it.
#[derive(Debug, Clone)]
pub struct Allowed {
    pub principal: Principal,
    /// Where the credential was found (to remove it before forwarding).
    pub carrier: Option<Carrier>,
    pub cache_hit: bool,
}

/// Decides a request on a route with `policy`. `tenant` is the tenant the request is for
/// (from the host or the tenant header), if the route has one.
pub async fn decide(
    policy: &RoutePolicy,
    verifier: &Verifier,
    request: &RequestView<'_>,
    method: &Method,
    tenant: Option<&str>,
    limits: Limits,
    now: u64,
) -> Result<Allowed, AuthError> {
    let credential = credential::extract(request, &policy.carriers, limits)
        .map_err(AuthError::InvalidRequest)?;
    let Some(credential) = credential else {
        policy.authorize(&Principal::Anonymous, method, tenant)?;
        return Ok(Allowed {
            principal: Principal::Anonymous,
            carrier: None,
            cache_hit: false,
        });
    };
    let verified = match verifier.verify(&credential, &policy.issuers, now).await {
        Ok(verified) => verified,
        // A device cookie that no longer stands for anything (expired, revoked, garbage) on a
        // route that hands out device tokens: the visitor gets a new one, as on a first visit,
        // instead of a 401 its browser would repeat with the same cookie forever. A token the
        // client chose to send in a header is still refused.
        Err(VerifyError::Token(_))
            if policy.issue_device_token && credential.carrier == Carrier::Cookie =>
        {
            policy.authorize(&Principal::Anonymous, method, tenant)?;
            return Ok(Allowed {
                principal: Principal::Anonymous,
                carrier: None,
                cache_hit: false,
            });
        }
        Err(VerifyError::Token(problem)) => return Err(AuthError::InvalidToken(problem)),
        Err(VerifyError::Unavailable) => return Err(AuthError::Unavailable),
    };
    let principal = Principal::Authenticated(verified.identity);
    policy.authorize(&principal, method, tenant)?;
    Ok(Allowed {
        principal,
        carrier: Some(credential.carrier),
        cache_hit: verified.cache_hit,
    })
}
