//! Conformance of the OData parser: the OASIS ABNF test cases (from ../shared, which CI has
//! beside the clone), each dialect's lenient forms, and round-trip properties over generated
//! queries.

mod abnf;
mod dialects;
mod properties;
