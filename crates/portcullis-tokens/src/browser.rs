//! The browser side of sign-in: `{prefix}/oauth/authorize` (login, consent, code), `{prefix}/login`
//! and `{prefix}/logout`. Pages are HTML; every state change is a POST carrying a CSRF token —
//! the session's own on consent and sign-out, a double-submit cookie on the login form (there is
//! no session yet).

use super::answers;
use super::authorize::{self, AuthorizationRequest, ErrorRedirect, Refusal};
use super::cookies::{cookie, expired_cookie, service_cookie};
use super::device_grant;
use super::metrics::count_sign_in;
use super::pages;
use super::paths::Endpoint;
use super::records::{CodeRecord, DeviceDecision, SessionRecord};
use super::request::{parse_form, ServiceRequest};
use super::sign_in::SignIn;
use super::upstream_oidc::STATE_COOKIE;
use super::users::SignedIn;
use super::{random_id, TokenService};
use http::Method;
use portcullis_core::answer::Answer;
use portcullis_core::digest::{digest_hex as digest, same_secret};
use portcullis_core::principal::now_unix;
use std::collections::HashMap;

pub const SESSION_COOKIE: &str = "portcullis_session";
pub const CSRF_COOKIE: &str = "portcullis_csrf";

fn session_cookie(service: &TokenService, sign_in: &SignIn, secret: &str) -> String {
    service_cookie(
        service,
        SESSION_COOKIE,
        secret,
        sign_in.settings.session_ttl,
        "Lax",
    )
}

/// `SameSite=Strict`: only the gateway's own login form ever sends it back.
fn csrf_cookie(service: &TokenService, token: &str) -> String {
    service_cookie(service, CSRF_COOKIE, token, 3600, "Strict")
}

/// A form posted within a session must carry the session's CSRF token.
fn check_session_csrf(
    params: &HashMap<String, String>,
    session: &SessionRecord,
) -> Result<(), Answer> {
    if params
        .get("csrf")
        .is_some_and(|token| same_secret(token, &session.csrf))
    {
        return Ok(());
    }
    Err(answers::page(
        403,
        "Request refused",
        "This form has expired or did not come from this site. Go back and try again.",
    ))
}

/// The request's parameters: the query of a GET, the form of a POST. Repeats are refused.
fn parameters(request: &ServiceRequest<'_>) -> Result<HashMap<String, String>, Answer> {
    let bad = || answers::page(400, "Sign-in failed", "The request is malformed.");
    if request.method == Method::POST {
        parse_form(request.body).map_err(|_| bad())
    } else {
        authorize::parameters(request.query.unwrap_or("").as_bytes()).map_err(|_| bad())
    }
}

