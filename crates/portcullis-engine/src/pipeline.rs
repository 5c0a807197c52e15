//! The one decision pipeline: what the gateway's pingora phases and the embedding API both run
//! on a request head. The order of the steps is written here and nowhere else:
//!
//! 1. [`target`] — the request-target as the client wrote it: a path (a raw `#` refused), the
//!    query, normalization (RFC 3986, with the refusals of `route::normalize`);
//! 2. [`decide`] — the host, the route (404, or 405 with `Allow`), method overrides out of the
//!    query, the auth decision (one credential, verification, tenant, level, scopes), the
//!    route's request rules (415, declared 413), the credential out of the query, the OData
//!    policy, and the target the upstream gets.
//!
//! Between the two the gateway answers what is its own (health, polls, its token service, CORS
//! preflights); after them it issues device tokens and proxies. Plain `http` types in, a
//! [`Decided`] or a [`Refusal`] out.

use crate::auth::{self, Allowed};
use crate::policy::RoutePolicy;
use crate::request::forward::is_method_override_parameter;
use crate::request::identity::{query_has, query_has_token, query_without, query_without_token};
use crate::request::rules::RequestRules;
use crate::request::target::split_target;
use crate::verify::Verifier;
use portcullis_core::answer::Answer;
use portcullis_core::credential::{Carrier, Limits, RequestView};
use portcullis_core::principal::Principal;
use portcullis_core::route::{normalize_path, request_host, PathError, RouteMatch, RouteTable};
use portcullis_odata::policy::ODataPolicy;
use std::borrow::Cow;
use std::time::{Duration, Instant};

/// What a route says about a request, whatever else its table's targets hold.
pub trait RouteRules {
    fn policy(&self) -> Option<&RoutePolicy>;
    fn odata(&self) -> Option<&ODataPolicy>;
    fn rules(&self) -> Option<&RequestRules>;
    /// The route passes the verified credential on to its upstream (opt-in; default: never).
    fn keeps_credential(&self) -> bool {
        false
    }
}

/// The snapshot as the pipeline reads it: borrowed, built per request for free.
pub struct Decider<'a, T> {
    pub routes: &'a RouteTable<T>,
    pub verifier: &'a Verifier,
    pub limits: Limits,
    /// The RFC 6750 realm of challenges.
    pub realm: &'a str,
}

/// A refused request: the engine answers with the gateway's one answer type (status, extra
/// headers such as `WWW-Authenticate`, `Allow` or `Retry-After`, and a small JSON body of fixed
/// strings, never request content).
pub type Refusal = Answer;

fn invalid_path(message: &str) -> Refusal {
    Answer::error(400, "invalid_path", message)
}

/// The request-target, read and normalized.
#[derive(Debug)]
pub struct Target<'r> {
    /// The path as sent (health and readiness paths are matched on it exactly).
    pub raw_path: &'r str,
    /// The normalized path: what routes match and what the upstream receives.
    pub path: Cow<'r, str>,
    pub query: Option<&'r str>,
    /// The upstream must get another target than the client sent: an absolute form
    /// (`http://host/path`) or a path that normalization changed.
    pub rewrite: bool,
}

/// Step 1: the raw request-target (the request line's, where a raw `#` still shows).
pub fn target(raw: &[u8], allow_semicolon: bool) -> Result<Target<'_>, Refusal> {
    let parts =
        split_target(raw).ok_or_else(|| invalid_path("the request target is not a path"))?;
    if parts.fragment {
        return Err(invalid_path(PathError::Fragment.message()));
    }
    let path =
        normalize_path(parts.path, allow_semicolon).map_err(|e| invalid_path(e.message()))?;
    let rewrite = parts.absolute_form || matches!(path, Cow::Owned(_));
    Ok(Target {
        raw_path: parts.path,
        path,
        query: parts.query,
        rewrite,
    })
}

