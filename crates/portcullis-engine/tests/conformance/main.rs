//! Conformance of the signature layer: Wycheproof vectors from ../shared (CI has it beside the
//! clone).

mod wycheproof;
