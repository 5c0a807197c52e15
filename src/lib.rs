//! Portcullis: a token-enforcing reverse proxy on pingora.
//!
//! The request path is route → credential → verify → policy → forward. Each stage is a plain
//! function over plain data ([`route`], …); [`proxy`] is the thin pingora glue that calls them.
//! See `docs/ARCHITECTURE.md`.

pub mod config;
pub mod echo;
pub mod embed;
pub mod gateway;
pub mod maintenance;
pub mod observe;
pub mod polling;
pub mod proxy;
pub mod reload;
pub mod server;
pub mod upstream;
