//! `[upstreams.*]` compiled into connection pools, by name.

use super::{request, Problems};
use crate::config::model::Config;
use crate::config::SourceMap;
use crate::upstream::Upstream;
use std::collections::HashMap;
use std::net::SocketAddr;
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
        let mut addresses = Vec::new();
        for (i, address) in upstream.addresses.iter().enumerate() {
            match address.get_ref().parse::<SocketAddr>() {
                Ok(a) => addresses.push(a),
                Err(_) => problems.push(map.problem(
                    &address.span(),
                    format!("{key}.addresses[{i}]"),
                    format!("{:?} is not an IP:port address", address.get_ref()),
                )),
            }
        }
        let tls = upstream
            .tls
            .as_ref()
            .map(|t| request::build_upstream_tls(t, &format!("{key}.tls"), map, problems));
        if addresses.len() == upstream.addresses.len() {
            // `None` here: the TLS settings were bad (and reported).
            if let Some(tls) = tls.map_or(Some(None), |t| t.map(Some)) {
                let pool = Upstream::new(name, upstream, &addresses, tls);
                upstreams_by_name.insert(name, Arc::new(pool));
            }
        }
    }
    upstreams_by_name
}
