//! Portcullis as the decision service behind another proxy — nginx `auth_request`, Traefik
//! ForwardAuth — instead of another hop: the proxy asks `[forward_auth] path` with the
//! original request's headers and its method, URI and host in `X-Forwarded-Method`,
//! `X-Forwarded-Uri` (or `X-Original-Method`, `X-Original-URI`) and `X-Forwarded-Host`. The
//! answer is the engine's one pipeline on that original request: 200 with what the upstream
//! should learn of the caller (identity headers or a signed assertion) for the proxy to copy
//! on, or the refusal itself — status, `WWW-Authenticate` and JSON body. Only trusted proxies
//! (`server.trusted_proxies`) may ask: the forwarded facts are theirs to state.

use super::{client_ip, pass_caller, pipeline, GatewayProxy, RequestCtx};
use crate::proxy::respond::GatewayResponse;
use http::header::{HeaderName, HOST};
use http::HeaderMap;
use pingora::proxy::Session;
use portcullis_core::credential::header_values;
use portcullis_core::credential::spelling::same_header_name;
use std::borrow::Cow;

/// Where the original request's facts travel, in the order they are looked for.
const METHOD: [&str; 2] = ["x-forwarded-method", "x-original-method"];
const URI: [&str; 2] = ["x-forwarded-uri", "x-original-uri"];
const HOST_HEADER: &str = "x-forwarded-host";

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

impl GatewayProxy {
    /// Decides the original request a proxy forwarded for checking.
    pub(super) async fn forward_auth(
        &self,
        session: &Session,
        ctx: &RequestCtx,
    ) -> GatewayResponse {
        let gateway = &ctx.gateway;
        if !gateway.is_trusted_proxy(client_ip(session)) {
            return GatewayResponse::error(
                403,
                "forbidden",
                "forward-auth checks are taken from trusted proxies only",
            );
        }
        let check = session.req_header();
        let bad = |what: &str| GatewayResponse::error(400, "invalid_request", what);
        let Ok(Some(uri)) = forwarded(&check.headers, &URI) else {
            return bad(
                "the original URI is missing or given twice (X-Forwarded-Uri or X-Original-URI)",
            );
        };
        let method =
            match forwarded(&check.headers, &METHOD) {
                Ok(Some(m)) => match http::Method::from_bytes(m.as_bytes()) {
                    Ok(method) => method,
                    Err(_) => return bad("the original method is not a method"),
                },
                Ok(None) => check.method.clone(),
                Err(()) => return bad(
                    "the original method is given twice (X-Forwarded-Method or X-Original-Method)",
                ),
            };
        let target = match pipeline::target(uri.as_bytes(), gateway.allow_semicolon_in_path) {
            Ok(target) => target,
            Err(refusal) => return refusal.into(),
        };
        // The original request as the pipeline reads it: the check's headers (the proxy
        // passes the client's), without the forwarding facts, with the original host.
        let mut head = http::Request::new(()).into_parts().0;
        head.method = method;
        head.headers = check.headers.clone();
        remove_forwarded(&mut head.headers);
        match forwarded(&check.headers, &[HOST_HEADER]) {
            Ok(Some(host)) => {
                let Ok(host) = http::HeaderValue::from_str(host) else {
                    return bad("the original host is not a host");
                };
                head.headers.insert(HOST, host);
            }
            Ok(None) => {}
            Err(()) => return bad("the original host is given twice"),
        }
        let target = pipeline::Target {
            raw_path: target.raw_path,
            path: Cow::Borrowed(&target.path),
            query: target.query,
            rewrite: target.rewrite,
        };
        match gateway.decider().decide(&head, &target, false).await {
            Ok(decided) => {
                let route = gateway.routes.get(decided.route_index).map(|r| &r.target);
                let mut learned = HeaderMap::new();
                if pass_caller(&mut learned, gateway, route, decided.allowed.as_ref()).is_err() {
                    return GatewayResponse::error(
                        500,
                        "unsendable_identity",
                        "the caller's identity cannot be sent as headers",
                    );
                }
                GatewayResponse::empty(200).with_extra_headers(learned)
            }
            Err(refused) => refused.refusal.into(),
        }
    }
}
