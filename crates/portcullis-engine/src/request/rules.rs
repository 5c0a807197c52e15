//! Per-route request rules (`[routes.request]`): the body's media type and size.
//!
//! A declared `Content-Length` over the limit is refused before anything is read; a streamed
//! (chunked) body is counted as it passes and the request fails with 413 the moment it
//! crosses the limit, so an upstream never receives more than the limit.

use http::{HeaderMap, Method};

#[derive(Debug, Clone, Default)]
pub struct RequestRules {
    /// Methods whose body must be JSON.
    pub json_methods: Vec<Method>,
    /// Largest body in bytes.
    pub max_body: Option<u64>,
}

/// Why a request breaks its route's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleBreach {
    NotJson,
    BodyTooLarge,
}

impl RuleBreach {
    pub fn status(self) -> u16 {
        match self {
            RuleBreach::NotJson => 415,
            RuleBreach::BodyTooLarge => 413,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            RuleBreach::NotJson => "unsupported_media_type",
            RuleBreach::BodyTooLarge => "payload_too_large",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            RuleBreach::NotJson => "the request body must be application/json",
            RuleBreach::BodyTooLarge => "the request body is too large",
        }
    }
}

impl RequestRules {
    /// Checks what the header says about the body.
    pub fn check(&self, method: &Method, headers: &HeaderMap) -> Result<(), RuleBreach> {
        if let Some(max) = self.max_body {
            let declared = headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|length| length > max) {
                return Err(RuleBreach::BodyTooLarge);
            }
        }
        if self.json_methods.contains(method) && super::framing::may_have_body(headers) {
            let content_type = headers.get(http::header::CONTENT_TYPE);
            if !content_type.is_some_and(|v| is_json(v.as_bytes())) {
                return Err(RuleBreach::NotJson);
            }
        }
        Ok(())
    }
}

/// `application/json` or a `+json` type (`application/merge-patch+json`), with any parameters.
pub fn is_json(content_type: &[u8]) -> bool {
    let essence = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii()
        .to_ascii_lowercase();
    let Some(subtype) = essence.strip_prefix(b"application/") else {
        return false;
    };
    subtype == b"json" || (subtype.ends_with(b"+json") && subtype.len() > b"+json".len())
}

/// Counts a streamed body against its limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct BodyMeter {
    limit: Option<u64>,
    seen: u64,
}

impl BodyMeter {
    pub fn new(limit: Option<u64>) -> Self {
        Self { limit, seen: 0 }
    }

    /// Adds a chunk; `Err` once the body is over the limit.
    pub fn add(&mut self, bytes: usize) -> Result<(), RuleBreach> {
        self.seen = self.seen.saturating_add(bytes as u64);
        match self.limit {
            Some(limit) if self.seen > limit => Err(RuleBreach::BodyTooLarge),
            _ => Ok(()),
        }
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

    fn rules() -> RequestRules {
        RequestRules {
            json_methods: vec![Method::POST, Method::PUT],
            max_body: Some(10),
        }
    }

    #[test]
    fn json_media_types() {
        for yes in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json",
            " application/json ;x=y",
        ] {
            assert!(is_json(yes.as_bytes()), "{yes}");
        }
        for no in [
            "text/json",
            "application/jsonp",
            "application/+json",
            "application/x-www-form-urlencoded",
            "",
            "json",
        ] {
            assert!(!is_json(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn json_methods_need_a_json_body() {
        let rules = rules();
        let form = headers(&[
            ("content-length", "3"),
            ("content-type", "application/x-www-form-urlencoded"),
        ]);
        assert_eq!(rules.check(&Method::POST, &form), Err(RuleBreach::NotJson));
        let untyped = headers(&[("transfer-encoding", "chunked")]);
        assert_eq!(
            rules.check(&Method::PUT, &untyped),
            Err(RuleBreach::NotJson)
        );
        let json = headers(&[
            ("content-length", "3"),
            ("content-type", "application/json"),
        ]);
        assert_eq!(rules.check(&Method::POST, &json), Ok(()));
        // Not a JSON method, or no body at all: nothing to check.
        assert_eq!(rules.check(&Method::PATCH, &form), Ok(()));
        let empty = headers(&[("content-length", "0")]);
        assert_eq!(rules.check(&Method::POST, &empty), Ok(()));
    }

    #[test]
    fn declared_length_over_the_limit_is_refused() {
        let rules = rules();
        let big = headers(&[
            ("content-length", "11"),
            ("content-type", "application/json"),
        ]);
        assert_eq!(
            rules.check(&Method::POST, &big),
            Err(RuleBreach::BodyTooLarge)
        );
        let exact = headers(&[
            ("content-length", "10"),
            ("content-type", "application/json"),
        ]);
        assert_eq!(rules.check(&Method::POST, &exact), Ok(()));
        assert_eq!(RuleBreach::BodyTooLarge.status(), 413);
        assert_eq!(RuleBreach::NotJson.status(), 415);
    }

    #[test]
    fn meter_trips_once_past_the_limit() {
        let mut meter = BodyMeter::new(Some(10));
        assert_eq!(meter.add(6), Ok(()));
        assert_eq!(meter.add(4), Ok(()));
        assert_eq!(meter.add(1), Err(RuleBreach::BodyTooLarge));
        let mut unlimited = BodyMeter::new(None);
        assert_eq!(unlimited.add(usize::MAX), Ok(()));
    }
}
