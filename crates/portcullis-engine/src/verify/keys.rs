//! Verification keys: loaded from a JWKS document, PEM files or config secrets, each bound to
//! exactly one algorithm (RFC 8725 §3.1) that comes from the key, never from a token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use portcullis_core::problem::TokenProblem;
use serde_json::Value;

/// Smallest RSA modulus accepted (RFC 7518 §3.3).
pub const MIN_RSA_BITS: usize = 2048;

/// One key, usable with one algorithm.
#[derive(Clone)]
pub struct VerifyKey {
    pub kid: Option<String>,
    pub alg: Algorithm,
    pub key: DecodingKey,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
}

/// The keys of one issuer.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<VerifyKey>,
}

/// How many keys a token without `kid` may be tried against.
const MAX_KEYS_WITHOUT_KID: usize = 4;

impl KeySet {
    pub fn new(keys: Vec<VerifyKey>) -> Self {
        Self { keys }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn into_keys(self) -> Vec<VerifyKey> {
        self.keys
    }

    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// A key set written by the operator (config keys, key files): refused when it mixes
    /// shared secrets with public keys — a token could then pick the family (Wycheproof
    /// "MixedKeySet", RFC 8725 §2.1) — or repeats a `kid`.
    pub fn from_operator_keys(keys: Vec<VerifyKey>) -> Result<KeySet, KeyError> {
        let symmetric = keys.iter().filter(|k| is_hmac(k.alg)).count();
        if symmetric > 0 && symmetric < keys.len() {
            return Err(KeyError::MixedFamilies);
        }
        for (i, key) in keys.iter().enumerate() {
            if let Some(kid) = &key.kid {
                if keys[..i].iter().any(|k| k.kid.as_ref() == Some(kid)) {
                    return Err(KeyError::DuplicateKid(kid.clone()));
                }
            }
        }
        Ok(KeySet::new(keys))
    }

    /// Verifies a signature with the key the header names. `alg` must be the key's own.
    pub fn verify(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        signing_input: &[u8],
        signature: &str,
    ) -> Result<(), TokenProblem> {
        let mut candidates = self
            .keys
            .iter()
            .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
            .peekable();
        if candidates.peek().is_none() {
            return Err(TokenProblem::UnknownKey);
        }
        let mut tried = 0;
        let mut algorithm_matched = false;
        for key in candidates {
            if key.alg != alg {
                continue;
            }
            algorithm_matched = true;
            tried += 1;
            if tried > MAX_KEYS_WITHOUT_KID {
                break;
            }
            if let Ok(true) = jsonwebtoken::crypto::verify(signature, signing_input, &key.key, alg)
            {
                return Ok(());
            }
        }
        Err(if algorithm_matched {
            TokenProblem::BadSignature
        } else {
            TokenProblem::UnsupportedAlgorithm
        })
    }
}

/// Whether `alg` is a shared-secret (HMAC) algorithm.
pub fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// Why a JWK was not loaded (logged, never fatal for the rest of the set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRejection {
    Unparsable,
    NotForSignatures,
    SymmetricInJwks,
    HasPrivateMembers,
    UnknownAlgorithm,
    AlgorithmMismatch,
    WeakRsa,
    BadRsaExponent,
    DuplicateKid(String),
}

/// Loads the signing keys of a JWKS document. Bad keys are skipped and reported; symmetric
/// (`oct`) keys are never taken from a JWKS (RFC 8725 §2.1: no HMAC key from public material).
/// `rsa_default` is the algorithm for RSA keys that do not name one.
pub fn keys_from_jwks(
    document: &[u8],
    rsa_default: Algorithm,
) -> Result<(KeySet, Vec<KeyRejection>), KeyError> {
    let root: Value = serde_json::from_slice(document).map_err(KeyError::NotJson)?;
    let entries = root
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(KeyError::NoKeysArray)?;
    let mut keys: Vec<VerifyKey> = Vec::new();
    let mut rejected = Vec::new();
    for entry in entries {
        match key_from_jwk_value(entry, rsa_default) {
            Ok(key) => {
                if let Some(kid) = &key.kid {
                    if keys.iter().any(|k| k.kid.as_ref() == Some(kid)) {
                        rejected.push(KeyRejection::DuplicateKid(kid.clone()));
                        continue;
                    }
                }
                keys.push(key);
            }
            Err(r) => rejected.push(r),
        }
    }
    Ok((KeySet::new(keys), rejected))
}

