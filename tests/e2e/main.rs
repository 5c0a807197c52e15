//! End-to-end tests: the real `portcullis` binary, real upstreams and real HTTP clients, all on
//! 127.0.0.1 with ephemeral ports. One test binary, so pingora is linked once.

mod auth;
mod config_errors;
mod debug;
mod embed;
mod forwarding;
mod framing;
mod idp;
mod loadgen;
mod metrics;
mod odata;
mod operations;
mod polling;
mod reload;
mod request_rules;
mod routing;
mod support;
mod tls;
mod token_service;
mod upstream_failures;
