//! Portcullis: a token-enforcing reverse proxy on pingora — the gateway itself.
//!
//! The decision is made by the crates below (`portcullis-core`, `portcullis-odata`,
//! `portcullis-engine`, `portcullis-tokens`); this crate compiles a config file into a snapshot
//! and runs it on pingora. Its public surface is what others build on: [`embed`] (the decision
//! in your own pingora proxy), [`cli`] (the `portcullis` command line), [`echo`] (the built-in
//! echo upstream, also the test and benchmark backend), [`allocator`] (the binary's global
//! allocator) and [`parse_duration`] (the config's duration syntax). See `docs/ARCHITECTURE.md`.

pub mod allocator;
pub mod cli;
mod config;
pub mod echo;
pub mod embed;
mod gateway;
mod maintenance;
mod observe;
mod polling;
mod proxy;
mod reload;
mod server;
mod upstream;

pub use config::duration::{parse_duration, DurationError};
