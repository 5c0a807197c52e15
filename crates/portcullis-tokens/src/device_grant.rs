//! The device authorization grant (RFC 8628), for devices without a browser (or a keyboard):
//! the device asks for a device code and a short user code, the user enters the user code on
//! the verification page in a browser, signs in and consents, and meanwhile the device polls
//! the token endpoint — `authorization_pending`, `slow_down` when it polls faster than the
//! interval, `access_denied`, `expired_token`, then its tokens, once.

use super::answers;
use super::grant::{grant_answer, token_response};
use super::records::{DeviceCodeRecord, DeviceDecision};
use super::settings::Client;
use super::store::{Space, StoreError};
use super::{random_id, TokenService};
use portcullis_core::answer::Answer;
use portcullis_core::digest::digest_hex as digest;
use portcullis_core::principal::{now_unix, Level};
use rand::Rng;
use serde_json::json;
use std::collections::HashMap;

/// The grant type a device polls with (RFC 8628 §3.4).
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// User codes: 8 letters without vowels (no words) and without look-alikes, shown as
/// `XXXX-XXXX` (RFC 8628 §6.1: ~34 bits, guessing bounded by the code's life and the login).
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

/// How long a device code lives.
const DEVICE_CODE_TTL: u64 = 600;

fn device_key(device_code: &str) -> String {
    format!("device:{}", digest(device_code))
}

fn user_code_key(user_code: &str) -> String {
    format!("user_code:{user_code}")
}

/// A user code as typed: case, spaces and dashes do not matter.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == 8 && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b))).then_some(code)
}

fn shown(user_code: &str) -> String {
    format!("{}-{}", &user_code[..4], &user_code[4..])
}

fn new_user_code() -> String {
    let mut rng = rand::thread_rng();
    (0..8)
        .map(|_| USER_CODE_ALPHABET[rng.gen_range(0..USER_CODE_ALPHABET.len())] as char)
        .collect()
}

/// The device authorization endpoint (RFC 8628 §3.1–3.2), for an authenticated `client`.
pub async fn start(
    service: &TokenService,
    client: &Client,
    scopes: Vec<String>,
    verification_uri: String,
) -> Result<Answer, Answer> {
    let now = now_unix();
    let device_code = random_id(32);
    let user_code = new_user_code();
    let interval = service.settings.device_poll_interval.max(1);
    let record = DeviceCodeRecord {
        client_id: client.id.clone(),
        scopes,
        user_code: user_code.clone(),
        expires_at: now + DEVICE_CODE_TTL,
        interval,
        decision: DeviceDecision::Pending,
        used: false,
    };
    let records = service.records();
    records
        .put(
            Space::Codes,
            &device_key(&device_code),
            &record,
            record.expires_at,
        )
        .await?;
    records
        .put(
            Space::Codes,
            &user_code_key(&user_code),
            &device_key(&device_code),
            record.expires_at,
        )
        .await?;
    let complete =
        super::authorize::redirect_to(&verification_uri, &[("user_code", &shown(&user_code))]);
    Ok(answers::ok(json!({
        "device_code": device_code,
        "user_code": shown(&user_code),
        "verification_uri": verification_uri,
        "verification_uri_complete": complete,
        "expires_in": DEVICE_CODE_TTL,
        "interval": interval,
    })))
    .map(|answer| answer.with_header("cache-control", "no-store"))
}

/// The pending request a user code stands for: its store key and record.
pub async fn pending(
    service: &TokenService,
    user_code: &str,
) -> Result<Option<(String, DeviceCodeRecord)>, StoreError> {
    let records = service.records();
    let Some(key): Option<String> = records.get(Space::Codes, &user_code_key(user_code)).await?
    else {
        return Ok(None);
    };
    let record: Option<DeviceCodeRecord> = records.get(Space::Codes, &key).await?;
    Ok(record
        .filter(|r| r.decision == DeviceDecision::Pending && r.expires_at > now_unix())
        .map(|r| (key, r)))
}

