//! The token service's HTTP endpoints, as a plain async function from a request to an answer
//! (no pingora types: unit-testable, and the proxy only reads the body and writes the answer).
//!
//! Errors follow RFC 6749 §5.2 (`{"error":…,"error_description":…}`) with fixed descriptions;
//! nothing a client sent is echoed back.

use super::records::TokenRecord;
use super::settings::{Client, Tenant};
use super::{ServiceError, TokenService};
use crate::auth::challenge::TokenProblem;
use crate::principal::{now_unix, Level};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::{HeaderMap, Method};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Largest request body the endpoints read.
pub const MAX_BODY: usize = 16 * 1024;

pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

pub struct ServiceRequest<'a> {
    pub method: &'a Method,
    /// The normalized path.
    pub path: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The client connected over TLS (cookies get `Secure`).
    pub tls: bool,
}

#[derive(Debug)]
pub struct ServiceResponse {
    pub status: u16,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

impl ServiceResponse {
    fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: body.to_string().into_bytes(),
            headers: Vec::new(),
        }
    }

    fn ok(body: Value) -> Self {
        Self::json(200, body)
    }

    /// RFC 6749 §5.2 error; `invalid_client` is 401 with a Basic challenge.
    fn error(code: &'static str, description: &'static str) -> Self {
        let status = match code {
            "invalid_client" => 401,
            "temporarily_unavailable" => 503,
            "not_found" => 404,
            "method_not_allowed" => 405,
            "payload_too_large" => 413,
            _ => 400,
        };
        let mut response = Self::json(
            status,
            json!({ "error": code, "error_description": description }),
        );
        if status == 401 {
            response
                .headers
                .push(("www-authenticate", "Basic realm=\"portcullis\"".into()));
        }
        if status == 503 {
            response.headers.push(("retry-after", "1".into()));
        }
        response
    }

    fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

impl From<super::store::StoreError> for ServiceResponse {
    fn from(e: super::store::StoreError) -> Self {
        tracing::error!(error = %e, "token store");
        ServiceResponse::error("temporarily_unavailable", "the token store is unavailable")
    }
}

impl From<ServiceError> for ServiceResponse {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Store(e) => e.into(),
            ServiceError::Invalid(TokenProblem::Revoked) => {
                ServiceResponse::error("invalid_grant", "the token was revoked")
            }
            ServiceError::Invalid(TokenProblem::Expired) => {
                ServiceResponse::error("invalid_grant", "the token has expired")
            }
            ServiceError::Invalid(TokenProblem::WrongType) => {
                ServiceResponse::error("invalid_grant", "the token is not a device token")
            }
            ServiceError::Invalid(_) => {
                ServiceResponse::error("invalid_grant", "the token is not active")
            }
        }
    }
}

/// Whether `path` belongs to the token service.
pub fn is_service_path(prefix: &str, path: &str) -> bool {
    path == JWKS_PATH
        || path == DISCOVERY_PATH
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Answers one request to the token service.
pub async fn handle(service: &TokenService, request: &ServiceRequest<'_>) -> ServiceResponse {
    let prefix = service.settings.prefix.as_str();
    let endpoint = match request.path {
        JWKS_PATH | DISCOVERY_PATH => request.path,
        path => path.strip_prefix(prefix).unwrap_or(path),
    };
    let get = matches!(endpoint, JWKS_PATH | DISCOVERY_PATH);
    let known = get
        || matches!(
            endpoint,
            "/token"
                | "/token/identify"
                | "/token/verify"
                | "/token/create"
                | "/token/update"
                | "/oauth/token"
                | "/oauth/revoke"
                | "/oauth/introspect"
        );
    if !known {
        return ServiceResponse::error("not_found", "no such token service endpoint");
    }
    let allowed = if get { "GET, HEAD" } else { "POST" };
    let method_ok = if get {
        request.method == Method::GET || request.method == Method::HEAD
    } else {
        request.method == Method::POST
    };
    if !method_ok {
        return ServiceResponse::error("method_not_allowed", "use another method")
            .with_header("allow", allowed.into());
    }
    match endpoint {
        JWKS_PATH => ServiceResponse::ok(service.keys.jwks()),
        DISCOVERY_PATH => discovery(service),
        "/token" => device_token(service, request).await,
        "/token/identify" => identify(service, request).await,
        "/token/verify" => verify(service, request).await,
        "/token/create" => create(service, request).await,
        "/token/update" => update(service, request).await,
        "/oauth/token" => oauth_token(service, request).await,
        "/oauth/revoke" => revoke(service, request).await,
        _ => introspect(service, request).await,
    }
}

fn discovery(service: &TokenService) -> ServiceResponse {
    let s = &service.settings;
    let base = s.issuer.trim_end_matches('/');
    ServiceResponse::ok(json!({
        "issuer": s.issuer,
        "jwks_uri": format!("{base}{JWKS_PATH}"),
        "token_endpoint": format!("{base}{}/oauth/token", s.prefix),
        "revocation_endpoint": format!("{base}{}/oauth/revoke", s.prefix),
        "introspection_endpoint": format!("{base}{}/oauth/introspect", s.prefix),
        "grant_types_supported": ["client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "id_token_signing_alg_values_supported": [format!("{:?}", s.algorithm)],
        "response_types_supported": [],
        "subject_types_supported": ["public"],
    }))
}

fn token_answer(token: &str, expires_in: u64, record: &TokenRecord) -> Value {
    json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "level": record.level.as_str(),
    })
}

