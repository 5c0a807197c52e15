//! The OData parser on arbitrary input, in every dialect (the first byte chooses it): it must
//! never panic, every error must point inside the input, and whatever parses must print and
//! re-parse, in the same dialect, to the same tree.

#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_odata::print::query_in;
use portcullis_odata::{parse_query, Dialect, ParseOptions};

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let dialect = Dialect::ALL[usize::from(choice) % Dialect::ALL.len()];
    let options = ParseOptions {
        dialect,
        ..ParseOptions::default()
    };
    match parse_query(text, options) {
        Ok(query) => {
            let printed = query_in(&query, dialect);
            let again = parse_query(&printed, options)
                .unwrap_or_else(|e| panic!("{dialect:?}: {printed:?} does not re-parse: {e}"));
            assert_eq!(again, query, "{dialect:?}: round trip changed the tree of {printed:?}");
        }
        Err(e) => assert!(e.position <= text.len(), "error past the end: {e}"),
    }
});