/// The signed-in user's answer on the verification page. The user code is spent either way.
pub async fn decide(
    service: &TokenService,
    key: &str,
    user_code: &str,
    decision: DeviceDecision,
) -> Result<bool, StoreError> {
    let records = service.records();
    let decided = records
        .update(
            Space::Codes,
            key,
            |record: &mut DeviceCodeRecord| {
                if record.decision == DeviceDecision::Pending {
                    record.decision = decision.clone();
                }
            },
            |record| record.expires_at,
        )
        .await?;
    records
        .put(
            Space::Codes,
            &user_code_key(user_code),
            &String::new(),
            now_unix(),
        )
        .await?;
    Ok(decided.is_some_and(|r| r.decision == decision))
}

fn refuse(error: &'static str, description: &'static str) -> Answer {
    answers::oauth_error(error, description)
}

/// The token endpoint's `device_code` grant (RFC 8628 §3.4–3.5) for an authenticated `client`.
pub async fn exchange(
    service: &TokenService,
    client: &Client,
    form: &HashMap<String, String>,
) -> Result<Answer, Answer> {
    let device_code = form
        .get("device_code")
        .ok_or_else(|| refuse("invalid_request", "device_code is required"))?;
    let key = device_key(device_code);
    let records = service.records();
    let now = now_unix();
    let record: DeviceCodeRecord = records
        .get(Space::Codes, &key)
        .await?
        .filter(|r: &DeviceCodeRecord| r.client_id == client.id)
        .ok_or_else(|| refuse("invalid_grant", "the device code is not known"))?;
    if record.expires_at <= now {
        return Err(refuse("expired_token", "the device code has expired"));
    }
    // The poll's timing is kept apart from the request, which the verification page writes:
    // a poll never overwrites the user's answer.
    let poll_key = format!("{key}:poll");
    let last: DevicePoll = records
        .get(Space::Codes, &poll_key)
        .await?
        .unwrap_or(DevicePoll {
            at: 0,
            interval: record.interval,
        });
    let too_soon = last.at + last.interval > now;
    let poll = DevicePoll {
        at: now,
        interval: last.interval + if too_soon { 5 } else { 0 },
    };
    records
        .put(Space::Codes, &poll_key, &poll, record.expires_at)
        .await?;
    match &record.decision {
        DeviceDecision::Denied => Err(refuse("access_denied", "the user denied the request")),
        DeviceDecision::Pending if too_soon => Err(refuse(
            "slow_down",
            "polled before the interval; wait 5 seconds more from now on",
        )),
        DeviceDecision::Pending => Err(refuse(
            "authorization_pending",
            "the user has not answered yet",
        )),
        DeviceDecision::Approved { sub, level } => {
            // Spent atomically: of two polls, one gets the tokens.
            let mut spent = record.clone();
            spent.used = true;
            let before: Option<DeviceCodeRecord> = records
                .replace(Space::Codes, &key, &spent, record.expires_at)
                .await?;
            if before.is_none_or(|b| b.used) {
                return Err(refuse("invalid_grant", "the device code was used"));
            }
            issue(service, client, &record.scopes, sub, *level).await
        }
    }
}

/// When a device last polled, and the interval it must keep now.
#[derive(serde::Serialize, serde::Deserialize)]
struct DevicePoll {
    at: u64,
    interval: u64,
}

async fn issue(
    service: &TokenService,
    client: &Client,
    scopes: &[String],
    sub: &str,
    level: Level,
) -> Result<Answer, Answer> {
    let (grant_id, refresh) = service.start_grant(&client.id, sub, level, scopes).await?;
    let refresh = client.refresh_token.then_some(refresh);
    let body = grant_answer(
        service,
        &client.id,
        sub,
        level,
        scopes.to_vec(),
        Some((grant_id, refresh)),
    )
    .await?;
    Ok(token_response(body))
}
