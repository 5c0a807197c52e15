//! The `portcullis` command line: serve, check, token mint/revoke, user add, odata parse.

use clap::{CommandFactory, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// The config every command reads unless told otherwise.
const DEFAULT_CONFIG: &str = "config/portcullis.toml";

/// The version and the commit it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("PORTCULLIS_COMMIT"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "portcullis",
    version = VERSION,
    about = "A token-enforcing reverse proxy on pingora"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// The config file.
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Take the listening sockets over from a running gateway (zero-downtime upgrade):
        /// start this, then send SIGQUIT to the old process.
        #[arg(long)]
        upgrade: bool,
    },
    /// Validate a config file: print every problem and exit 1 if there is any.
    Check {
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// The built-in token service, offline: mint and revoke tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Users who sign in with a password (browser sign-in).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// OData query tools.
    Odata {
        #[command(subcommand)]
        command: OdataCommand,
    },
    /// Print shell completions: `portcullis completions bash > /etc/bash_completion.d/portcullis`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a token that a gateway on this config accepts (for development and load tests).
    /// JWTs need only the signing-key file, so this works while the gateway runs.
    Mint {
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        #[arg(long)]
        sub: String,
        /// Space-separated scopes.
        #[arg(long, default_value = "")]
        scope: String,
        /// anonymous, identified or verified.
        #[arg(long, default_value = "verified")]
        level: String,
        /// Lifetime, e.g. 15m, 1h, 7d.
        #[arg(long, default_value = "15m")]
        ttl: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revoke a token. With a redb store, stop the gateway first (it holds the database) or
    /// use the revocation endpoint.
    Revoke {
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        token: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user to a users file (created if missing). The password is asked for (not shown)
    /// on a terminal, or read from the first line of standard input — never from the command
    /// line, where shell history would keep it.
    Add {
        /// The users file.
        #[arg(short, long)]
        file: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: Option<String>,
        /// Replace the user's password (and email) if the name exists.
        #[arg(long)]
        replace: bool,
    },
}

#[derive(Subcommand)]
enum OdataCommand {
    /// Parse a query string (without `?`): print its syntax tree as JSON, or the error and
    /// exit 1.
    Parse {
        query: String,
        /// Print the canonical query string instead of the tree.
        #[arg(long)]
        canonical: bool,
        /// Read `+` as a space.
        #[arg(long)]
        plus_as_space: bool,
        /// Whose reading to follow: strict (the OASIS ABNF), olingo or aspnet.
        #[arg(long, default_value = "strict", value_parser = ["strict", "olingo", "aspnet"])]
        dialect: String,
    },
}

/// Runs the command line (the `portcullis` binary is this and an allocator).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, upgrade } => serve(&config, upgrade),
        Command::Check { config } => check(&config),
        Command::Token {
            command:
                TokenCommand::Mint {
                    config,
                    sub,
                    scope,
                    level,
                    ttl,
                    tenant,
                },
        } => report(token_mint(&config, sub, &scope, &level, &ttl, tenant)),
        Command::Token {
            command: TokenCommand::Revoke { config, token },
        } => report(token_revoke(&config, &token)),
        Command::User {
            command:
                UserCommand::Add {
                    file,
                    name,
                    email,
                    replace,
                },
        } => report(user_add(&file, &name, email, replace)),
        Command::Odata {
            command:
                OdataCommand::Parse {
                    query,
                    canonical,
                    plus_as_space,
                    dialect,
                },
        } => odata_parse(&query, canonical, plus_as_space, &dialect),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "portcullis",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
    }
}

fn user_add(
    file: &std::path::Path,
    name: &str,
    email: Option<String>,
    replace: bool,
) -> CommandResult {
    let password = read_password()?;
    let password = password.trim_end_matches(['\r', '\n']);
    portcullis_tokens::users::add_user(file, name, password, email, replace)?;
    eprintln!("user {name:?} written to {}", file.display());
    Ok(())
}

/// The password: asked for on a terminal with echo off (`stty`), else the first line of
/// standard input (a pipe from a secret store).
fn read_password() -> CommandResult<String> {
    use std::io::{IsTerminal, Write};
    let stdin = std::io::stdin();
    let mut password = String::new();
    if !stdin.is_terminal() {
        stdin
            .read_line(&mut password)
            .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
        return Ok(password);
    }
    let stty = |setting: &str| {
        std::process::Command::new("stty")
            .arg(setting)
            .stdin(std::process::Stdio::inherit())
            .status()
            .is_ok_and(|s| s.success())
    };
    eprint!("password: ");
    std::io::stderr().flush().ok();
    let hidden = stty("-echo");
    let read = stdin.read_line(&mut password);
    if hidden {
        stty("echo");
    }
    eprintln!();
    read.map_err(|e| format!("cannot read the password: {e}"))?;
    Ok(password)
}

