//! The JWS compact-serialization pre-parser: split, decode and strictly read the protected
//! header and the claims, before any key is touched.
//!
//! `jsonwebtoken` does not check `crit`, `typ`, key-carrying headers or duplicate members
//! (SECURITY.md §1.10), so this layer does: compact form only (JW-5), `crit` refused (JW-6),
//! `jwk`/`jku`/`x5u`/`x5c` refused — never followed (JW-7), `kid` bounded (JW-8), nested JWTs and
//! JWE refused (JW-12), duplicate members refused (JW-11).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use portcullis_core::problem::TokenProblem;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use std::fmt;

/// Longest `kid` accepted.
pub const MAX_KID_LEN: usize = 256;

/// A JSON object whose members were read once each: a repeated member name is an error.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StrictObject(pub Vec<(String, Value)>);

impl StrictObject {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    pub fn parse(bytes: &[u8]) -> Result<StrictObject, TokenProblem> {
        serde_json::from_slice(bytes).map_err(|_| TokenProblem::Malformed)
    }
}

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = StrictObject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object without repeated members")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrictObject, A::Error> {
                let mut members: Vec<(String, Value)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if members.iter().any(|(k, _)| *k == key) {
                        return Err(serde::de::Error::custom("repeated member"));
                    }
                    let value: Value = map.next_value()?;
                    members.push((key, value));
                }
                Ok(StrictObject(members))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// The protected header fields the gateway acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoseHeader {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

/// A compact JWS taken apart. Borrowed from the token; nothing here is verified yet.
#[derive(Debug)]
pub struct CompactJws<'t> {
    pub header: JoseHeader,
    pub claims: StrictObject,
    /// `base64url(header) "." base64url(payload)`: what the signature covers.
    pub signing_input: &'t str,
    /// The base64url signature segment.
    pub signature: &'t str,
}

fn is_base64url(segment: &str) -> bool {
    segment
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Splits a compact JWS into its three segments, refusing anything else cheaply.
pub fn split_compact(token: &str) -> Result<(&str, &str, &str), TokenProblem> {
    let mut parts = token.splitn(4, '.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenProblem::Malformed);
    };
    // An empty payload is a legal JWS (RFC 7515); as a JWT it then fails on its claims.
    if header.is_empty()
        || signature.is_empty()
        || !is_base64url(header)
        || !is_base64url(payload)
        || !is_base64url(signature)
    {
        return Err(TokenProblem::Malformed);
    }
    Ok((header, payload, signature))
}

/// Reads and checks the protected header.
pub fn parse_header(segment: &str) -> Result<JoseHeader, TokenProblem> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| TokenProblem::Malformed)?;
    let object = StrictObject::parse(&bytes)?;
    for (name, value) in &object.0 {
        match name.as_str() {
            // Key material or key locations chosen by the token: never trusted.
            "jwk" | "jku" | "x5u" | "x5c" | "crit" | "enc" | "zip" | "b64" => {
                return Err(TokenProblem::ForbiddenHeader)
            }
            "cty"
                if value
                    .as_str()
                    .is_some_and(|c| c.eq_ignore_ascii_case("jwt")) =>
            {
                return Err(TokenProblem::ForbiddenHeader)
            }
            _ => {}
        }
    }
    let alg = match object.get("alg") {
        Some(Value::String(name)) => name
            .parse::<Algorithm>()
            .map_err(|_| TokenProblem::UnsupportedAlgorithm)?,
        _ => return Err(TokenProblem::UnsupportedAlgorithm),
    };
    let kid = match object.get("kid") {
        None => None,
        Some(Value::String(kid))
            if kid.len() <= MAX_KID_LEN && kid.bytes().all(|b| (0x20..0x7f).contains(&b)) =>
        {
            Some(kid.clone())
        }
        Some(_) => return Err(TokenProblem::UnknownKey),
    };
    let typ = match object.get("typ") {
        None => None,
        Some(Value::String(typ)) => Some(typ.clone()),
        Some(_) => return Err(TokenProblem::WrongType),
    };
    Ok(JoseHeader { alg, kid, typ })
}

/// Takes a compact JWS apart: header and claims read strictly, signature left for the key.
pub fn parse_compact(token: &str) -> Result<CompactJws<'_>, TokenProblem> {
    let (header_segment, payload_segment, signature) = split_compact(token)?;
    let header = parse_header(header_segment)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload_segment)
        .map_err(|_| TokenProblem::Malformed)?;
    let claims = StrictObject::parse(&payload)?;
    Ok(CompactJws {
        header,
        claims,
        signing_input: &token[..header_segment.len() + 1 + payload_segment.len()],
        signature,
    })
}