/// The `Set-Cookie` value carrying a device token.
pub fn device_cookie(service: &TokenService, token: &str, tls: bool) -> String {
    format!(
        "{}={token}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{}",
        service.settings.cookie_name,
        service.settings.device_ttl,
        if tls { "; Secure" } else { "" }
    )
}

async fn device_token(service: &TokenService, request: &ServiceRequest<'_>) -> ServiceResponse {
    if !request.body.is_empty() {
        return ServiceResponse::error("invalid_request", "this endpoint takes no body");
    }
    match service.issue_device_token().await {
        Ok(issued) => {
            let cookie = device_cookie(service, &issued.token, request.tls);
            ServiceResponse::ok(token_answer(
                &issued.token,
                issued.expires_in,
                &issued.record,
            ))
            .with_header("set-cookie", cookie)
        }
        Err(e) => e.into(),
    }
}

/// The token a request presents as `Authorization: Bearer` or in the device cookie (not both).
fn presented_token(service: &TokenService, headers: &HeaderMap) -> Result<String, ServiceResponse> {
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_string())
        });
    let cookie_name = service.settings.cookie_name.as_str();
    let cookie = headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == cookie_name)
        .map(|(_, value)| value.to_string());
    match (bearer, cookie) {
        (Some(_), Some(_)) => Err(ServiceResponse::error(
            "invalid_request",
            "send the token in one place only",
        )),
        (Some(token), None) | (None, Some(token)) if !token.is_empty() => Ok(token),
        _ => Err(
            ServiceResponse::error("invalid_request", "a device token is required")
                .with_header("www-authenticate", "Bearer realm=\"portcullis\"".into()),
        ),
    }
}

fn parse_json<T: for<'d> Deserialize<'d>>(body: &[u8]) -> Result<T, ServiceResponse> {
    serde_json::from_slice(body)
        .map_err(|_| ServiceResponse::error("invalid_request", "the body is not the expected JSON"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentifyBody {
    email: Option<String>,
    partner_user_id: Option<String>,
}

fn plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.bytes().all(|b| b.is_ascii_graphic())
}

async fn identify(service: &TokenService, request: &ServiceRequest<'_>) -> ServiceResponse {
    let token = match presented_token(service, request.headers) {
        Ok(token) => token,
        Err(response) => return response,
    };
    let body: IdentifyBody = match parse_json(request.body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let identity_key = match (&body.email, &body.partner_user_id) {
        (Some(email), None) if plausible_email(email) => format!("email:{}", email.to_lowercase()),
        (None, Some(partner))
            if !partner.is_empty()
                && partner.len() <= 128
                && partner.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            format!("partner:{partner}")
        }
        _ => {
            return ServiceResponse::error(
                "invalid_request",
                "send one of email or partner_user_id, well formed",
            )
        }
    };
    match service.identify(&token, &identity_key).await {
        Ok(found) => {
            let expires_in = found.record.expires_at.saturating_sub(now_unix());
            ServiceResponse::ok(token_answer(&token, expires_in, &found.record))
        }
        Err(e) => e.into(),
    }
}

/// The client named by HTTP Basic (RFC 6749 §2.3.1) or, when `form` is given, by
/// `client_id`/`client_secret` in it — one method only.
fn authenticate_client<'s>(
    service: &'s TokenService,
    headers: &HeaderMap,
    form: Option<&HashMap<String, String>>,
) -> Result<&'s Client, ServiceResponse> {
    let invalid = || ServiceResponse::error("invalid_client", "client authentication failed");
    let basic = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, encoded) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("basic")
                .then_some(encoded.trim())
        });
    let in_form = form.and_then(|f| Some((f.get("client_id")?, f.get("client_secret")?)));
    let (id, secret) = match (basic, in_form) {
        (Some(encoded), None) => {
            let decoded = STANDARD.decode(encoded).map_err(|_| invalid())?;
            let text = String::from_utf8(decoded).map_err(|_| invalid())?;
            let (id, secret) = text.split_once(':').ok_or_else(invalid)?;
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8()
                    .map(|c| c.into_owned())
                    .map_err(|_| invalid())
            };
            (decode(id)?, decode(secret)?)
        }
        (None, Some((id, secret))) => (id.clone(), secret.clone()),
        _ => return Err(invalid()),
    };
    let client = service.settings.clients.get(&id).ok_or_else(invalid)?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    verify_slices_are_equal(digest.as_ref(), &client.secret_sha256).map_err(|_| invalid())?;
    Ok(client)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: String,
}

