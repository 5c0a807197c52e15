//! Checks of the settings that belong to the process (listeners, threads, echo, polling)
//! rather than to a snapshot: a reload cannot change them, but `check` must still see them.

use super::Problems;
use crate::config::model::Config;
use crate::config::SourceMap;
use std::net::SocketAddr;
use std::path::Path;

/// Settings that belong to the process (listeners, threads, echo) rather than to a snapshot.
pub(super) fn check(config: &Config, map: &SourceMap, problems: &mut Problems) {
    if config.listeners.is_empty() {
        problems.push(map.problem(
            &(0..0),
            "listeners",
            "at least one [[listeners]] is required",
        ));
    }
    for (i, listener) in config.listeners.iter().enumerate() {
        let listener = listener.get_ref();
        if listener.address.get_ref().parse::<SocketAddr>().is_err() {
            problems.push(map.problem(
                &listener.address.span(),
                format!("listeners[{i}].address"),
                format!("{:?} is not an IP:port address", listener.address.get_ref()),
            ));
        }
        if let Some(tls) = &listener.tls {
            let (cert, key) = (Path::new(tls.cert.get_ref()), Path::new(tls.key.get_ref()));
            if let Err(message) = crate::upstream::tls::check_listener_files(cert, key) {
                problems.push(map.problem(
                    &tls.cert.span(),
                    format!("listeners[{i}].tls"),
                    message,
                ));
            }
        }
    }
    if let Some(echo) = &config.echo {
        if echo.address.get_ref().parse::<SocketAddr>().is_err() {
            problems.push(map.problem(
                &echo.address.span(),
                "echo.address",
                format!("{:?} is not an IP:port address", echo.address.get_ref()),
            ));
        }
    }
    check_distinct_addresses(config, map, problems);
    if config.server.threads == 0 {
        problems.push(map.problem(&(0..0), "server.threads", "must be at least 1"));
    }
    let polling = &config.polling;
    let prefix = polling.prefix.get_ref();
    if !prefix.starts_with('/') || prefix.ends_with('/') || prefix.contains(['?', '#', '%']) {
        problems.push(map.problem(
            &polling.prefix.span(),
            "polling.prefix",
            "must be a path like \"/_portcullis\" (a leading '/', no trailing '/')",
        ));
    }
    for (key, value) in [
        ("polling.max_entries", polling.max_entries),
        ("polling.max_body_bytes", polling.max_body_bytes),
        ("polling.max_stored_bytes", polling.max_stored_bytes),
    ] {
        if value == 0 {
            problems.push(map.problem(&(0..0), key, "must be at least 1"));
        }
    }
}

/// Two listeners (or a listener and the echo or metrics service) on one address: the second
/// could never bind.
fn check_distinct_addresses(config: &Config, map: &SourceMap, problems: &mut Problems) {
    let mut seen: Vec<(String, SocketAddr)> = Vec::new();
    let mut each = |key: String, spanned: &toml::Spanned<String>| {
        let Ok(address) = spanned.get_ref().parse::<SocketAddr>() else {
            return; // reported as not an address
        };
        match seen.iter().find(|(_, a)| *a == address) {
            Some((first, _)) => problems.push(map.problem(
                &spanned.span(),
                key,
                format!("{address} is also {first}'s address"),
            )),
            None => seen.push((key, address)),
        }
    };
    for (i, listener) in config.listeners.iter().enumerate() {
        each(
            format!("listeners[{i}].address"),
            &listener.get_ref().address,
        );
    }
    if let Some(echo) = &config.echo {
        each("echo.address".into(), &echo.address);
    }
    if let Some(metrics) = &config.metrics {
        each("metrics.address".into(), &metrics.address);
    }
}
