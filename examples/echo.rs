//! A standalone upstream for tests and benchmarks. By default it answers every request with a
//! JSON description of it (the same app the gateway can run in-process from `[echo]`); with a
//! body size it answers every request with that many bytes, so that proxies which add or keep
//! different headers are compared on equal responses (`bench/compare.sh`).
//!
//! `cargo run --release --example echo -- 127.0.0.1:9000 [threads] [fixed body bytes]`

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::{HttpServer, ServeHttp};
use pingora::protocols::http::ServerSession;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;
use pingora::services::listening::Service;
use portcullis::echo::EchoApp;

/// Answers every request with the same body, whatever was asked.
struct FixedApp {
    body: Vec<u8>,
}

#[async_trait]
impl ServeHttp for FixedApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        while let Ok(Some(_)) = session.read_request_body().await {}
        Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .header("content-length", self.body.len())
            .body(self.body.clone())
            .expect("static header names are valid")
    }
}

fn serve(server: &mut Server, address: &str, app: impl ServeHttp + Send + Sync + 'static) {
    let mut service = Service::new("upstream".to_string(), HttpServer::new_app(app));
    service.add_tcp(address);
    server.add_service(service);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let address = args.next().unwrap_or_else(|| "127.0.0.1:9000".to_string());
    let threads = args.next().and_then(|t| t.parse().ok()).unwrap_or(1);
    let fixed: Option<usize> = args.next().and_then(|n| n.parse().ok());
    let conf = ServerConf {
        threads,
        pid_file: "/tmp/portcullis-echo.pid".into(),
        upgrade_sock: "/tmp/portcullis-echo-upgrade.sock".into(),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
    server.bootstrap();
    match fixed {
        Some(bytes) => {
            // A JSON string of `bytes` bytes.
            let mut body = vec![b'x'; bytes];
            if bytes >= 2 {
                body[0] = b'"';
                body[bytes - 1] = b'"';
            }
            serve(&mut server, &address, FixedApp { body });
            eprintln!("fixed {bytes}-byte upstream on http://{address}");
        }
        None => {
            serve(&mut server, &address, EchoApp);
            eprintln!("echo upstream on http://{address}");
        }
    }
    server.run_forever();
}
