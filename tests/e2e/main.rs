//! End-to-end tests: the real `portcullis` binary, real upstreams and real HTTP clients, all on
//! 127.0.0.1 with ephemeral ports. One test binary, so pingora is linked once.

mod auth;
mod browser;
mod config_errors;
mod debug;
mod deployment;
mod embed;
mod fault_proxy;
mod faults;
mod forward_auth;
mod forwarding;
mod framing;
mod hostile;
mod idp;
mod loadgen;
mod metrics;
mod odata;
mod operations;
mod polling;
mod reload;
mod request_rules;
mod responses;
mod routing;
mod secrets;
mod sign_in;
mod source_apis;
mod spellings;
mod stream_timing;
mod support;
mod tls;
mod token_service;
mod upstream_failures;
mod upstream_pool;
