//! Reading identity out of claims (a JWT's payload or an introspection answer), strictly typed.
//!
//! Wrongly typed claims are errors, never "absent" (CVE-2026-25537): a string `exp` does not
//! skip the expiry check, and an array `iss` does not match by intersection (fast-jwt #552).

use portcullis_core::principal::{Identity, Level};
use portcullis_core::problem::TokenProblem;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Anything claims can be read from.
pub trait ClaimSource {
    fn claim(&self, name: &str) -> Option<&Value>;
}

impl ClaimSource for crate::verify::jose::StrictObject {
    fn claim(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

impl ClaimSource for serde_json::Map<String, Value> {
    fn claim(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

/// How an issuer's claims map onto a principal.
#[derive(Debug, Clone)]
pub struct ClaimMapping {
    /// Claims holding scopes, tried in order: a space-delimited string or an array of strings.
    pub scope_claims: Vec<String>,
    /// Claim holding the level (e.g. `acr`, `level`); absent → `default_level`.
    pub level_claim: Option<String>,
    /// Claim value → level. A value not listed is refused (`invalid claim`), not defaulted.
    pub level_values: HashMap<String, Level>,
    pub default_level: Level,
    pub tenant_claim: Option<String>,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            scope_claims: vec!["scope".into(), "scp".into()],
            level_claim: None,
            level_values: HashMap::new(),
            default_level: Level::Verified,
            tenant_claim: None,
        }
    }
}

/// A space-separated scope list (RFC 6749 §3.3) as its scopes; runs of spaces are tolerated.
pub fn split_scopes(text: &str) -> Vec<String> {
    text.split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A NumericDate claim: a JSON number ≥ 0. Absent → `Ok(None)`; any other type → error.
pub fn numeric_date(claims: &impl ClaimSource, name: &str) -> Result<Option<u64>, TokenProblem> {
    match claims.claim(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(v), _) => Ok(Some(v)),
            (None, Some(f)) if f.is_finite() && f >= 0.0 => Ok(Some(f as u64)),
            _ => Err(TokenProblem::BadClaim),
        },
        Some(_) => Err(TokenProblem::BadClaim),
    }
}

/// A string claim. Absent → `Ok(None)`; any other type → error.
pub fn string_claim<'c>(
    claims: &'c impl ClaimSource,
    name: &str,
) -> Result<Option<&'c str>, TokenProblem> {
    match claims.claim(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(TokenProblem::BadClaim),
    }
}

/// `aud`: one string or an array of strings.
pub fn audiences(claims: &impl ClaimSource) -> Result<Vec<String>, TokenProblem> {
    match claims.claim("aud") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or(TokenProblem::BadClaim))
            .collect(),
        Some(_) => Err(TokenProblem::BadClaim),
    }
}

impl ClaimMapping {
    fn scopes(&self, claims: &impl ClaimSource) -> Result<Vec<String>, TokenProblem> {
        for name in &self.scope_claims {
            match claims.claim(name) {
                None => continue,
                Some(Value::String(s)) => return Ok(split_scopes(s)),
                Some(Value::Array(items)) => {
                    return items
                        .iter()
                        .map(|v| v.as_str().map(str::to_string).ok_or(TokenProblem::BadClaim))
                        .collect()
                }
                Some(_) => return Err(TokenProblem::BadClaim),
            }
        }
        Ok(Vec::new())
    }

    fn level(&self, claims: &impl ClaimSource) -> Result<Level, TokenProblem> {
        let Some(name) = &self.level_claim else {
            return Ok(self.default_level);
        };
        let value = match claims.claim(name) {
            None => return Ok(self.default_level),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => return Err(TokenProblem::BadClaim),
        };
        if let Some(level) = self.level_values.get(&value) {
            return Ok(*level);
        }
        Level::parse(&value).ok_or(TokenProblem::BadClaim)
    }

    /// Builds the identity from already-authenticated claims. Time and audience checks are the
    /// caller's (they differ between JWTs and introspection).
    pub fn identity(
        &self,
        issuer: &Arc<str>,
        claims: &impl ClaimSource,
        leeway: u64,
    ) -> Result<Identity, TokenProblem> {
        let subject = string_claim(claims, "sub")?
            .ok_or(TokenProblem::MissingClaim)?
            .to_string();
        let tenant = match &self.tenant_claim {
            Some(name) => string_claim(claims, name)?.map(str::to_string),
            None => None,
        };
        Ok(Identity {
            issuer: issuer.clone(),
            subject,
            tenant,
            scopes: self.scopes(claims)?,
            level: self.level(claims)?,
            audiences: audiences(claims)?,
            expires_at: numeric_date(claims, "exp")?,
            not_before: numeric_date(claims, "nbf")?,
            leeway,
            token_id: string_claim(claims, "jti")?.map(str::to_string),
            claimed_subject: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn wrongly_typed_dates_are_errors_not_absent() {
        let c = map(json!({"exp": "never", "nbf": "99999999999"}));
        assert_eq!(numeric_date(&c, "exp"), Err(TokenProblem::BadClaim));
        assert_eq!(numeric_date(&c, "nbf"), Err(TokenProblem::BadClaim));
        assert_eq!(
            numeric_date(&map(json!({"exp": -5})), "exp"),
            Err(TokenProblem::BadClaim)
        );
        assert_eq!(
            numeric_date(&map(json!({"exp": 10.7})), "exp"),
            Ok(Some(10))
        );
        assert_eq!(numeric_date(&map(json!({})), "exp"), Ok(None));
    }

    #[test]
    fn audiences_accept_string_or_string_array_only() {
        assert_eq!(audiences(&map(json!({"aud": "a"}))), Ok(vec!["a".into()]));
        assert_eq!(
            audiences(&map(json!({"aud": ["a", "b"]}))),
            Ok(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            audiences(&map(json!({"aud": 5}))),
            Err(TokenProblem::BadClaim)
        );
        assert_eq!(
            audiences(&map(json!({"aud": [["a"]]}))),
            Err(TokenProblem::BadClaim)
        );
    }

    #[test]
    fn scopes_levels_and_tenants_map() {
        let mapping = ClaimMapping {
            scope_claims: vec!["resources".into(), "scope".into()],
            level_claim: Some("acr".into()),
            level_values: HashMap::from([("2".to_string(), Level::Verified)]),
            default_level: Level::Identified,
            tenant_claim: Some("tenant".into()),
        };
        let issuer: Arc<str> = Arc::from("idp");
        let id = mapping
            .identity(&issuer, &map(json!({"sub": "u1", "resources": ["basic", "segments"], "acr": 2, "tenant": "acme", "exp": 9})), 60)
            .unwrap();
        assert_eq!(id.scopes, ["basic", "segments"]);
        assert_eq!(id.level, Level::Verified);
        assert_eq!(id.tenant.as_deref(), Some("acme"));
        let id = mapping
            .identity(&issuer, &map(json!({"sub": "u1", "scope": "a  b"})), 60)
            .unwrap();
        assert_eq!((id.scopes.len(), id.level), (2, Level::Identified));
        assert_eq!(
            mapping.identity(&issuer, &map(json!({"sub": "u1", "acr": "gold"})), 60),
            Err(TokenProblem::BadClaim)
        );
        assert_eq!(
            mapping.identity(&issuer, &map(json!({})), 60),
            Err(TokenProblem::MissingClaim)
        );
        assert_eq!(
            mapping.identity(&issuer, &map(json!({"sub": ["u1"]})), 60),
            Err(TokenProblem::BadClaim)
        );
    }
}
