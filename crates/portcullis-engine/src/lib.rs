//! The decision engine: verification of every kind of credential (JWTs against JWKS, files or
//! inline keys; RFC 7662 introspection; application keys; the built-in issuer through
//! [`verify::builtin::BuiltinIssuer`]), route policy (levels, scopes, tenants, audiences), the
//! auth decision ([`auth`]) and its RFC 6750 answers ([`challenge`]), signing keys, and the metrics of all that. Plain
//! `http` types in, decisions out: no pingora here.

pub mod auth;
pub mod challenge;
pub mod metrics;
pub mod pipeline;
pub mod policy;
pub mod repeats;
pub mod request;
pub mod signing;
pub mod verify;