/// One JWK (as JSON) → a verification key, or why not.
pub fn key_from_jwk_value(
    value: &Value,
    rsa_default: Algorithm,
) -> Result<VerifyKey, KeyRejection> {
    let object = value.as_object().ok_or(KeyRejection::Unparsable)?;
    // A public JWKS that carries private members has leaked a key; do not use it.
    if ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|m| object.contains_key(*m))
        && object.get("kty").and_then(Value::as_str) != Some("oct")
    {
        return Err(KeyRejection::HasPrivateMembers);
    }
    if object.get("kty").and_then(Value::as_str) == Some("oct") {
        return Err(KeyRejection::SymmetricInJwks);
    }
    let jwk: Jwk = serde_json::from_value(value.clone()).map_err(|_| KeyRejection::Unparsable)?;
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return Err(KeyRejection::NotForSignatures);
    }
    if jwk
        .common
        .key_operations
        .as_ref()
        .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
    {
        return Err(KeyRejection::NotForSignatures);
    }
    let named_alg = object.get("alg").and_then(Value::as_str);
    let alg = match (&jwk.algorithm, named_alg) {
        (_, Some(name)) => name
            .parse::<Algorithm>()
            .map_err(|_| KeyRejection::UnknownAlgorithm)?,
        (AlgorithmParameters::RSA(_), None) => rsa_default,
        (AlgorithmParameters::EllipticCurve(ec), None) => match ec.curve {
            jsonwebtoken::jwk::EllipticCurve::P256 => Algorithm::ES256,
            jsonwebtoken::jwk::EllipticCurve::P384 => Algorithm::ES384,
            _ => return Err(KeyRejection::UnknownAlgorithm),
        },
        (AlgorithmParameters::OctetKeyPair(_), None) => Algorithm::EdDSA,
        (AlgorithmParameters::OctetKey(_), None) => return Err(KeyRejection::SymmetricInJwks),
    };
    let family_ok = matches!(
        (&jwk.algorithm, alg),
        (
            AlgorithmParameters::RSA(_),
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ) | (
            AlgorithmParameters::EllipticCurve(_),
            Algorithm::ES256 | Algorithm::ES384
        ) | (AlgorithmParameters::OctetKeyPair(_), Algorithm::EdDSA)
    );
    if !family_ok {
        return Err(KeyRejection::AlgorithmMismatch);
    }
    if let AlgorithmParameters::EllipticCurve(ec) = &jwk.algorithm {
        let expected = match alg {
            Algorithm::ES256 => jsonwebtoken::jwk::EllipticCurve::P256,
            _ => jsonwebtoken::jwk::EllipticCurve::P384,
        };
        if ec.curve != expected {
            return Err(KeyRejection::AlgorithmMismatch);
        }
    }
    if let AlgorithmParameters::RSA(rsa) = &jwk.algorithm {
        let modulus = URL_SAFE_NO_PAD
            .decode(rsa.n.trim_end_matches('='))
            .map_err(|_| KeyRejection::Unparsable)?;
        let leading_zeros = modulus.iter().take_while(|&&b| b == 0).count();
        if (modulus.len() - leading_zeros) * 8 < MIN_RSA_BITS || has_roca_fingerprint(&modulus) {
            return Err(KeyRejection::WeakRsa);
        }
        // e = 1 makes every "signature" verify; even or tiny exponents are never legitimate.
        let exponent = URL_SAFE_NO_PAD
            .decode(rsa.e.trim_end_matches('='))
            .map_err(|_| KeyRejection::Unparsable)?;
        let significant: Vec<u8> = exponent.iter().copied().skip_while(|&b| b == 0).collect();
        let too_small = significant.len() == 1 && significant[0] < 3;
        if significant.is_empty() || too_small || significant.last().is_some_and(|b| b % 2 == 0) {
            return Err(KeyRejection::BadRsaExponent);
        }
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| KeyRejection::Unparsable)?;
    Ok(VerifyKey {
        kid: jwk.common.key_id.clone(),
        alg,
        key,
    })
}

