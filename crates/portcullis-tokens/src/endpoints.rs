//! The token service's HTTP endpoints, as a plain async function from a request to an answer
//! (no pingora types: unit-testable, and the proxy only reads the body and writes the answer).
//!
//! Errors follow RFC 6749 §5.2 (`{"error":…,"error_description":…}`) with fixed descriptions;
//! nothing a client sent is echoed back.

use super::answers;
use super::device_grant;
use super::email::EmailError;
use super::grant::{grant_answer, token_response};
use super::paths::Endpoint;
use super::records::TokenRecord;
pub use super::request::ServiceRequest;
use super::request::{drop_repeated_scopes, parse_form, requested_scopes};
use super::settings::{Client, Tenant, TokenApi};
use super::{ServiceError, TokenService};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::{HeaderMap, Method};
use portcullis_core::answer::Answer;
use portcullis_core::credential::{self, Carrier, RequestView};
use portcullis_core::digest::digest_matches;
use portcullis_core::principal::now_unix;
use portcullis_core::problem::TokenProblem;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Largest request body the endpoints read.
pub const MAX_BODY: usize = 16 * 1024;

/// An endpoint's answer; `Err` is a refusal, so that `?` can end a handler early.
type Handled = Result<Answer, Answer>;

impl From<super::store::StoreError> for Answer {
    fn from(e: super::store::StoreError) -> Self {
        tracing::error!(error = %e, "token store");
        answers::oauth_error("temporarily_unavailable", "the token store is unavailable")
    }
}

impl From<ServiceError> for Answer {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Store(e) => e.into(),
            ServiceError::Limited(wait) => answers::json(
                429,
                json!({
                    "error": "slow_down",
                    "error_description": "too many device tokens from this address",
                }),
            )
            .with_header("retry-after", wait.as_secs().max(1).to_string()),
            ServiceError::AlreadyIdentified => answers::oauth_error(
                "invalid_grant",
                "the token already stands for an identity; a new device token may claim another",
            ),
            ServiceError::Invalid(TokenProblem::Revoked) => {
                answers::oauth_error("invalid_grant", "the token was revoked")
            }
            ServiceError::Invalid(TokenProblem::Expired) => {
                answers::oauth_error("invalid_grant", "the token has expired")
            }
            ServiceError::Invalid(TokenProblem::WrongType) => {
                answers::oauth_error("invalid_grant", "the token is not a device token")
            }
            ServiceError::Invalid(_) => {
                answers::oauth_error("invalid_grant", "the token is not active")
            }
        }
    }
}

/// Whether `path` is one of the token service's endpoints.
pub fn is_service_path(service: &TokenService, path: &str) -> bool {
    service.settings.paths.endpoint(path).is_some()
}

/// Answers one request to the token service.
pub async fn handle(service: &TokenService, request: &ServiceRequest<'_>) -> Answer {
    let Some(endpoint) = service.settings.paths.endpoint(request.path) else {
        return answers::oauth_error("not_found", "no such token service endpoint");
    };
    let method_ok = match endpoint {
        Endpoint::Jwks | Endpoint::Discovery => {
            request.method == Method::GET || request.method == Method::HEAD
        }
        e if e.is_browser() => request.method == Method::GET || request.method == Method::POST,
        Endpoint::UserInfo => request.method == Method::GET || request.method == Method::POST,
        _ => request.method == Method::POST,
    };
    if !method_ok {
        return answers::oauth_error("method_not_allowed", "use another method")
            .with_header("allow", endpoint.allow());
    }
    let answer = match endpoint {
        Endpoint::Authorize => return super::browser::authorize(service, request).await,
        Endpoint::Login => return super::browser::login(service, request).await,
        Endpoint::Logout => return super::browser::logout(service, request).await,
        Endpoint::Callback => return super::browser::callback(service, request).await,
        Endpoint::Jwks => Ok(answers::ok(service.keys.jwks())),
        Endpoint::Discovery => Ok(discovery(service)),
        Endpoint::DeviceToken => device_token(service, request).await,
        Endpoint::Identify => identify(service, request).await,
        Endpoint::Verify => verify(service, request).await,
        Endpoint::Create(api) => create(service, api, request).await,
        Endpoint::Update(api) => update(service, api, request).await,
        Endpoint::Token => oauth_token(service, request).await,
        Endpoint::Revoke => revoke(service, request).await,
        Endpoint::Introspect => introspect(service, request).await,
        Endpoint::UserInfo => userinfo(service, request).await,
        Endpoint::DeviceAuthorization => device_authorization(service, request).await,
        Endpoint::EmailCode => email_code(service, request).await,
        Endpoint::EmailConfirm => email_confirm(service, request).await,
        Endpoint::Device => return super::browser::device(service, request).await,
    };
    answer.unwrap_or_else(|refusal| refusal)
}

