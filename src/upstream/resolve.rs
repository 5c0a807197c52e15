//! Backends named by host name (`app:8080`, `backend.internal:443`): resolved when the config
//! loads, then again every `resolve_every` (DNS answers change under Compose and Kubernetes).
//! Every address a name resolves to is a backend. A name that stops resolving keeps its last
//! addresses, so a DNS hiccup never empties a pool.

use async_trait::async_trait;
use pingora::lb::discovery::ServiceDiscovery;
use pingora::lb::Backend;
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// One entry of `addresses`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `IP:port`: never resolved.
    Address(SocketAddr),
    /// `host:port`.
    Name { host: String, port: u16 },
}

impl Target {
    /// Reads `IP:port`, `[v6]:port` or `host:port` (a DNS name of letters, digits, `-` and `.`).
    pub fn parse(text: &str) -> Option<Target> {
        if let Ok(address) = text.parse::<SocketAddr>() {
            return Some(Target::Address(address));
        }
        let (host, port) = text.rsplit_once(':')?;
        let port: u16 = port.parse().ok().filter(|&p| p > 0)?;
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        let host = host.strip_suffix('.').unwrap_or(host);
        (host.len() <= 253 && host.split('.').all(label_ok)).then(|| Target::Name {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Resolves the target now (blocking: at config load), or says why not.
    pub fn resolve_blocking(&self) -> std::io::Result<Vec<SocketAddr>> {
        match self {
            Target::Address(address) => Ok(vec![*address]),
            Target::Name { host, port } => {
                use std::net::ToSocketAddrs;
                let found: Vec<SocketAddr> = (host.as_str(), *port).to_socket_addrs()?.collect();
                if found.is_empty() {
                    return Err(std::io::Error::other("no addresses"));
                }
                Ok(found)
            }
        }
    }
}

/// The pool's service discovery for pingora's balancer.
pub struct Discovery {
    targets: Vec<Target>,
    /// The last good addresses of each target (those resolved at load to start with).
    known: Mutex<HashMap<Target, Vec<SocketAddr>>>,
    /// The first discovery runs at load, where nothing may wait: it answers from `known`.
    seeded: AtomicBool,
}

impl Discovery {
    pub fn new(resolved: Vec<(Target, Vec<SocketAddr>)>) -> Self {
        Self {
            targets: resolved.iter().map(|(t, _)| t.clone()).collect(),
            known: Mutex::new(resolved.into_iter().collect()),
            seeded: AtomicBool::new(true),
        }
    }

    /// The backends from the last good addresses of every target.
    fn backends(&self) -> BTreeSet<Backend> {
        let known = self.known.lock().expect("not poisoned");
        self.targets
            .iter()
            .flat_map(|t| known.get(t).into_iter().flatten())
            .map(|address| Backend {
                addr: pingora::protocols::l4::socket::SocketAddr::Inet(*address),
                weight: 1,
                ext: Default::default(),
            })
            .collect()
    }

    /// Whether some target has named no address yet.
    pub fn has_names(&self) -> bool {
        self.targets
            .iter()
            .any(|t| matches!(t, Target::Name { .. }))
    }
}

#[async_trait]
impl ServiceDiscovery for Discovery {
    async fn discover(&self) -> pingora::Result<(BTreeSet<Backend>, HashMap<u64, bool>)> {
        if self.seeded.swap(false, Ordering::Relaxed) {
            return Ok((self.backends(), HashMap::new()));
        }
        for target in &self.targets {
            let Target::Name { host, port } = target else {
                continue;
            };
            match tokio::net::lookup_host((host.as_str(), *port)).await {
                Ok(found) => {
                    let found: Vec<SocketAddr> = found.collect();
                    if !found.is_empty() {
                        self.known
                            .lock()
                            .expect("not poisoned")
                            .insert(target.clone(), found);
                    }
                }
                Err(e) => {
                    tracing::warn!(%host, error = %e, "upstream name did not resolve; keeping its last addresses");
                }
            }
        }
        Ok((self.backends(), HashMap::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_addresses_or_names() {
        assert_eq!(
            Target::parse("127.0.0.1:80"),
            Some(Target::Address("127.0.0.1:80".parse().unwrap()))
        );
        assert_eq!(
            Target::parse("[::1]:8080"),
            Some(Target::Address("[::1]:8080".parse().unwrap()))
        );
        assert_eq!(
            Target::parse("Backend.Internal:443"),
            Some(Target::Name {
                host: "backend.internal".into(),
                port: 443
            })
        );
        for bad in [
            "nowhere",
            "app:0",
            "app:99999",
            "a b:80",
            ":80",
            "-a:80",
            "a..b:80",
        ] {
            assert_eq!(Target::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn localhost_resolves_at_load() {
        let target = Target::parse("localhost:9").unwrap();
        let found = target.resolve_blocking().unwrap();
        assert!(found.iter().all(|a| a.ip().is_loopback() && a.port() == 9));
    }
}
