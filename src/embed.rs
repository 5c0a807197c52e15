//! Portcullis inside your own pingora proxy: the decision core as a library.
//!
//! Load a config, add its maintenance service (JWKS refreshes, key rotation) to your server,
//! call [`Portcullis::decide`] from your `request_filter` and [`Pass::apply`] from your
//! `upstream_request_filter`:
//!
//! ```no_run
//! # use pingora::prelude::*;
//! # use pingora::proxy::Session;
//! # use portcullis::embed::{Decision, Pass, Portcullis};
//! # async fn request_filter(portcullis: &Portcullis, session: &mut Session, ctx: &mut Option<Pass>) -> Result<bool> {
//! match portcullis.decide(session).await {
//!     Decision::Allow(pass) => {
//!         *ctx = Some(pass); // pass.identity(): who is calling
//!         Ok(false)
//!     }
//!     Decision::Refuse(refusal) => {
//!         refusal.send(session).await?; // 401 with its challenge, 403, 404, 400 …
//!         Ok(true)
//!     }
//! }
//! # }
//! ```
//!
//! `decide` does what the gateway does between reading a request head and choosing an
//! upstream: path normalization, route match (host, path, method), credential extraction (one
//! carrier, RFC 6750), verification (JWT, introspection, application keys, the token service's
//! tokens, cached), the route's level and scopes, and OData policing. [`Pass::apply`] then
//! makes the upstream request: the normalized path and checked query, no credential, no
//! client-sent identity headers, the caller's identity in `X-Auth-*` (or the configured names).
//!
//! `decide` is the engine's one pipeline (`portcullis_engine::pipeline`), the same the gateway
//! runs; the route's `[routes.request]` rules on the head (415, declared 413) are part of it.
//! The rest is the gateway's own proxy and not part of this API: framing checks, CORS, polling,
//! device-token issuance, streamed-body limits, the debug header, listeners and the token
//! service's endpoints. `examples/embed.rs` is a complete proxy built on this module.

/// Why a config could not be loaded (`Display` gives every problem at its line).
pub use crate::gateway::load::StartError;
use crate::gateway::{Gateway, SharedGateway};
/// The background upkeep of a loaded config (health checks, JWKS refreshes, key rotation).
pub use crate::maintenance::MaintenanceService;
use crate::proxy::respond::GatewayResponse;
use arc_swap::ArcSwap;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::services::background::{background_service, GenBackgroundService};
use portcullis_core::principal::{Identity, Principal};
use portcullis_engine::pipeline;
use std::path::Path;
use std::sync::Arc;

/// A request as your proxy's `request_summary` should give it to pingora's log lines: method,
/// path and host, never the query (where a token may travel).
pub fn request_summary(request: &RequestHeader) -> String {
    crate::proxy::redacted_summary(request, None)
}

/// A loaded config, ready to decide requests. Cheap to share: clone it into each service.
#[derive(Clone)]
pub struct Portcullis {
    gateway: SharedGateway,
}

/// What to do with a request.
pub enum Decision {
    /// Let it through; keep the pass for `upstream_request_filter`.
    Allow(Pass),
    /// Answer it with this refusal instead.
    Refuse(Refusal),
}

/// An allowed request: who is calling and how the upstream request must look.
pub struct Pass {
    gateway: Arc<Gateway>,
    route_index: usize,
    allowed: Option<portcullis_engine::auth::Allowed>,
    tenant: Option<String>,
    /// The request-target to send when it differs from the client's.
    upstream_target: Option<String>,
}

/// A refused request: a small JSON answer with the right status and headers.
pub struct Refusal {
    response: GatewayResponse,
}

impl Portcullis {
    /// Reads, validates and compiles a Portcullis config file, opening its token service's store
    /// and keys when it has one. Its `[[listeners]]`, `[echo]` and `[metrics]` are not used.
    pub fn load(path: &Path) -> Result<Self, StartError> {
        let loaded = crate::gateway::load::load_for_serving(path)?;
        Ok(Self {
            gateway: Arc::new(ArcSwap::from_pointee(loaded.gateway)),
        })
    }