fn discovery(service: &TokenService) -> Answer {
    let s = &service.settings;
    let base = s.issuer.trim_end_matches('/');
    let mut document = json!({
        "issuer": s.issuer,
        "grant_types_supported": ["client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "id_token_signing_alg_values_supported": [format!("{:?}", s.algorithm)],
        "response_types_supported": [],
        "subject_types_supported": ["public"],
    });
    // Each endpoint that is mounted, where it is.
    let mut listed = vec![
        ("jwks_uri", Endpoint::Jwks),
        ("token_endpoint", Endpoint::Token),
        ("revocation_endpoint", Endpoint::Revoke),
        ("introspection_endpoint", Endpoint::Introspect),
    ];
    if s.sign_in.is_some() {
        listed.extend([
            ("authorization_endpoint", Endpoint::Authorize),
            ("end_session_endpoint", Endpoint::Logout),
            ("userinfo_endpoint", Endpoint::UserInfo),
            (
                "device_authorization_endpoint",
                Endpoint::DeviceAuthorization,
            ),
        ]);
    }
    for (name, endpoint) in listed {
        if let Some(path) = s.paths.path(endpoint) {
            document[name] = json!(format!("{base}{path}"));
        }
    }
    if s.sign_in.is_some() {
        document["grant_types_supported"] =
            json!(["authorization_code", "client_credentials", "refresh_token"]);
        document["response_types_supported"] = json!(["code"]);
        document["response_modes_supported"] = json!(["query"]);
        document["code_challenge_methods_supported"] = json!(["S256"]);
        document["authorization_response_iss_parameter_supported"] = json!(true);
        document["token_endpoint_auth_methods_supported"] =
            json!(["client_secret_basic", "client_secret_post", "none"]);
        document["claims_supported"] = json!([
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "email"
        ]);
    }
    answers::ok(document)
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
        credential::ACCESS_TOKEN,
        service.settings.device_ttl,
        if tls { "; Secure" } else { "" }
    )
}

async fn device_token(service: &TokenService, request: &ServiceRequest<'_>) -> Handled {
    if !request.body.is_empty() {
        return Err(answers::oauth_error(
            "invalid_request",
            "this endpoint takes no body",
        ));
    }
    let tenant = match &service.settings.tenant_host {
        None => None,
        Some(pattern) => match request.host.map(|host| pattern.matches(host)) {
            Some(portcullis_core::route::HostMatch::Tenant(tenant)) => Some(tenant.to_string()),
            _ => {
                return Err(answers::oauth_error(
                    "invalid_request",
                    "device tokens are asked for on a tenant's host",
                ))
            }
        },
    };
    let issued = service.issue_device_token(request.client, tenant).await?;
    let cookie = device_cookie(service, &issued.token, request.tls);
    Ok(answers::ok(token_answer(
        &issued.token,
        issued.expires_in,
        &issued.record,
    ))
    .with_header("set-cookie", cookie))
}

/// The device token a request presents as `Authorization: Bearer` or in the `access_token`
/// cookie — found by the same extractor as on routes (exactly one credential).
fn presented_token(request: &ServiceRequest<'_>) -> Result<String, Answer> {
    let view = RequestView {
        headers: request.headers,
        query: None,
    };
    match credential::extract(&view, &[Carrier::Bearer, Carrier::Cookie], request.limits) {
        Ok(Some(found)) => Ok(found.secret.expose().to_string()),
        Ok(None) => Err(
            answers::oauth_error("invalid_request", "a device token is required")
                .with_header("www-authenticate", "Bearer realm=\"portcullis\""),
        ),
        Err(e) => Err(answers::oauth_error("invalid_request", e.description())),
    }
}

