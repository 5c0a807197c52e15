//! The pingora glue: each `ProxyHttp` phase calls plain functions from the rest of the crate.

mod forward_auth;
pub mod headers;
mod poll;
pub mod respond;

use crate::gateway::{Gateway, RouteTarget, SharedGateway};
use crate::observe::access::AccessRecord;
use async_trait::async_trait;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::modules::http::HttpModules;
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use portcullis_core::credential::Carrier;
use portcullis_core::route::{Route, RouteMatch};
use portcullis_engine::auth::Allowed;
use portcullis_engine::pipeline;
use portcullis_engine::request::forward::ClientFacts;
use portcullis_engine::request::{cors, debug, forward, framing, hop_by_hop, identity, rules};
use respond::GatewayResponse;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

/// The proxy service: the shared snapshot and what outlives a snapshot (answers waiting to be
/// polled and the connector that fetches them); nothing per-request.
pub struct GatewayProxy {
    gateway: SharedGateway,
    polls: Arc<crate::polling::PollStore>,
    connector: Arc<pingora::connectors::http::Connector>,
}

impl GatewayProxy {
    pub fn new(gateway: SharedGateway, polling: crate::polling::PollSettings) -> Self {
        Self {
            gateway,
            polls: Arc::new(crate::polling::PollStore::new(polling)),
            connector: Arc::new(pingora::connectors::http::Connector::new(None)),
        }
    }
}

/// Per-request state carried across pingora's phases, grouped by what it is about.
pub struct RequestCtx {
    /// The snapshot this request is decided and forwarded on, loaded once when it starts.
    gateway: Arc<Gateway>,
    request_id: http::HeaderValue,
    /// What the request is for: a route, the token service, a poll, a preflight.
    routing: Routing,
    /// The request-target as decided: for the access log and for the upstream.
    target: TargetState,
    /// Who is calling, as decided.
    auth: AuthOutcome,
    /// When things happened: for the access log and debug traces.
    timing: Timing,
    /// Counts a streamed request body against the route's limit.
    body_meter: rules::BodyMeter,
    /// The request was sent upstream (the gateway did not answer it itself).
    forwarded: bool,
}

/// What a request is for.
#[derive(Default)]
struct Routing {
    route_index: Option<usize>,
    /// The built-in token service, not a route.
    token_service: bool,
    /// A poll for a kept answer (`None` inside: a malformed id).
    poll: Option<Option<crate::polling::PollId>>,
    /// A CORS preflight the gateway answered.
    preflight: bool,
    /// A check from another proxy (`[forward_auth]`).
    check: Option<forward_auth::CheckFrom>,
}

/// The request-target as decided.
#[derive(Default)]
struct TargetState {
    /// The normalized path (a poll's id masked), for the access log.
    path: Option<String>,
    query: Option<String>,
    /// The target the upstream gets differs from the client's (absolute form, normalized).
    rewrite: bool,
    /// The request-target to send upstream when it differs from what the client sent.
    upstream: Option<String>,
}

/// Who is calling, as decided.
#[derive(Default)]
struct AuthOutcome {
    /// Set once the auth decision allowed the request.
    allowed: Option<Allowed>,
    /// The tenant the request was decided for (host pattern or tenant header).
    tenant: Option<String>,
    /// A `Set-Cookie` for the response (a new device token).
    set_cookie: Option<String>,
    /// The `error` code of the answer the gateway gave itself (`invalid_token`, …), for the
    /// access log and the denial counters.
    refusal: Option<String>,
}

/// When things happened.
struct Timing {
    started: Instant,
    /// The debug level asked for (0: none); honoured only where `[debug]` permits.
    debug_level: u8,
    /// The client sent the debug header, whatever its value: it is taken off the upstream's
    /// request (a removal is a lookup, not done for the requests that have nothing to remove).
    debug_header_sent: bool,
    times: debug::StageTimes,
    upstream_started: Option<Instant>,
}