fn odata_parse(query: &str, canonical: bool, plus_as_space: bool, dialect: &str) -> ExitCode {
    let query = query.strip_prefix('?').unwrap_or(query);
    let dialect = portcullis_odata::Dialect::ALL
        .into_iter()
        .find(|d| d.name() == dialect)
        .unwrap_or_default();
    let settings = portcullis_odata::ParseOptions {
        plus_as_space,
        dialect,
    };
    match portcullis_odata::parse_query(query, settings) {
        Ok(parsed) => {
            if canonical {
                println!("{}", portcullis_odata::print::query_in(&parsed, dialect));
            } else {
                let json = serde_json::to_string_pretty(&parsed).expect("the tree serializes");
                println!("{json}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// What a command that can fail returns: its error is printed for the operator.
type CommandResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Prints a command's error (if any) and turns it into the exit status.
fn report(result: CommandResult) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// The token-service settings of a valid config.
fn token_settings(path: &std::path::Path) -> CommandResult<portcullis_tokens::Settings> {
    crate::gateway::load::token_settings(path)?
        .ok_or_else(|| format!("{}: no [token_service] in this config", path.display()).into())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn token_mint(
    path: &std::path::Path,
    sub: String,
    scope: &str,
    level: &str,
    ttl: &str,
    tenant: Option<String>,
) -> CommandResult {
    use portcullis_core::principal::{now_unix, Level};
    use portcullis_tokens::records::TokenRecord;
    let settings = token_settings(path)?;
    let level = Level::parse(level).ok_or_else(|| format!("{level:?} is not a level"))?;
    let ttl = crate::config::duration::parse_duration(ttl)?
        .as_secs()
        .max(1);
    let now = now_unix();
    let record = TokenRecord {
        sub,
        level,
        scopes: portcullis_engine::verify::claims::split_scopes(scope),
        tenant,
        client_id: None,
        device: None,
        claimed_profile: None,
        grant: None,
        api: None,
        issued_at: now,
        expires_at: now + ttl,
        revoked: false,
    };
    let token = match settings.format {
        portcullis_tokens::TokenFormat::Jwt => {
            // Sign with the key the gateway uses; never rotate behind its back. Only a config
            // that has never run gets its first key here.
            use portcullis_tokens::keyring::KeyRing;
            let signer = match KeyRing::read_only(&settings.keys_file) {
                Ok(ring) => ring.current,
                Err(_) if !settings.keys_file.exists() => KeyRing::open(
                    &settings.keys_file,
                    settings.algorithm,
                    settings.rotate_after,
                    settings.longest_token_life(),
                )?
                .current()
                .current
                .clone(),
                Err(e) => return Err(e.into()),
            };
            let jti = portcullis_tokens::random_id(16);
            portcullis_tokens::mint_with(&signer, &settings, &record, &jti)
        }
        portcullis_tokens::TokenFormat::Opaque => {
            // Opaque tokens exist only as store records.
            let service = portcullis_tokens::TokenService::open(settings)?;
            let issued = runtime().block_on(service.issue(record))?;
            issued.token
        }
    };
    println!("{token}");
    Ok(())
}

fn token_revoke(path: &std::path::Path, token: &str) -> CommandResult {
    let service = portcullis_tokens::TokenService::open(token_settings(path)?)?;
    use portcullis_tokens::Revoked;
    // The operator may revoke any token of the service.
    let revoked = runtime().block_on(service.revoke(token, |_| true))?;
    match revoked {
        Revoked::Grant => eprintln!("revoked the refresh token's grant"),
        Revoked::Access => eprintln!("revoked"),
        Revoked::Unknown | Revoked::NotAllowed => {
            return Err("not a token of this token service".into())
        }
    }
    Ok(())
}

fn serve(path: &std::path::Path, upgrade: bool) -> ExitCode {
    let loaded = match crate::gateway::load::load_for_serving(path) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    crate::observe::init_logging(&loaded.config.log);
    // With --upgrade the sockets come from the running gateway, so they are taken by design.
    if !upgrade {
        if let Err(line) = crate::server::check_addresses_free(&loaded.config) {
            eprintln!("{}: {line}", path.display());
            return ExitCode::FAILURE;
        }
    }
    tracing::info!(config = %path.display(), version = VERSION, "starting portcullis");
    for (what, address) in crate::server::listen_addresses(&loaded.config) {
        tracing::info!(%address, what, "listening");
    }
    match crate::server::build_server(loaded, upgrade) {
        Ok(server) => server.run_forever(),
        Err(e) => {
            eprintln!("{}: cannot start: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    match crate::gateway::load::load_with_warnings(path) {
        Ok((gateway, warnings)) => {
            if !warnings.problems.is_empty() {
                // The same `file:line:col: key: message` form as problems, marked.
                for line in warnings.to_string().lines() {
                    eprintln!("warning: {line}");
                }
            }
            println!(
                "{}: ok ({} routes, {} upstreams)",
                path.display(),
                gateway.routes.routes().len(),
                gateway.upstreams().len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
