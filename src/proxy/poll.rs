//! The pingora side of polling (`respond_within` routes and `{prefix}/poll/{id}`); the store
//! and the upstream exchange are in `crate::polling`.
//!
//! A `respond_within` route does not go through pingora's proxy phases: the gateway reads the
//! body, prepares the upstream request exactly as `upstream_request_filter` would, and runs the
//! exchange in a task of its own. The client gets the answer if it comes within the budget,
//! else `202` + a polling id; the task's answer then waits in the store.

use super::respond::GatewayResponse;
use super::rules::RuleBreach;
use super::{closing_if_body, framing, GatewayProxy, RequestCtx};
use crate::polling::exchange::{self, ExchangeError};
use crate::polling::{owner_of, Origin, Poll, PollId, StoredResponse};
use bytes::BytesMut;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::Session;
use portcullis_core::credential::RequestView;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

impl GatewayProxy {
    /// Serves a request on a `respond_within` route.
    pub(super) async fn respond_within(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        within: Duration,
    ) -> Result<bool> {
        let settings = &self.polls.settings;
        let route_limit = ctx
            .route()
            .and_then(|r| r.target.rules.as_ref())
            .and_then(|r| r.max_body);
        let limit = route_limit.map_or(settings.max_body_bytes, |l| l.min(settings.max_body_bytes));
        let had_body = framing::may_have_body(&session.req_header().headers);
        let mut body = BytesMut::new();
        while let Some(chunk) = session.read_request_body().await? {
            if (body.len() + chunk.len()) as u64 > limit {
                let response = GatewayResponse::rule_breach(RuleBreach::BodyTooLarge);
                return self.answer(session, ctx, response).await;
            }
            body.extend_from_slice(&chunk);
        }

        let mut request = session.req_header().clone();
        self.prepare_upstream_request(session, &mut request, ctx)?;
        exchange::frame_request(&mut request, body.len(), had_body);
        let gateway = ctx.gateway.clone();
        let Some(route) = ctx.routing.route_index.and_then(|i| gateway.routes.get(i)) else {
            return Error::e_explain(InternalError, "no route chosen");
        };
        let origin = Origin {
            owner: ctx
                .auth
                .allowed
                .as_ref()
                .and_then(|a| owner_of(&a.principal)),
            route: route.name.clone(),
            route_index: ctx.routing.route_index.unwrap_or_default(),
            method: request.method.clone(),
            tenant: ctx.auth.tenant.clone(),
        };
        ctx.timing.upstream_started = ctx.phase_clock();
        let Some(peer) = route.target.upstream.peer() else {
            let response =
                GatewayResponse::error(502, "upstream_unavailable", "no healthy upstream backend");
            return self.answer(session, ctx, response).await;
        };
        ctx.forwarded = true;

        // The task hands its answer to the waiting client, or — once the client has been given
        // a polling id (`slot`) and stopped waiting — to the store.
        let (sender, mut receiver) = tokio::sync::oneshot::channel::<StoredResponse>();
        let slot = Arc::new(OnceLock::<PollId>::new());
        let (polls, connector, task_slot) =
            (self.polls.clone(), self.connector.clone(), slot.clone());
        let (max_body, deadline) = (settings.max_body_bytes, settings.upstream_timeout);
        tokio::spawn(async move {
            let answer = exchange::exchange(
                &connector,
                &peer,
                request,
                body.freeze(),
                max_body,
                deadline,
            )
            .await
            .unwrap_or_else(ExchangeError::into_response);
            if let Err(answer) = sender.send(answer) {
                if let Some(id) = task_slot.get() {
                    polls.complete(*id, answer);
                }
            }
        });

        let answer = match tokio::time::timeout(within, &mut receiver).await {
            Ok(answer) => answer,
            Err(_) => match self.polls.admit(origin) {
                Some(id) => {
                    let _ = slot.set(id);
                    // An answer that slipped in meanwhile goes to the store, not astray.
                    if let Ok(answer) = receiver.try_recv() {
                        self.polls.complete(id, answer);
                    }
                    drop(receiver);
                    let response = self.pending(id);
                    return self.answer(session, ctx, response).await;
                }
                // The store is full: wait like a route without polling would.
                None => receiver.await,
            },
        };
        let answer = answer.map_err(|_| Error::explain(InternalError, "exchange task lost"))?;
        self.send_stored(session, ctx, &answer, false).await
    }

