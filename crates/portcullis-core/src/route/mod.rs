//! Route matching: (host, normalized path, method) → the first route that fits.

pub mod host;
pub mod normalize;

pub use host::{request_host, HostMatch, HostPattern, InvalidHostPattern};
pub use normalize::{normalize_path, PathError};

use http::Method;

/// How a route matches the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    Exact(String),
    /// Segment-aware prefix: `/api` matches `/api` and `/api/…`, not `/apix`. A prefix ending
    /// in `/` matches only below it.
    Prefix(String),
}

impl PathMatch {
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Exact(exact) => path == exact,
            PathMatch::Prefix(prefix) => match path.strip_prefix(prefix.as_str()) {
                Some(rest) => rest.is_empty() || prefix.ends_with('/') || rest.starts_with('/'),
                None => false,
            },
        }
    }
}

/// The matching part of one route. `T` is what the rest of the gateway attaches to it.
#[derive(Debug)]
pub struct Route<T> {
    pub name: String,
    pub host: HostPattern,
    pub path: PathMatch,
    /// Empty means any method.
    pub methods: Vec<Method>,
    pub target: T,
}

impl<T> Route<T> {
    fn allows(&self, method: &Method) -> bool {
        self.methods.is_empty() || self.methods.contains(method)
    }
}

/// The outcome of a lookup.
#[derive(Debug)]
pub enum RouteMatch<'t, 'h, T> {
    Found {
        route: &'t Route<T>,
        /// Index in the table, stable for the life of the snapshot.
        index: usize,
        /// The tenant label when the host pattern captured one.
        tenant: Option<&'h str>,
    },
    /// Host and path matched some route, but none for this method: answer 405 with `Allow`.
    MethodNotAllowed {
        allowed: Vec<Method>,
    },
    NotFound,
}

/// Routes in config order; the first match wins (as in Envoy and HAProxy), so specific routes
/// go before general ones.
#[derive(Debug)]
pub struct RouteTable<T> {
    routes: Vec<Route<T>>,
}

impl<T> RouteTable<T> {
    pub fn new(routes: Vec<Route<T>>) -> Self {
        Self { routes }
    }

    pub fn routes(&self) -> &[Route<T>] {
        &self.routes
    }

    pub fn get(&self, index: usize) -> Option<&Route<T>> {
        self.routes.get(index)
    }

    /// `host` is from [`request_host`] (`None` when absent or implausible); `path` is normalized.
    pub fn find<'t, 'h>(
        &'t self,
        host: Option<&'h str>,
        path: &str,
        method: &Method,
    ) -> RouteMatch<'t, 'h, T> {
        let mut allowed: Vec<Method> = Vec::new();
        for (index, route) in self.routes.iter().enumerate() {
            let tenant = match (&route.host, host) {
                (HostPattern::Any, _) => None,
                (pattern, Some(host)) => match pattern.matches(host) {
                    HostMatch::No => continue,
                    HostMatch::Yes => None,
                    HostMatch::Tenant(t) => Some(t),
                },
                (_, None) => continue,
            };
            if !route.path.matches(path) {
                continue;
            }
            if route.allows(method) {
                return RouteMatch::Found {
                    route,
                    index,
                    tenant,
                };
            }
            for m in &route.methods {
                if !allowed.contains(m) {
                    allowed.push(m.clone());
                }
            }
        }
        if allowed.is_empty() {
            RouteMatch::NotFound
        } else {
            RouteMatch::MethodNotAllowed { allowed }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str, host: &str, path: PathMatch, methods: &[Method]) -> Route<()> {
        Route {
            name: name.to_string(),
            host: if host.is_empty() {
                HostPattern::Any
            } else {
                HostPattern::parse(host).unwrap()
            },
            path,
            methods: methods.to_vec(),
            target: (),
        }
    }

    fn table() -> RouteTable<()> {
        RouteTable::new(vec![
            route("exact", "", PathMatch::Exact("/status".into()), &[]),
            route(
                "admin-get",
                "admin.example.com",
                PathMatch::Prefix("/".into()),
                &[Method::GET],
            ),
            route(
                "tenant",
                "{tenant}.example.com",
                PathMatch::Prefix("/api".into()),
                &[Method::GET, Method::PUT],
            ),
            route("public", "", PathMatch::Prefix("/public".into()), &[]),
        ])
    }

    fn name_of(m: RouteMatch<'_, '_, ()>) -> String {
        match m {
            RouteMatch::Found { route, .. } => route.name.clone(),
            RouteMatch::MethodNotAllowed { allowed } => format!("405 {allowed:?}"),
            RouteMatch::NotFound => "404".into(),
        }
    }

    #[test]
    fn prefix_is_segment_aware() {
        let p = PathMatch::Prefix("/api".into());
        assert!(p.matches("/api"));
        assert!(p.matches("/api/x"));
        assert!(!p.matches("/apix"));
        let slash = PathMatch::Prefix("/api/".into());
        assert!(slash.matches("/api/x"));
        assert!(!slash.matches("/api"));
        assert!(PathMatch::Prefix("/".into()).matches("/anything"));
    }

    #[test]
    fn first_match_wins_by_host_path_and_method() {
        let t = table();
        assert_eq!(name_of(t.find(None, "/status", &Method::GET)), "exact");
        assert_eq!(
            name_of(t.find(Some("admin.example.com"), "/x", &Method::GET)),
            "admin-get"
        );
        assert_eq!(
            name_of(t.find(Some("admin.example.com"), "/public/x", &Method::POST)),
            "public"
        );
        assert_eq!(name_of(t.find(None, "/publicity", &Method::GET)), "404");
        assert_eq!(name_of(t.find(None, "/api", &Method::GET)), "404");
    }

    #[test]
    fn tenant_is_captured_from_the_host() {
        let t = table();
        match t.find(Some("acme.example.com"), "/api/users", &Method::GET) {
            RouteMatch::Found { tenant, index, .. } => {
                assert_eq!(tenant, Some("acme"));
                assert_eq!(index, 2);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn wrong_method_lists_the_allowed_ones() {
        let t = table();
        assert_eq!(
            name_of(t.find(Some("acme.example.com"), "/api", &Method::DELETE)),
            "405 [GET, PUT]"
        );
    }
}
