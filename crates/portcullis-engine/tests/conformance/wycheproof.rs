//! Wycheproof vectors (../shared/vectors/wycheproof) against the signature layer and the key
//! loaders: every `valid` accepted, every `invalid` and `acceptable` refused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use portcullis_engine::verify::keys::{key_from_jwk_value, key_from_secret, KeySet, VerifyKey};
use portcullis_engine::verify::verify_jws_signature;
use serde_json::Value;
use std::path::PathBuf;

fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors/wycheproof")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (../shared must sit beside the checkout)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Tallies outcomes and lists every disagreement.
#[derive(Default)]
struct Tally {
    run: usize,
    failures: Vec<String>,
}

impl Tally {
    fn check(&mut self, file: &str, tc: &Value, accepted: bool) {
        self.run += 1;
        let expected = tc["result"] == "valid";
        if accepted != expected {
            self.failures.push(format!(
                "{file} tcId {} ({}; {}): expected {}, got {}",
                tc["tcId"],
                tc["comment"],
                tc["flags"],
                if expected { "accept" } else { "refuse" },
                if accepted { "accept" } else { "refuse" },
            ));
        }
    }

    fn finish(self, what: &str) {
        println!(
            "{what}: {} vectors run, {} disagreements",
            self.run,
            self.failures.len()
        );
        assert!(self.failures.is_empty(), "{}", self.failures.join("\n"));
        assert!(self.run > 0);
    }
}

/// An operator's key set as a config would hold it: `oct` members through the shared-secret
/// path (with its strength rules), others through the JWKS loader from their public part.
fn operator_keys(keys: &[Value]) -> Option<KeySet> {
    let mut loaded = Vec::new();
    for jwk in keys {
        let alg = jwk["alg"]
            .as_str()
            .and_then(|a| a.parse::<Algorithm>().ok());
        if jwk["kty"] == "oct" {
            let alg = alg?;
            let secret = URL_SAFE_NO_PAD.decode(jwk["k"].as_str()?).ok()?;
            if jwk.get("use").is_some_and(|u| u != "sig") {
                continue;
            }
            loaded
                .push(key_from_secret(jwk["kid"].as_str().map(str::to_string), alg, &secret).ok()?);
        } else {
            let mut public = jwk.clone();
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                public.as_object_mut()?.remove(private);
            }
            if let Ok(key) = key_from_jwk_value(&public, Algorithm::RS256) {
                loaded.push(key);
            }
        }
    }
    KeySet::from_operator_keys(loaded).ok()
}

/// Vectors where Portcullis deliberately differs from the file. Each is still run, and must
/// give the outcome written here (`true`: accepted).
const JWS_EXCLUSIONS: &[(u64, bool, &str)] = &[
    (
        346,
        false,
        "PS384 token against a key declared PS256: one algorithm per key (RFC 8725 §3.1)",
    ),
    (
        347,
        false,
        "ES512 (P-521) is not supported by jsonwebtoken; the JWK also says \"ES521\"",
    ),
    (
        350,
        false,
        "PS384 token against a key declared PS256: one algorithm per key (RFC 8725 §3.1)",
    ),
    (
        351,
        false,
        "ES512 (P-521) is not supported by jsonwebtoken; the JWK also says \"ES521\"",
    ),
    (
        367,
        true,
        "byte-identical to tcId 357, which the file marks valid: the file contradicts itself",
    ),
    (
        370,
        true,
        "byte-identical to tcId 357, which the file marks valid: the file contradicts itself",
    ),
    (
        372,
        false,
        "'?' inside the header segment: not base64url (RFC 7515 §2), strict decoding refuses",
    ),
    (
        373,
        false,
        "'?' inside the payload segment: not base64url (RFC 7515 §2), strict decoding refuses",
    ),
];

/// The key of a JWS group: its public JWK, or its secret used as given (key strength is a
/// config rule, covered by the JWK-set vectors; here the MAC check is under test).
fn jws_group_keys(group: &Value) -> Option<KeySet> {
    if let Some(public) = group.get("public") {
        return key_from_jwk_value(public, Algorithm::RS256)
            .ok()
            .map(|k| KeySet::new(vec![k]));
    }
    let private = &group["private"];
    if private["kty"] == "oct" {
        let alg = private["alg"].as_str()?.parse::<Algorithm>().ok()?;
        let secret = URL_SAFE_NO_PAD.decode(private["k"].as_str()?).ok()?;
        return Some(KeySet::new(vec![VerifyKey {
            kid: private["kid"].as_str().map(str::to_string),
            alg,
            key: DecodingKey::from_secret(&secret),
        }]));
    }
    operator_keys(std::slice::from_ref(private))
}

#[test]
fn json_web_signature_vectors() {
    let file = "json_web_signature_test.json";
    let data = load(file);
    let mut tally = Tally::default();
    let mut excluded = 0;
    for group in data["testGroups"].as_array().unwrap() {
        let keys = jws_group_keys(group);
        for tc in group["tests"].as_array().unwrap() {
            let accepted = keys.as_ref().is_some_and(|keys| {
                verify_jws_signature(tc["jws"].as_str().unwrap(), keys).is_ok()
            });
            let id = tc["tcId"].as_u64().unwrap();
            if let Some((_, ours, reason)) = JWS_EXCLUSIONS.iter().find(|(x, _, _)| *x == id) {
                assert_eq!(accepted, *ours, "excluded tcId {id}: {reason}");
                excluded += 1;
                continue;
            }
            tally.check(file, tc, accepted);
        }
    }
    println!("{file}: {excluded} vectors excluded with reasons, see JWS_EXCLUSIONS");
    assert_eq!(excluded, JWS_EXCLUSIONS.len());
    tally.finish(file);
}

