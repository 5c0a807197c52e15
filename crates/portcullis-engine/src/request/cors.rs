//! CORS for routes with `[routes.cors]` (Fetch standard, "CORS protocol").
//!
//! Preflights carry no credential, so the gateway answers them itself instead of sending them
//! through auth to an upstream that may not know CORS. Actual requests from an allowed origin
//! get `Access-Control-Allow-Origin` (and friends) on whatever answer they receive — the
//! upstream's or the gateway's own 401/403, which a script then can read.

use http::{HeaderMap, Method};

/// The request headers of a preflight.
const REQUEST_METHOD: &str = "access-control-request-method";
const REQUEST_HEADERS: &str = "access-control-request-headers";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origins {
    /// `*`: any origin (never with credentials).
    Any,
    /// Exact serialized origins, lowercase.
    List(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct CorsPolicy {
    pub origins: Origins,
    pub methods: Vec<Method>,
    /// Lowercase header names; `None`: any (`*`).
    pub allow_headers: Option<Vec<String>>,
    pub expose_headers: Vec<String>,
    pub credentials: bool,
    pub max_age_secs: u64,
}

/// Why a preflight is refused (403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreflightRefusal {
    Origin,
    Method,
    Headers,
}

impl PreflightRefusal {
    pub fn message(self) -> &'static str {
        match self {
            PreflightRefusal::Origin => "the origin is not allowed",
            PreflightRefusal::Method => "the method is not allowed for cross-origin requests",
            PreflightRefusal::Headers => "a requested header is not allowed",
        }
    }
}

