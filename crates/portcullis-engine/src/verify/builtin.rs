//! The gateway's own token service as verification sees it. Declared here and implemented by
//! the token service above (pingap's provider pattern), so that verification never names the
//! token service and the crates depend one way.

use super::keys::KeySet;
use super::VerifyError;
use async_trait::async_trait;
use portcullis_core::principal::Caller;
use std::sync::Arc;

/// Signing keys that change while the gateway runs (a key ring that rotates).
pub trait LocalKeys: Send + Sync + std::fmt::Debug {
    /// The public keys tokens verify with now.
    fn current_keys(&self) -> Arc<KeySet>;
}

/// An issuer whose tokens have records: the signature says a JWT is genuine, the record says
/// what it stands for now (scope updates, levels, revocation).
#[async_trait]
pub trait BuiltinIssuer: Send + Sync {
    /// Its name in `[issuers]` terms (routes' `issuers` lists name it).
    fn name(&self) -> &str;
    /// Whether its tokens are opaque (looked up) rather than JWTs.
    fn issues_opaque_tokens(&self) -> bool;
    /// What a JWT of its, verified, stands for now: its record decides.
    async fn current_identity(&self, identity: &Arc<Caller>) -> Result<Arc<Caller>, VerifyError>;
    /// What an opaque token of its stands for, or why not (`Inactive`: not one of its own).
    async fn opaque_identity(&self, token: &str) -> Result<Arc<Caller>, VerifyError>;
}