impl RequestCtx {
    /// Whether the phases are timed: only for a permitted-or-not debug trace request, since
    /// nothing else reads the times (a clock read per phase is not free under load).
    fn timed(&self) -> bool {
        self.timing.debug_level > 0
    }

    /// The start of a timed phase, when phases are timed.
    fn phase_clock(&self) -> Option<Instant> {
        self.timed().then(Instant::now)
    }

    /// The matched route, derived from the snapshot and the route index.
    fn route(&self) -> Option<&Route<RouteTarget>> {
        self.gateway.routes.get(self.routing.route_index?)
    }

    fn new(gateway: Arc<Gateway>) -> Self {
        Self {
            gateway,
            request_id: http::HeaderValue::from_static(""),
            routing: Routing::default(),
            target: TargetState::default(),
            auth: AuthOutcome::default(),
            timing: Timing {
                started: Instant::now(),
                debug_level: 0,
                debug_header_sent: false,
                times: debug::StageTimes::default(),
                upstream_started: None,
            },
            body_meter: rules::BodyMeter::default(),
            forwarded: false,
        }
    }
}

/// The raw request-target as the client wrote it. HTTP/1 keeps the request line, where a raw
/// `#` is still visible (pingora drops fragments when it builds the URI); other protocols fall
/// back to pingora's raw path.
pub(crate) fn raw_request_target(session: &Session) -> bytes::Bytes {
    if let Some(h1) = session.as_downstream().as_http1() {
        let raw = h1.get_headers_raw_bytes();
        if let Some(target) = portcullis_engine::request::target::request_line_target(&raw) {
            // A slice of the refcounted header buffer: no copy.
            return raw.slice_ref(target);
        }
    }
    bytes::Bytes::copy_from_slice(session.req_header().raw_path())
}

/// The client's IP address (none for Unix-socket listeners).
fn client_ip(session: &Session) -> Option<std::net::IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())
}

/// The client's address: the peer's, or the last `X-Forwarded-For` entry when the peer is a
/// trusted proxy.
fn forwarded_client(
    gateway: &crate::gateway::Gateway,
    session: &Session,
) -> Option<std::net::IpAddr> {
    let peer = client_ip(session);
    if !gateway.is_trusted_proxy(peer) {
        return peer;
    }
    session
        .req_header()
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|ip| ip.trim().parse().ok())
        .or(peer)
}

/// `204` with the grants, or `403 cors_refused`.
fn preflight_answer(
    policy: &cors::CorsPolicy,
    asked: &http::Method,
    headers: &http::HeaderMap,
) -> GatewayResponse {
    match policy.preflight(asked, headers) {
        Ok(headers) => GatewayResponse::empty(204).with_headers(headers),
        Err(refusal) => GatewayResponse::error(403, "cors_refused", refusal.message()),
    }
}

/// Whether the client connected over TLS.
fn is_tls(session: &Session) -> bool {
    session.digest().is_some_and(|d| d.ssl_digest.is_some())
}

/// An early answer to a request whose body is left unread closes the connection, so the body
/// is never read as the next request.
fn closing_if_body(response: GatewayResponse, may_have_body: bool) -> GatewayResponse {
    if may_have_body {
        response.closing()
    } else {
        response
    }
}

