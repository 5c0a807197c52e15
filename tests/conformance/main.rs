//! Conformance suites from ../shared (CI has it beside the clone). The OData suites live with
//! their crate (crates/portcullis-odata/tests).

mod wycheproof;