/// The live session of this browser, with its cookie value.
async fn current_session(
    service: &TokenService,
    request: &ServiceRequest<'_>,
) -> Result<Option<(String, SessionRecord)>, Answer> {
    let Some(secret) = cookie(request.headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    Ok(service
        .session(secret)
        .await?
        .map(|record| (secret.to_string(), record)))
}

/// The authorization request's own parameters, for a form's hidden fields or a redirect.
fn carried(params: &HashMap<String, String>) -> Vec<(&str, &str)> {
    authorize::PARAMETERS
        .iter()
        .filter_map(|name| params.get(*name).map(|v| (*name, v.as_str())))
        .collect()
}

/// The origin (`scheme://host:port`) of a registered redirect URI, for `form-action`.
fn origin(uri: &str) -> String {
    url::Url::parse(uri).map_or_else(|_| String::new(), |u| u.origin().ascii_serialization())
}

fn login_page(
    service: &TokenService,
    params: &HashMap<String, String>,
    client_name: Option<&str>,
    status: u16,
    error: Option<&str>,
) -> Answer {
    let token = random_id(24);
    let mut fields = carried(params);
    fields.push(("csrf", &token));
    let action = service.settings.page_path(Endpoint::Login).to_string();
    answers::html(
        status,
        pages::login(&action, client_name, &fields, error),
        &[],
    )
    .with_header("set-cookie", csrf_cookie(service, &token))
}

/// `GET` shows the login or consent page; `POST` is the consent form's answer.
pub async fn authorize(service: &TokenService, request: &ServiceRequest<'_>) -> Answer {
    let Some(sign_in) = service.sign_in.as_ref() else {
        return answers::page(404, "Not found", "Sign-in is not enabled here.");
    };
    let params = match parameters(request) {
        Ok(params) => params,
        Err(page) => return page,
    };
    let (authorization, client) = match authorize::check(&service.settings, &params) {
        Ok(found) => found,
        Err(Refusal::Page(text)) => return answers::page(400, "Sign-in failed", text),
        Err(Refusal::Redirect(refusal)) => {
            return answers::see_other(refusal.location(&service.settings.issuer))
        }
    };
    let session = match current_session(service, request).await {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let Some((secret, session)) = session else {
        if request.method == Method::POST {
            // The session ended while the consent page was open: sign in again.
            return authorize_again(service, &params);
        }
        if let Some(upstream) = &sign_in.upstream {
            return upstream.start(service, &params).await;
        }
        return login_page(service, &params, Some(&client.name), 200, None);
    };
    if request.method != Method::POST {
        let mut fields = carried(&params);
        fields.push(("csrf", &session.csrf));
        let action = service.settings.page_path(Endpoint::Authorize).to_string();
        let target = origin(&authorization.redirect_uri);
        return answers::html(
            200,
            pages::consent(
                &action,
                &client.name,
                &session.sub,
                &authorization.scopes,
                &fields,
            ),
            &[&target],
        );
    }
    if let Err(refused) = check_session_csrf(&params, &session) {
        return refused;
    }
    if params.get("decision").map(String::as_str) != Some("allow") {
        let refusal = ErrorRedirect {
            redirect_uri: authorization.redirect_uri,
            state: authorization.state,
            error: "access_denied",
            description: "the user denied the request",
        };
        return answers::see_other(refusal.location(&service.settings.issuer));
    }
    match grant_code(service, sign_in, &secret, &session, authorization).await {
        Ok(location) => answers::see_other(location),
        Err(answer) => answer,
    }
}

/// Issues the code and says where to send the browser with it.
async fn grant_code(
    service: &TokenService,
    sign_in: &SignIn,
    secret: &str,
    session: &SessionRecord,
    authorization: AuthorizationRequest,
) -> Result<String, Answer> {
    let record = CodeRecord {
        client_id: authorization.client_id,
        redirect_uri: authorization.redirect_uri,
        code_challenge: authorization.code_challenge,
        scopes: authorization.scopes,
        nonce: authorization.nonce,
        sub: session.sub.clone(),
        email: session.email.clone(),
        level: session.level,
        auth_time: session.auth_time,
        session: digest(secret),
        expires_at: now_unix() + sign_in.settings.code_ttl,
        used: false,
        replayed: false,
        grant: None,
    };
    let code = service.issue_code(&record).await?;
    Ok(authorize::back_to_client(
        &record.redirect_uri,
        &[("code", &code)],
        authorization.state.as_deref(),
        &service.settings.issuer,
    ))
}

/// Back to the authorization endpoint with the same request (after signing in, or to sign in
/// again).
fn authorize_again(service: &TokenService, params: &HashMap<String, String>) -> Answer {
    answers::see_other(format!(
        "{}?{}",
        service.settings.page_path(Endpoint::Authorize),
        authorize::query_of(params)
    ))
}

/// After signing in: on to the authorization request it interrupted, or a plain page.
pub fn signed_in(
    service: &TokenService,
    sign_in: &SignIn,
    params: &HashMap<String, String>,
    secret: &str,
) -> Answer {
    let cookie = session_cookie(service, sign_in, secret);
    let answer = if let Some(user_code) = params.get("user_code") {
        // Back to the device it was asked for.
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("user_code", user_code)
            .finish();
        answers::see_other(format!(
            "{}?{query}",
            service.settings.page_path(Endpoint::Device)
        ))
    } else if params.contains_key("client_id") {
        authorize_again(service, params)
    } else {
        answers::page(200, "Signed in", "You are signed in.")
    };
    answer
        .with_header("set-cookie", cookie)
        .with_header("set-cookie", expired_cookie(service, CSRF_COOKIE))
}

/// `GET` shows the login form; `POST` checks it.
pub async fn login(service: &TokenService, request: &ServiceRequest<'_>) -> Answer {
    let Some(sign_in) = service.sign_in.as_ref() else {
        return answers::page(404, "Not found", "Sign-in is not enabled here.");
    };
    let params = match parameters(request) {
        Ok(params) => params,
        Err(page) => return page,
    };
    let client_name = params
        .get("client_id")
        .and_then(|id| service.settings.clients.get(id))
        .map(|c| c.name.as_str());
    if request.method != Method::POST || sign_in.users.is_none() {
        if let Some(upstream) = &sign_in.upstream {
            return upstream.start(service, &params).await;
        }
        return login_page(service, &params, client_name, 200, None);
    }
    let csrf_ok = match (params.get("csrf"), cookie(request.headers, CSRF_COOKIE)) {
        (Some(form), Some(cookie)) => same_secret(form, cookie),
        _ => false,
    };
    if !csrf_ok {
        return login_page(
            service,
            &params,
            client_name,
            403,
            Some("This form has expired or did not come from this site. Please try again."),
        );
    }
    let (Some(name), Some(password)) = (params.get("username"), params.get("password")) else {
        return login_page(
            service,
            &params,
            client_name,
            400,
            Some("Enter a user name and a password."),
        );
    };
    if name.len() > 256 || password.len() > 1024 {
        return login_page(
            service,
            &params,
            client_name,
            400,
            Some("Wrong user name or password."),
        );
    }
    let Some(attempt) = sign_in.limiter.begin(name, request.client) else {
        count_sign_in("limited");
        return login_page(
            service,
            &params,
            client_name,
            429,
            Some("Too many failed attempts. Wait a few minutes and try again."),
        )
        .with_header(
            "retry-after",
            sign_in.settings.failure_window.as_secs().to_string(),
        );
    };
    let Some(user) = sign_in.check_password(name, password).await else {
        sign_in.limiter.failed(attempt);
        count_sign_in("failure");
        tracing::info!(client = ?request.client, "failed sign-in");
        return login_page(
            service,
            &params,
            client_name,
            401,
            Some("Wrong user name or password."),
        );
    };
    sign_in.limiter.succeeded(attempt);
    count_sign_in("success");
    let signed_in_user = SignedIn {
        sub: user.name,
        email: user.email,
    };
    match service.start_session(sign_in, signed_in_user).await {
        Ok((secret, _)) => signed_in(service, sign_in, &params, &secret),
        Err(e) => e.into(),
    }
}

/// `GET` asks to confirm; `POST` (with the session's CSRF token) ends the session and revokes
/// the refresh tokens issued in it.
pub async fn logout(service: &TokenService, request: &ServiceRequest<'_>) -> Answer {
    if service.sign_in.is_none() {
        return answers::page(404, "Not found", "Sign-in is not enabled here.");
    }
    let session = match current_session(service, request).await {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let Some((secret, session)) = session else {
        return answers::page(200, "Signed out", "You are not signed in.")
            .with_header("set-cookie", expired_cookie(service, SESSION_COOKIE));
    };
    let action = service.settings.page_path(Endpoint::Logout).to_string();
    if request.method != Method::POST {
        return answers::html(
            200,
            pages::logout(&action, &session.sub, &[("csrf", &session.csrf)]),
            &[],
        );
    }
    let params = match parameters(request) {
        Ok(params) => params,
        Err(page) => return page,
    };
    if let Err(refused) = check_session_csrf(&params, &session) {
        return refused;
    }
    if let Err(e) = service.end_session(&secret).await {
        return e.into();
    }
    answers::page(200, "Signed out", "You are signed out.")
        .with_header("set-cookie", expired_cookie(service, SESSION_COOKIE))
}

/// `GET {prefix}/oauth/callback?code&state`: where the upstream provider sends the browser
/// back; the provider checks what it says, then the session starts as after a password.
pub async fn callback(service: &TokenService, request: &ServiceRequest<'_>) -> Answer {
    let Some((sign_in, upstream)) = service
        .sign_in
        .as_ref()
        .and_then(|s| Some((s, s.upstream.as_ref()?)))
    else {
        return answers::page(
            404,
            "Not found",
            "Sign-in through a provider is not enabled here.",
        );
    };
    let (user, resumed) = match upstream.complete(service, request).await {
        Ok(done) => done,
        Err(page) => return page,
    };
    match service.start_session(sign_in, user).await {
        Ok((secret, _)) => signed_in(service, sign_in, &resumed, &secret)
            .with_header("set-cookie", expired_cookie(service, STATE_COOKIE)),
        Err(e) => e.into(),
    }
}

/// The device grant's verification page (RFC 8628 §3.3): `GET` asks for the user code (or
/// takes it from `verification_uri_complete`) and shows what the device asks for; `POST` is
/// the signed-in user's answer, with the session's CSRF token.
pub async fn device(service: &TokenService, request: &ServiceRequest<'_>) -> Answer {
    let Some(sign_in) = service.sign_in.as_ref() else {
        return answers::page(404, "Not found", "Sign-in is not enabled here.");
    };
    let params = match parameters(request) {
        Ok(params) => params,
        Err(page) => return page,
    };
    let action = service.settings.page_path(Endpoint::Device).to_string();
    let entry = |status: u16, error: Option<&str>| {
        answers::html(status, pages::device_code(&action, error), &[])
    };
    let session = match current_session(service, request).await {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let Some((_, session)) = session else {
        if let Some(upstream) = &sign_in.upstream {
            return upstream.start(service, &params).await;
        }
        return login_page(service, &params, None, 200, None);
    };
    let Some(typed) = params.get("user_code") else {
        return entry(200, None);
    };
    let not_valid = "That code is not valid or has expired. Check it on your device.";
    let Some(user_code) = device_grant::normalize_user_code(typed) else {
        return entry(400, Some(not_valid));
    };
    let pending = match device_grant::pending(service, &user_code).await {
        Ok(pending) => pending,
        Err(e) => return e.into(),
    };
    let Some((key, record)) = pending else {
        return entry(400, Some(not_valid));
    };
    let client_name = service
        .settings
        .clients
        .get(&record.client_id)
        .map_or(record.client_id.as_str(), |c| c.name.as_str());
    if request.method != Method::POST {
        let fields = [
            ("user_code", typed.as_str()),
            ("csrf", session.csrf.as_str()),
        ];
        return answers::html(
            200,
            pages::consent(&action, client_name, &session.sub, &record.scopes, &fields),
            &[],
        );
    }
    if let Err(refused) = check_session_csrf(&params, &session) {
        return refused;
    }
    let allow = params.get("decision").map(String::as_str) == Some("allow");
    let decision = if allow {
        DeviceDecision::Approved {
            sub: session.sub.clone(),
            level: session.level,
        }
    } else {
        DeviceDecision::Denied
    };
    match device_grant::decide(service, &key, &user_code, decision).await {
        Ok(true) if allow => answers::page(
            200,
            "Device connected",
            "You can go back to your device; it continues by itself.",
        ),
        Ok(true) => answers::page(200, "Request denied", "The device gets no access."),
        Ok(false) => entry(400, Some(not_valid)),
        Err(e) => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_once_or_not_at_all() {
        let mut headers = http::HeaderMap::new();
        headers.append("cookie", "a=1; portcullis_session=abc".parse().unwrap());
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        headers.append("cookie", "portcullis_session=def".parse().unwrap());
        assert_eq!(cookie(&headers, SESSION_COOKIE), None);
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn secrets_compare_whole_and_never_empty() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("", ""));
    }
}