impl GatewayProxy {
    /// Decides what to do with a request: an early answer, or `Ok(None)` to proxy it.
    fn decide(&self, session: &Session, ctx: &mut RequestCtx) -> Option<GatewayResponse> {
        let gateway = ctx.gateway.clone();
        let request = session.req_header();
        let may_have_body = framing::may_have_body(&request.headers);

        // Only when Transfer-Encoding is present can pingora have hidden a Content-Length.
        let raw_content_length = request
            .headers
            .contains_key(http::header::TRANSFER_ENCODING)
            && session.as_downstream().as_http1().is_some_and(|h1| {
                framing::raw_header_has_content_length(&h1.get_headers_raw_bytes())
            });
        if let Err(e) =
            framing::check_framing(&request.headers, request.version, raw_content_length)
        {
            return Some(GatewayResponse::error(400, "invalid_request", e.message()).closing());
        }
        let raw_target = raw_request_target(session);
        let target = match pipeline::target(&raw_target, gateway.allow_semicolon_in_path) {
            Ok(target) => target,
            Err(refusal) => return Some(closing_if_body(refusal.into(), may_have_body)),
        };
        if target.raw_path == gateway.health_path {
            return Some(GatewayResponse::json(200, br#"{"status":"ok"}"#.to_vec()));
        }
        if let Some(from) = forward_auth::check_from(&gateway, target.raw_path) {
            ctx.target.path = Some(target.raw_path.to_string());
            ctx.routing.check = Some(from);
            return None;
        }
        if target.raw_path == gateway.ready_path {
            return Some(if gateway.is_ready() {
                GatewayResponse::json(200, br#"{"status":"ready"}"#.to_vec())
            } else {
                GatewayResponse::error(503, "not_ready", "the gateway is not ready yet")
            });
        }
        let path = &target.path;
        ctx.target.query = target.query.map(str::to_string);
        if let Some(id) = self.polls.poll_path(path) {
            // The id stays out of the access log: on routes without auth it is all it takes.
            ctx.target.path = Some(format!("{}/poll/…", self.polls.settings.prefix));
            ctx.routing.poll = Some(id);
            return None;
        }
        ctx.target.path = Some(path.to_string());
        ctx.target.rewrite = target.rewrite;
        if let Some(service) = &gateway.token_service {
            if portcullis_tokens::endpoints::is_service_path(service, path) {
                ctx.routing.token_service = true;
                return self.token_service_preflight(ctx, request);
            }
        }
        self.preflight(ctx, path, request)
    }
}

impl GatewayProxy {
    /// Answers a CORS preflight for a route with `[routes.cors]`; `None` for anything else
    /// (which is then routed as the `OPTIONS` request it is).
    fn preflight(
        &self,
        ctx: &mut RequestCtx,
        path: &str,
        request: &RequestHeader,
    ) -> Option<GatewayResponse> {
        let asked = cors::preflight_method(&request.method, &request.headers)?;
        // The host is read here only for preflights; the pipeline reads it for the rest.
        let host = match pipeline::host(request) {
            Ok(host) => host,
            Err(refusal) => return Some(refusal.into()),
        };
        let found = ctx.gateway.routes.find(host.as_deref(), path, &asked);
        let RouteMatch::Found { index, .. } = found else {
            return None;
        };
        let policy = ctx.gateway.routes.get(index)?.target.cors.as_ref()?;
        let answer = preflight_answer(policy, &asked, &request.headers);
        ctx.routing.route_index = Some(index);
        ctx.routing.preflight = true;
        Some(answer)
    }

    /// Answers a CORS preflight to the token service when `[token_service.cors]` is set.
    fn token_service_preflight(
        &self,
        ctx: &mut RequestCtx,
        request: &RequestHeader,
    ) -> Option<GatewayResponse> {
        let asked = cors::preflight_method(&request.method, &request.headers)?;
        let policy = ctx.gateway.token_service_cors.as_ref()?;
        ctx.routing.preflight = true;
        Some(preflight_answer(policy, &asked, &request.headers))
    }

    /// CORS headers for the answer to an actual request on a route with `[routes.cors]` (or
    /// to the token service with `[token_service.cors]`).
    fn cors_headers(&self, session: &Session, ctx: &RequestCtx) -> cors::Headers {
        let policy = if ctx.routing.token_service {
            ctx.gateway.token_service_cors.as_ref()
        } else {
            ctx.route().and_then(|r| r.target.cors.as_ref())
        };
        match policy {
            Some(policy) if !ctx.routing.preflight => {
                policy.response_headers(&session.req_header().headers)
            }
            _ => Vec::new(),
        }
    }
}

impl GatewayProxy {
    /// Sends the gateway's own answer (with a trace when one was asked for and is permitted).
    async fn answer(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        mut response: GatewayResponse,
    ) -> Result<bool> {
        if response.answer.status >= 400 {
            ctx.auth.refusal = refusal_code(&response.answer);
        }
        if let Some(trace) = self.trace(session, ctx, Some(response.answer.status)) {
            if let Ok(value) = http::HeaderValue::try_from(trace) {
                response = response.with_extra_header(ctx.gateway.debug.header.clone(), value);
            }
        }
        response = response.with_headers(self.cors_headers(session, ctx));
        response.send(session, &ctx.request_id).await?;
        Ok(true)
    }

    /// The debug trace for this request, if it asked for one and may see it.
    fn trace(&self, session: &Session, ctx: &RequestCtx, status: Option<u16>) -> Option<String> {
        if ctx.timing.debug_level == 0 {
            return None;
        }
        let principal = ctx.auth.allowed.as_ref().map(|a| &a.principal);
        if !ctx.gateway.debug.permits(client_ip(session), principal) {
            return None;
        }
        let trace = debug::Trace {
            level: ctx.timing.debug_level,
            route: ctx.route().map(|r| r.name.as_str()),
            status,
            allowed: ctx.auth.allowed.as_ref(),
            times: &ctx.timing.times,
        };
        Some(trace.render())
    }
}

impl GatewayProxy {
    /// The engine's pipeline on this request (route, auth, request rules, query, OData), then
    /// what only the gateway does with its outcome: a device token for a first-time visitor on
    /// a route that hands them out, and the body meter armed. `Err`: the answer instead.
    async fn decide_route(
        &self,
        session: &Session,
        ctx: &mut RequestCtx,
    ) -> Result<(), GatewayResponse> {
        let gateway = ctx.gateway.clone();
        let request = session.req_header();
        let refused = |refusal: pipeline::Refusal| {
            closing_if_body(refusal.into(), framing::may_have_body(&request.headers))
        };
        let path = ctx.target.path.as_deref().unwrap_or("/");
        let target = pipeline::Target {
            raw_path: path,
            path: Cow::Borrowed(path),
            query: ctx.target.query.as_deref(),
            rewrite: ctx.target.rewrite,
        };
        let decided = match gateway
            .decider()
            .decide(request, &target, ctx.timed())
            .await
        {
            Ok(decided) => decided,
            Err(refused_at) => {
                // The route stays known for the answer's CORS grants, counters and log.
                ctx.routing.route_index = refused_at.route_index;
                return Err(refused(refused_at.refusal));
            }
        };
        ctx.routing.route_index = Some(decided.route_index);
        ctx.auth.tenant = decided.tenant;
        ctx.target.upstream = decided.upstream_target;
        if let Some(times) = decided.times {
            ctx.timing.times.auth = times.auth;
            ctx.timing.times.odata = times.odata;
        }
        let allowed = decided.allowed;
        // A query a step changed replaces the one sent; one left as sent stays where it is.
        match decided.query {
            Some(Cow::Borrowed(_)) => {}
            changed => ctx.target.query = changed.map(Cow::into_owned),
        }
        let route = ctx.route().map(|r| &r.target);
        let device_route = route
            .and_then(|r| r.policy.as_ref())
            .is_some_and(|p| p.issue_device_token);
        ctx.auth.allowed = match allowed {
            Some(allowed) if allowed.carrier.is_none() && device_route => Some(
                Box::pin(self.new_device(&gateway, session, ctx))
                    .await
                    .map_err(|e| refused(e.answer(&gateway.realm)))?,
            ),
            other => other,
        };
        if let Some(rules) = ctx.route().and_then(|r| r.target.rules.as_ref()) {
            ctx.body_meter = rules::BodyMeter::new(rules.max_body);
        }
        Ok(())
    }

    /// A request without a credential on a device-token route: a new anonymous device token,
    /// sent back as a cookie; the request goes on as that device.
    async fn new_device(
        &self,
        gateway: &Gateway,
        session: &Session,
        ctx: &mut RequestCtx,
    ) -> Result<Allowed, portcullis_engine::challenge::AuthError> {
        let service = gateway
            .token_service
            .as_ref()
            .ok_or(portcullis_engine::challenge::AuthError::Unavailable)?;
        let client = forwarded_client(gateway, session);
        let issued = service
            .issue_device_token(client, ctx.auth.tenant.clone())
            .await
            .map_err(|e| match e {
                portcullis_tokens::ServiceError::Limited(wait) => {
                    portcullis_engine::challenge::AuthError::Limited(wait.as_secs().max(1) as u32)
                }
                e => {
                    tracing::error!(error = ?e, "token store");
                    portcullis_engine::challenge::AuthError::Unavailable
                }
            })?;
        let tls = is_tls(session);
        ctx.auth.set_cookie = Some(portcullis_tokens::endpoints::device_cookie(
            service,
            &issued.token,
            tls,
        ));
        let identity = service.identity_of(&issued.record, None);
        Ok(Allowed {
            principal: portcullis_core::principal::Principal::authenticated(identity),
            carrier: None,
            cache_hit: false,
        })
    }

    /// Reads the (small) body of a token-service request and answers it.
    async fn serve_token_service(
        &self,
        session: &mut Session,
        ctx: &RequestCtx,
    ) -> Result<GatewayResponse> {
        use portcullis_tokens::endpoints::{self, ServiceRequest, MAX_BODY};
        let gateway = &ctx.gateway;
        let service = gateway
            .token_service
            .as_ref()
            .ok_or_else(|| Error::explain(InternalError, "no token service"))?;
        let mut body = Vec::new();
        while let Some(chunk) = session.read_request_body().await? {
            if body.len() + chunk.len() > MAX_BODY {
                return Ok(GatewayResponse::error(
                    413,
                    "payload_too_large",
                    "the request body is too large",
                )
                .closing());
            }
            body.extend_from_slice(&chunk);
        }
        let request = session.req_header();
        // A malformed Host was refused before routing; here it only names a tenant.
        let host = pipeline::host(request).ok().flatten();
        let answer = endpoints::handle(
            service,
            &ServiceRequest {
                host: host.as_deref(),
                method: &request.method,
                path: ctx.target.path.as_deref().unwrap_or("/"),
                headers: &request.headers,
                body: &body,
                tls: is_tls(session),
                limits: gateway.limits,
                query: request.uri.query(),
                client: forwarded_client(gateway, session),
            },
        )
        .await;
        Ok(answer.into())
    }
}

#[async_trait]
impl ProxyHttp for GatewayProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new(self.gateway.load_full())
    }

    /// No downstream modules. pingora's default adds its response-compression module, disabled,
    /// which still builds a module context and runs its filters on every request (~1k
    /// instructions, `bench/instructions.sh`); the gateway never compresses, the upstream does.
    fn init_downstream_modules(&self, _modules: &mut HttpModules) {}

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        // `ctx.timing.started` was read in `new_ctx`, just before this.
        ctx.request_id = match session.req_header().headers.get(&X_REQUEST_ID) {
            Some(v) if forward::acceptable_request_id(v.as_bytes()) => v.clone(),
            _ => forward::new_request_id(),
        };
        let debug_header = session.req_header().headers.get(&ctx.gateway.debug.header);
        ctx.timing.debug_header_sent = debug_header.is_some();
        ctx.timing.debug_level = debug::requested_level(debug_header.map(|v| v.as_bytes()));
        let decided = self.decide(session, ctx);
        if ctx.timed() {
            ctx.timing.times.route = ctx.timing.started.elapsed();
        }
        // The gateway's own answers, the token service, polls and held requests are boxed:
        // their futures are large, and unboxed they would size (and be copied with) the
        // future of every request that passes.
        if let Some(response) = decided {
            return Box::pin(self.answer(session, ctx, response)).await;
        }
        if let Some(from) = ctx.routing.check {
            let response = Box::pin(self.forward_auth(session, ctx, from)).await;
            return Box::pin(self.answer(session, ctx, response)).await;
        }
        if ctx.routing.token_service {
            let response = Box::pin(self.serve_token_service(session, ctx)).await?;
            return Box::pin(self.answer(session, ctx, response)).await;
        }
        if let Some(id) = ctx.routing.poll {
            return Box::pin(self.serve_poll(session, ctx, id)).await;
        }
        if let Err(response) = self.decide_route(session, ctx).await {
            return Box::pin(self.answer(session, ctx, response)).await;
        }
        if let Some(within) = ctx.route().and_then(|r| r.target.respond_within) {
            return Box::pin(self.respond_within(session, ctx, within)).await;
        }
        Ok(false)
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let size = body.as_ref().map_or(0, |b| b.len());
        if ctx.body_meter.add(size).is_err() {
            // Nothing past the limit goes upstream; fail_to_proxy answers 413.
            *body = None;
            return Error::e_explain(Custom(BODY_TOO_LARGE), "the request body is over the limit");
        }
        Ok(())
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        // Always read: the upstream response time is a metric, not only a debug figure.
        ctx.timing.upstream_started = Some(Instant::now());
        let upstream = ctx
            .route()
            .map(|r| &r.target.upstream)
            .ok_or_else(|| Error::explain(InternalError, "no route chosen"))?;
        match upstream.peer() {
            Some(peer) => Ok(Box::new(peer)),
            None => Error::e_explain(
                Custom("no healthy backend"),
                format!("upstream {} has no healthy backend", upstream.name),
            ),
        }
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.forwarded = true;
        self.prepare_upstream_request(session, upstream_request, ctx)
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        self.decorate_response(session, upstream_response, ctx)
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let (status, code, message) = failure_response(e);
        if status > 0 && session.response_written().is_none() {
            let response = GatewayResponse::error(status, code, message).closing();
            if let Err(write_error) = response.send(session, &ctx.request_id).await {
                tracing::debug!(error = %write_error, "could not send the error response");
            }
        }
        FailToProxy {
            error_code: status,
            can_reuse_downstream: false,
        }
    }

