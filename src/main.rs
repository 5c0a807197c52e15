//! The `portcullis` command line.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
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
        #[arg(short, long, default_value = "config/portcullis.toml")]
        config: PathBuf,
    },
    /// Validate a config file: print every problem and exit 1 if there is any.
    Check {
        #[arg(short, long)]
        config: PathBuf,
    },
    /// OData query tools.
    Odata {
        #[command(subcommand)]
        command: OdataCommand,
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
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(&config),
        Command::Check { config } => check(&config),
        Command::Odata {
            command:
                OdataCommand::Parse {
                    query,
                    canonical,
                    plus_as_space,
                },
        } => odata_parse(&query, canonical, plus_as_space),
    }
}

fn odata_parse(query: &str, canonical: bool, plus_as_space: bool) -> ExitCode {
    let query = query.strip_prefix('?').unwrap_or(query);
    let settings = portcullis::odata::ParseOptions { plus_as_space };
    match portcullis::odata::parse_query(query, settings) {
        Ok(parsed) => {
            if canonical {
                println!("{}", portcullis::odata::to_canonical(&parsed));
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

fn serve(path: &std::path::Path) -> ExitCode {
    let (config, gateway) = match portcullis::server::load(path) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    portcullis::observe::init_logging(&config.log);
    tracing::info!(config = %path.display(), "starting portcullis");
    match portcullis::server::build_server(&config, gateway) {
        Ok(server) => server.run_forever(),
        Err(e) => {
            eprintln!("{}: cannot start: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    match portcullis::server::load(path) {
        Ok((_, gateway)) => {
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
