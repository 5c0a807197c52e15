//! What the upstream learns about the caller: the credential removed from whatever carried it,
//! client-sent identity headers removed in every spelling, the gateway's own added.

use super::forward::{is_protected, remove_headers_where, NameLengths};
use super::UnsendableHeader;
use crate::auth::Allowed;
use http::{HeaderMap, HeaderName, HeaderValue};
use portcullis_core::credential::spelling::{
    is_access_token_name, is_token_scheme, query_pairs, same_header_name,
};
use portcullis_core::credential::{cookie_pairs, split_cookie_pair, Carrier};
use portcullis_core::principal::Principal;

/// Names of the headers that tell the upstream who is calling.
#[derive(Debug, serde::Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityHeaders {
    pub subject: String,
    pub level: String,
    pub scopes: String,
    pub tenant: String,
    pub issuer: String,
    /// A profile claimed but not proven (an `identified` device token of the token service).
    pub claimed_subject: String,
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        Self {
            subject: "x-auth-subject".into(),
            level: "x-auth-level".into(),
            scopes: "x-auth-scopes".into(),
            tenant: "x-auth-tenant".into(),
            issuer: "x-auth-issuer".into(),
            claimed_subject: "x-auth-claimed-subject".into(),
        }
    }
}

/// The identity header names, parsed once when the config is loaded.
#[derive(Debug, Clone)]
pub struct IdentityHeaderNames {
    subject: HeaderName,
    level: HeaderName,
    scopes: HeaderName,
    tenant: HeaderName,
    issuer: HeaderName,
    claimed_subject: HeaderName,
    /// The same six, lower-case, for removal in every spelling.
    lower: [String; 6],
    /// Their lengths: most names are ruled out by these alone.
    lengths: NameLengths,
}

/// An identity header name in the config that is not a header name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a header name")]
pub struct InvalidHeaderName(pub String);

impl IdentityHeaderNames {
    /// Whether `name` (lower-case) is one of these in any `_` spelling.
    fn is_identity(&self, name: &str) -> bool {
        self.lengths.may_hold(name)
            && is_protected(name, &self.lower.each_ref().map(String::as_str))
    }

    pub fn new(headers: &IdentityHeaders) -> Result<Self, InvalidHeaderName> {
        let parse = |name: &str| {
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| InvalidHeaderName(name.to_string()))
        };
        let lower = [
            headers.subject.to_ascii_lowercase(),
            headers.level.to_ascii_lowercase(),
            headers.scopes.to_ascii_lowercase(),
            headers.tenant.to_ascii_lowercase(),
            headers.issuer.to_ascii_lowercase(),
            headers.claimed_subject.to_ascii_lowercase(),
        ];
        Ok(Self {
            lengths: NameLengths::of(&lower.each_ref().map(String::as_str)),
            subject: parse(&headers.subject)?,
            level: parse(&headers.level)?,
            scopes: parse(&headers.scopes)?,
            tenant: parse(&headers.tenant)?,
            issuer: parse(&headers.issuer)?,
            claimed_subject: parse(&headers.claimed_subject)?,
            lower,
        })
    }
}

/// Removes client-sent identity headers, whatever their case or `_` spelling (CVE-2025-64484).
/// Runs on every route, public ones included (oauth2-proxy PR #624).
fn strip_identity_headers(headers: &mut HeaderMap, names: &IdentityHeaderNames) {
    remove_headers_where(headers, |name| names.is_identity(name));
}

/// What the upstream learns about the caller, for the gateway and the embedding API alike:
/// client-sent identity headers gone, the credential removed from its carrier (or unverified
/// ones stripped), and the identity of an allowed caller added.
pub fn pass_identity(
    headers: &mut HeaderMap,
    allowed: Option<&Allowed>,
    names: &IdentityHeaderNames,
) -> Result<(), UnsendableHeader> {
    pass_no_identity(headers, allowed, names)?;
    if let Some(allowed) = allowed {
        add_identity_headers(headers, &allowed.principal, names)?;
    }
    Ok(())
}

/// As [`pass_identity`] without adding the identity headers: for routes whose upstream learns
/// the caller another way (a signed assertion). Client-sent identity headers and the
/// credential are still removed.
pub fn pass_no_identity(
    headers: &mut HeaderMap,
    allowed: Option<&Allowed>,
    names: &IdentityHeaderNames,
) -> Result<(), UnsendableHeader> {
    strip_identity_headers(headers, names);
    match allowed.and_then(|a| a.carrier.as_ref()) {
        Some(carrier) => remove_credential(headers, carrier),
        None => strip_unverified_credentials(headers),
    }
}