    /// What pingora writes about a request in its own log lines ("Fail to proxy: …"). Its
    /// default is the request line as sent, query and all — and a query can carry a token.
    fn request_summary(&self, session: &Session, ctx: &RequestCtx) -> String {
        redacted_summary(session.req_header(), ctx.target.path.as_deref())
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let counters = match ctx.route() {
            Some(route) => &route.target.counters,
            None if ctx.routing.token_service => &*crate::observe::metrics::TOKEN_SERVICE,
            None => &*crate::observe::metrics::UNROUTED,
        };
        counters.record(ctx.forwarded, status, ctx.timing.started.elapsed());
        if let Some(reason) = &ctx.auth.refusal {
            crate::observe::metrics::count_denial(reason);
        }
        if !ctx.gateway.access_log {
            return;
        }
        let head = session.req_header();
        let subject = ctx
            .auth
            .allowed
            .as_ref()
            .and_then(|a| a.principal.identity())
            .map(|identity| crate::observe::access::subject_reference(&identity.subject));
        AccessRecord {
            // Only plain ASCII ids are kept (forward::acceptable_request_id).
            request_id: ctx.request_id.to_str().unwrap_or_default(),
            method: head.method.as_str(),
            host: head
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| head.uri.host()),
            path: ctx.target.path.as_deref(),
            route: ctx.route().map(|r| r.name.as_str()),
            upstream: ctx.route().map(|r| r.target.upstream.name.as_str()),
            status,
            reason: ctx.auth.refusal.as_deref(),
            subject: subject.as_deref(),
            duration: ctx.timing.started.elapsed(),
            bytes_in: session.body_bytes_read(),
            bytes_out: session.body_bytes_sent(),
            user_agent: head
                .headers
                .get(http::header::USER_AGENT)
                .and_then(|h| h.to_str().ok()),
            client: client_ip(session),
            error: e.map(|e| e.etype().as_str()),
        }
        .emit();
    }
}

