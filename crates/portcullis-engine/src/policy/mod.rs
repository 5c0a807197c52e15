//! Route policy: which carriers and issuers a route accepts, and what each method requires.

use crate::challenge::{AuthError, TenantProblem};
use http::Method;
use portcullis_core::credential::Carrier;
use portcullis_core::principal::{Level, Principal};
use std::sync::Arc;

/// What a request needs: a minimum level and scopes (all or any of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub level: Level,
    pub scopes: Vec<String>,
    /// `true`: every scope; `false`: at least one.
    pub all_scopes: bool,
}

impl Default for Requirement {
    fn default() -> Self {
        Self {
            level: Level::Anonymous,
            scopes: Vec::new(),
            all_scopes: true,
        }
    }
}

/// A route's auth settings, compiled.
#[derive(Debug, Clone)]
pub struct RoutePolicy {
    pub carriers: Vec<Carrier>,
    /// Issuer names accepted here; empty means every configured issuer.
    pub issuers: Vec<Arc<str>>,
    /// Requests without a credential go on as `anonymous` (if the requirement allows it).
    pub allow_anonymous: bool,
    /// Requests without a credential get a new anonymous device token (token service).
    pub issue_device_token: bool,
    /// When set, the token's `aud` must contain it (on top of the issuer's own audiences).
    pub audience: Option<String>,
    /// Header that names the tenant (when the host does not).
    pub tenant_header: Option<String>,
    pub default: Requirement,
    pub per_method: Vec<(Method, Requirement)>,
}

impl RoutePolicy {
    /// The tenant a request is for: the one its host names (`host_tenant`), else the route's
    /// tenant header — required where the route names one, and read once in every `-`/`_`
    /// spelling (a second value is refused, never silently passed to the upstream beside the
    /// one checked).
    pub fn tenant(
        &self,
        headers: &http::HeaderMap,
        host_tenant: Option<String>,
    ) -> Result<Option<String>, AuthError> {
        let Some(name) = self.tenant_header.as_deref() else {
            return Ok(host_tenant);
        };
        let header = portcullis_core::credential::single_header_value(headers, name)
            .map_err(|_| AuthError::UnclearTenant(TenantProblem::Repeated))?;
        let header = match header {
            Some(value) => Some(
                value
                    .to_str()
                    .map_err(|_| AuthError::UnclearTenant(TenantProblem::Missing))?
                    .to_string(),
            ),
            None => None,
        };
        match (host_tenant, header) {
            (Some(host), Some(header)) if host != header => {
                Err(AuthError::UnclearTenant(TenantProblem::DisagreesWithHost))
            }
            (Some(tenant), _) | (None, Some(tenant)) => Ok(Some(tenant)),
            (None, None) => Err(AuthError::UnclearTenant(TenantProblem::Missing)),
        }
    }

    pub fn requirement(&self, method: &Method) -> &Requirement {
        self.per_method
            .iter()
            .find(|(m, _)| m == method)
            .map_or(&self.default, |(_, r)| r)
    }