pub type Headers = Vec<(&'static str, String)>;

/// The method a preflight asks about: `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`. `None`: not a preflight.
pub fn preflight_method(method: &Method, headers: &HeaderMap) -> Option<Method> {
    if method != Method::OPTIONS || !headers.contains_key(http::header::ORIGIN) {
        return None;
    }
    let asked = headers.get(REQUEST_METHOD)?;
    Method::from_bytes(asked.as_bytes()).ok()
}

/// Whether `text` is a serialized origin: `scheme://host[:port]`, nothing after it.
pub fn is_origin(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    let scheme_ok = !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    scheme_ok
        && !rest.is_empty()
        && rest.parse::<http::uri::Authority>().is_ok()
        && !rest.contains(['@', '/', '?', '#'])
}

impl CorsPolicy {
    /// The `Access-Control-Allow-Origin` value for this request's origin, if it is allowed.
    fn allow_origin(&self, headers: &HeaderMap) -> Option<String> {
        let origin = headers.get(http::header::ORIGIN)?.to_str().ok()?;
        match &self.origins {
            Origins::Any => Some("*".into()),
            Origins::List(list) => list
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin))
                .then(|| origin.to_string()),
        }
    }

    /// Responses differ by origin only when specific origins are echoed.
    fn vary(&self) -> Option<(&'static str, String)> {
        matches!(self.origins, Origins::List(_)).then(|| ("vary", "Origin".to_string()))
    }

    /// The answer to a preflight: the headers of a `204`, or why it is refused.
    pub fn preflight(
        &self,
        asked: &Method,
        headers: &HeaderMap,
    ) -> Result<Headers, PreflightRefusal> {
        let origin = self.allow_origin(headers).ok_or(PreflightRefusal::Origin)?;
        if !self.methods.contains(asked) {
            return Err(PreflightRefusal::Method);
        }
        let requested: Vec<String> = headers
            .get_all(REQUEST_HEADERS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        let allow_headers = match &self.allow_headers {
            None => requested.join(", "),
            Some(allowed) => {
                if !requested.iter().all(|h| allowed.contains(h)) {
                    return Err(PreflightRefusal::Headers);
                }
                allowed.join(", ")
            }
        };
        let methods: Vec<&str> = self.methods.iter().map(Method::as_str).collect();
        let mut answer = vec![
            ("access-control-allow-origin", origin),
            ("access-control-allow-methods", methods.join(", ")),
            ("access-control-max-age", self.max_age_secs.to_string()),
        ];
        if !allow_headers.is_empty() {
            answer.push(("access-control-allow-headers", allow_headers));
        }
        if self.credentials {
            answer.push(("access-control-allow-credentials", "true".into()));
        }
        answer.extend(self.vary());
        answer.push((
            "vary",
            "Access-Control-Request-Method, Access-Control-Request-Headers".into(),
        ));
        Ok(answer)
    }

    /// Headers for the answer to an actual request (empty when the origin is not allowed or
    /// the request is same-origin).
    pub fn response_headers(&self, headers: &HeaderMap) -> Headers {
        let mut answer: Headers = self.vary().into_iter().collect();
        let Some(origin) = self.allow_origin(headers) else {
            return answer;
        };
        answer.push(("access-control-allow-origin", origin));
        if self.credentials {
            answer.push(("access-control-allow-credentials", "true".into()));
        }
        if !self.expose_headers.is_empty() {
            answer.push((
                "access-control-expose-headers",
                self.expose_headers.join(", "),
            ));
        }
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect()
    }

    fn policy(origins: Origins) -> CorsPolicy {
        CorsPolicy {
            origins,
            methods: vec![Method::GET, Method::PUT],
            allow_headers: Some(vec!["authorization".into(), "content-type".into()]),
            expose_headers: vec!["x-request-id".into()],
            credentials: true,
            max_age_secs: 600,
        }
    }

    fn value<'a>(answer: &'a Headers, name: &str) -> Option<&'a str> {
        answer
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn recognises_preflights() {
        let asked = headers(&[
            ("origin", "https://app.example"),
            ("access-control-request-method", "PUT"),
        ]);
        assert_eq!(
            preflight_method(&Method::OPTIONS, &asked),
            Some(Method::PUT)
        );
        assert_eq!(preflight_method(&Method::GET, &asked), None);
        let plain_options = headers(&[("origin", "https://app.example")]);
        assert_eq!(preflight_method(&Method::OPTIONS, &plain_options), None);
    }

    #[test]
    fn preflight_from_a_listed_origin() {
        let policy = policy(Origins::List(vec!["https://app.example".into()]));
        let request = headers(&[
            ("origin", "https://app.example"),
            ("access-control-request-method", "PUT"),
            (
                "access-control-request-headers",
                "Content-Type, authorization",
            ),
        ]);
        let answer = policy.preflight(&Method::PUT, &request).unwrap();
        assert_eq!(
            value(&answer, "access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(
            value(&answer, "access-control-allow-methods"),
            Some("GET, PUT")
        );
        assert_eq!(
            value(&answer, "access-control-allow-headers"),
            Some("authorization, content-type")
        );
        assert_eq!(
            value(&answer, "access-control-allow-credentials"),
            Some("true")
        );
        assert_eq!(value(&answer, "access-control-max-age"), Some("600"));
        assert_eq!(value(&answer, "vary"), Some("Origin"));
    }

    #[test]
    fn preflight_refusals() {
        let policy = policy(Origins::List(vec!["https://app.example".into()]));
        let other = headers(&[("origin", "https://evil.example")]);
        assert_eq!(
            policy.preflight(&Method::GET, &other),
            Err(PreflightRefusal::Origin)
        );
        let listed = headers(&[("origin", "https://app.example")]);
        assert_eq!(
            policy.preflight(&Method::DELETE, &listed),
            Err(PreflightRefusal::Method)
        );
        let odd_header = headers(&[
            ("origin", "https://app.example"),
            ("access-control-request-headers", "x-secret"),
        ]);
        assert_eq!(
            policy.preflight(&Method::GET, &odd_header),
            Err(PreflightRefusal::Headers)
        );
    }

    #[test]
    fn actual_responses_echo_only_allowed_origins() {
        let policy = policy(Origins::List(vec!["https://app.example".into()]));
        let allowed = policy.response_headers(&headers(&[("origin", "https://APP.example")]));
        assert_eq!(
            value(&allowed, "access-control-allow-origin"),
            Some("https://APP.example")
        );
        assert_eq!(
            value(&allowed, "access-control-expose-headers"),
            Some("x-request-id")
        );
        let refused = policy.response_headers(&headers(&[("origin", "https://evil.example")]));
        assert_eq!(value(&refused, "access-control-allow-origin"), None);
        assert_eq!(value(&refused, "vary"), Some("Origin"));

        let mut any = policy;
        any.origins = Origins::Any;
        any.credentials = false;
        let answer = any.response_headers(&headers(&[("origin", "https://x.example")]));
        assert_eq!(value(&answer, "access-control-allow-origin"), Some("*"));
        assert_eq!(value(&answer, "vary"), None);
    }

    #[test]
    fn origin_syntax() {
        for yes in [
            "https://app.example",
            "http://127.0.0.1:8080",
            "https://a.b:443",
        ] {
            assert!(is_origin(yes), "{yes}");
        }
        for no in [
            "app.example",
            "https://app.example/",
            "https://app.example/path",
            "https://user@app.example",
            "null",
            "*",
            "https://",
        ] {
            assert!(!is_origin(no), "{no}");
        }
    }
}