impl GatewayProxy {
    /// Turns the client's request into the upstream's: the normalized target, forwarding
    /// headers, no credential, no client-sent identity or debug headers, the caller's identity.
    fn prepare_upstream_request(
        &self,
        session: &Session,
        upstream_request: &mut RequestHeader,
        ctx: &RequestCtx,
    ) -> Result<()> {
        if let Some(target) = &ctx.target.upstream {
            upstream_request.set_raw_path(target.as_bytes())?;
        }
        let gateway = &ctx.gateway;
        let peer = client_ip(session);
        let facts = ClientFacts {
            peer,
            peer_is_trusted: gateway.is_trusted_proxy(peer),
            tls: is_tls(session),
            host: session.req_header().headers.get(http::header::HOST),
        };
        let route = ctx.route();
        let allowed = ctx.auth.allowed.as_ref();
        headers::edit_request(upstream_request, |headers| {
            // Room for what is added below (forwarding, identity, request id): one growth of
            // the map at most instead of one per crossed capacity.
            headers.reserve(ADDED_HEADERS);
            forward::set_forwarding_headers(headers, &facts);
            // The debug request is between the caller and the gateway.
            if ctx.timing.debug_header_sent {
                headers.remove(&gateway.debug.header);
            }
            pass_caller(headers, gateway, route.map(|r| &r.target), allowed)?;
            headers.insert(X_REQUEST_ID.clone(), ctx.request_id.clone());
            Ok(())
        })
    }

