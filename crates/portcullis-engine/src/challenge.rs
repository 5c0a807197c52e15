//! Auth failures as HTTP answers: status, RFC 6750 `WWW-Authenticate`, a small JSON body.
//!
//! Descriptions come from a fixed set (SECURITY.md ER-5): nothing a client sent, and nothing
//! from a token, is ever written into a challenge or a body.

use portcullis_core::answer::Answer;
use portcullis_core::credential::ExtractError;
use portcullis_core::principal::Level;
pub use portcullis_core::problem::TokenProblem;
use serde::Serialize;

/// Why the tenant a request is for cannot be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantProblem {
    /// The route names a tenant header and the request has none.
    Missing,
    /// The tenant header more than once (in any `-`/`_` spelling).
    Repeated,
    /// The tenant header names another tenant than the host.
    DisagreesWithHost,
}

impl TenantProblem {
    pub fn description(self) -> &'static str {
        match self {
            TenantProblem::Missing => "the tenant header is required",
            TenantProblem::Repeated => "the tenant header is repeated",
            TenantProblem::DisagreesWithHost => "the tenant header disagrees with the host",
        }
    }
}

/// Every way the auth layer can refuse a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No credential where one is required: a bare challenge (RFC 6750 §3.1).
    Missing,
    /// 400 `invalid_request`.
    InvalidRequest(ExtractError),
    /// 401 `invalid_token`.
    InvalidToken(TokenProblem),
    /// 403 `insufficient_scope`, naming the scopes the route needs.
    InsufficientScope(Vec<String>),
    /// 401 `insufficient_user_authentication` (RFC 9470): a stronger level is needed.
    InsufficientLevel(Level),
    /// 403: the credential belongs to another tenant.
    WrongTenant,
    /// 400 `invalid_request`: the tenant the request is for cannot be told.
    UnclearTenant(TenantProblem),
    /// 503: the identity provider, introspection endpoint or store could not answer.
    Unavailable,
    /// 429: this client has been given its share of device tokens; retry after the seconds.
    Limited(u32),
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
}

impl AuthError {
    /// The RFC 6750 / 9470 error code, if the answer carries one.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            AuthError::Missing => None,
            AuthError::InvalidRequest(_) | AuthError::UnclearTenant(_) => Some("invalid_request"),
            AuthError::InvalidToken(_) => Some("invalid_token"),
            AuthError::InsufficientScope(_) | AuthError::WrongTenant => Some("insufficient_scope"),
            AuthError::InsufficientLevel(_) => Some("insufficient_user_authentication"),
            AuthError::Unavailable => Some("temporarily_unavailable"),
            AuthError::Limited(_) => Some("slow_down"),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            AuthError::InvalidRequest(_) | AuthError::UnclearTenant(_) => 400,
            AuthError::Missing | AuthError::InvalidToken(_) | AuthError::InsufficientLevel(_) => {
                401
            }
            AuthError::InsufficientScope(_) | AuthError::WrongTenant => 403,
            AuthError::Unavailable => 503,
            AuthError::Limited(_) => 429,
        }
    }

    fn description(&self) -> Option<&'static str> {
        match self {
            AuthError::Missing => None,
            AuthError::InvalidRequest(e) => Some(e.description()),
            AuthError::UnclearTenant(p) => Some(p.description()),
            AuthError::InvalidToken(p) => Some(p.description()),
            AuthError::InsufficientScope(_) => Some("the token lacks a required scope"),
            AuthError::InsufficientLevel(_) => Some("a stronger authentication level is required"),
            AuthError::WrongTenant => Some("the token belongs to another tenant"),
            AuthError::Unavailable => Some("identity provider unavailable"),
            AuthError::Limited(_) => Some("too many device tokens from this address"),
        }
    }

    /// The RFC 6750 / 9470 answer: status, `WWW-Authenticate` (not for 429 and 503, which
    /// say "later", not "another token"), `Retry-After` where waiting helps, and the JSON body.
    /// `realm` was checked against the RFC 6750 charset at config load.
    pub fn answer(&self, realm: &str) -> Answer {
        let scope = match self {
            AuthError::InsufficientScope(scopes) => Some(scopes.join(" ")),
            _ => None,
        };
        let www_authenticate = match self {
            AuthError::Unavailable | AuthError::Limited(_) => None,
            _ => {
                let mut header = format!("Bearer realm=\"{}\"", sanitize(realm));
                if let Some(code) = self.code() {
                    header.push_str(&format!(", error=\"{code}\""));
                }
                if let Some(description) = self.description() {
                    header.push_str(&format!(
                        ", error_description=\"{}\"",
                        sanitize(description)
                    ));
                }
                if let Some(scope) = &scope {
                    header.push_str(&format!(", scope=\"{}\"", sanitize(scope)));
                }
                if let AuthError::InsufficientLevel(level) = self {
                    header.push_str(&format!(", acr_values=\"{}\"", level.as_str()));
                }
                Some(header)
            }
        };
        let body = serde_json::to_vec(&Body {
            error: self.code().unwrap_or("unauthorized"),
            error_description: self.description(),
            scope: scope.as_deref(),
        })
        .expect("plain strings serialize");
        let retry_after = match self {
            AuthError::Unavailable => Some(5),
            AuthError::Limited(seconds) => Some(*seconds),
            _ => None,
        };
        let mut answer = Answer::json(self.status(), body);
        if let Some(challenge) = www_authenticate {
            answer = answer.with_header("www-authenticate", challenge);
        }
        if let Some(seconds) = retry_after {
            answer = answer.with_header("retry-after", seconds.to_string());
        }
        answer
    }
}