/// For a route that opted in to passing the caller's credential on (a backend that must see
/// it): the verified credential stays where the client put it — never moved to another
/// carrier — while client-sent identity headers and any credential that was not verified are
/// removed as on every route. Identity headers are added when `with_headers`.
pub fn pass_keeping_credential(
    headers: &mut HeaderMap,
    allowed: Option<&Allowed>,
    names: &IdentityHeaderNames,
    with_headers: bool,
) -> Result<(), UnsendableHeader> {
    strip_identity_headers(headers, names);
    let Some(allowed) = allowed.filter(|a| a.carrier.is_some()) else {
        return strip_unverified_credentials(headers);
    };
    if with_headers {
        add_identity_headers(headers, &allowed.principal, names)?;
    }
    Ok(())
}

/// Adds the identity of an authenticated principal.
fn add_identity_headers(
    headers: &mut HeaderMap,
    principal: &Principal,
    names: &IdentityHeaderNames,
) -> Result<(), UnsendableHeader> {
    let level = HeaderValue::from_static(principal.level().as_str());
    headers.insert(names.level.clone(), level);
    if let Some(caller) = principal.caller() {
        let values = caller.header_values().ok_or(UnsendableHeader)?;
        headers.insert(names.subject.clone(), values.subject.clone());
        headers.insert(names.scopes.clone(), values.scopes.clone());
        headers.insert(names.issuer.clone(), values.issuer.clone());
        if let Some(tenant) = &values.tenant {
            headers.insert(names.tenant.clone(), tenant.clone());
        }
        if let Some(claimed) = &values.claimed_subject {
            headers.insert(names.claimed_subject.clone(), claimed.clone());
        }
    }
    Ok(())
}

/// Removes the credential from the header or cookie that carried it. (A query-string token
/// is removed from the target by [`query_without_token`].)
fn remove_credential(headers: &mut HeaderMap, carrier: &Carrier) -> Result<(), UnsendableHeader> {
    match carrier {
        Carrier::Bearer | Carrier::TokenScheme => {
            headers.remove(http::header::AUTHORIZATION);
        }
        Carrier::Header(name) => {
            remove_headers_where(headers, |key| same_header_name(key, name));
        }
        Carrier::Cookie => {
            let kept: Vec<String> = headers
                .get_all(http::header::COOKIE)
                .iter()
                .flat_map(|v| v.to_str().unwrap_or("").split(';'))
                .map(str::trim)
                .filter(|pair| {
                    !pair.is_empty() && !is_access_token_name(split_cookie_pair(pair.as_bytes()).0)
                })
                .map(str::to_string)
                .collect();
            headers.remove(http::header::COOKIE);
            if !kept.is_empty() {
                let value = HeaderValue::try_from(kept.join("; ")).map_err(|_| UnsendableHeader)?;
                headers.insert(http::header::COOKIE, value);
            }
        }
        Carrier::Query => {}
    }
    Ok(())
}

/// Removes credentials in the standard carriers (`Authorization` with a token scheme and the
/// `access_token` cookie, in every spelling `credential::spelling` knows) from a request whose
/// credential was not taken: on routes without auth, or when none was accepted. An unverified
/// token must not reach an upstream that might trust it. Other `Authorization` schemes (Basic,
/// …) are the upstream's business and stay.
fn strip_unverified_credentials(headers: &mut HeaderMap) -> Result<(), UnsendableHeader> {
    let bearer_like = headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .any(|v| is_token_scheme(v.as_bytes()));
    if bearer_like {
        remove_credential(headers, &Carrier::Bearer)?;
    }
    let token_cookie = headers
        .get_all(http::header::COOKIE)
        .iter()
        .any(|v| cookie_pairs(v.as_bytes()).any(|(name, _)| is_access_token_name(name)));
    if token_cookie {
        remove_credential(headers, &Carrier::Cookie)?;
    }
    Ok(())
}

/// The name of one `name=value` pair of a query.
fn parameter_name(pair: &str) -> &[u8] {
    pair.split('=').next().unwrap_or_default().as_bytes()
}

/// Whether a query has an `access_token` parameter in any spelling.
pub fn query_has_token(query: &str) -> bool {
    query_has(query, is_access_token_name)
}

/// The query without its `access_token` parameters (every spelling); `None` when nothing is
/// left.
pub fn query_without_token(query: &str) -> Option<String> {
    query_without(query, is_access_token_name)
}

