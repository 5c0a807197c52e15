//! Portcullis as the decision service behind another proxy, instead of another hop. Two ways
//! to ask, one answer — the engine's one pipeline on the original request:
//! - nginx `auth_request` and Traefik ForwardAuth ask `[forward_auth] path` with the original
//!   request's headers and its method, URI and host in `X-Forwarded-Method`, `X-Forwarded-Uri`
//!   (or `X-Original-Method`, `X-Original-URI`) and `X-Forwarded-Host`. An allowed request is
//!   answered 200 with what the upstream should learn of the caller (identity headers or a
//!   signed assertion) for the proxy to copy on.
//! - Envoy `ext_authz` (HTTP service mode) sends the original request itself with
//!   `[forward_auth] envoy_path_prefix` in front of its path. An allowed request is answered
//!   200 with the header edits the gateway would make: headers to set (Envoy copies those its
//!   `allowed_upstream_headers` names) and `x-envoy-auth-headers-to-remove` for the ones to
//!   drop, the credential's carrier among them.
//!
//! A refusal is answered as the gateway answers it — status, `WWW-Authenticate` and JSON body —
//! and both proxies pass it to the client. Only trusted proxies (`server.trusted_proxies`) may
//! ask: the facts of the original request are theirs to state.

use super::{client_ip, pass_caller, pipeline, raw_request_target, GatewayProxy, RequestCtx};
use crate::gateway::Gateway;
use crate::proxy::respond::GatewayResponse;
use http::header::{HeaderName, HOST};
use http::{HeaderMap, HeaderValue, Method};
use pingora::proxy::Session;
use portcullis_core::credential::header_values;
use portcullis_core::credential::spelling::same_header_name;
use std::borrow::Cow;

/// Where the original request's facts travel, in the order they are looked for.
const METHOD: [&str; 2] = ["x-forwarded-method", "x-original-method"];
const URI: [&str; 2] = ["x-forwarded-uri", "x-original-uri"];
const HOST_HEADER: &str = "x-forwarded-host";
/// Envoy's answer header naming the request headers to remove before the upstream.
const ENVOY_HEADERS_TO_REMOVE: HeaderName =
    HeaderName::from_static("x-envoy-auth-headers-to-remove");

/// Which proxy's protocol a check speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CheckFrom {
    /// nginx `auth_request`, Traefik ForwardAuth: facts in `X-Forwarded-*`.
    Forwarded,
    /// Envoy `ext_authz`: the original request under a path prefix.
    Envoy,
}

/// Whether a request's path makes it a check, and of which kind.
pub(super) fn check_from(gateway: &Gateway, raw_path: &str) -> Option<CheckFrom> {
    if gateway.forward_auth_path.as_deref() == Some(raw_path) {
        return Some(CheckFrom::Forwarded);
    }
    let prefix = gateway.envoy_path_prefix.as_deref()?;
    raw_path
        .strip_prefix(prefix)
        .is_some_and(|original| original.starts_with('/'))
        .then_some(CheckFrom::Envoy)
}

/// The original request a check is about.
struct Original {
    method: Method,
    /// Its request-target, as the client sent it.
    uri: bytes::Bytes,
    /// Its headers as the pipeline reads them.
    headers: HeaderMap,
}