    /// Makes an upstream answer the client's: its connection fields off, then the gateway's
    /// headers on — request id, debug trace, CORS grants, a new device cookie, and no-store
    /// after a query-string token.
    fn decorate_response(
        &self,
        session: &Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let upstream_time = ctx.timing.upstream_started.map(|at| at.elapsed());
        if let (Some(time), Some(route)) = (upstream_time, ctx.route()) {
            route.target.counters.observe_upstream(time);
        }
        if ctx.timed() {
            ctx.timing.times.upstream = upstream_time;
        }
        let trace = self.trace(session, ctx, None);
        let cors = self.cors_headers(session, ctx);
        let cookie = ctx.auth.set_cookie.take();
        let token_in_query = ctx
            .auth
            .allowed
            .as_ref()
            .is_some_and(|a| a.carrier == Some(Carrier::Query));
        let status = upstream_response.status;
        headers::edit_response(upstream_response, |headers| {
            // First, so that a field the upstream's `Connection` names is never one of ours.
            hop_by_hop::strip_from_response(headers, status);
            headers.insert(X_REQUEST_ID.clone(), ctx.request_id.clone());
            if let Some(trace) = trace {
                headers.insert(
                    ctx.gateway.debug.header.clone(),
                    headers::header_value(trace)?,
                );
            }
            for (name, value) in cors {
                let value = headers::header_value(value)?;
                if name == "vary" {
                    headers.append(name, value);
                } else {
                    headers.insert(name, value);
                }
            }
            if let Some(cookie) = cookie {
                headers.append(http::header::SET_COOKIE, headers::header_value(cookie)?);
            }
            if token_in_query && status.is_success() {
                // RFC 6750 §2.3: a response to a URL that held a token must not be shared.
                let no_store = http::HeaderValue::from_static("private, no-store");
                headers.insert(http::header::CACHE_CONTROL, no_store);
                let no_referrer = http::HeaderValue::from_static("no-referrer");
                headers.insert(http::header::REFERRER_POLICY, no_referrer);
            }
            Ok(())
        })
    }
}

