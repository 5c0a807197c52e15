//! Issuing an access token for a grant, and the token endpoint's answer (RFC 6749 §5.1).

use super::answers;
use super::records::TokenRecord;
use super::TokenService;
use portcullis_core::answer::Answer;
use portcullis_core::principal::{now_unix, Level};
use serde_json::{json, Value};

/// Issues an access token. With a grant, the token is noted on it (so revoking the grant
/// reaches it) and the grant's refresh token, when given, is in the answer.
pub async fn grant_answer(
    service: &TokenService,
    client_id: &str,
    sub: &str,
    level: Level,
    scopes: Vec<String>,
    grant: Option<(String, Option<String>)>,
) -> Result<Value, Answer> {
    let now = now_unix();
    let record = TokenRecord {
        sub: sub.to_string(),
        level,
        scopes,
        tenant: None,
        client_id: Some(client_id.to_string()),
        device: None,
        claimed_profile: None,
        grant: grant.as_ref().map(|(id, _)| id.clone()),
        api: None,
        issued_at: now,
        expires_at: now + service.settings.access_ttl,
        revoked: false,
    };
    let issued = service.issue(record).await?;
    let mut body = json!({
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": issued.record.scopes.join(" "),
    });
    if let Some((grant_id, refresh)) = grant {
        service.attach_access(&grant_id, &issued.key).await?;
        if let Some(refresh) = refresh {
            body["refresh_token"] = json!(refresh);
        }
    }
    Ok(body)
}

/// A token endpoint answer (RFC 6749 §5.1: never cached).
pub fn token_response(body: Value) -> Answer {
    answers::ok(body).with_header("pragma", "no-cache")
}