fn parse_json<T: for<'d> Deserialize<'d>>(body: &[u8]) -> Result<T, Answer> {
    serde_json::from_slice(body)
        .map_err(|_| answers::oauth_error("invalid_request", "the body is not the expected JSON"))
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

async fn identify(service: &TokenService, request: &ServiceRequest<'_>) -> Handled {
    let token = presented_token(request)?;
    let body: IdentifyBody = parse_json(request.body)?;
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
            return Err(answers::oauth_error(
                "invalid_request",
                "send one of email or partner_user_id, well formed",
            ))
        }
    };
    let found = service.identify(&token, &identity_key).await?;
    let expires_in = found.record.expires_at.saturating_sub(now_unix());
    Ok(answers::ok(token_answer(&token, expires_in, &found.record)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailBody {
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeBody {
    code: String,
}

/// Sends a verification code to the e-mail address the presented device token claimed.
async fn email_code(service: &TokenService, request: &ServiceRequest<'_>) -> Handled {
    let token = presented_token(request)?;
    let body: EmailBody = parse_json(request.body)?;
    let ttl = service
        .send_email_code(&token, &body.email)
        .await
        .map_err(email_refusal)?;
    Ok(answers::json(
        202,
        json!({ "sent": true, "expires_in": ttl }),
    ))
}

/// Takes the code: the presented token becomes verified.
async fn email_confirm(service: &TokenService, request: &ServiceRequest<'_>) -> Handled {
    let token = presented_token(request)?;
    let body: CodeBody = parse_json(request.body)?;
    let found = service
        .confirm_email_code(&token, &body.code)
        .await
        .map_err(email_refusal)?;
    Ok(answers::ok(
        json!({ "active": true, "level": found.record.level }),
    ))
}

fn email_refusal(e: EmailError) -> Answer {
    match e {
        EmailError::Service(e) => e.into(),
        EmailError::NotClaimed => answers::oauth_error(
            "invalid_grant",
            "the token is not an identified device token that claimed this address",
        ),
        EmailError::TooSoon(wait) => answers::json(
            429,
            json!({ "error": "slow_down", "error_description": "a code was sent a moment ago" }),
        )
        .with_header("retry-after", wait.max(1).to_string()),
        EmailError::Relay => answers::json(
            503,
            json!({ "error": "temporarily_unavailable", "error_description": "the code could not be sent" }),
        ),
        EmailError::WrongCode => answers::oauth_error(
            "invalid_grant",
            "the code is wrong, expired, used or tried too often; ask for a new one",
        ),
    }
}

/// The client named by HTTP Basic (RFC 6749 §2.3.1) or, when `form` is given, by
/// `client_id`/`client_secret` in it — one method only. A public client names itself by
/// `client_id` alone (it has no secret; PKCE stands in for one).
fn authenticate_client<'s>(
    service: &'s TokenService,
    headers: &HeaderMap,
    form: Option<&HashMap<String, String>>,
) -> Result<&'s Client, Answer> {
    let invalid = || answers::oauth_error("invalid_client", "client authentication failed");
    let mut authorizations = headers.get_all(http::header::AUTHORIZATION).iter();
    let authorization = authorizations.next();
    if authorizations.next().is_some() {
        // Two answers to "who is calling": neither is believed.
        return Err(invalid());
    }
    let basic = authorization.and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, encoded) = v.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("basic")
            .then_some(encoded.trim())
    });
    if basic.is_none() {
        if let Some(form) = form.filter(|f| !f.contains_key("client_secret")) {
            let client = form
                .get("client_id")
                .and_then(|id| service.settings.clients.get(id))
                .filter(|c| c.secret_sha256.is_none())
                .ok_or_else(invalid)?;
            return Ok(client);
        }
    }
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
    match &client.secret_sha256 {
        Some(expected) if digest_matches(&secret, expected) => Ok(client),
        _ => Err(invalid()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: String,
}

async fn verify(service: &TokenService, request: &ServiceRequest<'_>) -> Handled {
    let client = authenticate_client(service, request.headers, None)?;
    if !client.may_verify {
        return Err(answers::oauth_error(
            "unauthorized_client",
            "the client may not verify tokens",
        ));
    }
    let body: TokenBody = parse_json(request.body)?;
    let found = service.elevate(&body.token).await?;
    Ok(answers::ok(
        json!({ "active": true, "level": found.record.level }),
    ))
}

/// The tenant named by `tenant_hash`, with its `oauth_key_secret` checked when it has one.
fn authenticate_tenant<'s>(
    service: &'s TokenService,
    headers: &HeaderMap,
) -> Result<(&'s str, &'s Tenant), Answer> {
    // Each header once, in any `-`/`_` spelling: a second value is refused, not ignored.
    let header = |name: &'static str| match credential::single_header_value(headers, name) {
        Ok(value) => Ok(value.and_then(|v| v.to_str().ok())),
        Err(_) => Err(answers::oauth_error(
            "invalid_request",
            "a tenant header is repeated",
        )),
    };
    let invalid =
        || answers::oauth_error("invalid_client", "unknown tenant or wrong oauth_key_secret");
    let hash = header("tenant_hash")?.ok_or_else(|| {
        answers::oauth_error("invalid_request", "the tenant_hash header is required")
    })?;
    let (name, tenant) = service
        .settings
        .tenants
        .get_key_value(hash)
        .ok_or_else(invalid)?;
    if let Some(expected) = &tenant.secret_sha256 {
        let secret = header("oauth_key_secret")?.ok_or_else(invalid)?;
        if !digest_matches(secret, expected) {
            return Err(invalid());
        }
    }
    Ok((name.as_str(), tenant))
}

