//! The OData parser on arbitrary input: it must never panic, every error must point inside the
//! input, and whatever parses must print and re-parse to the same tree.

#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_odata::{parse, to_canonical};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse(text) {
        Ok(query) => {
            let printed = to_canonical(&query);
            let again = parse(&printed).unwrap_or_else(|e| panic!("{printed:?} does not re-parse: {e}"));
            assert_eq!(again, query, "round trip changed the tree of {printed:?}");
        }
        Err(e) => assert!(e.position <= text.len(), "error past the end: {e}"),
    }
});