/// Keeps only the characters RFC 6750 §3 allows in a quoted parameter (`%x20-21 / %x23-5B /
/// %x5D-7E`; in `scope` the space is the delimiter). A second line of defence: every input is a
/// fixed string or a scope validated at config load already.
pub fn sanitize(text: &str) -> String {
    text.chars()
        .filter(|&c| {
            let b = c as u32;
            (0x20..=0x21).contains(&b) || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
        })
        .collect()
}

/// Whether a scope token is valid in RFC 6750's `scope` (`%x21 / %x23-5B / %x5D-7E`).
pub fn is_valid_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
        answer
            .headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn missing_credentials_get_a_bare_challenge() {
        let a = AuthError::Missing.answer("portcullis");
        assert_eq!(a.status, 401);
        assert_eq!(
            header(&a, "www-authenticate"),
            Some("Bearer realm=\"portcullis\"")
        );
    }

    #[test]
    fn golden_challenges() {
        let cases = [
            (
                AuthError::InvalidToken(TokenProblem::Expired),
                401,
                "Bearer realm=\"r\", error=\"invalid_token\", error_description=\"expired\"",
            ),
            (
                AuthError::InvalidRequest(ExtractError::MultipleCredentials),
                400,
                "Bearer realm=\"r\", error=\"invalid_request\", error_description=\"more than one credential in the request\"",
            ),
            (
                AuthError::InsufficientScope(vec!["profile:write".into(), "orders".into()]),
                403,
                "Bearer realm=\"r\", error=\"insufficient_scope\", error_description=\"the token lacks a required scope\", scope=\"profile:write orders\"",
            ),
            (
                AuthError::InsufficientLevel(Level::Verified),
                401,
                "Bearer realm=\"r\", error=\"insufficient_user_authentication\", error_description=\"a stronger authentication level is required\", acr_values=\"verified\"",
            ),
        ];
        for (error, status, challenge) in cases {
            let a = error.answer("r");
            assert_eq!(a.status, status);
            assert_eq!(header(&a, "www-authenticate"), Some(challenge));
        }
    }

    #[test]
    fn unavailable_is_503_without_an_invalid_token_challenge() {
        let a = AuthError::Unavailable.answer("r");
        assert_eq!(a.status, 503);
        assert_eq!(header(&a, "www-authenticate"), None);
        assert_eq!(header(&a, "retry-after"), Some("5"));
        let body: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
    }

    #[test]
    fn sanitize_drops_quotes_backslashes_and_controls() {
        assert_eq!(sanitize("a\"b\\c\nd\u{e9}"), "abcd");
        assert!(is_valid_scope_token("profile:read"));
        assert!(!is_valid_scope_token("a b"));
        assert!(!is_valid_scope_token("a\"b"));
    }
}