/// A request for log lines: method, path without its query (the normalized one once known;
/// poll ids already masked), and host. Never the query, which may hold a credential.
pub fn redacted_summary(request: &RequestHeader, normalized_path: Option<&str>) -> String {
    let path = normalized_path.unwrap_or_else(|| request.uri.path());
    let host = request
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let query = if request.uri.query().is_some() {
        "?…"
    } else {
        ""
    };
    format!("{} {path}{query}, Host: {host}", request.method)
}

/// The most headers `prepare_upstream_request` adds: three `X-Forwarded-*`, six identity
/// headers, the request id.
const ADDED_HEADERS: usize = 10;

static X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// The error a body over the route's limit fails the request with.
const BODY_TOO_LARGE: &str = "request body too large";

/// Maps a proxying failure to (status, error code, message). Status 0: the client is gone.
fn failure_response(e: &Error) -> (u16, &'static str, &'static str) {
    use pingora::ErrorType::*;
    match e.etype() {
        ConnectTimedout | ReadTimedout | WriteTimedout => (
            504,
            "upstream_timeout",
            "the upstream did not answer in time",
        ),
        HTTPStatus(code) if *code >= 400 => (*code, "upstream_error", "the request failed"),
        Custom(BODY_TOO_LARGE) => (413, "payload_too_large", "the request body is too large"),
        Custom("no healthy backend") => {
            (502, "upstream_unavailable", "no healthy upstream backend")
        }
        _ => match e.esource() {
            ErrorSource::Upstream => (
                502,
                "upstream_unavailable",
                "the upstream could not be reached",
            ),
            ErrorSource::Downstream => match e.etype() {
                ReadError | WriteError | ConnectionClosed => (0, "", ""),
                _ => (400, "invalid_request", "the request could not be read"),
            },
            ErrorSource::Internal | ErrorSource::Unset => (
                500,
                "internal_error",
                "the gateway failed to handle the request",
            ),
        },
    }
}

