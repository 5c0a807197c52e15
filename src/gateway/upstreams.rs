//! `[upstreams.*]` compiled into connection pools, by name.

use super::{request, Problems};
use crate::config::model::Config;
use crate::config::SourceMap;
use crate::upstream::resolve::Target;
use crate::upstream::Upstream;
use std::collections::HashMap;
use std::sync::Arc;

/// The upstreams that compiled, by name; each broken one is reported and left out.
pub(super) fn compile<'c>(
    config: &'c Config,
    map: &SourceMap,
    problems: &mut Problems,
) -> HashMap<&'c str, Arc<Upstream>> {
    let mut upstreams_by_name: HashMap<&str, Arc<Upstream>> = HashMap::new();
    for (name, spanned) in &config.upstreams {
        let upstream = spanned.get_ref();
        let key = format!("upstreams.{name}");
        if upstream.addresses.is_empty() {
            problems.push(map.problem(
                &spanned.span(),
                format!("{key}.addresses"),
                "at least one address is required",
            ));
            continue;
        }
        let mut resolved = Vec::new();
        for (i, address) in upstream.addresses.iter().enumerate() {
            let key = format!("{key}.addresses[{i}]");
            let Some(target) = Target::parse(address.get_ref()) else {
                problems.push(map.problem(
                    &address.span(),
                    key,
                    format!(
                        "{:?} is not an IP:port or host:port address",
                        address.get_ref()
                    ),
                ));
                continue;
            };
            match target.resolve_blocking() {
                Ok(found) => resolved.push((target, found)),
                Err(_) if upstream.start_unresolved => resolved.push((target, Vec::new())),
                Err(e) => problems.push(map.problem(
                    &address.span(),
                    key,
                    format!(
                        "{:?} does not resolve ({e}); set start_unresolved = true to start \
                         not ready until it does",
                        address.get_ref()
                    ),
                )),
            }
        }
        let tls = upstream
            .tls
            .as_ref()
            .map(|t| request::build_upstream_tls(t, &format!("{key}.tls"), map, problems));
        if resolved.len() == upstream.addresses.len() {
            // `None` here: the TLS settings were bad (and reported).
            if let Some(tls) = tls.map_or(Some(None), |t| t.map(Some)) {
                let pool = Upstream::new(name, upstream, resolved, tls);
                upstreams_by_name.insert(name, Arc::new(pool));
            }
        }
    }
    upstreams_by_name
}