    /// `202 Accepted` pointing at where the answer will be.
    fn pending(&self, id: PollId) -> GatewayResponse {
        let body = serde_json::json!({ "polling_id": id.to_string(), "status": "pending" });
        GatewayResponse::json(202, body.to_string().into_bytes())
            .with_header("location", self.polls.location(id))
            .with_header("retry-after", "1")
    }

    /// Answers `{prefix}/poll/{id}`: authorized like the original request and only for the
    /// same principal; anything else looks like an unknown id.
    pub(super) async fn serve_poll(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        id: Option<PollId>,
    ) -> Result<bool> {
        let method = &session.req_header().method;
        if method != http::Method::GET && method != http::Method::HEAD {
            let response =
                GatewayResponse::error(405, "method_not_allowed", "polling takes GET or HEAD")
                    .with_header("allow", "GET, HEAD");
            return self.answer(session, ctx, response).await;
        }
        let unknown = || {
            GatewayResponse::error(
                404,
                "unknown_polling_id",
                "no answer waits under this id (unknown, already fetched or expired)",
            )
        };
        let Some((id, origin)) = id.and_then(|id| Some((id, self.polls.origin(id)?))) else {
            return self.answer(session, ctx, unknown()).await;
        };
        let gateway = ctx.gateway.clone();
        let route = gateway
            .routes
            .get(origin.route_index)
            .filter(|r| r.name == origin.route)
            .or_else(|| {
                gateway
                    .routes
                    .routes()
                    .iter()
                    .find(|r| r.name == origin.route)
            });
        let Some(route) = route else {
            return self.answer(session, ctx, unknown()).await;
        };
        let owner = match &route.target.policy {
            None => None,
            Some(policy) => {
                let request = session.req_header();
                let view = RequestView {
                    headers: &request.headers,
                    query: ctx.target.query.as_deref(),
                };
                let decision = portcullis_engine::auth::decide(
                    policy,
                    &gateway.verifier,
                    &view,
                    &origin.method,
                    origin.tenant.as_deref(),
                    gateway.limits,
                    portcullis_core::principal::now_unix(),
                )
                .await;
                match decision {
                    Ok(allowed) => owner_of(&allowed.principal),
                    Err(error) => {
                        let refusal = error.answer(&gateway.realm);
                        let response = closing_if_body(
                            refusal.into(),
                            framing::may_have_body(&request.headers),
                        );
                        return self.answer(session, ctx, response).await;
                    }
                }
            }
        };
        match self.polls.take(id, &owner) {
            None => self.answer(session, ctx, unknown()).await,
            Some(Poll::Pending) => self.answer(session, ctx, self.pending(id)).await,
            Some(Poll::Ready(answer)) => self.send_stored(session, ctx, &answer, true).await,
        }
    }

    /// Writes an upstream answer kept whole, with the gateway's response headers.
    async fn send_stored(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        answer: &StoredResponse,
        fetched_by_poll: bool,
    ) -> Result<bool> {
        let mut header = ResponseHeader::build(answer.status, Some(answer.headers.len() + 4))?;
        for (name, value) in &answer.headers {
            header.append_header(name.clone(), value.clone())?;
        }
        let no_content = matches!(answer.status, 204 | 304);
        if !no_content {
            header.insert_header(http::header::CONTENT_LENGTH, answer.body.len().to_string())?;
        }
        if fetched_by_poll {
            // A poll URL answers once; nothing may keep a copy.
            header.insert_header(http::header::CACHE_CONTROL, "no-store")?;
        }
        self.decorate_response(session, &mut header, ctx)?;
        let head_only = no_content || session.req_header().method == http::Method::HEAD;
        session
            .write_response_header(Box::new(header), head_only)
            .await?;
        if !head_only {
            session
                .write_response_body(Some(answer.body.clone()), true)
                .await?;
        }
        Ok(true)
    }
}