/// The request's host: the absolute-form authority if any, else the single `Host` header,
/// lower-cased without port. Several `Host` headers, or one that is not a host (`a, b`,
/// `x:1:2`), are a 400 (RFC 9112 §3.2); an empty one names no host.
pub fn host(head: &http::request::Parts) -> Result<Option<Cow<'_, str>>, Refusal> {
    if let Some(authority) = head.uri.authority() {
        return Ok(request_host(authority.as_str()));
    }
    let mut hosts = head.headers.get_all(http::header::HOST).iter();
    let first = hosts.next();
    if hosts.next().is_some() {
        return Err(Answer::error(
            400,
            "invalid_request",
            "the request has more than one Host",
        ));
    }
    let Some(value) = first.filter(|v| !v.as_bytes().trim_ascii().is_empty()) else {
        return Ok(None);
    };
    match value.to_str().ok().and_then(request_host) {
        Some(host) => Ok(Some(host)),
        None => Err(Answer::error(
            400,
            "invalid_request",
            "the Host header is not a host",
        )),
    }
}

/// A request the pipeline refused, and the route it had matched when it got that far (for the
/// caller's per-route answers: CORS grants, counters, the access log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub route_index: Option<usize>,
    pub refusal: Refusal,
}

impl From<Refusal> for Refused {
    fn from(refusal: Refusal) -> Self {
        Refused {
            route_index: None,
            refusal,
        }
    }
}

/// A request the pipeline let through.
#[derive(Debug)]
pub struct Decided<'t> {
    pub route_index: usize,
    /// `None`: the route has no auth (no credential was looked at).
    pub allowed: Option<Allowed>,
    /// The tenant the request is for: the host pattern's, else the route's tenant header.
    pub tenant: Option<String>,
    /// The query the upstream gets (`None`: none); borrowed from the target unless a step
    /// changed it, so the common request copies nothing.
    pub query: Option<Cow<'t, str>>,
    /// The request-target to send upstream when it differs from the client's.
    pub upstream_target: Option<String>,
    /// How long the auth decision and the OData policy took, when timed.
    pub times: Option<StepTimes>,
}

/// Durations of the steps a debug trace reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct StepTimes {
    pub auth: Duration,
    pub odata: Duration,
}

