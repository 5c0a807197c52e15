//! Hot reload: on SIGHUP, or when the config file's content changes, the file is read and
//! validated again and, if valid, a new gateway snapshot is swapped in. A bad file is refused
//! with a logged error and the running snapshot keeps serving.
//!
//! What a snapshot holds is rebuilt; what the process holds is not: listeners, threads, the
//! echo upstream and logging take a restart (a warning says so), and a changed
//! `[token_service]` is refused, since its store and signing keys are opened once per process.
//! Issuers whose config did not change keep their fetched keys and cached verifications.

use crate::config::model::Config;
use crate::gateway::SharedGateway;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the config file is looked at for a change.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Why a reload was refused; the running snapshot stays.
#[derive(Debug)]
pub enum ReloadError {
    /// The file does not read, parse or validate (every problem, with lines).
    Invalid(String),
    /// A part that needs a restart changed in a way that cannot be half-applied.
    NeedsRestart(&'static str),
}

impl std::fmt::Display for ReloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReloadError::Invalid(problems) => write!(f, "{problems}"),
            ReloadError::NeedsRestart(what) => {
                write!(f, "[{what}] changed; restart the gateway to apply it")
            }
        }
    }
}

/// Reloads one config file into one shared snapshot.
pub struct Reloader {
    path: PathBuf,
    shared: SharedGateway,
    /// The config now serving and the file text it came from.
    current: Mutex<(Config, String)>,
    watch: bool,
}

impl Reloader {
    pub fn new(path: PathBuf, config: Config, source: String, shared: SharedGateway) -> Self {
        Self {
            path,
            watch: config.server.watch_config,
            shared,
            current: Mutex::new((config, source)),
        }
    }

    /// Reads the file once and, unless a watcher finds the text that is already serving,
    /// validates it and swaps it in. `Ok(false)`: nothing to do.
    fn reload(&self, trigger: Trigger) -> Result<bool, ReloadError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            // Mid-rename or briefly gone: the watcher looks again next time.
            Err(_) if trigger == Trigger::FileChange => return Ok(false),
            Err(e) => return Err(ReloadError::Invalid(format!("cannot read the file: {e}"))),
        };
        let mut current = self.current.lock().expect("not poisoned");
        if trigger == Trigger::FileChange && current.1 == text {
            return Ok(false);
        }
        let invalid = |e: crate::config::ConfigError| ReloadError::Invalid(e.to_string());
        let config = crate::config::parse_file(&self.path, &text).map_err(invalid)?;
        let (old, _) = &*current;
        if config.token_service != old.token_service {
            return Err(ReloadError::NeedsRestart("token_service"));
        }
        for (changed, part) in [
            (config.listeners != old.listeners, "listeners"),
            (config.echo != old.echo, "echo"),
            (config.metrics != old.metrics, "metrics"),
            (config.log != old.log, "log"),
            (config.polling != old.polling, "polling"),
            (
                config.server.threads != old.server.threads
                    || config.server.work_stealing != old.server.work_stealing
                    || config.server.upstream_keepalive_pool_size
                        != old.server.upstream_keepalive_pool_size
                    || config.server.grace_period != old.server.grace_period
                    || config.server.graceful_shutdown_timeout
                        != old.server.graceful_shutdown_timeout
                    || config.server.upgrade_sock != old.server.upgrade_sock,
                "server (threads, runtime, pools, shutdown timing)",
            ),
        ] {
            if changed {
                tracing::warn!(part, "config reload: this part changed and takes a restart");
            }
        }
        let running = self.shared.load_full();
        let mut gateway = crate::gateway::load::compile(
            &self.path,
            &config,
            &text,
            running.token_service.clone(),
        )
        .map_err(invalid)?;
        let builtin = config
            .token_service
            .as_ref()
            .map(|t| t.get_ref().name.as_str());
        let unchanged =
            |name: &str| Some(name) == builtin || config.issuers.get(name) == old.issuers.get(name);
        let same_cache = config.auth.cache_max_entries == old.auth.cache_max_entries
            && config.auth.cache_max_ttl == old.auth.cache_max_ttl;
        gateway
            .verifier
            .carry_over(&running.verifier, &unchanged, same_cache);
        self.shared.store(Arc::new(gateway));
        *current = (config, text);
        Ok(true)
    }

    /// Reloads for `trigger` and logs the outcome.
    pub fn run(&self, trigger: Trigger) {
        let trigger_name = trigger.as_str();
        match self.reload(trigger) {
            Ok(true) => {
                tracing::info!(trigger = trigger_name, config = %self.path.display(), "config reloaded")
            }
            Ok(false) => {}
            Err(e) => {
                // A broken file on disk fails every attempt until it is fixed: one line a
                // minute, with the count held back.
                let about = e.to_string();
                if let Some(held_back) =
                    REFUSALS_LOGGED.allow_about(&about, std::time::Instant::now())
                {
                    tracing::error!(
                        trigger = trigger_name,
                        config = %self.path.display(),
                        error = %e,
                        held_back,
                        "config reload refused; the running config keeps serving"
                    )
                }
            }
        }
    }
}

static REFUSALS_LOGGED: portcullis_engine::repeats::Repeats =
    portcullis_engine::repeats::Repeats::every(std::time::Duration::from_secs(60));

/// What asked for a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// SIGHUP: reload even if the text is unchanged (files it names may have changed).
    Signal,
    /// The watcher: reload only when the text differs from what is serving.
    FileChange,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Signal => "SIGHUP",
            Trigger::FileChange => "file change",
        }
    }
}

/// Runs reloads on SIGHUP and, when `server.watch_config` is on, on file changes.
pub struct ReloadService {
    reloader: Arc<Reloader>,
}

impl ReloadService {
    pub fn new(reloader: Arc<Reloader>) -> Self {
        Self { reloader }
    }
}

#[async_trait]
impl BackgroundService for ReloadService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(hangup) => Some(hangup),
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGHUP; reload by file change only");
                None
            }
        };
        let mut tick = tokio::time::interval(WATCH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let trigger = tokio::select! {
                _ = shutdown.changed() => return,
                Some(()) = async { hangup.as_mut()?.recv().await } => Trigger::Signal,
                _ = tick.tick(), if self.reloader.watch => Trigger::FileChange,
            };
            // Reading and compiling the file is blocking work.
            let reloader = self.reloader.clone();
            let _ = tokio::task::spawn_blocking(move || reloader.run(trigger)).await;
        }
    }
}