async fn verify(service: &TokenService, request: &ServiceRequest<'_>) -> ServiceResponse {
    let client = match authenticate_client(service, request.headers, None) {
        Ok(client) => client,
        Err(response) => return response,
    };
    if !client.may_verify {
        return ServiceResponse::error("unauthorized_client", "the client may not verify tokens");
    }
    let body: TokenBody = match parse_json(request.body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    match service.elevate(&body.token).await {
        Ok(found) => ServiceResponse::ok(json!({ "active": true, "level": found.record.level })),
        Err(e) => e.into(),
    }
}

/// The tenant named by `tenant_hash`, with its `oauth_key_secret` checked when it has one.
fn authenticate_tenant<'s>(
    service: &'s TokenService,
    headers: &HeaderMap,
) -> Result<(&'s str, &'s Tenant), ServiceResponse> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let invalid =
        || ServiceResponse::error("invalid_client", "unknown tenant or wrong oauth_key_secret");
    let hash = header("tenant_hash").ok_or_else(|| {
        ServiceResponse::error("invalid_request", "the tenant_hash header is required")
    })?;
    let (name, tenant) = service
        .settings
        .tenants
        .get_key_value(hash)
        .ok_or_else(invalid)?;
    if let Some(expected) = &tenant.secret_sha256 {
        let secret = header("oauth_key_secret").ok_or_else(invalid)?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
        verify_slices_are_equal(digest.as_ref(), expected).map_err(|_| invalid())?;
    }
    Ok((name.as_str(), tenant))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    #[serde(default)]
    resource: Vec<String>,
    /// Minutes.
    validity: Option<u64>,
}

fn within_tenant(tenant: &Tenant, resources: &[String]) -> bool {
    resources.iter().all(|r| tenant.resources.contains(r))
}

