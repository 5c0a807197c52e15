//! Assembling the pingora server from a config: listeners, the proxy, the echo upstream and the
//! background health checks.

use crate::config::{self, Config, ConfigError};
use crate::echo::EchoApp;
use crate::gateway::{Gateway, SharedGateway};
use crate::proxy::upstream::MaintenanceService;
use crate::proxy::GatewayProxy;
use crate::reload::{ReloadService, Reloader};
use arc_swap::ArcSwap;
use pingora::apps::http_app::HttpServer;
use pingora::proxy::http_proxy_service_with_name;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use portcullis_tokens::TokenService;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Reads and validates a config file completely (what `portcullis check` runs). Opens
/// nothing: no store, no key file.
pub fn load(path: &Path) -> Result<(Config, Gateway), ConfigError> {
    read_valid(path).map(|(config, _, gateway)| (config, gateway))
}

/// The config, its text (for problem positions) and the gateway it compiles to, without the
/// token service opened.
fn read_valid(path: &Path) -> Result<(Config, String, Gateway), ConfigError> {
    let (config, source) = config::read(path)?;
    let gateway = compile(path, &config, &source, None)?;
    Ok((config, source, gateway))
}

/// Compiles a parsed config into a gateway; problems are reported against `path`.
pub(crate) fn compile(
    path: &Path,
    config: &Config,
    source: &str,
    token_service: Option<Arc<TokenService>>,
) -> Result<Gateway, ConfigError> {
    Gateway::build(config, source, token_service).map_err(|problems| ConfigError {
        file: path.to_path_buf(),
        problems,
    })
}

/// The token-service settings of a valid config (for the `token` commands).
pub fn token_settings(path: &Path) -> Result<Option<portcullis_tokens::Settings>, ConfigError> {
    let (config, source, _) = read_valid(path)?;
    let map = config::SourceMap::new(&source);
    Ok(crate::gateway::token_settings::compile(
        &config,
        &map,
        &mut Vec::new(),
    ))
}

/// Why the gateway could not start.
#[derive(Debug)]
pub enum StartError {
    Config(ConfigError),
    /// The token service's store or key file could not be opened.
    TokenService(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "{e}"),
            StartError::TokenService(e) => write!(f, "token service: {e}"),
        }
    }
}

/// The config's token service, opened (store and signing keys), if it has one.
pub fn open_token_service(
    config: &Config,
    source: &str,
) -> Result<Option<Arc<TokenService>>, String> {
    let mut problems = Vec::new();
    let map = config::SourceMap::new(source);
    let Some(settings) = crate::gateway::token_settings::compile(config, &map, &mut problems)
    else {
        return Ok(None);
    };
    TokenService::open(settings).map(|s| Some(Arc::new(s)))
}

/// A config ready to serve: the file's text is kept to tell what a reload changes.
pub struct Loaded {
    pub path: PathBuf,
    pub config: Config,
    pub source: String,
    pub gateway: Gateway,
}

/// Loads a config for serving: validated first (a broken config never touches the store),
/// then compiled again with the token service opened.
pub fn load_for_serving(path: &Path) -> Result<Loaded, StartError> {
    let (config, source, _) = read_valid(path).map_err(StartError::Config)?;
    let service = open_token_service(&config, &source).map_err(StartError::TokenService)?;
    let gateway = compile(path, &config, &source, service).map_err(StartError::Config)?;
    Ok(Loaded {
        path: path.to_path_buf(),
        config,
        source,
        gateway,
    })
}

/// Pingora's process settings from ours.
fn server_conf(config: &Config) -> ServerConf {
    ServerConf {
        threads: config.server.threads,
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
    // vendor/pingora-proxy: an overall deadline for the request head.
    proxy
        .app_logic_mut()
        .expect("a new service has its app")
        .header_read_timeout = Some(config.server.request_header_timeout.get());
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
        crate::observe::metrics::install(shared.clone());
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