/// A `create`/`update` body as Algonomy's token API documents it. Fields are read loosely
/// (as JSON values) so that each wrong one gets its own clear refusal.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenApiBody {
    resource: Option<Value>,
    validity: Option<Value>,
    token: Option<String>,
}

/// `resource`: a non-empty array of names, each within the API's and the tenant's grant.
fn requested_resources(
    api: &TokenApi,
    tenant: &Tenant,
    resource: Option<Value>,
) -> Result<Vec<String>, Answer> {
    let invalid = || {
        answers::oauth_error(
            "invalid_request",
            "resource is required: a non-empty array of resource names",
        )
    };
    let names: Vec<String> = match resource {
        Some(Value::Array(items)) if !items.is_empty() => items
            .into_iter()
            .map(|item| match item {
                Value::String(name) if !name.is_empty() => Ok(name),
                _ => Err(invalid()),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(invalid()),
    };
    let grantable = |r: &String| {
        tenant.resources.contains(r) && (api.resources.is_empty() || api.resources.contains(r))
    };
    if !names.iter().all(grantable) {
        return Err(answers::oauth_error(
            "invalid_scope",
            "a resource is beyond what this API grants the tenant",
        ));
    }
    let mut names = names;
    drop_repeated_scopes(&mut names);
    Ok(names)
}

/// `validity`: whole minutes from 1 to the API's limit; the API's default when absent. Out
/// of range is refused, never clamped.
fn requested_validity(api: &TokenApi, validity: Option<Value>) -> Result<u64, Answer> {
    let Some(value) = validity else {
        return Ok(api.default_validity_minutes);
    };
    match value.as_u64() {
        Some(minutes) if (1..=api.max_validity_minutes).contains(&minutes) => Ok(minutes),
        _ => Err(answers::json(
            400,
            json!({
                "error": "invalid_request",
                "error_description": format!(
                    "validity must be a whole number of minutes from 1 to {}",
                    api.max_validity_minutes
                ),
                "max_validity": api.max_validity_minutes,
            }),
        )),
    }
}

async fn create(service: &TokenService, api_index: usize, request: &ServiceRequest<'_>) -> Handled {
    let api = &service.settings.token_apis[api_index];
    let (tenant_name, tenant) = authenticate_tenant(service, request.headers)?;
    let body: TokenApiBody = parse_json(if request.body.is_empty() {
        b"{}"
    } else {
        request.body
    })?;
    if body.token.is_some() {
        return Err(answers::oauth_error(
            "invalid_request",
            "create takes no token (update changes one)",
        ));
    }
    let resources = requested_resources(api, tenant, body.resource)?;
    let minutes = requested_validity(api, body.validity)?;
    let now = now_unix();
    let record = TokenRecord {
        sub: format!("tenant:{tenant_name}"),
        level: tenant.level,
        scopes: resources,
        tenant: Some(tenant_name.to_string()),
        client_id: None,
        device: None,
        claimed_profile: None,
        grant: None,
        api: Some(api.name.clone()),
        issued_at: now,
        expires_at: now + minutes * 60,
        revoked: false,
    };
    let issued = service.issue(record).await?;
    Ok(answers::ok(json!({
        "token": issued.token,
        "expires_in": issued.expires_in,
    })))
}

/// Sets a live token's resources to the given set — wider or narrower — as Algonomy's
/// `…/update` documents it.
async fn update(service: &TokenService, api_index: usize, request: &ServiceRequest<'_>) -> Handled {
    let api = &service.settings.token_apis[api_index];
    let (tenant_name, tenant) = authenticate_tenant(service, request.headers)?;
    let body: TokenApiBody = parse_json(request.body)?;
    if body.validity.is_some() {
        return Err(answers::oauth_error(
            "invalid_request",
            "update takes resource and token only (a token's validity does not change)",
        ));
    }
    let Some(token) = body.token else {
        return Err(answers::oauth_error("invalid_request", "token is required"));
    };
    let resources = requested_resources(api, tenant, body.resource)?;
    let mut found = service.live(&token).await?;
    if found.record.tenant.as_deref() != Some(tenant_name) {
        return Err(answers::oauth_error(
            "invalid_grant",
            "the token is not the tenant's",
        ));
    }
    if found
        .record
        .api
        .as_deref()
        .is_some_and(|name| name != api.name)
    {
        return Err(answers::oauth_error(
            "invalid_grant",
            "the token was created by another token API",
        ));
    }
    found.record.scopes = resources;
    service.save(&found).await?;
    Ok(answers::ok(json!({
        "message": "Token updated successfully",
        "resource": found.record.scopes,
        "token": token,
    })))
}

/// Whether a request's body is JSON, by its type or by its look (`{`/`[` first): OAuth2
/// endpoints take forms, and a form parser would read JSON as one odd parameter name.
fn is_json(request: &ServiceRequest<'_>) -> bool {
    // Every value, should one be repeated; the same rule as `[routes.request]`'s.
    let typed = request
        .headers
        .get_all(http::header::CONTENT_TYPE)
        .iter()
        .any(|v| portcullis_engine::request::rules::is_json(v.as_bytes()));
    let looks = request
        .body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| matches!(b, b'{' | b'['));
    typed || looks
}

/// RFC 8628 §3.1: a device (a client with the `device_code` grant) asks for a device code and
/// a user code.
async fn device_authorization(service: &TokenService, request: &ServiceRequest<'_>) -> Handled {
    let (form, client) = client_form(service, request)?;
    if !client.device_code {
        return Err(answers::oauth_error(
            "unauthorized_client",
            "the client may not use the device grant",
        ));
    }
    let Some(scopes) = requested_scopes(&form, &client.scopes) else {
        return Err(answers::oauth_error(
            "invalid_scope",
            "a scope is beyond what the client may ask",
        ));
    };
    let page = service.settings.page_path(Endpoint::Device);
    let verification_uri = format!("{}{page}", service.settings.issuer.trim_end_matches('/'));
    device_grant::start(service, client, scopes, verification_uri).await
}

/// The form body of an OAuth2 endpoint and the client it authenticates.
fn client_form<'s>(
    service: &'s TokenService,
    request: &ServiceRequest<'_>,
) -> Result<(HashMap<String, String>, &'s Client), Answer> {
    if is_json(request) {
        return Err(answers::oauth_error(
            "invalid_request",
            "send the parameters as application/x-www-form-urlencoded (RFC 6749 §3.2), not JSON",
        ));
    }
    let form = parse_form(request.body)?;
    let client = authenticate_client(service, request.headers, Some(&form))?;
    Ok((form, client))
}

