//! Splitting a raw request-target into path, query and the tell-tale signs of trouble.

/// The request-target of an HTTP/1 request line (`METHOD SP target SP version`).
pub fn request_line_target(raw_header: &[u8]) -> Option<&[u8]> {
    let line_end = raw_header
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(raw_header.len());
    let line = &raw_header[..line_end];
    let start = line.iter().position(|&b| b == b' ')? + 1;
    let len = line[start..].iter().position(|&b| b == b' ')?;
    Some(&line[start..start + len])
}

/// The parts of a request-target the gateway cares about.
#[derive(Debug, PartialEq, Eq)]
pub struct TargetParts<'a> {
    /// The path, as sent (not yet normalized).
    pub path: &'a str,
    /// Everything after the first `?`, without the `?`.
    pub query: Option<&'a str>,
    /// A raw `#` was present (clients never send fragments; attackers do).
    pub fragment: bool,
    /// `http://host/path` rather than `/path`.
    pub absolute_form: bool,
}

/// Splits a target; `None` when it is not UTF-8 or has no path (e.g. `*`, `host:port`).
pub fn split_target(raw: &[u8]) -> Option<TargetParts<'_>> {
    let text = std::str::from_utf8(raw).ok()?;
    let (text, fragment) = match text.split_once('#') {
        Some((before, _)) => (before, true),
        None => (text, false),
    };
    let (text, absolute_form) = match strip_scheme_and_authority(text) {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    let (path, query) = match text.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (text, None),
    };
    let path = if absolute_form && path.is_empty() {
        "/"
    } else {
        path
    };
    if !path.starts_with('/') {
        return None;
    }
    Some(TargetParts {
        path,
        query,
        fragment,
        absolute_form,
    })
}

/// `http://host:port/rest` → `/rest` (or `` when there is no path).
fn strip_scheme_and_authority(text: &str) -> Option<&str> {
    let lower_prefix = text
        .get(..8)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let after_scheme = if lower_prefix.starts_with("http://") {
        &text[7..]
    } else if lower_prefix.starts_with("https://") {
        &text[8..]
    } else {
        return None;
    };
    let path_start = after_scheme.find(['/', '?']).unwrap_or(after_scheme.len());
    Some(&after_scheme[path_start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_line_target_is_the_middle_token() {
        assert_eq!(
            request_line_target(b"GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(&b"/a?b=c"[..])
        );
        assert_eq!(
            request_line_target(b"GET /public#/../admin HTTP/1.1\r\n"),
            Some(&b"/public#/../admin"[..])
        );
        assert_eq!(request_line_target(b"GARBAGE"), None);
    }

    #[test]
    fn split_finds_path_query_and_fragment() {
        assert_eq!(
            split_target(b"/a/b?x=1&y=2").unwrap(),
            TargetParts {
                path: "/a/b",
                query: Some("x=1&y=2"),
                fragment: false,
                absolute_form: false
            }
        );
        assert!(split_target(b"/public#/../admin").unwrap().fragment);
        let abs = split_target(b"HTTP://example.com:8080/x?q").unwrap();
        assert_eq!(
            (abs.path, abs.query, abs.absolute_form),
            ("/x", Some("q"), true)
        );
        assert_eq!(split_target(b"http://example.com").unwrap().path, "/");
        assert_eq!(split_target(b"*"), None);
        assert_eq!(split_target(b"example.com:443"), None);
        assert_eq!(split_target(b"/\xff"), None);
    }
}
