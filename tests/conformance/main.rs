//! Conformance suites from ../shared (CI has it beside the clone).

mod odata;
mod odata_props;
mod wycheproof;