impl<T: RouteRules> Decider<'_, T> {
    /// Step 2: everything from the host to the upstream's target, in order. `timed`: measure
    /// the steps (only a debug trace asks: a clock read is not free under load).
    pub async fn decide<'t>(
        &self,
        head: &http::request::Parts,
        target: &Target<'t>,
        timed: bool,
    ) -> Result<Decided<'t>, Refused> {
        let host = host(head)?;
        let (index, host_tenant) =
            match self
                .routes
                .find(host.as_deref(), &target.path, &head.method)
            {
                RouteMatch::Found { index, tenant, .. } => (index, tenant.map(str::to_string)),
                RouteMatch::MethodNotAllowed { allowed } => {
                    let allow: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
                    return Err(Answer::error(
                        405,
                        "method_not_allowed",
                        "the route does not allow this method",
                    )
                    .with_header("allow", allow.join(", "))
                    .into());
                }
                RouteMatch::NotFound => {
                    return Err(
                        Answer::error(404, "no_route", "no route matches this request").into(),
                    )
                }
            };
        let refused = |refusal: Refusal| Refused {
            route_index: Some(index),
            refusal,
        };
        let rules = &self
            .routes
            .get(index)
            .expect("find returns an index of the table")
            .target;
        let mut rewrite = target.rewrite;
        // A method override in the query goes the way of the header ones (request::forward).
        let mut query = target.query.map(Cow::Borrowed);
        if target
            .query
            .is_some_and(|q| query_has(q, is_method_override_parameter))
        {
            query = target
                .query
                .and_then(|q| query_without(q, is_method_override_parameter))
                .map(Cow::Owned);
            rewrite = true;
        }

        let clock = timed.then(Instant::now);
        let (allowed, tenant) = match rules.policy() {
            None => (None, host_tenant),
            Some(policy) => {
                let tenant = policy
                    .tenant(&head.headers, host_tenant)
                    .map_err(|e| refused(e.answer(self.realm)))?;
                let view = RequestView {
                    headers: &head.headers,
                    query: query.as_deref(),
                };
                let allowed = auth::decide(
                    policy,
                    self.verifier,
                    &view,
                    &head.method,
                    tenant.as_deref(),
                    self.limits,
                    portcullis_core::principal::now_unix(),
                )
                .await
                .map_err(|e| refused(e.answer(self.realm)))?;
                (Some(allowed), tenant)
            }
        };
        let auth_time = clock.map(|at| at.elapsed());

        if let Some(rules) = rules.rules() {
            rules.check(&head.method, &head.headers).map_err(|breach| {
                refused(Answer::error(
                    breach.status(),
                    breach.code(),
                    breach.message(),
                ))
            })?;
        }
        // The query's token goes: the one taken (unless the route passes it on), or one that
        // was not looked at.
        let query_token = match allowed.as_ref().and_then(|a| a.carrier.as_ref()) {
            Some(carrier) => *carrier == Carrier::Query && !rules.keeps_credential(),
            None => query.as_deref().is_some_and(query_has_token),
        };
        if query_token {
            query = query
                .as_deref()
                .and_then(query_without_token)
                .map(Cow::Owned);
            rewrite = true;
        }

        let clock = timed.then(Instant::now);
        if let Some(odata) = rules.odata() {
            let principal = allowed
                .as_ref()
                .map_or(&Principal::Anonymous, |a| &a.principal);
            let policed = odata
                .check(query.as_deref().unwrap_or(""), principal)
                .map_err(|refusal| refused(refusal.answer()))?;
            if let Some(policed) = policed {
                query = (!policed.is_empty()).then_some(Cow::Owned(policed));
                rewrite = true;
            }
        }
        let times = clock.zip(auth_time).map(|(at, auth)| StepTimes {
            auth,
            odata: at.elapsed(),
        });

        let upstream_target = rewrite.then(|| match &query {
            Some(q) => format!("{}?{q}", target.path),
            None => target.path.to_string(),
        });
        Ok(Decided {
            route_index: index,
            allowed,
            tenant,
            query,
            upstream_target,
            times,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Requirement;
    use crate::verify::appkeys::AppKeys;
    use crate::verify::{CacheSettings, Issuers};
    use portcullis_core::digest::digest;
    use portcullis_core::principal::{Identity, Level};
    use portcullis_core::route::{HostPattern, PathMatch, Route};
    use std::sync::Arc;

    /// What a route holds here: the three things the pipeline asks for.
    struct Rules {
        policy: Option<RoutePolicy>,
        odata: Option<ODataPolicy>,
        rules: Option<RequestRules>,
    }

    impl RouteRules for Rules {
        fn policy(&self) -> Option<&RoutePolicy> {
            self.policy.as_ref()
        }
        fn odata(&self) -> Option<&ODataPolicy> {
            self.odata.as_ref()
        }
        fn rules(&self) -> Option<&RequestRules> {
            self.rules.as_ref()
        }
    }

    const KEY: &str = "pipeline-test-key-0123456789";

    fn verifier() -> Verifier {
        let identity = Identity {
            issuer: Arc::from("keys"),
            subject: "reader".into(),
            tenant: None,
            scopes: vec!["read".into()],
            level: Level::Identified,
            audiences: vec![],
            expires_at: None,
            not_before: None,
            leeway: 0,
            token_id: None,
            claimed_subject: None,
        };
        let issuers = Issuers {
            app_keys: vec![Arc::new(AppKeys::new(
                "keys",
                vec![(digest(KEY), identity)],
            ))],
            ..Issuers::default()
        };
        Verifier::new(issuers, CacheSettings::default())
    }

    fn route(name: &str, prefix: &str, methods: &[http::Method], rules: Rules) -> Route<Rules> {
        Route {
            name: name.into(),
            host: HostPattern::Any,
            path: PathMatch::Prefix(prefix.into()),
            methods: methods.to_vec(),
            target: rules,
        }
    }

    fn table() -> RouteTable<Rules> {
        let policy = RoutePolicy {
            carriers: vec![Carrier::TokenScheme, Carrier::Query],
            issuers: vec![],
            allow_anonymous: false,
            issue_device_token: false,
            audience: None,
            tenant_header: None,
            default: Requirement {
                level: Level::Identified,
                scopes: vec!["read".into()],
                all_scopes: true,
            },
            per_method: vec![],
        };
        let odata = ODataPolicy {
            max_top: Some(10),
            private_fields: vec!["name".into()],
            ..ODataPolicy::default()
        };
        let json = RequestRules {
            json_methods: vec![http::Method::POST],
            max_body: Some(100),
        };
        RouteTable::new(vec![
            route(
                "api",
                "/api",
                &[http::Method::GET, http::Method::POST],
                Rules {
                    policy: Some(policy),
                    odata: Some(odata),
                    rules: Some(json),
                },
            ),
            route(
                "public",
                "/public",
                &[],
                Rules {
                    policy: None,
                    odata: None,
                    rules: None,
                },
            ),
        ])
    }

    fn head(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut request = http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    /// Runs both steps on a request line's target.
    fn run<'r>(
        method: &str,
        raw: &'r str,
        headers: &[(&str, &str)],
    ) -> Result<Decided<'r>, Refused> {
        let (routes, verifier) = (table(), verifier());
        let decider = Decider {
            routes: &routes,
            verifier: &verifier,
            limits: Limits::default(),
            realm: "test",
        };
        let target = target(raw.as_bytes(), false)?;
        let head = head(method, "/", headers);
        let future = decider.decide(&head, &target, true);
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    fn status(result: Result<Decided<'_>, Refused>) -> u16 {
        result.map_or_else(|refused| refused.refusal.status, |_| 200)
    }

    #[test]
    fn the_steps_run_in_order_and_each_refuses_in_its_place() {
        let key = format!("token {KEY}");
        let auth = [("authorization", key.as_str())];
        assert_eq!(status(run("GET", "/public#/../api", &[])), 400, "a raw '#'");
        assert_eq!(status(run("GET", "/nowhere", &[])), 404);
        let refused = run("DELETE", "/api/x", &auth).unwrap_err();
        assert_eq!(refused.refusal.status, 405);
        assert_eq!(
            refused.refusal.headers,
            [("allow", "GET, POST".to_string())]
        );
        let refused = run("GET", "/api/x", &[]).unwrap_err();
        assert_eq!(
            (refused.refusal.status, refused.route_index),
            (401, Some(0)),
            "the route reached stays known"
        );
        assert_eq!(
            status(run("POST", "/api/x", &[auth[0], ("content-length", "3")])),
            415,
            "request rules after auth"
        );
        assert_eq!(
            status(run("GET", "/api/x?$select=name", &auth)),
            403,
            "OData"
        );
        assert_eq!(status(run("GET", "/api/x?$top=50", &auth)), 400);
    }

    #[test]
    fn what_goes_upstream_is_decided_once() {
        let key = format!("token {KEY}");
        let decided = run(
            "GET",
            "/api/./x?_method=DELETE&access_token=other&$top=5",
            &[("authorization", &key)],
        );
        // Two credentials: the query token beside the header.
        assert_eq!(status(decided), 400);
        let raw = format!("/api/./x?_method=DELETE&access_token={KEY}&$top=5");
        let decided = run("GET", &raw, &[]).expect("allowed by the query token");
        assert_eq!(decided.route_index, 0);
        let identity = decided
            .allowed
            .as_ref()
            .unwrap()
            .principal
            .identity()
            .unwrap();
        assert_eq!(identity.subject, "reader");
        assert_eq!(decided.query.as_deref(), Some("$top=5"));
        assert_eq!(decided.upstream_target.as_deref(), Some("/api/x?$top=5"));
        assert!(decided.times.is_some());
        let public = run("GET", "/public/a?b=1", &[]).unwrap();
        assert!(public.allowed.is_none());
        assert_eq!(public.upstream_target, None, "sent as it came");
    }
}