    /// The background work the decisions rely on (JWKS refreshes, upstream health checks, the
    /// token service's key rotation): add it to your pingora `Server`.
    pub fn maintenance(&self) -> GenBackgroundService<MaintenanceService> {
        background_service(
            "portcullis maintenance",
            MaintenanceService::new(self.gateway.clone()),
        )
    }

    /// Decides a request from its head. It takes the session, not only the parsed head: the
    /// request line as the client wrote it is where a raw `#` still shows (pingora's parsed
    /// path has dropped the fragment, and `/public#/../admin` must be refused, not routed as
    /// `/public`), exactly as the gateway reads it.
    pub async fn decide(&self, session: &Session) -> Decision {
        let raw_target = crate::proxy::raw_request_target(session);
        match self.try_decide(session.req_header(), &raw_target).await {
            Ok(pass) => Decision::Allow(pass),
            Err(response) => Decision::Refuse(Refusal { response }),
        }
    }

    async fn try_decide(
        &self,
        request: &RequestHeader,
        raw_target: &[u8],
    ) -> Result<Pass, GatewayResponse> {
        let gateway = self.gateway.load_full();
        let target = pipeline::target(raw_target, gateway.allow_semicolon_in_path)?;
        let decided = gateway
            .decider()
            .decide(request, &target, false)
            .await
            .map_err(|refused| refused.refusal)?;
        Ok(Pass {
            route_index: decided.route_index,
            allowed: decided.allowed,
            tenant: decided.tenant,
            upstream_target: decided.upstream_target,
            gateway,
        })
    }
}

impl Pass {
    /// The matched route's `name`.
    pub fn route(&self) -> &str {
        self.gateway
            .routes
            .get(self.route_index)
            .map_or("", |r| r.name.as_str())
    }

    /// The caller, when the route has auth and the request carried a credential.
    pub fn identity(&self) -> Option<&Identity> {
        self.allowed.as_ref().and_then(|a| a.principal.identity())
    }

    /// The caller as a principal (`Anonymous` when no credential was presented or looked at).
    pub fn principal(&self) -> &Principal {
        self.allowed
            .as_ref()
            .map_or(&Principal::Anonymous, |a| &a.principal)
    }

    /// The tenant the request was decided for.
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// A healthy backend of the route's configured upstream, if you route by the config too.
    pub fn upstream_peer(&self) -> Option<pingora::prelude::HttpPeer> {
        self.gateway
            .routes
            .get(self.route_index)?
            .target
            .upstream
            .peer()
    }

    /// Makes `upstream_request` what the upstream may see: the normalized path and checked
    /// query, no credential, no method override, no client-sent identity headers, the
    /// caller's identity headers.
    pub fn apply(&self, upstream_request: &mut RequestHeader) -> pingora::Result<()> {
        if let Some(target) = &self.upstream_target {
            upstream_request.set_raw_path(target.as_bytes())?;
        }
        let route = self.gateway.routes.get(self.route_index).map(|r| &r.target);
        crate::proxy::headers::edit_request(upstream_request, |headers| {
            portcullis_engine::request::forward::remove_method_overrides(headers);
            crate::proxy::pass_caller(headers, &self.gateway, route, self.allowed.as_ref())
        })
    }
}

impl Refusal {
    pub fn status(&self) -> u16 {
        self.response.answer.status
    }

    /// The JSON body (`{"error": …, "message": …}`).
    pub fn body(&self) -> &[u8] {
        &self.response.answer.body
    }

    /// Headers besides the framing: `WWW-Authenticate`, `Allow`, `Retry-After`.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.response
            .answer
            .headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
    }

    /// Writes the refusal as the response to `session`.
    pub async fn send(self, session: &mut Session) -> pingora::Result<()> {
        let request_id = portcullis_engine::request::forward::new_request_id();
        self.response.send(session, &request_id).await
    }
}
