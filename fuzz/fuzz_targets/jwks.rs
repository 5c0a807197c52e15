//! JWKS loading on arbitrary documents: never a panic; loaded keys have distinct `kid`s.

#![no_main]

use jsonwebtoken::Algorithm;
use libfuzzer_sys::fuzz_target;
use portcullis_engine::verify::keys::keys_from_jwks;

fuzz_target!(|data: &[u8]| {
    if let Ok((keys, _rejected)) = keys_from_jwks(data, Algorithm::RS256) {
        let mut kids: Vec<_> = keys.into_keys().into_iter().filter_map(|k| k.kid).collect();
        let count = kids.len();
        kids.sort();
        kids.dedup();
        assert_eq!(kids.len(), count, "two loaded keys share a kid");
    }
});