/// The `error` code of a JSON answer (`{"error": "invalid_token", …}`), if it has one.
fn refusal_code(answer: &portcullis_core::answer::Answer) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Code {
        error: String,
    }
    let code = serde_json::from_slice::<Code>(&answer.body).ok()?.error;
    (code.len() <= 64 && code.bytes().all(|b| b.is_ascii_graphic())).then_some(code)
}

/// What the upstream learns of the caller, as the route says: `X-Auth-*` headers or a signed
/// assertion; the credential removed, or (opt-in) kept where the client put it. Client-sent
/// identity headers never pass. The gateway and the embedding API both call this.
pub(crate) fn pass_caller(
    headers: &mut http::HeaderMap,
    gateway: &Gateway,
    route: Option<&crate::gateway::RouteTarget>,
    allowed: Option<&Allowed>,
) -> Result<()> {
    let names = &gateway.identity_headers;
    let assertion = route.and_then(|r| r.assertion.as_ref());
    let keep_credential = route.is_some_and(|r| r.keep_credential);
    if let Some(settings) = assertion {
        // Never the client's own assertion.
        headers.remove(&settings.header);
    }
    match (assertion, keep_credential) {
        (None, false) => identity::pass_identity(headers, allowed, names),
        (Some(_), false) => identity::pass_no_identity(headers, allowed, names),
        (assertion, true) => {
            identity::pass_keeping_credential(headers, allowed, names, assertion.is_none())
        }
    }
    .map_err(headers::unsendable)?;
    if let (Some(settings), Some(service), Some(identity)) = (
        assertion,
        &gateway.token_service,
        allowed.and_then(|a| a.principal.identity()),
    ) {
        let token =
            gateway
                .assertions
                .for_identity(service, identity, &settings.audience, settings.ttl);
        headers.insert(settings.header.clone(), token);
    }
    Ok(())
}
