//! Reading a config file into a ready snapshot: parsed, checked (every problem at its line),
//! compiled, and — for serving — with the token service opened. `portcullis check`, `serve`,
//! reloads and the embedding API all come through here.

use crate::config::{self, Config, ConfigError};
use crate::gateway::Gateway;
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
