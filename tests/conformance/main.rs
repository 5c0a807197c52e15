//! Conformance suites from ../shared (CI has it beside the clone).

mod odata;
mod wycheproof;
