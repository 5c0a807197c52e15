//! The JWS pre-parser (compact form, strict header and claims JSON) on arbitrary tokens: never
//! a panic, and only exactly-three-segment tokens are accepted.

#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_engine::verify::jose::{parse_compact, parse_header, StrictObject};

fuzz_target!(|data: &[u8]| {
    // The claims and header JSON parser on raw bytes (duplicate members, nesting, UTF-8).
    let _ = StrictObject::parse(data);
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_header(token);
    if let Ok(jws) = parse_compact(token) {
        assert_eq!(token.matches('.').count(), 2, "not a compact JWS: {token:?}");
        let _ = jws;
    }
});
