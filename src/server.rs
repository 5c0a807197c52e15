//! Assembling the pingora server from a config: listeners, the proxy, the echo upstream and the
//! background health checks.

use crate::config::Config;
use crate::echo::EchoApp;
use crate::gateway::load::Loaded;
use crate::gateway::SharedGateway;
use crate::maintenance::MaintenanceService;
use crate::proxy::GatewayProxy;
use crate::reload::{ReloadService, Reloader};
use arc_swap::ArcSwap;
use pingora::apps::http_app::HttpServer;
use pingora::proxy::http_proxy_service_with_name;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use std::sync::Arc;

/// Every address the process listens on, with what listens there.
pub fn listen_addresses(config: &Config) -> Vec<(&'static str, &str)> {
    let mut addresses: Vec<(&'static str, &str)> = config
        .listeners
        .iter()
        .map(|l| ("listener", l.get_ref().address.get_ref().as_str()))
        .collect();
    addresses.extend(
        config
            .echo
            .iter()
            .map(|e| ("echo", e.address.get_ref().as_str())),
    );
    addresses.extend(
        config
            .metrics
            .iter()
            .map(|m| ("metrics", m.address.get_ref().as_str())),
    );
    addresses
}

/// Fails fast when an address is taken: pingora would retry binding for half a minute and then
/// leave the process running without listening, invisible to systemd and Kubernetes. A probe
/// bind (with `SO_REUSEADDR`, as pingora binds) says at once; the line names the address.
pub fn check_addresses_free(config: &Config) -> Result<(), String> {
    for (what, address) in listen_addresses(config) {
        if let Err(e) = std::net::TcpListener::bind(address) {
            return Err(format!("cannot listen on {address} ({what}): {e}"));
        }
    }
    Ok(())
}

/// Pingora's process settings from ours.
fn server_conf(config: &Config) -> ServerConf {
    ServerConf {
        threads: config.server.threads,
        work_stealing: config.server.work_stealing,
        grace_period_seconds: Some(config.server.grace_period.get().as_secs()),
        graceful_shutdown_timeout_seconds: Some(
            config.server.graceful_shutdown_timeout.get().as_secs(),
        ),
        upstream_keepalive_pool_size: config.server.upstream_keepalive_pool_size,
        // One gateway process per host is the norm; keep pingora's files out of each other's way.
        pid_file: "/tmp/portcullis.pid".to_string(),
        upgrade_sock: config.server.upgrade_sock.clone(),
        ..ServerConf::default()
    }
}

/// Builds the pingora server for a loaded config. Call `run_forever` on the result.
/// `upgrade`: take the listening sockets over from the running gateway (pingora's graceful
/// upgrade; the old process hands them over on SIGQUIT).
pub fn build_server(loaded: Loaded, upgrade: bool) -> pingora::Result<Server> {
    let Loaded {
        path,
        config,
        source,
        gateway,
    } = loaded;
    let shared: SharedGateway = Arc::new(ArcSwap::from_pointee(gateway));
    let opt = Opt {
        upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, server_conf(&config));
    server.bootstrap();

    let mut proxy = http_proxy_service_with_name(
        &server.configuration,
        GatewayProxy::new(shared.clone(), (&config.polling).into()),
        "portcullis",
    );
    let app = proxy.app_logic_mut().expect("a new service has its app");
    // vendor/pingora-proxy: an overall deadline for the request head.
    let header_deadline = config.server.request_header_timeout.get();
    app.header_read_timeout = (!header_deadline.is_zero()).then_some(header_deadline);
    // vendor/pingora-core: heads parsed into one map, not two. The gateway edits every
    // forwarded request and answer as a plain `http::HeaderMap` (`proxy::headers`), which
    // drops the case map anyway: pingora built, cloned and dropped it for nothing.
    app.preserve_header_case = false;
    // vendor/pingora-core and pingora-proxy: the upstream's response head is handed to the
    // proxy rather than copied; the upstream session keeps only its connection fields.
    app.hand_over_upstream_response_header = true;
    // vendor/pingora-core: nothing here asks a stream how long its reads and writes waited, so
    // no clock is read around each wait (four reads a proxied request).
    pingora::protocols::l4::stream::set_pending_time_tracking(false);
    for listener in &config.listeners {
        let listener = listener.get_ref();
        let address = listener.address.get_ref();
        match &listener.tls {
            Some(tls) => proxy.add_tls(address, tls.cert.get_ref(), tls.key.get_ref())?,
            None => proxy.add_tcp(address),
        }
    }
    server.add_service(proxy);
    server.add_service(background_service(
        "maintenance",
        MaintenanceService::new(shared.clone()),
    ));

    if let Some(echo) = &config.echo {
        let mut service = Service::new("echo upstream".to_string(), HttpServer::new_app(EchoApp));
        service.add_tcp(echo.address.get_ref());
        service.threads = Some(echo.threads.max(1));
        server.add_service(service);
    }
    if let Some(metrics) = &config.metrics {
        crate::gateway::metrics::install(shared.clone());
        let mut service = Service::new(
            "metrics".to_string(),
            HttpServer::new_app(crate::observe::metrics::MetricsApp),
        );
        service.add_tcp(metrics.address.get_ref());
        service.threads = Some(1);
        server.add_service(service);
    }
    let reloader = Reloader::new(path, config, source, shared);
    server.add_service(background_service(
        "config reload",
        ReloadService::new(Arc::new(reloader)),
    ));
    Ok(server)
}
