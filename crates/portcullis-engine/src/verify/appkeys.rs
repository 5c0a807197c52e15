//! Static application keys (guest access): each key maps to a fixed principal.
//!
//! Keys are held only as SHA-256 digests. A presented key is hashed, looked up by digest, and
//! the digests compared in constant time; the lookup itself reveals nothing useful about a key,
//! since finding a digest's neighbours would need SHA-256 preimages (RFC 6750 §5.2, RV-5).

use portcullis_core::digest::{digest, Digest};
use portcullis_core::principal::{Caller, Identity};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug)]
pub struct AppKeys {
    pub name: Arc<str>,
    by_digest: HashMap<Digest, Arc<Caller>>,
}

impl AppKeys {
    pub fn new(name: &str, keys: Vec<(Digest, Identity)>) -> Self {
        Self {
            name: Arc::from(name),
            by_digest: keys
                .into_iter()
                .map(|(d, i)| (d, Arc::new(Caller::from(i))))
                .collect(),
        }
    }

    /// The principal of `key`, if it is one of ours.
    pub fn lookup(&self, key: &str) -> Option<Arc<Caller>> {
        let presented = digest(key);
        let (stored, identity) = self.by_digest.get_key_value(&presented)?;
        aws_lc_rs::constant_time::verify_slices_are_equal(stored, &presented)
            .ok()
            .map(|()| identity.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::principal::Level;

    #[test]
    fn keys_are_found_by_digest_only() {
        let identity = Identity {
            issuer: Arc::from("guests"),
            subject: "partner-a".into(),
            tenant: Some("acme".into()),
            scopes: vec!["basic".into()],
            level: Level::Anonymous,
            audiences: vec![],
            expires_at: None,
            not_before: None,
            leeway: 0,
            token_id: None,
            claimed_subject: None,
        };
        let keys = AppKeys::new(
            "guests",
            vec![(digest("k_live_abcdefghijklmnop"), identity)],
        );
        assert_eq!(
            keys.lookup("k_live_abcdefghijklmnop").unwrap().subject,
            "partner-a"
        );
        assert!(keys.lookup("k_live_abcdefghijklmnoq").is_none());
        assert!(keys.lookup("").is_none());
    }
}