async fn oauth_token(service: &TokenService, request: &ServiceRequest<'_>) -> Handled {
    let (form, client) = client_form(service, request)?;
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") if client.client_credentials => {
            client_credentials(service, client, &form).await
        }
        Some("refresh_token") if client.refresh_token => refresh(service, client, &form).await,
        Some("authorization_code") if client.authorization_code => {
            super::code_grant::exchange(service, client, &form).await
        }
        Some(device_grant::GRANT_TYPE) if client.device_code => {
            device_grant::exchange(service, client, &form).await
        }
        Some(
            "client_credentials"
            | "refresh_token"
            | "authorization_code"
            | device_grant::GRANT_TYPE,
        ) => Err(answers::oauth_error(
            "unauthorized_client",
            "the client may not use this grant",
        )),
        Some(_) => Err(answers::oauth_error(
            "unsupported_grant_type",
            "this grant type is not supported",
        )),
        None => Err(answers::oauth_error(
            "invalid_request",
            "grant_type is required",
        )),
    }
}

async fn client_credentials(
    service: &TokenService,
    client: &Client,
    form: &HashMap<String, String>,
) -> Handled {
    let scopes = requested_scopes(form, &client.scopes).ok_or_else(|| {
        answers::oauth_error("invalid_scope", "a scope is beyond what the client may ask")
    })?;
    let grant = if client.issue_refresh_tokens && client.refresh_token {
        Some(
            service
                .start_grant(&client.id, &client.id, client.level, &scopes)
                .await?,
        )
    } else {
        None
    };
    let grant = grant.map(|(id, refresh)| (id, Some(refresh)));
    grant_answer(service, &client.id, &client.id, client.level, scopes, grant)
        .await
        .map(token_response)
}