/// Reads just the header of a compact JWS whose payload need not be JSON (the signature
/// layer, as in the Wycheproof vectors).
pub fn parse_signature_parts(token: &str) -> Result<(JoseHeader, &str, &str), TokenProblem> {
    let (header_segment, payload_segment, signature) = split_compact(token)?;
    let header = parse_header(header_segment)?;
    URL_SAFE_NO_PAD
        .decode(payload_segment)
        .map_err(|_| TokenProblem::Malformed)?;
    Ok((
        header,
        &token[..header_segment.len() + 1 + payload_segment.len()],
        signature,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    fn token(header: &str, claims: &str) -> String {
        format!("{}.{}.c2ln", b64(header), b64(claims))
    }

    #[test]
    fn a_plain_token_parses() {
        let t = token(
            r#"{"alg":"RS256","kid":"k1","typ":"at+jwt"}"#,
            r#"{"sub":"a"}"#,
        );
        let jws = parse_compact(&t).unwrap();
        assert_eq!(jws.header.alg, Algorithm::RS256);
        assert_eq!(jws.header.kid.as_deref(), Some("k1"));
        assert_eq!(jws.claims.get("sub"), Some(&Value::String("a".into())));
        assert_eq!(jws.signature, "c2ln");
    }

    #[test]
    fn none_and_unknown_algorithms_are_refused_in_any_case() {
        for alg in ["none", "None", "NONE", "nOnE", "rs256", "ES512", "HS1"] {
            let t = token(&format!(r#"{{"alg":"{alg}"}}"#), "{}");
            assert_eq!(
                parse_compact(&t).unwrap_err(),
                TokenProblem::UnsupportedAlgorithm,
                "{alg}"
            );
        }
        let t = token(r#"{"typ":"JWT"}"#, "{}");
        assert_eq!(
            parse_compact(&t).unwrap_err(),
            TokenProblem::UnsupportedAlgorithm
        );
    }

    #[test]
    fn key_carrying_and_critical_headers_are_refused() {
        for extra in [
            r#""jwk":{"kty":"oct","k":"AAAA"}"#,
            r#""jku":"https://evil.example/jwks""#,
            r#""x5u":"https://evil.example/cert""#,
            r#""x5c":["MIIB"]"#,
            r#""crit":["b64"],"b64":false"#,
            r#""enc":"A128GCM""#,
            r#""cty":"JWT""#,
        ] {
            let t = token(&format!(r#"{{"alg":"RS256",{extra}}}"#), "{}");
            assert_eq!(
                parse_compact(&t).unwrap_err(),
                TokenProblem::ForbiddenHeader,
                "{extra}"
            );
        }
    }

    #[test]
    fn duplicate_members_are_refused() {
        let t = token(r#"{"alg":"RS256","alg":"HS256"}"#, "{}");
        assert_eq!(parse_compact(&t).unwrap_err(), TokenProblem::Malformed);
        let t = token(r#"{"alg":"RS256"}"#, r#"{"exp":1,"exp":9999999999}"#);
        assert_eq!(parse_compact(&t).unwrap_err(), TokenProblem::Malformed);
    }

    #[test]
    fn kid_is_bounded_and_printable() {
        let long = "k".repeat(10 * 1024);
        let t = token(&format!(r#"{{"alg":"RS256","kid":"{long}"}}"#), "{}");
        assert_eq!(parse_compact(&t).unwrap_err(), TokenProblem::UnknownKey);
        let t = token(r#"{"alg":"RS256","kid":"a\u0000b"}"#, "{}");
        assert_eq!(parse_compact(&t).unwrap_err(), TokenProblem::UnknownKey);
        let t = token(r#"{"alg":"RS256","kid":"../../dev/null"}"#, "{}");
        assert!(parse_compact(&t).is_ok(), "a strange kid is just a map key");
    }

    #[test]
    fn non_compact_forms_are_refused() {
        for bad in [
            "a.b",
            "a.b.c.d",
            "..c",
            "eyJhbGciOiJSUzI1NiJ9.e30.",
            "eyJhbGciOiJSUzI1NiJ9.e30.c2ln=",
            "eyJhbGciOiJSUzI1NiJ9 .e30.c2ln",
            "{\"payload\":\"e30\"}",
        ] {
            assert_eq!(
                parse_compact(bad).unwrap_err(),
                TokenProblem::Malformed,
                "{bad}"
            );
        }
        let nested = format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"RS256"}"#),
            b64(&"[".repeat(4000))
        );
        assert_eq!(parse_compact(&nested).unwrap_err(), TokenProblem::Malformed);
    }
}
