//! The `WWW-Authenticate` writer with arbitrary realms and scopes: the header only ever holds
//! RFC 6750 characters, parses as `Bearer k="v", …` with each parameter once, and the body is
//! JSON.

#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_engine::challenge::AuthError;
use portcullis_core::principal::Level;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(2, '\n');
    let realm = parts.next().unwrap_or_default();
    let scopes: Vec<String> = parts
        .next()
        .unwrap_or_default()
        .split(' ')
        .map(str::to_string)
        .collect();
    for error in [
        AuthError::Missing,
        AuthError::InsufficientScope(scopes),
        AuthError::InsufficientLevel(Level::Verified),
        AuthError::WrongTenant,
        AuthError::Unavailable,
    ] {
        let answer = error.answer(realm);
        serde_json::from_slice::<serde_json::Value>(&answer.body).expect("the body is JSON");
        let Some((_, header)) = answer
            .headers
            .iter()
            .find(|(name, _)| *name == "www-authenticate")
        else {
            continue;
        };
        assert!(
            header.bytes().all(|b| (0x20..=0x7e).contains(&b)),
            "header outside printable ASCII: {header:?}"
        );
        let params = header.strip_prefix("Bearer ").expect("Bearer scheme");
        let mut names = Vec::new();
        for param in split_params(params) {
            let (name, value) = param.split_once('=').expect("name=value");
            assert!(value.starts_with('"') && value.ends_with('"') && value.len() >= 2, "{header:?}");
            let inner = &value[1..value.len() - 1];
            assert!(!inner.contains('"') && !inner.contains('\\'), "{header:?}");
            assert!(!names.contains(&name), "{name} twice in {header:?}");
            names.push(name);
        }
    }
});

/// Splits `k="v", k="v"` at the commas outside quotes.
fn split_params(text: &str) -> Vec<&str> {
    let (mut parts, mut start, mut quoted) = (Vec::new(), 0, false);
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(text[start..].trim());
    parts
}
