//! The cookies of the token service's browser pages: reading one, and writing them scoped to
//! the service.

use super::TokenService;
use portcullis_core::credential::cookie_pairs;

/// The value of the one cookie named `name` (none when absent, sent twice or not text).
pub fn cookie<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    let mut found = None;
    for header in headers.get_all(http::header::COOKIE) {
        for (n, value) in cookie_pairs(header.as_bytes()) {
            if n == name.as_bytes() {
                if found.is_some() {
                    return None;
                }
                found = Some(std::str::from_utf8(value).ok()?);
            }
        }
    }
    found
}

/// A `Set-Cookie` value for the sign-in cookies: scoped to the sign-in pages, never readable
/// by script, never sent over plain HTTP (except by browsers to `localhost`). `max_age` 0 ends it.
pub fn service_cookie(
    service: &TokenService,
    name: &str,
    value: &str,
    max_age: u64,
    same_site: &str,
) -> String {
    format!(
        "{name}={value}; Path={}; Max-Age={max_age}; HttpOnly; Secure; SameSite={same_site}",
        service.settings.paths.cookie_path()
    )
}

/// A `Set-Cookie` value that ends the cookie `name`.
pub fn expired_cookie(service: &TokenService, name: &str) -> String {
    service_cookie(service, name, "", 0, "Lax")
}
