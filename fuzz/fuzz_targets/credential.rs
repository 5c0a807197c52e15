//! Credential extraction on arbitrary requests: never a panic; at most one credential, within
//! the size limit, never printed by `Debug`.
//!
//! Input: the first byte picks the accepted carriers; the rest is lines — `?<query>` sets the
//! query, `name: value` adds a header (lines that are not valid headers are skipped).

#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use portcullis_core::credential::{extract, Carrier, Limits, RequestView};

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let all = [
        Carrier::Bearer,
        Carrier::TokenScheme,
        Carrier::Query,
        Carrier::Cookie,
        Carrier::Header("x-api-key".into()),
    ];
    let accepted: Vec<Carrier> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| choice & (1 << i) != 0)
        .map(|(_, c)| c.clone())
        .collect();
    let mut headers = HeaderMap::new();
    let mut query = None;
    for line in rest.split(|&b| b == b'\n') {
        if let Some(q) = line.strip_prefix(b"?") {
            query = std::str::from_utf8(q).ok();
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            headers.append(name, value);
        }
    }
    let limits = Limits {
        max_token_len: 64,
        max_header_len: 256,
    };
    let view = RequestView {
        headers: &headers,
        query,
    };
    if let Ok(Some(credential)) = extract(&view, &accepted, limits) {
        let secret = credential.secret.expose();
        assert!(!secret.is_empty());
        assert!(secret.len() <= limits.max_token_len, "over the token limit");
        assert!(accepted.contains(&credential.carrier), "a carrier the route does not take");
        if secret.len() >= 4 {
            assert!(!format!("{credential:?}").contains(secret), "Debug shows the secret");
        }
    }
});