/// Whether an RSA modulus has the ROCA fingerprint (CVE-2017-15361): keys from the flawed
/// Infineon generator are `k·M + (65537^a mod M)` with `M` a primorial, so `n mod p` lies in the
/// subgroup generated by 65537 for every small prime `p`. A random modulus fails this for some
/// prime with overwhelming probability.
pub fn has_roca_fingerprint(modulus: &[u8]) -> bool {
    const PRIMES: [u32; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
        97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&p| {
        let residue = modulus
            .iter()
            .fold(0u32, |acc, &byte| (acc * 256 + u32::from(byte)) % p);
        let generator = 65_537 % p;
        let mut power = 1u32;
        loop {
            if power == residue {
                return true;
            }
            power = power * generator % p;
            if power == 1 {
                return false;
            }
        }
    })
}

/// A PEM public key (RSA, EC or Ed25519 SubjectPublicKeyInfo) for `alg`.
pub fn key_from_pem(
    kid: Option<String>,
    alg: Algorithm,
    pem: &[u8],
) -> Result<VerifyKey, KeyError> {
    let key = match alg {
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => DecodingKey::from_rsa_pem(pem),
        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(pem),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
        _ => return Err(KeyError::SecretNotPem(alg)),
    }
    .map_err(|source| KeyError::BadPem { alg, source })?;
    Ok(VerifyKey { kid, alg, key })
}

/// Well-known example secrets (jwt.io defaults and the like) that are never a real key.
const KNOWN_WEAK_SECRETS: &[&str] = &[
    "secret",
    "your-256-bit-secret",
    "your-384-bit-secret",
    "your-512-bit-secret",
    "a-string-secret-at-least-256-bits-long",
    "changeme",
    "password",
];

/// An HMAC key from config. Refused when shorter than the hash (RFC 7518 §3.2), a known
/// example secret, or a run of one repeated character.
pub fn key_from_secret(
    kid: Option<String>,
    alg: Algorithm,
    secret: &[u8],
) -> Result<VerifyKey, KeyError> {
    let min = match alg {
        Algorithm::HS256 => 32,
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => return Err(KeyError::NotASecretAlgorithm(alg)),
    };
    check_secret_strength(secret, min)?;
    Ok(VerifyKey {
        kid,
        alg,
        key: DecodingKey::from_secret(secret),
    })
}

/// Refuses short, well-known or trivially repetitive secrets.
pub fn check_secret_strength(secret: &[u8], min_len: usize) -> Result<(), KeyError> {
    if secret.len() < min_len {
        return Err(KeyError::ShortSecret {
            len: secret.len(),
            min: min_len,
        });
    }
    if KNOWN_WEAK_SECRETS
        .iter()
        .any(|weak| weak.as_bytes().eq_ignore_ascii_case(secret))
    {
        return Err(KeyError::KnownSecret);
    }
    let distinct = {
        let mut seen = [false; 256];
        secret.iter().for_each(|&b| seen[usize::from(b)] = true);
        seen.iter().filter(|&&s| s).count()
    };
    if distinct < 8 {
        return Err(KeyError::RepetitiveSecret);
    }
    Ok(())
}

