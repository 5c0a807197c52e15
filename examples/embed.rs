//! Your own pingora proxy with Portcullis deciding who gets in and passing the identity on.
//!
//! `cargo run --example embed -- CONFIG LISTEN UPSTREAM`: requests are decided by CONFIG's
//! routes and issuers, then sent to UPSTREAM with `X-Auth-*` identity headers.

use async_trait::async_trait;
use pingora::prelude::*;
use pingora::proxy::{http_proxy_service, ProxyHttp, Session};
use portcullis::embed::{Decision, Pass, Portcullis};
use std::path::Path;

struct MyProxy {
    portcullis: Portcullis,
    upstream: String,
}

#[async_trait]
impl ProxyHttp for MyProxy {
    /// The decision, kept for the upstream request.
    type CTX = Option<Pass>;

    fn new_ctx(&self) -> Option<Pass> {
        None
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Option<Pass>) -> Result<bool> {
        match self.portcullis.decide(session).await {
            Decision::Allow(pass) => {
                *ctx = Some(pass);
                Ok(false)
            }
            Decision::Refuse(refusal) => {
                refusal.send(session).await?;
                Ok(true)
            }
        }
    }

    /// Pingora's own log lines name the request; without this they would print its query,
    /// where a token may travel.
    fn request_summary(&self, session: &Session, _: &Option<Pass>) -> String {
        portcullis::embed::request_summary(session.req_header())
    }

    async fn upstream_peer(&self, _: &mut Session, _: &mut Option<Pass>) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(
            self.upstream.as_str(),
            false,
            String::new(),
        )))
    }

    async fn upstream_request_filter(
        &self,
        _: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut Option<Pass>,
    ) -> Result<()> {
        match ctx {
            Some(pass) => pass.apply(upstream_request),
            None => Ok(()),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config, listen, upstream] =
        <[String; 3]>::try_from(args).expect("usage: embed CONFIG LISTEN UPSTREAM");
    let portcullis = Portcullis::load(Path::new(&config)).unwrap_or_else(|e| panic!("{e}"));
    let mut server = Server::new(None).expect("pingora server");
    server.bootstrap();
    server.add_service(portcullis.maintenance());
    let mut proxy = http_proxy_service(
        &server.configuration,
        MyProxy {
            portcullis,
            upstream,
        },
    );
    proxy.add_tcp(&listen);
    server.add_service(proxy);
    server.run_forever();
}
