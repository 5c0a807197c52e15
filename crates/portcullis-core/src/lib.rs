//! The plain vocabulary of an auth gateway, with no I/O: who is calling ([`principal`]), why a
//! token is refused ([`problem`]), how secrets are digested and compared ([`digest`]), where a
//! request's one credential is ([`credential`]), which route a normalized path takes
//! ([`route`]), and what the gateway answers by itself ([`answer`]). No pingora and no async runtime here: everything above builds on these types.

pub mod answer;
pub mod credential;
pub mod digest;
pub mod principal;
pub mod problem;
pub mod route;
