//! A standalone echo upstream for tests and benchmarks: answers every request with a JSON
//! description of it (the same app the gateway can run in-process from `[echo]`).
//!
//! `cargo run --release --example echo -- 127.0.0.1:9000 [threads]`

use pingora::apps::http_app::HttpServer;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;
use pingora::services::listening::Service;
use portcullis::echo::EchoApp;

fn main() {
    let mut args = std::env::args().skip(1);
    let address = args.next().unwrap_or_else(|| "127.0.0.1:9000".to_string());
    let threads = args.next().and_then(|t| t.parse().ok()).unwrap_or(1);
    let conf = ServerConf {
        threads,
        pid_file: "/tmp/portcullis-echo.pid".into(),
        upgrade_sock: "/tmp/portcullis-echo-upgrade.sock".into(),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
    server.bootstrap();
    let mut service = Service::new("echo".to_string(), HttpServer::new_app(EchoApp));
    service.add_tcp(&address);
    server.add_service(service);
    eprintln!("echo upstream on http://{address}");
    server.run_forever();
}
