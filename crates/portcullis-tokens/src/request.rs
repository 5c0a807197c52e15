//! What an endpoint of the token service is given, and the parameter parsing the endpoints
//! share (forms, scopes).

use super::answers;
use http::{HeaderMap, Method};
use portcullis_core::answer::Answer;
use portcullis_core::credential::Limits;
use portcullis_engine::verify::claims::split_scopes;
use std::collections::HashMap;

/// A request for one of the service's endpoints.
pub struct ServiceRequest<'a> {
    pub method: &'a Method,
    /// The normalized path.
    pub path: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The client connected over TLS (cookies get `Secure`).
    pub tls: bool,
    /// The gateway's credential size limits.
    pub limits: Limits,
    /// The raw query string, if any.
    pub query: Option<&'a str>,
    /// The client's address (for the sign-in limiter).
    pub client: Option<std::net::IpAddr>,
    /// The host the request was sent to (lower-case, no port).
    pub host: Option<&'a str>,
}

/// An `application/x-www-form-urlencoded` body; a repeated parameter is `invalid_request`.
pub fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, Answer> {
    let mut form = HashMap::new();
    for (name, value) in form_urlencoded::parse(body) {
        // RFC 6749 §3.2: parameters must not be repeated.
        if form.insert(name.into_owned(), value.into_owned()).is_some() {
            return Err(answers::oauth_error(
                "invalid_request",
                "a parameter is repeated",
            ));
        }
    }
    Ok(form)
}

/// Keeps the first of each scope, in order (`Vec::dedup` drops repeats only when they are
/// neighbours: `a b a` stayed as it was). Scope lists are short, so a scan beats a set.
pub fn drop_repeated_scopes(scopes: &mut Vec<String>) {
    let mut kept = 0;
    for i in 0..scopes.len() {
        if !scopes[..kept].contains(&scopes[i]) {
            scopes.swap(kept, i);
            kept += 1;
        }
    }
    scopes.truncate(kept);
}

/// The scopes asked for in `form` (default: everything allowed), or `None` when some is not.
pub fn requested_scopes(form: &HashMap<String, String>, allowed: &[String]) -> Option<Vec<String>> {
    match form.get("scope") {
        None => Some(allowed.to_vec()),
        Some(text) => {
            let mut scopes = split_scopes(text);
            drop_repeated_scopes(&mut scopes);
            scopes.iter().all(|s| allowed.contains(s)).then_some(scopes)
        }
    }
}
