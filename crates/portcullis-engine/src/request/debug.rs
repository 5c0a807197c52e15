//! The debug header: a request with `X-Portcullis-Debug: 1|2|3` (or the name `[debug] header`
//! gives, such as a source API's own `X-Extole-Debug`) from a debug network, or by a principal
//! holding the debug scope, gets the decision traced in the same response header. Anyone
//! else's request is treated as if it had no such header.
//!
//! Level 1: route and decision. 2: plus carrier, issuer, level, scopes and cache hit. 3: plus
//! the time of each stage. Never the token, the subject or any other claim.

use crate::auth::Allowed;
use ipnet::IpNet;
use portcullis_core::credential::Carrier;
use portcullis_core::principal::Principal;
use std::fmt::Write;
use std::net::IpAddr;
use std::time::Duration;

/// The request header that asks for a trace, and the response header that carries it.
pub const HEADER: &str = "x-portcullis-debug";

/// [`HEADER`] as a header name, for lookups on every request without parsing the name again.
pub static HEADER_NAME: http::HeaderName = http::HeaderName::from_static(HEADER);

/// Who may ask (from `[debug]`), and in which header; nobody by default.
#[derive(Debug, Clone)]
pub struct DebugAccess {
    pub scope: Option<String>,
    pub networks: Vec<IpNet>,
    /// The request header that asks and the response header that answers.
    pub header: http::HeaderName,
}

impl Default for DebugAccess {
    fn default() -> Self {
        Self {
            scope: None,
            networks: Vec::new(),
            header: HEADER_NAME.clone(),
        }
    }
}

impl DebugAccess {
    /// Whether a trace may be shown to this caller.
    pub fn permits(&self, peer: Option<IpAddr>, principal: Option<&Principal>) -> bool {
        let from_network = peer.is_some_and(|ip| self.networks.iter().any(|n| n.contains(&ip)));
        let by_scope = self.scope.as_deref().is_some_and(|scope| {
            principal
                .and_then(Principal::identity)
                .is_some_and(|identity| identity.scopes.iter().any(|s| s == scope))
        });
        from_network || by_scope
    }
}

/// The level asked for: `1`, `2` or `3`; anything else asks for nothing.
pub fn requested_level(value: Option<&[u8]>) -> u8 {
    match value {
        Some([digit @ b'1'..=b'3']) => digit - b'0',
        _ => 0,
    }
}

/// Time spent in each stage of one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimes {
    /// Framing checks, normalization and route match.
    pub route: Duration,
    /// Credential extraction, verification and policy.
    pub auth: Duration,
    pub odata: Duration,
    /// From asking for an upstream connection to the upstream's response header.
    pub upstream: Option<Duration>,
}

/// What the trace reports.
pub struct Trace<'a> {
    pub level: u8,
    pub route: Option<&'a str>,
    /// `allow`, or the status of the gateway's own answer.
    pub status: Option<u16>,
    pub allowed: Option<&'a Allowed>,
    pub times: &'a StageTimes,
}

fn carrier_name(carrier: &Carrier) -> &str {
    match carrier {
        Carrier::Bearer => "bearer",
        Carrier::TokenScheme => "token",
        Carrier::Query => "query",
        Carrier::Cookie => "cookie",
        Carrier::Header(name) => name,
    }
}

impl Trace<'_> {
    /// The header value: `key=value` pairs separated by `; `.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(128);
        let _ = write!(out, "route={}", self.route.unwrap_or("-"));
        match self.status {
            None => out.push_str("; decision=allow"),
            Some(status) => {
                let _ = write!(out, "; decision=refused; status={status}");
            }
        }
        if self.level >= 2 {
            if self.allowed.is_none() && self.status.is_none() {
                // Let through by a route without auth.
                out.push_str("; auth=none");
            }
            if let Some(allowed) = self.allowed {
                let carrier = allowed.carrier.as_ref().map_or("none", carrier_name);
                let _ = write!(
                    out,
                    "; carrier={carrier}; level={}",
                    allowed.principal.level().as_str()
                );
                if let Some(identity) = allowed.principal.identity() {
                    let _ = write!(
                        out,
                        "; issuer={}; scopes={}; cache={}",
                        identity.issuer,
                        identity.scopes.join(","),
                        if allowed.cache_hit { "hit" } else { "miss" }
                    );
                }
            }
        }
        if self.level >= 3 {
            let micros = |d: Duration| d.as_micros();
            let _ = write!(
                out,
                "; route_us={}; auth_us={}; odata_us={}",
                micros(self.times.route),
                micros(self.times.auth),
                micros(self.times.odata)
            );
            if let Some(upstream) = self.times.upstream {
                let _ = write!(out, "; upstream_us={}", micros(upstream));
            }
        }
        // Scopes come from tokens; keep the header a valid field value whatever they hold.
        out.retain(|c| c.is_ascii_graphic() || c == ' ');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::principal::{Identity, Level};
    use std::sync::Arc;

    fn allowed(scopes: &[&str]) -> Allowed {
        Allowed {
            principal: Principal::authenticated(Identity {
                issuer: Arc::from("idp"),
                subject: "user-secret-subject".into(),
                tenant: None,
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                level: Level::Identified,
                audiences: vec![],
                expires_at: None,
                not_before: None,
                leeway: 0,
                token_id: Some("jti-1".into()),
                claimed_subject: None,
            }),
            carrier: Some(Carrier::Bearer),
            cache_hit: true,
        }
    }

    #[test]
    fn only_debug_networks_and_scope_holders_may_ask() {
        let access = DebugAccess {
            scope: Some("portcullis:debug".into()),
            networks: vec!["10.0.0.0/8".parse().unwrap()],
            ..DebugAccess::default()
        };
        let outsider: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(access.permits(Some("10.1.2.3".parse().unwrap()), None));
        assert!(!access.permits(Some(outsider), None));
        let holder = allowed(&["read", "portcullis:debug"]);
        assert!(access.permits(Some(outsider), Some(&holder.principal)));
        assert!(!access.permits(Some(outsider), Some(&allowed(&["read"]).principal)));
        assert!(!DebugAccess::default().permits(Some(outsider), Some(&holder.principal)));
    }

    #[test]
    fn levels_add_detail_and_never_the_subject() {
        assert_eq!(requested_level(Some(b"2")), 2);
        assert_eq!(requested_level(Some(b"4")), 0);
        assert_eq!(requested_level(Some(b"12")), 0);
        assert_eq!(requested_level(None), 0);
        let a = allowed(&["read", "write"]);
        let times = StageTimes {
            auth: Duration::from_micros(7),
            upstream: Some(Duration::from_micros(900)),
            ..StageTimes::default()
        };
        let trace = |level| Trace {
            level,
            route: Some("profile"),
            status: None,
            allowed: Some(&a),
            times: &times,
        };
        assert_eq!(trace(1).render(), "route=profile; decision=allow");
        assert_eq!(
            trace(2).render(),
            "route=profile; decision=allow; carrier=bearer; level=identified; issuer=idp; \
             scopes=read,write; cache=hit"
        );
        let full = trace(3).render();
        assert!(
            full.ends_with("auth_us=7; odata_us=0; upstream_us=900"),
            "{full}"
        );
        assert!(!full.contains("user-secret-subject") && !full.contains("jti-1"));
    }
}