/// Whether a query has a parameter whose (raw) name is `doomed`, split as the most lenient
/// parser splits it ([`query_pairs`]: on `&` and `;`).
pub fn query_has(query: &str, doomed: impl Fn(&[u8]) -> bool) -> bool {
    query_pairs(query).any(|pair| doomed(parameter_name(pair)))
}

/// The query without the parameters whose (raw) name is `doomed`; `None` when nothing is left.
/// Pairs are split on `&`, then on `;` within a pair, and the separators kept are the ones the
/// client wrote (an OData `$expand=A($top=1;$skip=2)` keeps its `;`).
pub fn query_without(query: &str, doomed: impl Fn(&[u8]) -> bool) -> Option<String> {
    let kept: Vec<String> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            if !pair.contains(';') {
                return (!doomed(parameter_name(pair))).then(|| pair.to_string());
            }
            let parts: Vec<&str> = pair
                .split(';')
                .filter(|part| !doomed(parameter_name(part)))
                .collect();
            let kept = parts.join(";");
            (!kept.is_empty()).then_some(kept)
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::header_map as headers;

    #[test]
    fn query_tokens_are_cut_out() {
        assert_eq!(query_without_token("access_token=abc"), None);
        assert_eq!(
            query_without_token("a=1&access_token=abc&b=2").as_deref(),
            Some("a=1&b=2")
        );
        assert_eq!(
            query_without_token("access_tokenx=1").as_deref(),
            Some("access_tokenx=1")
        );
        assert_eq!(
            query_without_token("a=1&ACCESS%5FTOKEN=x&access.token=y&Access_Token[]=z").as_deref(),
            Some("a=1")
        );
        assert!(query_has_token("a=1&access%5Ftoken=x"));
        assert!(query_has_token("a=1;access_token=x"));
        assert_eq!(
            query_without_token("a=1;access_token=x;b=2&$expand=A($top=1;$skip=2)").as_deref(),
            Some("a=1;b=2&$expand=A($top=1;$skip=2)")
        );
        assert_eq!(
            query_without_token("x=a;&access_token=t&$filter=name eq 'a;;b'").as_deref(),
            Some("x=a;&$filter=name eq 'a;;b'"),
            "what is kept is kept as written"
        );
    }

    #[test]
    fn unverified_credentials_are_stripped_other_schemes_kept() {
        let mut r = headers(&[
            ("authorization", "bEaReR abc"),
            ("cookie", "theme=dark; access_token=abc"),
        ]);
        strip_unverified_credentials(&mut r).unwrap();
        assert_eq!(r.get("authorization"), None);
        assert_eq!(r["cookie"], "theme=dark");
        for spelling in ["Bearer\tabc", "bearer:abc", "JWT abc", "Token\tkey"] {
            let mut r = headers(&[("authorization", spelling), ("cookie", "ACCESS%5FTOKEN=x")]);
            strip_unverified_credentials(&mut r).unwrap();
            assert_eq!(r.get("authorization"), None, "{spelling}");
            assert_eq!(r.get("cookie"), None);
        }
        let mut basic = headers(&[("authorization", "Basic dTpw"), ("cookie", "theme=dark")]);
        strip_unverified_credentials(&mut basic).unwrap();
        assert_eq!(basic["authorization"], "Basic dTpw");
        assert_eq!(basic["cookie"], "theme=dark");
        assert!(query_has_token("a=1&access_token=x"));
        assert!(!query_has_token("a=1&access_tokens=x"));
        assert!(!query_has_token("note=access_token"));
    }

    #[test]
    fn cookie_tokens_are_cut_out_and_other_cookies_kept() {
        let mut r = headers(&[("cookie", "a=1; access_token=secret"), ("cookie", "b=2")]);
        remove_credential(&mut r, &Carrier::Cookie).unwrap();
        let cookies: Vec<_> = r.get_all("cookie").iter().collect();
        assert_eq!(cookies.len(), 1);
        assert_eq!(cookies[0], "a=1; b=2");
    }

    #[test]
    fn custom_header_credentials_go_in_every_spelling() {
        let mut r = headers(&[("X_API_Key", "k"), ("x-other", "kept")]);
        remove_credential(&mut r, &Carrier::Header("x-api-key".into())).unwrap();
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn identity_headers_are_stripped_in_every_spelling() {
        let mut r = headers(&[
            ("X-Auth-Subject", "admin"),
            ("x_auth_level", "verified"),
            ("X-AUTH_SCOPES", "all"),
            ("x-other", "kept"),
        ]);
        strip_identity_headers(
            &mut r,
            &IdentityHeaderNames::new(&IdentityHeaders::default()).unwrap(),
        );
        assert_eq!(r.len(), 1);
    }
}
