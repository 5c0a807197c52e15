//! `grant_type=authorization_code` (RFC 6749 §4.1.3 with PKCE, RFC 7636 §4.6): a one-time code,
//! its redirect URI and the PKCE verifier become an access token, a refresh token when the
//! client may refresh, and an OpenID Connect ID token when `openid` was asked for.

use super::answers;
use super::grant::{grant_answer, token_response};
use super::records::CodeRecord;
use super::settings::Client;
use super::{pkce, ServiceError, TokenService};
use portcullis_core::answer::Answer;
use portcullis_core::principal::now_unix;
use portcullis_core::problem::TokenProblem;
use serde_json::json;
use std::collections::HashMap;

pub async fn exchange(
    service: &TokenService,
    client: &Client,
    form: &HashMap<String, String>,
) -> Result<Answer, Answer> {
    let required = |name: &'static str, message: &'static str| {
        form.get(name)
            .map(String::as_str)
            .ok_or_else(|| answers::oauth_error("invalid_request", message))
    };
    let code = required("code", "code is required")?;
    let redirect_uri = required("redirect_uri", "redirect_uri is required")?;
    let verifier = form.get("code_verifier").map(String::as_str);
    // The binding is checked before the code is spent: a wrong verifier leaves it unused. A
    // code asked for with a challenge needs its verifier; one asked for without (a client let
    // off PKCE) takes none — a verifier there is a downgrade attempt (RFC 9700 §2.1.1).
    let bound = |record: &CodeRecord| {
        let pkce_holds = match (&record.code_challenge, verifier) {
            (Some(challenge), Some(verifier)) => pkce::verifier_matches(verifier, challenge),
            (None, None) => true,
            _ => false,
        };
        record.redirect_uri == redirect_uri && pkce_holds
    };
    let record = service
        .redeem_code(code, &client.id, bound)
        .await
        .map_err(|e| match e {
            ServiceError::Store(e) => e.into(),
            ServiceError::Invalid(TokenProblem::Revoked) => answers::oauth_error(
                "invalid_grant",
                "the code was used before; what it gave is revoked",
            ),
            ServiceError::Invalid(TokenProblem::Expired) => {
                answers::oauth_error("invalid_grant", "the code has expired")
            }
            ServiceError::Invalid(_)
            | ServiceError::AlreadyIdentified
            | ServiceError::Limited(_) => answers::oauth_error(
                "invalid_grant",
                "the code, redirect_uri or code_verifier does not match",
            ),
        })?;
    // Every code gets a grant, so that a replayed code or a sign-out can revoke its tokens;
    // the refresh token is handed out only to clients that may refresh.
    let (grant_id, refresh) = service
        .start_grant(&client.id, &record.sub, record.level, &record.scopes)
        .await?;
    service.note_code_grant(code, &record, &grant_id).await?;
    let refresh = client.refresh_token.then_some(refresh);
    let mut body = grant_answer(
        service,
        &client.id,
        &record.sub,
        record.level,
        record.scopes.clone(),
        Some((grant_id, refresh)),
    )
    .await?;
    if record.scopes.iter().any(|s| s == "openid") {
        body["id_token"] = json!(id_token(service, &record));
    }
    Ok(token_response(body))
}

/// An OpenID Connect ID token (Core §2) for the user a code was issued to; `typ` `JWT`, so no
/// access-token verifier takes it for an access token.
fn id_token(service: &TokenService, record: &CodeRecord) -> String {
    let now = now_unix();
    let mut claims = json!({
        "iss": service.settings.issuer,
        "sub": record.sub,
        "aud": record.client_id,
        "azp": record.client_id,
        "iat": now,
        "exp": now + service.settings.access_ttl,
        "auth_time": record.auth_time,
    });
    if let Some(nonce) = &record.nonce {
        claims["nonce"] = json!(nonce);
    }
    if let (Some(email), true) = (&record.email, record.scopes.iter().any(|s| s == "email")) {
        claims["email"] = json!(email);
    }
    service.keys.current().current.mint_typed(&claims, "JWT")
}