async fn create(service: &TokenService, request: &ServiceRequest<'_>) -> ServiceResponse {
    let (tenant_name, tenant) = match authenticate_tenant(service, request.headers) {
        Ok(t) => t,
        Err(response) => return response,
    };
    let body: CreateBody = match parse_json(if request.body.is_empty() {
        b"{}"
    } else {
        request.body
    }) {
        Ok(body) => body,
        Err(response) => return response,
    };
    if !within_tenant(tenant, &body.resource) {
        return ServiceResponse::error(
            "invalid_scope",
            "a resource is beyond what the tenant may grant",
        );
    }
    let settings = &service.settings;
    let minutes = body
        .validity
        .unwrap_or(settings.default_validity_minutes)
        .clamp(1, settings.max_validity_minutes);
    let now = now_unix();
    let mut scopes = body.resource;
    scopes.dedup();
    let record = TokenRecord {
        sub: format!("tenant:{tenant_name}"),
        level: tenant.level,
        scopes,
        tenant: Some(tenant_name.to_string()),
        client_id: None,
        device: None,
        grant: None,
        issued_at: now,
        expires_at: now + minutes * 60,
        revoked: false,
    };
    match service.issue(record).await {
        Ok((issued, _)) => ServiceResponse::ok(json!({
            "token": issued.token,
            "expires_in": issued.expires_in,
        })),
        Err(e) => e.into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    token: String,
    #[serde(default)]
    resource: Vec<String>,
}

async fn update(service: &TokenService, request: &ServiceRequest<'_>) -> ServiceResponse {
    let (tenant_name, tenant) = match authenticate_tenant(service, request.headers) {
        Ok(t) => t,
        Err(response) => return response,
    };
    let body: UpdateBody = match parse_json(request.body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    if !within_tenant(tenant, &body.resource) {
        return ServiceResponse::error(
            "invalid_scope",
            "a resource is beyond what the tenant may grant",
        );
    }
    let mut found = match service.live(&body.token).await {
        Ok(found) => found,
        Err(e) => return e.into(),
    };
    if found.record.tenant.as_deref() != Some(tenant_name) {
        return ServiceResponse::error("invalid_grant", "the token is not the tenant's");
    }
    for resource in body.resource {
        if !found.record.scopes.contains(&resource) {
            found.record.scopes.push(resource);
        }
    }
    match service.save(&found).await {
        Ok(()) => ServiceResponse::ok(json!({
            "message": "Token updated successfully",
            "token": body.token,
        })),
        Err(e) => e.into(),
    }
}

fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, ServiceResponse> {
    let mut form = HashMap::new();
    for (name, value) in form_urlencoded::parse(body) {
        // RFC 6749 §3.2: parameters must not be repeated.
        if form.insert(name.into_owned(), value.into_owned()).is_some() {
            return Err(ServiceResponse::error(
                "invalid_request",
                "a parameter is repeated",
            ));
        }
    }
    Ok(form)
}

/// The form body of an OAuth2 endpoint and the client it authenticates.
fn client_form<'s>(
    service: &'s TokenService,
    request: &ServiceRequest<'_>,
) -> Result<(HashMap<String, String>, &'s Client), ServiceResponse> {
    let form = parse_form(request.body)?;
    let client = authenticate_client(service, request.headers, Some(&form))?;
    Ok((form, client))
}

async fn oauth_token(service: &TokenService, request: &ServiceRequest<'_>) -> ServiceResponse {
    let (form, client) = match client_form(service, request) {
        Ok(parsed) => parsed,
        Err(response) => return response,
    };
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") if client.client_credentials => {
            client_credentials(service, client, &form).await
        }
        Some("refresh_token") if client.refresh_token => refresh(service, client, &form).await,
        Some("client_credentials" | "refresh_token") => {
            ServiceResponse::error("unauthorized_client", "the client may not use this grant")
        }
        Some("password") | Some("authorization_code") | Some(_) => {
            ServiceResponse::error("unsupported_grant_type", "this grant type is not supported")
        }
        None => ServiceResponse::error("invalid_request", "grant_type is required"),
    }
}

/// The scopes asked for in `form` (default: everything allowed), or `None` when some is not.
fn requested_scopes(form: &HashMap<String, String>, allowed: &[String]) -> Option<Vec<String>> {
    match form.get("scope") {
        None => Some(allowed.to_vec()),
        Some(text) => {
            let mut scopes: Vec<String> = text
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            scopes.dedup();
            scopes.iter().all(|s| allowed.contains(s)).then_some(scopes)
        }
    }
}

async fn grant_answer(
    service: &TokenService,
    client_id: &str,
    sub: &str,
    level: Level,
    scopes: Vec<String>,
    grant: Option<(String, String)>,
) -> ServiceResponse {
    let now = now_unix();
    let record = TokenRecord {
        sub: sub.to_string(),
        level,
        scopes,
        tenant: None,
        client_id: Some(client_id.to_string()),
        device: None,
        grant: grant.as_ref().map(|(id, _)| id.clone()),
        issued_at: now,
        expires_at: now + service.settings.access_ttl,
        revoked: false,
    };
    let (issued, key) = match service.issue(record).await {
        Ok(issued) => issued,
        Err(e) => return e.into(),
    };
    let mut body = json!({
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": issued.record.scopes.join(" "),
    });
    if let Some((grant_id, refresh)) = grant {
        if let Err(e) = service.attach_access(&grant_id, &key).await {
            return e.into();
        }
        body["refresh_token"] = json!(refresh);
    }
    ServiceResponse::ok(body).with_header("pragma", "no-cache".into())
}

async fn client_credentials(
    service: &TokenService,
    client: &Client,
    form: &HashMap<String, String>,
) -> ServiceResponse {
    let Some(scopes) = requested_scopes(form, &client.scopes) else {
        return ServiceResponse::error(
            "invalid_scope",
            "a scope is beyond what the client may ask",
        );
    };
    let grant = if client.issue_refresh_tokens && client.refresh_token {
        match service
            .start_grant(&client.id, &client.id, client.level, &scopes)
            .await
        {
            Ok(grant) => Some(grant),
            Err(e) => return e.into(),
        }
    } else {
        None
    };
    grant_answer(service, &client.id, &client.id, client.level, scopes, grant).await
}