/// The one value of a forwarded fact, in whichever of `names` (and `-`/`_` spelling) the
/// proxy wrote it. Two values — two names, two spellings or a repeat — are refused, not
/// ranked: the proxy sets one of them and passes the client's other headers on, so a
/// preference would let a client supply the name the proxy does not set.
fn forwarded<'h>(headers: &'h HeaderMap, names: &[&'h str]) -> Result<Option<&'h str>, ()> {
    let mut values = names.iter().flat_map(|name| header_values(headers, name));
    let first = values.next();
    if values.next().is_some() {
        return Err(());
    }
    first.map(|v| v.to_str().map_err(drop)).transpose()
}

/// Removes every spelling of the forwarded facts from the original request's headers.
fn remove_forwarded(headers: &mut HeaderMap) {
    let facts: Vec<HeaderName> = headers
        .keys()
        .filter(|key| {
            METHOD
                .iter()
                .chain(&URI)
                .chain(&[HOST_HEADER])
                .any(|name| same_header_name(key.as_str(), name))
        })
        .cloned()
        .collect();
    for name in facts {
        headers.remove(name);
    }
}

/// Why a check's original request cannot be read (a 400's description).
type Unreadable = &'static str;

/// The original request of an nginx or Traefik check: the check's headers (the proxy passes
/// the client's) without the forwarded facts, with the facts' method, URI and host.
fn forwarded_original(check: &http::request::Parts) -> Result<Original, Unreadable> {
    let Ok(Some(uri)) = forwarded(&check.headers, &URI) else {
        return Err(
            "the original URI is missing or given twice (X-Forwarded-Uri or X-Original-URI)",
        );
    };
    let method = match forwarded(&check.headers, &METHOD) {
        Ok(Some(m)) => {
            Method::from_bytes(m.as_bytes()).map_err(|_| "the original method is not a method")?
        }
        Ok(None) => check.method.clone(),
        Err(()) => {
            return Err(
                "the original method is given twice (X-Forwarded-Method or X-Original-Method)",
            )
        }
    };
    let mut headers = check.headers.clone();
    remove_forwarded(&mut headers);
    match forwarded(&check.headers, &[HOST_HEADER]) {
        Ok(Some(host)) => {
            let host =
                HeaderValue::from_str(host).map_err(|_| "the original host is not a host")?;
            headers.insert(HOST, host);
        }
        Ok(None) => {}
        Err(()) => return Err("the original host is given twice"),
    }
    Ok(Original {
        method,
        uri: bytes::Bytes::copy_from_slice(uri.as_bytes()),
        headers,
    })
}

/// The original request of an Envoy check: the check itself, its path without the prefix.
/// `X-Forwarded-*` mean nothing here — they are the client's.
fn envoy_original(session: &Session, prefix: &str) -> Result<Original, Unreadable> {
    let raw = raw_request_target(session);
    let Some(uri) = raw.strip_prefix(prefix.as_bytes()) else {
        return Err("not an ext_authz check");
    };
    let check = session.req_header();
    Ok(Original {
        method: check.method.clone(),
        uri: raw.slice_ref(uri),
        headers: check.headers.clone(),
    })
}

/// What Envoy should do to the original request's headers to make them what the gateway
/// would send upstream: the headers to set, and the ones to remove listed in
/// `x-envoy-auth-headers-to-remove`.
fn envoy_edits(original: &HeaderMap, upstream: &HeaderMap) -> Result<HeaderMap, ()> {
    let mut edits = HeaderMap::new();
    for name in upstream.keys() {
        if !original.get_all(name).iter().eq(upstream.get_all(name)) {
            for value in upstream.get_all(name) {
                edits.append(name.clone(), value.clone());
            }
        }
    }
    let removed: Vec<&str> = original
        .keys()
        .filter(|name| !upstream.contains_key(*name))
        .map(HeaderName::as_str)
        .collect();
    if !removed.is_empty() {
        let list = HeaderValue::from_str(&removed.join(",")).map_err(drop)?;
        edits.insert(ENVOY_HEADERS_TO_REMOVE, list);
    }
    Ok(edits)
}

impl GatewayProxy {
    /// Decides the original request a proxy sent for checking.
    pub(super) async fn forward_auth(
        &self,
        session: &Session,
        ctx: &RequestCtx,
        from: CheckFrom,
    ) -> GatewayResponse {
        let gateway = &ctx.gateway;
        if !gateway.is_trusted_proxy(client_ip(session)) {
            return GatewayResponse::error(
                403,
                "forbidden",
                "forward-auth checks are taken from trusted proxies only",
            );
        }
        let original = match (from, gateway.envoy_path_prefix.as_deref()) {
            (CheckFrom::Envoy, Some(prefix)) => envoy_original(session, prefix),
            _ => forwarded_original(session.req_header()),
        };
        let original = match original {
            Ok(original) => original,
            Err(why) => return GatewayResponse::error(400, "invalid_request", why),
        };
        let target = match pipeline::target(&original.uri, gateway.allow_semicolon_in_path) {
            Ok(target) => target,
            Err(refusal) => return refusal.into(),
        };
        let mut head = http::Request::new(()).into_parts().0;
        head.method = original.method;
        head.headers = original.headers;
        let target = pipeline::Target {
            raw_path: target.raw_path,
            path: Cow::Borrowed(&target.path),
            query: target.query,
            rewrite: target.rewrite,
        };
        let decided = match gateway.decider().decide(&head, &target, false).await {
            Ok(decided) => decided,
            Err(refused) => return refused.refusal.into(),
        };
        let route = gateway.routes.get(decided.route_index).map(|r| &r.target);
        let allowed = decided.allowed.as_ref();
        let answered = match from {
            // What the upstream should learn, for the proxy's config to copy.
            CheckFrom::Forwarded => {
                let mut learned = HeaderMap::new();
                pass_caller(&mut learned, gateway, route, allowed).map(|()| learned)
            }
            // The edits that make the original headers the upstream's.
            CheckFrom::Envoy => {
                let mut upstream = head.headers.clone();
                pass_caller(&mut upstream, gateway, route, allowed)
                    .map_err(drop)
                    .and_then(|()| envoy_edits(&head.headers, &upstream))
                    .map_err(|()| pingora::Error::new_str("unsendable header"))
            }
        };
        match answered {
            Ok(headers) => GatewayResponse::empty(200).with_extra_headers(headers),
            Err(_) => GatewayResponse::error(
                500,
                "unsendable_identity",
                "the caller's identity cannot be sent as headers",
            ),
        }
    }
}
