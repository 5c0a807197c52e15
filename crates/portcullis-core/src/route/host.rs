//! Host patterns: exact names, `*.suffix` wildcards and `{tenant}.suffix` captures.
//!
//! Matching is label-aware (`*.example.com` never matches `badexample.com`, the
//! oauth2-proxy CVE-2021-21291 class) and case-insensitive, on the host without its port.

use std::borrow::Cow;

/// A compiled `host = …` pattern of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// No `host` key: any host (or none) matches.
    Any,
    /// `api.example.com`
    Exact(String),
    /// `*.example.com`, stored as `.example.com`: one or more labels before the suffix.
    Wildcard(String),
    /// `{tenant}.example.com`, stored as `.example.com`: exactly one label, captured as the tenant.
    Tenant(String),
}

/// What a matching host yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostMatch<'h> {
    No,
    Yes,
    /// Matched, with the tenant label taken from the host.
    Tenant(&'h str),
}

/// A host pattern in the config that is none of the three forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("host pattern {0:?} must be a DNS name, '*.name' or '{{tenant}}.name'")]
pub struct InvalidHostPattern(pub String);

impl HostPattern {
    /// Compiles a pattern written in the config, or says what is wrong with it.
    pub fn parse(pattern: &str) -> Result<Self, InvalidHostPattern> {
        let lower = pattern.trim().to_ascii_lowercase();
        let check = |name: &str| {
            if !name.is_empty() && name.split('.').all(valid_label) {
                Ok(())
            } else {
                Err(InvalidHostPattern(pattern.to_string()))
            }
        };
        if let Some(rest) = lower.strip_prefix("*.") {
            check(rest)?;
            Ok(HostPattern::Wildcard(format!(".{rest}")))
        } else if let Some(rest) = lower.strip_prefix("{tenant}.") {
            check(rest)?;
            Ok(HostPattern::Tenant(format!(".{rest}")))
        } else {
            check(&lower)?;
            Ok(HostPattern::Exact(lower))
        }
    }

    /// Matches a host that [`request_host`] already lower-cased and stripped of its port.
    pub fn matches<'h>(&self, host: &'h str) -> HostMatch<'h> {
        match self {
            HostPattern::Any => HostMatch::Yes,
            HostPattern::Exact(name) => bool_match(host == name),
            HostPattern::Wildcard(suffix) => {
                bool_match(host.len() > suffix.len() && host.ends_with(suffix.as_str()))
            }
            HostPattern::Tenant(suffix) => match host.strip_suffix(suffix.as_str()) {
                Some(label) if !label.is_empty() && !label.contains('.') => {
                    HostMatch::Tenant(label)
                }
                _ => HostMatch::No,
            },
        }
    }
}

fn bool_match(yes: bool) -> HostMatch<'static> {
    if yes {
        HostMatch::Yes
    } else {
        HostMatch::No
    }
}

fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The host a request is for: lower-cased, without port or trailing dot. `None` when the value
/// is not a plausible host (a request with such a host only matches routes without `host`).
/// Borrowed when the client already sent it in lower case, as clients do.
pub fn request_host(raw: &str) -> Option<Cow<'_, str>> {
    let raw = raw.trim();
    let host = if let Some(rest) = raw.strip_prefix('[') {
        // IPv6 literal: keep the brackets, drop the port (and nothing else may follow).
        let end = rest.find(']')?;
        let after = &rest[end + 1..];
        let port_ok = after.is_empty()
            || after
                .strip_prefix(':')
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
        if !port_ok {
            return None;
        }
        &raw[..end + 2]
    } else {
        match raw.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            Some(_) => return None,
            None => raw,
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    // A name is letters, digits, `-`, `.`, `_`; `:` and brackets only inside an IPv6 literal.
    let bracketed = host.starts_with('[');
    if host.is_empty()
        || host.len() > 253
        || !host.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'.' | b'_')
                || (bracketed && matches!(b, b'[' | b']' | b':'))
        })
    {
        return None;
    }
    Some(if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_wildcard_are_label_aware() {
        let exact = HostPattern::parse("API.example.com").unwrap();
        assert_eq!(exact.matches("api.example.com"), HostMatch::Yes);
        assert_eq!(exact.matches("xapi.example.com"), HostMatch::No);

        let wild = HostPattern::parse("*.example.com").unwrap();
        assert_eq!(wild.matches("a.example.com"), HostMatch::Yes);
        assert_eq!(wild.matches("a.b.example.com"), HostMatch::Yes);
        assert_eq!(wild.matches("example.com"), HostMatch::No);
        assert_eq!(wild.matches("badexample.com"), HostMatch::No);
    }

    #[test]
    fn tenant_pattern_captures_one_label() {
        let tenant = HostPattern::parse("{tenant}.example.com").unwrap();
        assert_eq!(
            tenant.matches("acme.example.com"),
            HostMatch::Tenant("acme")
        );
        assert_eq!(tenant.matches("a.b.example.com"), HostMatch::No);
        assert_eq!(tenant.matches(".example.com"), HostMatch::No);
        assert_eq!(tenant.matches("example.com"), HostMatch::No);
    }

    #[test]
    fn bad_patterns_are_refused() {
        for p in [
            "",
            "*.",
            "a..b",
            "*",
            "exa mple.com",
            "*.*.com",
            "{tenant}.",
        ] {
            assert!(HostPattern::parse(p).is_err(), "{p}");
        }
    }

    #[test]
    fn request_host_strips_port_case_and_trailing_dot() {
        assert_eq!(
            request_host("API.Example.com:8080").as_deref(),
            Some("api.example.com")
        );
        assert_eq!(request_host("example.com.").as_deref(), Some("example.com"));
        assert_eq!(request_host("[::1]:8080").as_deref(), Some("[::1]"));
        assert_eq!(request_host("127.0.0.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(request_host("evil.com/x"), None);
        assert_eq!(request_host("a:b"), None);
        assert_eq!(request_host(""), None);
        for invalid in ["a, b", "evil.com:80:80", "a]b", "[::1]x:80", "a b"] {
            assert_eq!(request_host(invalid), None, "{invalid}");
        }
    }
}
