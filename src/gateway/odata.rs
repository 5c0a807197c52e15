//! `[routes.odata]` compiled into the OData crate's policy.

use super::Problems;
use crate::config::model::{ODataConfig, ODataDialect, ODataForward};
use crate::config::SourceMap;
use portcullis_core::principal::Level;

/// Compiles `[routes.odata]`.
pub(super) fn compile(
    config: &ODataConfig,
    key: &str,
    map: &SourceMap,
    problems: &mut Problems,
) -> portcullis_odata::policy::ODataPolicy {
    use portcullis_odata::policy::{Forwarding, ODataPolicy, PrivateAccess};
    let defaults = ODataPolicy::default();
    let level = config.private_level.unwrap_or(Level::Verified);
    let forwarding = match config.forward {
        ODataForward::AsSent => Forwarding::AsSent,
        ODataForward::Canonical => Forwarding::Canonical,
    };
    if let (Some(default), Some(max)) = (config.default_top, config.max_top) {
        if default > max {
            problems.push(map.problem(
                &(0..0),
                format!("{key}.default_top"),
                "is larger than max_top",
            ));
        }
    }
    ODataPolicy {
        parse: portcullis_odata::ParseOptions {
            plus_as_space: config.plus_as_space,
            dialect: match config.dialect {
                ODataDialect::Strict => portcullis_odata::Dialect::Strict,
                ODataDialect::Olingo => portcullis_odata::Dialect::Olingo,
                ODataDialect::AspNet => portcullis_odata::Dialect::AspNet,
            },
        },
        max_query_len: config.max_query_len.unwrap_or(defaults.max_query_len),
        max_top: config.max_top,
        clamp_top: config.clamp_top,
        default_top: config.default_top,
        max_skip: config.max_skip,
        max_expand_depth: config.max_expand_depth.unwrap_or(defaults.max_expand_depth),
        max_expand_items: config.max_expand_items.unwrap_or(defaults.max_expand_items),
        max_filter_nodes: config.max_filter_nodes.unwrap_or(defaults.max_filter_nodes),
        max_filter_depth: config.max_filter_depth.unwrap_or(defaults.max_filter_depth),
        allow_search: config.allow_search.unwrap_or(defaults.allow_search),
        allow_apply: config.allow_apply.unwrap_or(defaults.allow_apply),
        private_fields: config.private_fields.clone(),
        private_access: PrivateAccess {
            level,
            scope: config.private_scope.clone(),
        },
        select_allow: config.select_allow.clone(),
        orderby_allow: config.orderby_allow.clone(),
        expand_allow: config.expand_allow.clone(),
        forwarding,
    }
}
