//! Opaque tokens, checked by RFC 7662 introspection.
//!
//! POST with client authentication; only a JSON `"active": true` grants (IN-3); the answer is
//! re-checked locally (`exp`, `nbf`, and `iss`/`aud` when configured, IN-4); results are cached
//! per endpoint (IN-6) and never past `exp` (IN-5); concurrent lookups of one token share one
//! call, and a failed call is never cached. Endpoint down, slow, 401/5xx or not JSON → 503.

use crate::verify::claims::{audiences, numeric_date, string_claim, ClaimMapping};
use crate::verify::{cache_key, VerifyError};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use moka::future::Cache;
use portcullis_core::credential::Secret;
use portcullis_core::principal::{Caller, Identity};
use portcullis_core::problem::TokenProblem;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// Largest introspection answer read.
const MAX_ANSWER: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct IntrospectionSettings {
    pub endpoint: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub timeout: Duration,
    pub cache_ttl: Duration,
    /// How long an inactive answer is remembered (0: not at all).
    pub negative_cache_ttl: Duration,
    /// When set, `iss` in the answer must equal it.
    pub issuer: Option<String>,
    /// When non-empty, `aud` in the answer must contain one of them.
    pub audiences: Vec<String>,
    pub leeway: u64,
    pub max_entries: u64,
}

/// A cached answer: an identity, or "inactive".
#[derive(Debug, Clone)]
enum Answer {
    Active(Arc<Caller>),
    Inactive(TokenProblem),
}

pub struct Introspector {
    pub name: Arc<str>,
    settings: IntrospectionSettings,
    mapping: ClaimMapping,
    client: reqwest::Client,
    cache: Cache<[u8; 32], Answer>,
}

impl std::fmt::Debug for Introspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Introspector")
            .field("name", &self.name)
            .finish()
    }
}

struct AnswerExpiry {
    ttl: Duration,
    negative_ttl: Duration,
}

impl moka::Expiry<[u8; 32], Answer> for AnswerExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        answer: &Answer,
        _at: std::time::Instant,
    ) -> Option<Duration> {
        Some(match answer {
            Answer::Active(identity) => match identity.expires_at {
                Some(exp) => self.ttl.min(Duration::from_secs(
                    exp.saturating_sub(portcullis_core::principal::now_unix()),
                )),
                None => self.ttl,
            },
            Answer::Inactive(_) => self.negative_ttl,
        })
    }
}

impl Introspector {
    pub fn new(name: &str, settings: IntrospectionSettings, mapping: ClaimMapping) -> Self {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client with default TLS settings builds");
        let cache = Cache::builder()
            .max_capacity(settings.max_entries)
            .expire_after(AnswerExpiry {
                ttl: settings.cache_ttl,
                negative_ttl: settings.negative_cache_ttl,
            })
            .build();
        Self {
            name: Arc::from(name),
            settings,
            mapping,
            client,
            cache,
        }
    }

    /// Whether `token`, as judged by this endpoint, is active; and whether the answer was cached.
    pub async fn verify(&self, token: &str, now: u64) -> Result<(Arc<Caller>, bool), VerifyError> {
        let key = cache_key(&format!("introspection:{}", self.name), token);
        let mut fetched = false;
        let answer = self
            .cache
            .try_get_with(key, async {
                fetched = true;
                self.call(token, now).await
            })
            .await
            .map_err(|e| *e)?;
        crate::metrics::INTROSPECTION_CACHE.record(!fetched);
        match answer {
            Answer::Active(identity) => {
                identity.is_current(now)?;
                Ok((identity, !fetched))
            }
            Answer::Inactive(problem) => Err(problem.into()),
        }
    }

    async fn call(&self, token: &str, now: u64) -> Result<Answer, VerifyError> {
        let answer = self.call_endpoint(token, now).await;
        let result = match &answer {
            Ok(Answer::Active(_)) => "active",
            Ok(Answer::Inactive(_)) => "inactive",
            Err(_) => "error",
        };
        crate::metrics::INTROSPECTIONS
            .with_label_values(&[&*self.name, result])
            .inc();
        answer
    }

    async fn call_endpoint(&self, token: &str, now: u64) -> Result<Answer, VerifyError> {
        let credentials = format!(
            "{}:{}",
            form_encode(&self.settings.client_id),
            form_encode(self.settings.client_secret.expose())
        );
        let body = format!("token={}&token_type_hint=access_token", form_encode(token));
        let response = self
            .client
            .post(&self.settings.endpoint)
            .header("authorization", format!("Basic {}", STANDARD.encode(credentials)))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(issuer = %self.name, timeout = e.is_timeout(), "introspection call failed");
                VerifyError::Unavailable
            })?;
        let status = response.status().as_u16();
        if status != 200 {
            // 401/403: our own client credentials are wrong — an outage, not a bad token.
            tracing::warn!(issuer = %self.name, status, "introspection endpoint refused the call");
            return Err(VerifyError::Unavailable);
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|_| VerifyError::Unavailable)?;
        if bytes.len() > MAX_ANSWER {
            return Err(VerifyError::Unavailable);
        }
        let object: Map<String, Value> = match serde_json::from_slice(&bytes) {
            Ok(Value::Object(o)) => o,
            _ => {
                tracing::warn!(issuer = %self.name, "introspection answer is not a JSON object");
                return Err(VerifyError::Unavailable);
            }
        };
        Ok(match self.judge(&object, now) {
            Ok(identity) => Answer::Active(Arc::new(identity.into())),
            Err(problem) => Answer::Inactive(problem),
        })
    }

    /// Turns an answer into an identity, checking it like a token (defence in depth).
    fn judge(&self, answer: &Map<String, Value>, now: u64) -> Result<Identity, TokenProblem> {
        if answer.get("active") != Some(&Value::Bool(true)) {
            return Err(TokenProblem::Inactive);
        }
        if let Some(expected) = &self.settings.issuer {
            if string_claim(answer, "iss")? != Some(expected.as_str()) {
                return Err(TokenProblem::UnknownIssuer);
            }
        }
        if !self.settings.audiences.is_empty() {
            let audiences = audiences(answer)?;
            if !audiences
                .iter()
                .any(|a| self.settings.audiences.contains(a))
            {
                return Err(TokenProblem::WrongAudience);
            }
        }
        numeric_date(answer, "exp")?;
        // Tokens of client-credentials grants have no `sub`; name the client instead.
        let mut with_subject;
        let source = if answer.contains_key("sub") {
            answer
        } else {
            let subject = string_claim(answer, "username")?
                .or(string_claim(answer, "client_id")?)
                .ok_or(TokenProblem::MissingClaim)?
                .to_string();
            with_subject = answer.clone();
            with_subject.insert("sub".into(), Value::String(subject));
            &with_subject
        };
        let identity = self
            .mapping
            .identity(&self.name, source, self.settings.leeway)?;
        identity.is_current(now)?;
        Ok(identity)
    }
}

/// What `application/x-www-form-urlencoded` escapes: everything but ALPHA, DIGIT and `*-._`
/// (WHATWG URL, "application/x-www-form-urlencoded percent-encode set").
const FORM: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

/// Form encoding (RFC 6749 §2.3.1 uses it for client credentials too).
fn form_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, FORM).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_keeps_unreserved_marks() {
        assert_eq!(form_encode("a-b_c.d*e"), "a-b_c.d*e");
        assert_eq!(form_encode("a b/c:d+e"), "a%20b%2Fc%3Ad%2Be");
    }
}