/// Why a key written by the operator (config, key file, JWKS file) cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("an issuer's keys must be all shared secrets or all public keys")]
    MixedFamilies,
    #[error("kid {0:?} is used twice")]
    DuplicateKid(String),
    #[error("not a JSON document")]
    NotJson(#[source] serde_json::Error),
    #[error("no \"keys\" array")]
    NoKeysArray,
    #[error("{0:?} keys are secrets, not PEM")]
    SecretNotPem(Algorithm),
    #[error("not a {alg:?} public key in PEM: {source}")]
    BadPem {
        alg: Algorithm,
        #[source]
        source: jsonwebtoken::errors::Error,
    },
    #[error("{0:?} does not use a shared secret")]
    NotASecretAlgorithm(Algorithm),
    #[error("secret is {len} bytes; at least {min} are required")]
    ShortSecret { len: usize, min: usize },
    #[error("secret is a well-known example value")]
    KnownSecret,
    #[error("secret has too little variety to be random")]
    RepetitiveSecret,
    #[error("{0:?} is not an algorithm")]
    UnknownAlgorithm(String),
    #[error("not a {alg:?} private key: {reason}")]
    BadPrivateKey { alg: Algorithm, reason: String },
    #[error("the private key is not base64")]
    NotBase64(#[source] base64::DecodeError),
    #[error("unusable key: {0:?}")]
    Rejected(KeyRejection),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_secrets_are_refused() {
        assert!(key_from_secret(None, Algorithm::HS256, b"short").is_err());
        assert!(key_from_secret(
            None,
            Algorithm::HS256,
            b"a-string-secret-at-least-256-bits-long"
        )
        .is_err());
        assert!(key_from_secret(None, Algorithm::HS256, &[b'a'; 64]).is_err());
        assert!(key_from_secret(None, Algorithm::HS256, b"").is_err());
        assert!(key_from_secret(None, Algorithm::RS256, &[7u8; 64]).is_err());
        assert!(
            key_from_secret(None, Algorithm::HS256, b"k8Jd92hLq0Zx7Vb3Nw5Tr1Ys6Pa4Mc2E").is_ok()
        );
    }

    #[test]
    fn jwks_hygiene() {
        let doc = br#"{"keys":[
            {"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0","alg":"HS256"},
            {"kty":"EC","crv":"P-256","use":"enc","kid":"enc","x":"04N0xi21hshyvBp7I167sbE_bXqyqkAPfefdklMO7wY","y":"UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgmw"},
            {"kty":"EC","crv":"P-256","kid":"ec1","x":"04N0xi21hshyvBp7I167sbE_bXqyqkAPfefdklMO7wY","y":"UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgmw"},
            {"kty":"EC","crv":"P-256","kid":"ec1","x":"04N0xi21hshyvBp7I167sbE_bXqyqkAPfefdklMO7wY","y":"UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgmw"},
            {"kty":"EC","crv":"P-256","alg":"RS256","kid":"mismatch","x":"04N0xi21hshyvBp7I167sbE_bXqyqkAPfefdklMO7wY","y":"UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgmw"},
            {"kty":"RSA","kid":"weak","n":"AQAB","e":"AQAB"},
            {"kty":"XYZ","kid":"alien"}
        ]}"#;
        let (set, rejected) = keys_from_jwks(doc, Algorithm::RS256).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.contains_kid("ec1"));
        assert!(rejected.contains(&KeyRejection::SymmetricInJwks));
        assert!(rejected.contains(&KeyRejection::NotForSignatures));
        assert!(rejected.contains(&KeyRejection::DuplicateKid("ec1".into())));
        assert!(rejected.contains(&KeyRejection::AlgorithmMismatch));
        assert!(rejected.contains(&KeyRejection::WeakRsa));
        assert!(rejected.contains(&KeyRejection::Unparsable));
    }

    #[test]
    fn garbage_jwks_is_an_error() {
        assert!(keys_from_jwks(b"<html>", Algorithm::RS256).is_err());
        assert!(keys_from_jwks(b"{}", Algorithm::RS256).is_err());
        let (set, _) = keys_from_jwks(br#"{"keys":[]}"#, Algorithm::RS256).unwrap();
        assert!(set.is_empty());
    }
}