#[test]
fn json_web_key_vectors() {
    let file = "json_web_key_test.json";
    let data = load(file);
    let mut tally = Tally::default();
    for group in data["testGroups"].as_array().unwrap() {
        let keys = operator_keys(group["private"]["keys"].as_array().unwrap());
        for tc in group["tests"].as_array().unwrap() {
            let accepted = keys.as_ref().is_some_and(|keys| {
                verify_jws_signature(tc["jws"].as_str().unwrap(), keys).is_ok()
            });
            tally.check(file, tc, accepted);
        }
    }
    tally.finish(file);
}

/// Vectors of (public JWK, message, signature) for one algorithm, through the JWKS loader and
/// the key set's verification.
fn raw_signature_vectors(file: &str, jwk_member: &str, alg: Algorithm) {
    let data = load(file);
    let mut tally = Tally::default();
    for group in data["testGroups"].as_array().unwrap() {
        let mut jwk = match group.get(jwk_member) {
            Some(jwk) => jwk.clone(),
            None => ec_jwk_from_coordinates(&group["publicKey"]),
        };
        jwk.as_object_mut()
            .unwrap()
            .insert("alg".into(), Value::String(format!("{alg:?}")));
        let keys = key_from_jwk_value(&jwk, alg)
            .ok()
            .map(|k| KeySet::new(vec![k]));
        for tc in group["tests"].as_array().unwrap() {
            let signature = URL_SAFE_NO_PAD.encode(hex(tc["sig"].as_str().unwrap()));
            let message = hex(tc["msg"].as_str().unwrap());
            let accepted = keys
                .as_ref()
                .is_some_and(|keys| keys.verify(None, alg, &message, &signature).is_ok());
            tally.check(file, tc, accepted);
        }
    }
    tally.finish(file);
}

/// A JWK from Wycheproof's `wx`/`wy` hex coordinates (some groups carry no JWK).
fn ec_jwk_from_coordinates(public: &Value) -> Value {
    let (crv, size) = match public["curve"].as_str().unwrap() {
        "secp256r1" => ("P-256", 32),
        "secp384r1" => ("P-384", 48),
        other => panic!("curve {other}"),
    };
    let coordinate = |name: &str| {
        let bytes = hex(public[name].as_str().unwrap());
        let significant: Vec<u8> = bytes.iter().copied().skip_while(|&b| b == 0).collect();
        let mut padded = vec![0u8; size.max(significant.len()) - significant.len()];
        padded.extend(significant);
        URL_SAFE_NO_PAD.encode(padded)
    };
    serde_json::json!({"kty": "EC", "crv": crv, "x": coordinate("wx"), "y": coordinate("wy")})
}

#[test]
fn ecdsa_p256_p1363_vectors() {
    raw_signature_vectors(
        "ecdsa_secp256r1_sha256_p1363_test.json",
        "publicKeyJwk",
        Algorithm::ES256,
    );
}

#[test]
fn ecdsa_p384_p1363_vectors() {
    raw_signature_vectors(
        "ecdsa_secp384r1_sha384_p1363_test.json",
        "publicKeyJwk",
        Algorithm::ES384,
    );
}

#[test]
fn rsa_pkcs1_vectors() {
    raw_signature_vectors(
        "rsa_signature_2048_sha256_test.json",
        "keyJwk",
        Algorithm::RS256,
    );
}

#[test]
fn rsa_pss_vectors() {
    raw_signature_vectors(
        "rsa_pss_2048_sha256_mgf1_32_test.json",
        "publicKeyJwk",
        Algorithm::PS256,
    );
}

#[test]
fn ed25519_vectors() {
    raw_signature_vectors("ed25519_test.json", "publicKeyJwk", Algorithm::EdDSA);
}

/// HS256 with the vectors' own keys: key strength is a config-load rule (tested with the
/// loaders), so keys of any length are used as given here; a truncated tag must be refused.
#[test]
fn hmac_sha256_vectors() {
    let file = "hmac_sha256_test.json";
    let data = load(file);
    let mut tally = Tally::default();
    for group in data["testGroups"].as_array().unwrap() {
        let full_tag = group["tagSize"] == 256;
        for tc in group["tests"].as_array().unwrap() {
            let key = KeySet::new(vec![VerifyKey {
                kid: None,
                alg: Algorithm::HS256,
                key: DecodingKey::from_secret(&hex(tc["key"].as_str().unwrap())),
            }]);
            let tag = URL_SAFE_NO_PAD.encode(hex(tc["tag"].as_str().unwrap()));
            let message = hex(tc["msg"].as_str().unwrap());
            let accepted = key.verify(None, Algorithm::HS256, &message, &tag).is_ok();
            // A truncated tag is "valid" for its tag size in Wycheproof; a JWS must refuse it.
            let mut expected = tc.clone();
            if !full_tag {
                expected["result"] = Value::String("invalid".into());
            }
            tally.check(file, &expected, accepted);
        }
    }
    tally.finish(file);
}