async fn refresh(
    service: &TokenService,
    client: &Client,
    form: &HashMap<String, String>,
) -> Handled {
    let token = form
        .get("refresh_token")
        .ok_or_else(|| answers::oauth_error("invalid_request", "refresh_token is required"))?;
    let (record, next) = service.redeem_refresh(token, &client.id).await?;
    // RFC 6749 §6: a narrower scope may be asked for, never a wider one.
    let scopes = requested_scopes(form, &record.scopes).ok_or_else(|| {
        answers::oauth_error("invalid_scope", "a scope is beyond the original grant")
    })?;
    let grant = Some((record.grant.clone(), Some(next)));
    grant_answer(
        service,
        &client.id,
        &record.sub,
        record.level,
        scopes,
        grant,
    )
    .await
    .map(token_response)
}

/// The `token` parameter of a revocation or introspection request.
fn token_parameter(form: &HashMap<String, String>) -> Result<&str, Answer> {
    form.get("token")
        .map(String::as_str)
        .ok_or_else(|| answers::oauth_error("invalid_request", "token is required"))
}

async fn revoke(service: &TokenService, request: &ServiceRequest<'_>) -> Handled {
    if let Some(bearer) = bearer_of(request)? {
        return revoke_as_holder(service, request, &bearer).await;
    }
    let (form, client) = client_form(service, request)?;
    let token = token_parameter(&form)?;
    // RFC 7009 §2.1: a client revokes only tokens issued to it. Device and tenant tokens were
    // issued to no client, so no client may revoke them.
    service
        .revoke(token, |owner| owner == Some(client.id.as_str()))
        .await?;
    // RFC 7009 §2.2: 200 whether or not the token was valid.
    Ok(answers::ok(json!({})))
}

/// The token of an `Authorization: Bearer` header, if the request has one (the same extractor
/// as on routes: one credential, within the size limits).
fn bearer_of(request: &ServiceRequest<'_>) -> Result<Option<String>, Answer> {
    // Client authentication (`Basic`) is another matter, read by `authenticate_client`; any
    // token scheme, in any spelling, goes to the extractor (which refuses all but Bearer).
    let token_scheme = request
        .headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .any(|v| portcullis_core::credential::spelling::is_token_scheme(v.as_bytes()));
    if !token_scheme {
        return Ok(None);
    }
    let view = RequestView {
        headers: request.headers,
        query: None,
    };
    match credential::extract(&view, &[Carrier::Bearer], request.limits) {
        Ok(found) => Ok(found.map(|f| f.secret.expose().to_string())),
        Err(e) => Err(answers::oauth_error("invalid_request", e.description())),
    }
}

/// A user revoking their own tokens, as ItemExtend's `revoke_token` allows: the request is
/// authorized by a live access token of ours (`Authorization: Bearer`), and may revoke that
/// token or a refresh token of the same grant — nothing else (RFC 7009 §2.1 asks that a
/// token be revoked only by whom it was issued to; the holder of a grant's access token is
/// that user). As for clients, the answer is 200 whatever was revoked (§2.2).
async fn revoke_as_holder(
    service: &TokenService,
    request: &ServiceRequest<'_>,
    bearer: &str,
) -> Handled {
    if is_json(request) {
        return Err(answers::oauth_error(
            "invalid_request",
            "send the parameters as application/x-www-form-urlencoded (RFC 7009 §2.1), not JSON",
        ));
    }
    let form = parse_form(request.body)?;
    let token = token_parameter(&form)?;
    let holder = match service.live(bearer).await {
        Ok(holder) => holder,
        Err(ServiceError::Store(e)) => return Err(e.into()),
        Err(_) => {
            return Err(answers::json(
                401,
                json!({ "error": "invalid_token", "error_description": "the access token is not active" }),
            )
            .with_header(
                "www-authenticate",
                "Bearer realm=\"portcullis\", error=\"invalid_token\"",
            ))
        }
    };
    let grant = holder.record.grant.clone();
    if token == bearer {
        service.revoke_access(holder).await?;
    } else if let Some(refresh) = service.find_refresh(token).await? {
        if grant.as_deref() == Some(refresh.grant.as_str()) {
            service.revoke_grant(&refresh.grant).await?;
        }
    }
    Ok(answers::ok(json!({})))
}

