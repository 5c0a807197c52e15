//! OData query options (OData 4.01 URL conventions, with `$inlinecount` from 2.0/3.0): a nom
//! parser over the raw query string, a typed tree, a canonical printer, and (in `policy`) the
//! limits and field rules a route enforces.
//!
//! `$apply` (the aggregation extension) and `$id` are passed through unparsed; custom options
//! (names without `$`) are kept as sent.

pub mod aliases;
pub mod ast;
pub mod dialect;
pub mod error;
pub mod expr;
pub mod lex;
pub mod literal;
pub mod options;
pub mod policy;
pub mod print;
pub mod rules;
pub mod search;

pub use ast::Query;
pub use dialect::Dialect;
pub use error::{ErrorKind, ODataError};
pub use options::{parse_query, ParseOptions};

/// Parses a raw query string (without `?`) with default settings.
pub fn parse(raw: &str) -> Result<Query, ODataError> {
    parse_query(raw, ParseOptions::default())
}

/// Prints a query canonically (see [`print`]).
pub fn to_canonical(query: &Query) -> String {
    print::query(query)
}
