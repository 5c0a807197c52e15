//! A bare pingora passthrough proxy: no auth, no routing, no header work. The limit for this
//! architecture, measured beside Portcullis in `bench/compare.sh`.
//!
//! `cargo run --release --example passthrough -- LISTEN UPSTREAM [threads] [steal]`
//!
//! It runs a single-threaded runtime per thread, as Portcullis does by default
//! (`[server] work_stealing = false`), so the two compare like with like; `steal` gives
//! pingora's default, one work-stealing runtime.

use async_trait::async_trait;
use pingora::prelude::*;
use pingora::proxy::{http_proxy_service, ProxyHttp, Session};
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;

/// The gateway's allocator, so the comparison measures the gateway's work and not malloc.
#[global_allocator]
static ALLOCATOR: portcullis::allocator::MiMalloc = portcullis::allocator::MiMalloc;

struct Passthrough {
    upstream: String,
}

#[async_trait]
impl ProxyHttp for Passthrough {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(
            self.upstream.as_str(),
            false,
            String::new(),
        )))
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:8090".into());
    let upstream = args.next().unwrap_or_else(|| "127.0.0.1:9000".into());
    let threads = args.next().and_then(|t| t.parse().ok()).unwrap_or(1);
    let work_stealing = args.next().is_some_and(|w| w == "steal");
    let conf = ServerConf {
        threads,
        work_stealing,
        pid_file: "/tmp/portcullis-passthrough.pid".into(),
        upgrade_sock: "/tmp/portcullis-passthrough-upgrade.sock".into(),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
    server.bootstrap();
    let mut proxy = http_proxy_service(&server.configuration, Passthrough { upstream });
    proxy.add_tcp(&listen);
    server.add_service(proxy);
    eprintln!("passthrough on http://{listen}");
    server.run_forever();
}