/// OpenID Connect UserInfo (Core §5.3): who the bearer of an access token issued with the
/// `openid` scope is. The token comes as `Authorization: Bearer` only (RFC 6750 §2.1); a
/// missing or dead one is 401 with the RFC 6750 challenge, one without `openid` 403.
async fn userinfo(service: &TokenService, request: &ServiceRequest<'_>) -> Handled {
    let challenge = |error: &str, description: &str, status: u16| {
        answers::json(
            status,
            json!({ "error": error, "error_description": description }),
        )
        .with_header(
            "www-authenticate",
            format!("Bearer realm=\"portcullis\", error=\"{error}\""),
        )
    };
    let Some(token) = bearer_of(request)? else {
        return Err(answers::json(
            401,
            json!({ "error": "invalid_request", "error_description": "an access token is required" }),
        )
        .with_header("www-authenticate", "Bearer realm=\"portcullis\""));
    };
    let found = match service.live(&token).await {
        Ok(found) => found,
        Err(ServiceError::Store(e)) => return Err(e.into()),
        Err(_) => {
            return Err(challenge(
                "invalid_token",
                "the access token is not active",
                401,
            ))
        }
    };
    let record = &found.record;
    if !record.scopes.iter().any(|s| s == "openid") {
        return Err(challenge(
            "insufficient_scope",
            "the access token was not issued for openid",
            403,
        ));
    }
    let mut claims = json!({ "sub": record.sub });
    // Core §5.4: the `email` scope asks for the address; the users file has it.
    let email = record
        .scopes
        .iter()
        .any(|s| s == "email")
        .then(|| {
            service
                .sign_in
                .as_ref()?
                .users
                .as_ref()?
                .email_of(&record.sub)
        })
        .flatten();
    if let Some(email) = email {
        claims["email"] = json!(email);
    }
    if let Some(tenant) = &record.tenant {
        claims["tenant"] = json!(tenant);
    }
    Ok(answers::ok(claims))
}

async fn introspect(service: &TokenService, request: &ServiceRequest<'_>) -> Handled {
    let (form, client) = client_form(service, request)?;
    // RFC 7662 §2.1 asks for authorization against token scanning: a client that can prove
    // nothing but its name (a public client) may not ask about tokens.
    if client.secret_sha256.is_none() {
        return Err(answers::oauth_error(
            "invalid_client",
            "introspection needs a confidential client",
        ));
    }
    let token = token_parameter(&form)?;
    let inactive = Ok(answers::ok(json!({ "active": false })));
    let now = now_unix();
    if let Some(found) = service.find(token).await? {
        let r = &found.record;
        if r.revoked || r.expires_at <= now {
            return inactive;
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
        return Ok(answers::ok(body));
    }
    match service.find_refresh(token).await? {
        Some(r) if !r.used && r.expires_at > now => Ok(answers::ok(json!({
            "active": true,
            "token_type": "refresh_token",
            "iss": service.settings.issuer,
            "sub": r.sub,
            "client_id": r.client_id,
            "scope": r.scopes.join(" "),
            "exp": r.expires_at,
        }))),
        _ => inactive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_scopes_are_dropped_wherever_they_stand() {
        let mut scopes: Vec<String> = ["a", "b", "a", "c", "b", "a"].map(String::from).to_vec();
        drop_repeated_scopes(&mut scopes);
        assert_eq!(scopes, ["a", "b", "c"]);
        let mut none: Vec<String> = Vec::new();
        drop_repeated_scopes(&mut none);
        assert!(none.is_empty());
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
