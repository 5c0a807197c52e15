//! Reading a config file into a ready snapshot: parsed, checked (every problem at its line),
//! compiled, and — for serving — with the token service opened. `portcullis check`, `serve`,
//! reloads and the embedding API all come through here.

use crate::config::{self, Config, ConfigError};
use crate::gateway::Gateway;
use portcullis_tokens::TokenService;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Reads and validates a config file completely (what `portcullis check` runs), with the
/// warnings of the valid config (see [`super::warnings`]). Opens nothing: no store, no key
/// file.
pub fn load_with_warnings(path: &Path) -> Result<(Gateway, ConfigError), ConfigError> {
    let (config, source, gateway) = read_valid(path)?;
    let warnings = ConfigError {
        file: path.to_path_buf(),
        problems: super::warnings::warnings(&config, &source),
    };
    Ok((gateway, warnings))
}

/// The config, its text (for problem positions) and the gateway it compiles to, without the
/// token service opened. A file with broken parts is still compiled without them, so that
/// one run reports the problems of the rest too.
fn read_valid(path: &Path) -> Result<(Config, String, Gateway), ConfigError> {
    let source = config::read_text(path)?;
    let (mut config, mut problems) = config::parse_partial(&source);
    if let Some(config) = &mut config {
        config::anchor_beside(config, path);
    }
    let built = config
        .as_ref()
        .map(|config| Gateway::build(config, &source, None));
    match (config, built) {
        (Some(config), Some(Ok(gateway))) if problems.is_empty() => Ok((config, source, gateway)),
        (_, built) => {
            problems.extend(built.and_then(Result::err).unwrap_or_default());
            problems.sort_by_key(|p| (p.line, p.column));
            Err(ConfigError {
                file: path.to_path_buf(),
                problems,
            })
        }
    }
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
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The token service's store, key file or users file could not be opened.
    #[error("token service: {0}")]
    TokenService(#[from] portcullis_tokens::OpenError),
}

/// The config's token service, opened (store and signing keys), if it has one.
pub fn open_token_service(
    config: &Config,
    source: &str,
) -> Result<Option<Arc<TokenService>>, portcullis_tokens::OpenError> {
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
    let (config, source, _) = read_valid(path)?;
    let service = open_token_service(&config, &source)?;
    let gateway = compile(path, &config, &source, service)?;
    Ok(Loaded {
        path: path.to_path_buf(),
        config,
        source,
        gateway,
    })
}