async fn refresh(
    service: &TokenService,
    client: &Client,
    form: &HashMap<String, String>,
) -> ServiceResponse {
    let Some(token) = form.get("refresh_token") else {
        return ServiceResponse::error("invalid_request", "refresh_token is required");
    };
    let (record, next) = match service.redeem_refresh(token, &client.id).await {
        Ok(redeemed) => redeemed,
        Err(e) => return e.into(),
    };
    // RFC 6749 §6: a narrower scope may be asked for, never a wider one.
    let Some(scopes) = requested_scopes(form, &record.scopes) else {
        return ServiceResponse::error("invalid_scope", "a scope is beyond the original grant");
    };
    let grant = Some((record.grant.clone(), next));
    grant_answer(
        service,
        &client.id,
        &record.sub,
        record.level,
        scopes,
        grant,
    )
    .await
}

async fn revoke(service: &TokenService, request: &ServiceRequest<'_>) -> ServiceResponse {
    let (form, client) = match client_form(service, request) {
        Ok(parsed) => parsed,
        Err(response) => return response,
    };
    let Some(token) = form.get("token") else {
        return ServiceResponse::error("invalid_request", "token is required");
    };
    let outcome = async {
        if let Some(refresh) = service.find_refresh(token).await? {
            if refresh.client_id == client.id {
                service.revoke_grant(&refresh.grant).await?;
            }
            return Ok(());
        }
        if let Some(found) = service.find(token).await? {
            // A client may revoke its own tokens and those issued to no client.
            let own = found
                .record
                .client_id
                .as_deref()
                .is_none_or(|c| c == client.id);
            if own && !found.record.revoked {
                service.revoke_access(found).await?;
            }
        }
        Ok::<(), super::store::StoreError>(())
    }
    .await;
    match outcome {
        // RFC 7009 §2.2: 200 whether or not the token was valid.
        Ok(()) => ServiceResponse::ok(json!({})),
        Err(e) => e.into(),
    }
}

async fn introspect(service: &TokenService, request: &ServiceRequest<'_>) -> ServiceResponse {
    let (form, _) = match client_form(service, request) {
        Ok(parsed) => parsed,
        Err(response) => return response,
    };
    let Some(token) = form.get("token") else {
        return ServiceResponse::error("invalid_request", "token is required");
    };
    let inactive = || ServiceResponse::ok(json!({ "active": false }));
    let now = now_unix();
    let found = match service.find(token).await {
        Ok(found) => found,
        Err(e) => return e.into(),
    };
    if let Some(found) = found {
        let r = &found.record;
        if r.revoked || r.expires_at <= now {
            return inactive();
        }
        let mut body = json!({
            "active": true,
            "token_type": "access_token",
            "iss": service.settings.issuer,
            "aud": service.settings.audience,
            "sub": r.sub,
            "scope": r.scopes.join(" "),
            "level": r.level,
            "iat": r.issued_at,
            "exp": r.expires_at,
        });
        if let Some(client) = &r.client_id {
            body["client_id"] = json!(client);
        }
        if let Some(tenant) = &r.tenant {
            body["tenant"] = json!(tenant);
        }
        return ServiceResponse::ok(body);
    }
    match service.find_refresh(token).await {
        Ok(Some(r)) if !r.used && r.expires_at > now => ServiceResponse::ok(json!({
            "active": true,
            "token_type": "refresh_token",
            "iss": service.settings.issuer,
            "sub": r.sub,
            "client_id": r.client_id,
            "scope": r.scopes.join(" "),
            "exp": r.expires_at,
        })),
        Ok(_) => inactive(),
        Err(e) => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_paths_are_the_prefix_and_well_known_documents() {
        assert!(is_service_path("/auth", "/auth"));
        assert!(is_service_path("/auth", "/auth/token"));
        assert!(is_service_path("/auth", JWKS_PATH));
        assert!(!is_service_path("/auth", "/authors"));
        assert!(!is_service_path("/auth", "/public"));
    }

    #[test]
    fn emails_must_look_like_emails() {
        assert!(plausible_email("a@example.com"));
        for bad in ["a@b", "@example.com", "a b@example.com", "a@.com", "nobody"] {
            assert!(!plausible_email(bad), "{bad}");
        }
    }

    #[test]
    fn forms_refuse_repeated_parameters() {
        assert!(parse_form(b"a=1&b=2").is_ok());
        assert_eq!(parse_form(b"a=1&a=2").unwrap_err().status, 400);
    }
}
