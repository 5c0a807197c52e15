//! The decision on a request head — which route, who is calling, whether they may, what query
//! goes on — as functions of the snapshot and the request. The gateway's own proxy and the
//! embedding API (`crate::embed`) both call these, so both decide alike.

use super::respond::GatewayResponse;
use crate::gateway::{Gateway, RouteTarget};
use pingora::http::RequestHeader;
use portcullis_core::credential::RequestView;
use portcullis_core::principal::Principal;
use portcullis_core::route::{request_host, Route, RouteMatch};
use portcullis_engine::auth::Allowed;
use portcullis_engine::challenge::AuthError;
use std::borrow::Cow;

/// The request's host: the absolute-form authority if any, else the single `Host` header,
/// lower-cased without port. `Err` when several `Host` headers disagree about who is asked
/// (RFC 9112 §3.2: 400).
pub fn host(request: &RequestHeader) -> Result<Option<Cow<'_, str>>, GatewayResponse> {
    if let Some(authority) = request.uri.authority() {
        return Ok(request_host(authority.as_str()));
    }
    let mut hosts = request.headers.get_all(http::header::HOST).iter();
    let first = hosts.next();
    if hosts.next().is_some() {
        return Err(GatewayResponse::error(
            400,
            "invalid_request",
            "the request has more than one Host",
        ));
    }
    Ok(first.and_then(|h| h.to_str().ok()).and_then(request_host))
}

/// A route the request matched.
pub struct Matched {
    pub index: usize,
    /// The tenant captured by the route's host pattern.
    pub host_tenant: Option<String>,
}

/// Finds the route for (host, normalized path, method): 404 or 405 (with `Allow`) otherwise.
pub fn match_route(
    gateway: &Gateway,
    host: Option<&str>,
    path: &str,
    method: &http::Method,
) -> Result<Matched, GatewayResponse> {
    match gateway.routes.find(host, path, method) {
        RouteMatch::Found { index, tenant, .. } => Ok(Matched {
            index,
            host_tenant: tenant.map(str::to_string),
        }),
        RouteMatch::MethodNotAllowed { allowed } => {
            let allow: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
            Err(GatewayResponse::error(
                405,
                "method_not_allowed",
                "the route does not allow this method",
            )
            .with_header("allow", allow.join(", ")))
        }
        RouteMatch::NotFound => Err(GatewayResponse::error(
            404,
            "no_route",
            "no route matches this request",
        )),
    }
}

/// What the auth decision found.
pub struct Authorized {
    /// `None`: the route has no auth (no credential was looked at).
    pub allowed: Option<Allowed>,
    /// The tenant the request is for: the host pattern's, else the route's tenant header.
    pub tenant: Option<String>,
}

/// Runs the route's auth decision on the request head and its (raw) query.
pub async fn authorize(
    gateway: &Gateway,
    route: &Route<RouteTarget>,
    request: &RequestHeader,
    query: Option<&str>,
    host_tenant: Option<String>,
) -> Result<Authorized, AuthError> {
    let Some(policy) = route.target.policy.as_ref() else {
        return Ok(Authorized {
            allowed: None,
            tenant: host_tenant,
        });
    };
    let tenant = policy.tenant(&request.headers, host_tenant)?;
    let view = RequestView {
        headers: &request.headers,
        query,
    };
    let allowed = portcullis_engine::auth::decide(
        policy,
        &gateway.verifier,
        &view,
        &request.method,
        tenant.as_deref(),
        gateway.limits,
        portcullis_core::principal::now_unix(),
    )
    .await?;
    Ok(Authorized {
        allowed: Some(allowed),
        tenant,
    })
}

/// The answer to a refused auth decision: status, RFC 6750 challenge, small JSON body.
pub fn refusal(error: &AuthError, gateway: &Gateway) -> GatewayResponse {
    let answer = error.answer(&gateway.realm);
    let mut response = GatewayResponse::json(answer.status, answer.body);
    if let Some(challenge) = answer.www_authenticate {
        response = response.with_header("www-authenticate", challenge);
    }
    if let Some(seconds) = answer.retry_after {
        response = response.with_header("retry-after", seconds.to_string());
    }
    response
}

/// Applies the route's OData policy to the credential-free query: `Ok(None)` to forward it as
/// it is, `Ok(Some(q))` to forward `q` instead (empty: no query).
pub fn police_odata(
    route: &Route<RouteTarget>,
    query: Option<&str>,
    principal: Option<&Principal>,
) -> Result<Option<String>, GatewayResponse> {
    let Some(policy) = route.target.odata.as_ref() else {
        return Ok(None);
    };
    let principal = principal.unwrap_or(&Principal::Anonymous);
    policy
        .check(query.unwrap_or(""), principal)
        .map_err(|refusal| GatewayResponse::json(refusal.status, refusal.body()))
}