    /// Decides whether `principal` may make this request. Checked on every request.
    pub fn authorize(
        &self,
        principal: &Principal,
        method: &Method,
        tenant: Option<&str>,
    ) -> Result<(), AuthError> {
        let requirement = self.requirement(method);
        let Some(identity) = principal.identity() else {
            // No credential: fine only where anonymous callers need nothing more.
            return if self.allow_anonymous
                && requirement.level == Level::Anonymous
                && requirement.scopes.is_empty()
            {
                Ok(())
            } else {
                Err(AuthError::Missing)
            };
        };
        if let Some(tenant) = tenant {
            if identity.tenant.as_deref() != Some(tenant) {
                return Err(AuthError::WrongTenant);
            }
        }
        if let Some(audience) = &self.audience {
            if !identity.audiences.iter().any(|a| a == audience) {
                return Err(AuthError::InvalidToken(
                    portcullis_core::problem::TokenProblem::WrongAudience,
                ));
            }
        }
        if identity.level < requirement.level {
            return Err(AuthError::InsufficientLevel(requirement.level));
        }
        let has = |scope: &String| identity.scopes.iter().any(|s| s == scope);
        let scopes_ok = requirement.scopes.is_empty()
            || if requirement.all_scopes {
                requirement.scopes.iter().all(has)
            } else {
                requirement.scopes.iter().any(has)
            };
        if !scopes_ok {
            return Err(AuthError::InsufficientScope(requirement.scopes.clone()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::principal::Identity;

    fn principal(level: Level, scopes: &[&str], tenant: Option<&str>) -> Principal {
        Principal::authenticated(Identity {
            issuer: Arc::from("idp"),
            subject: "u1".into(),
            tenant: tenant.map(str::to_string),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            level,
            audiences: vec!["api".into()],
            expires_at: None,
            not_before: None,
            leeway: 0,
            token_id: None,
            claimed_subject: None,
        })
    }

    fn profile_policy() -> RoutePolicy {
        RoutePolicy {
            carriers: vec![Carrier::Bearer],
            issuers: vec![],
            allow_anonymous: false,
            issue_device_token: false,
            audience: None,
            tenant_header: None,
            default: Requirement {
                level: Level::Identified,
                scopes: vec!["profile:read".into()],
                all_scopes: true,
            },
            per_method: vec![(
                Method::PUT,
                Requirement {
                    level: Level::Verified,
                    scopes: vec!["profile:write".into()],
                    all_scopes: true,
                },
            )],
        }
    }

    #[test]
    fn levels_and_scopes_per_method() {
        let p = profile_policy();
        let identified = principal(Level::Identified, &["profile:read", "profile:write"], None);
        assert_eq!(p.authorize(&identified, &Method::GET, None), Ok(()));
        assert_eq!(
            p.authorize(&identified, &Method::PUT, None),
            Err(AuthError::InsufficientLevel(Level::Verified))
        );
        let verified = principal(Level::Verified, &["profile:read"], None);
        assert_eq!(
            p.authorize(&verified, &Method::PUT, None),
            Err(AuthError::InsufficientScope(vec!["profile:write".into()]))
        );
        assert_eq!(
            p.authorize(&Principal::Anonymous, &Method::GET, None),
            Err(AuthError::Missing)
        );
    }

    #[test]
    fn any_of_scopes() {
        let mut p = profile_policy();
        p.default.scopes = vec!["a".into(), "b".into()];
        p.default.all_scopes = false;
        assert_eq!(
            p.authorize(
                &principal(Level::Verified, &["b"], None),
                &Method::GET,
                None
            ),
            Ok(())
        );
        assert!(p
            .authorize(
                &principal(Level::Verified, &["c"], None),
                &Method::GET,
                None
            )
            .is_err());
    }

    #[test]
    fn tenants_and_audiences_must_match() {
        let mut p = profile_policy();
        let acme = principal(Level::Verified, &["profile:read"], Some("acme"));
        assert_eq!(p.authorize(&acme, &Method::GET, Some("acme")), Ok(()));
        assert_eq!(
            p.authorize(&acme, &Method::GET, Some("globex")),
            Err(AuthError::WrongTenant)
        );
        let untenanted = principal(Level::Verified, &["profile:read"], None);
        assert_eq!(
            p.authorize(&untenanted, &Method::GET, Some("acme")),
            Err(AuthError::WrongTenant)
        );
        p.audience = Some("orders".into());
        assert!(matches!(
            p.authorize(&acme, &Method::GET, None),
            Err(AuthError::InvalidToken(_))
        ));
    }

    #[test]
    fn anonymous_only_where_nothing_is_required() {
        let mut p = profile_policy();
        p.allow_anonymous = true;
        assert_eq!(
            p.authorize(&Principal::Anonymous, &Method::GET, None),
            Err(AuthError::Missing)
        );
        p.default = Requirement::default();
        assert_eq!(
            p.authorize(&Principal::Anonymous, &Method::GET, None),
            Ok(())
        );
    }
}
