//! Signing keys: generated with aws-lc, saved and loaded as JSON, published as JWKs, used to
//! mint JWTs.
//!
//! Used by the load generator and benchmarks and by the tests' identity provider; the built-in
//! token service signs with them too.

use crate::verify::keys::{is_hmac, KeyError};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self, KeyPair as _};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A private key (or HMAC secret) with what is derived from it.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    /// The public JWK (for HMAC keys: `{"kty":"oct","secret":…}`, never published).
    pub jwk: Value,
    /// For RSA keys: the public key as PEM.
    pub public_pem: Option<String>,
    /// PKCS#8 DER, or the HMAC secret text.
    private: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
}

/// A key as saved to disk.
#[derive(Serialize, Deserialize)]
pub struct SavedKey {
    pub kid: String,
    pub alg: String,
    /// base64 of the PKCS#8 DER, or the HMAC secret text.
    pub private: String,
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn is_rsa(alg: Algorithm) -> bool {
    matches!(
        alg,
        Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512
    )
}

fn ec_signing(
    alg: Algorithm,
) -> (
    &'static signature::EcdsaSigningAlgorithm,
    &'static str,
    usize,
) {
    if alg == Algorithm::ES256 {
        (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32)
    } else {
        (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48)
    }
}

impl SigningKey {
    /// A fresh key for `alg`: RSA 2048, P-256, P-384, Ed25519, or a random 512-bit secret.
    pub fn generate(alg: Algorithm, kid: &str) -> SigningKey {
        let private: Vec<u8> = if is_rsa(alg) {
            let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .expect("RSA key generation works");
            AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair)
                .expect("an RSA key encodes")
                .as_ref()
                .to_vec()
        } else if is_hmac(alg) {
            let mut secret = [0u8; 64];
            aws_lc_rs::rand::fill(&mut secret).expect("the system RNG works");
            URL_SAFE_NO_PAD.encode(secret).into_bytes()
        } else if alg == Algorithm::EdDSA {
            signature::Ed25519KeyPair::generate()
                .and_then(|p| p.to_pkcs8())
                .expect("Ed25519 key generation works")
                .as_ref()
                .to_vec()
        } else {
            signature::EcdsaKeyPair::generate(ec_signing(alg).0)
                .and_then(|p| p.to_pkcs8v1())
                .expect("EC key generation works")
                .as_ref()
                .to_vec()
        };
        Self::from_private(alg, kid, private).expect("a key just generated loads")
    }

    /// A key from its private bytes (PKCS#8 DER, or the HMAC secret text).
    pub fn from_private(
        alg: Algorithm,
        kid: &str,
        private: Vec<u8>,
    ) -> Result<SigningKey, KeyError> {
        let alg_name = format!("{alg:?}");
        let bad = |e: &dyn std::fmt::Display| KeyError::BadPrivateKey {
            alg,
            reason: e.to_string(),
        };
        let (encoding, jwk, public_pem) = if is_rsa(alg) {
            let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(&private).map_err(|e| bad(&e))?;
            let public = pair.public_key();
            let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
            let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
            let spki = AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(public)
                .map_err(|e| bad(&e))?;
            (
                EncodingKey::from_rsa_pem(pem("PRIVATE KEY", &private).as_bytes())
                    .map_err(|e| bad(&e))?,
                json!({"kty": "RSA", "kid": kid, "alg": alg_name, "use": "sig", "n": n, "e": e}),
                Some(pem("PUBLIC KEY", spki.as_ref())),
            )
        } else if is_hmac(alg) {
            let secret = String::from_utf8(private.clone()).map_err(|e| bad(&e))?;
            (
                EncodingKey::from_secret(secret.as_bytes()),
                json!({"kty": "oct", "kid": kid, "alg": alg_name, "secret": secret}),
                None,
            )
        } else if alg == Algorithm::EdDSA {
            let pair = signature::Ed25519KeyPair::from_pkcs8(&private).map_err(|e| bad(&e))?;
            let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
            (
                EncodingKey::from_ed_der(&private),
                json!({"kty": "OKP", "kid": kid, "alg": "EdDSA", "use": "sig", "crv": "Ed25519", "x": x}),
                None,
            )
        } else {
            let (signing, crv, size) = ec_signing(alg);
            let pair =
                signature::EcdsaKeyPair::from_pkcs8(signing, &private).map_err(|e| bad(&e))?;
            let point = pair.public_key().as_ref();
            let x = URL_SAFE_NO_PAD.encode(&point[1..1 + size]);
            let y = URL_SAFE_NO_PAD.encode(&point[1 + size..]);
            (
                EncodingKey::from_ec_der(&private),
                json!({"kty": "EC", "kid": kid, "alg": alg_name, "use": "sig", "crv": crv, "x": x, "y": y}),
                None,
            )
        };
        Ok(SigningKey {
            kid: kid.to_string(),
            alg,
            encoding,
            jwk,
            public_pem,
            private,
        })
    }

    pub fn save(&self) -> SavedKey {
        SavedKey {
            kid: self.kid.clone(),
            alg: format!("{:?}", self.alg),
            private: if is_hmac(self.alg) {
                String::from_utf8_lossy(&self.private).into_owned()
            } else {
                STANDARD.encode(&self.private)
            },
        }
    }

    pub fn load(saved: &SavedKey) -> Result<SigningKey, KeyError> {
        let alg: Algorithm = saved
            .alg
            .parse()
            .map_err(|_| KeyError::UnknownAlgorithm(saved.alg.clone()))?;
        let private = if is_hmac(alg) {
            saved.private.clone().into_bytes()
        } else {
            STANDARD
                .decode(&saved.private)
                .map_err(KeyError::NotBase64)?
        };
        Self::from_private(alg, &saved.kid, private)
    }

    /// The HMAC secret text (for `keys = [{ secret = … }]` in the config).
    pub fn secret(&self) -> &str {
        self.jwk["secret"].as_str().expect("an HMAC key")
    }

    /// Signs `claims` with this key and a header of `typ` `at+jwt`.
    pub fn mint(&self, claims: &impl Serialize) -> String {
        self.mint_typed(claims, "at+jwt")
    }

    /// Signs `claims` with a header of the given `typ` (`JWT` for OpenID Connect ID tokens, so
    /// that no access-token verifier takes one for an access token).
    pub fn mint_typed(&self, claims: &impl Serialize, typ: &str) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        header.typ = Some(typ.into());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("signing with aws-lc works")
    }

    /// Signs with an arbitrary header JSON (for hostile headers in tests).
    pub fn mint_raw(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &self.encoding, self.alg)
            .expect("signing with aws-lc works");
        format!("{input}.{signature}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_save_and_load() {
        for alg in [
            Algorithm::RS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
            Algorithm::HS256,
        ] {
            let key = SigningKey::generate(alg, "k1");
            let loaded = SigningKey::load(&key.save()).unwrap();
            assert_eq!(loaded.jwk, key.jwk, "{alg:?}");
            let token = loaded.mint(&json!({"sub": "x"}));
            assert_eq!(token.split('.').count(), 3);
        }
        assert!(SigningKey::load(&SavedKey {
            kid: "k".into(),
            alg: "ES256".into(),
            private: "AAAA".into()
        })
        .is_err());
    }
}
