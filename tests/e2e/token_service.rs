//! The built-in token service end to end: every endpoint through the real gateway, restarts on
//! the same files, two instances on one real Redis, and the `token` CLI.

use crate::support::*;
use serde_json::{json, Value};
use std::time::Duration;

const CLIENT: (&str, &str) = ("app", "app-secret-0123456789");
const VERIFIER: (&str, &str) = ("backoffice", "backoffice-secret-98765");
const TENANT_SECRET: &str = "tenant-secret-42";

/// A gateway config with the token service on `store` (TOML inline table) plus `extra`.
fn service_config(store: &str, extra: &str) -> String {
    config_with(&format!(
        r#"
[[routes]]
name = "visit"
path_prefix = "/visit"
upstream = "echo"
[routes.auth]
carriers = ["bearer", "cookie"]
issue_device_token = true
level = "anonymous"
[routes.auth.methods.POST]
level = "identified"

[[routes]]
name = "api"
path_prefix = "/api"
upstream = "echo"
[routes.auth]
issuers = ["portcullis"]
level = "identified"
scopes = ["basic"]

[[routes]]
name = "admin"
path_prefix = "/admin"
upstream = "echo"
[routes.auth]
level = "verified"
scopes = ["admin"]

[token_service]
issuer = "https://gateway.test"
store = {store}
{extra}

[token_service.clients.{client}]
secret_sha256 = "{client_hash}"
scopes = ["admin", "basic"]
grants = ["client_credentials", "refresh_token"]
issue_refresh_tokens = true

[token_service.clients.{verifier}]
secret_sha256 = "{verifier_hash}"
may_verify = true

[token_service.tenants.t-1]
oauth_key_secret_sha256 = "{tenant_hash}"
resources = ["basic", "segments"]
level = "identified"

[token_service.tenants.t-2]
resources = ["basic"]
"#,
        client = CLIENT.0,
        client_hash = sha256_hex(CLIENT.1),
        verifier = VERIFIER.0,
        verifier_hash = sha256_hex(VERIFIER.1),
        tenant_hash = sha256_hex(TENANT_SECRET),
    ))
}

fn redb_config(dir: &std::path::Path, extra: &str) -> String {
    service_config(
        &format!(
            r#"{{ kind = "redb", path = "{}/state/tokens.redb" }}"#,
            dir.display()
        ),
        extra,
    )
}

/// Status and (for 200) the identity headers the upstream saw, for a GET with a bearer token.
async fn call(gw: &GatewayProcess, path: &str, token: &str) -> (u16, Value) {
    let response = http()
        .get(gw.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let www = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status != 200 {
        return (status, json!({ "www-authenticate": www, "body": body }));
    }
    let mut seen = serde_json::Map::new();
    for pair in body["headers"].as_array().unwrap() {
        let name = pair[0].as_str().unwrap();
        if name.starts_with("x-auth-") || name == "authorization" {
            seen.insert(name.to_string(), pair[1].clone());
        }
    }
    (status, Value::Object(seen))
}

/// A request to the OAuth2 token endpoint.
async fn oauth_token(
    gw: &GatewayProcess,
    client: (&str, &str),
    form: &[(&str, &str)],
) -> (u16, Value) {
    post_form(gw, "/auth/oauth/token", client, form).await
}

async fn client_token(gw: &GatewayProcess, scope: &str) -> Value {
    let (status, body) = post_form(
        gw,
        "/auth/oauth/token",
        CLIENT,
        &[("grant_type", "client_credentials"), ("scope", scope)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn device_tokens_are_cookies_then_identified_then_verified() {
    let state = tempfile::tempdir().unwrap();
    let gw = GatewayProcess::start(&redb_config(state.path(), "")).await;

    // POST /auth/token: a device token, in the body and as a cookie.
    let response = http().post(gw.url("/auth/token")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = response.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(body["level"], "anonymous");
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        cookie.starts_with(&format!("access_token={token};")),
        "{cookie}"
    );
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert!(token.len() > 100);

    // A device-token route gives a first-time visitor a token and lets it through.
    let response = http().get(gw.url("/visit/home")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let visit_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        visit_cookie.starts_with("access_token=ey"),
        "{visit_cookie}"
    );
    let echoed: Value = response.json().await.unwrap();
    let headers = echoed["headers"].to_string();
    assert!(
        headers.contains(r#"["x-auth-level","anonymous"]"#),
        "{headers}"
    );
    assert!(headers.contains(r#"["x-auth-subject","dev_"#), "{headers}");

    // Anonymous may not POST there; identified may.
    let post = |token: String| {
        let gw = gw.url("/visit/activity");
        async move {
            http()
                .post(gw)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(post(token.clone()).await, 401);
    let (status, body) = post_json(
        &gw,
        "/auth/token/identify",
        &[("authorization", &format!("Bearer {token}"))],
        json!({"email": "not an email"}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body) = post_json(
        &gw,
        "/auth/token/identify",
        &[],
        json!({"email": "ann@example.com"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post_json(
        &gw,
        "/auth/token/identify",
        &[("authorization", &format!("Bearer {token}"))],
        json!({"email": "Ann@Example.com"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["level"], "identified");
    assert_eq!(
        body["access_token"],
        token.as_str(),
        "the same token, now identified"
    );
    assert_eq!(post(token.clone()).await, 200);
    // A claim is not proof: the subject stays the device's, the profile is a claimed subject.
    let (_, seen) = call(&gw, "/visit/x", &token).await;
    let device = seen["x-auth-subject"].as_str().unwrap().to_string();
    assert!(device.starts_with("dev_"), "{seen}");
    let user = seen["x-auth-claimed-subject"].as_str().unwrap().to_string();
    assert!(user.starts_with("usr_"), "{seen}");
    let identify = |token: String, claim: Value| {
        let gw = &gw;
        async move {
            post_json(
                gw,
                "/auth/token/identify",
                &[("authorization", &format!("Bearer {token}"))],
                claim,
            )
            .await
        }
    };
    // The same claim again is answered as before; another one is refused.
    let (status, _) = identify(token.clone(), json!({"email": "ann@example.com"})).await;
    assert_eq!(status, 200);
    let (status, body) = identify(token.clone(), json!({"email": "bob@example.com"})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    assert_eq!(call(&gw, "/visit/x", &token).await.1, seen, "unchanged");

    // A second device claiming the same email claims the same profile, and stays itself:
    // two strangers never become one principal.
    let other = &new_device_token(&gw).await;
    let (status, _) = post_json(
        &gw,
        "/auth/token/identify",
        &[("cookie", &format!("access_token={other}"))],
        json!({"email": "ann@example.com"}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, other_seen) = call(&gw, "/visit/x", other).await;
    assert_eq!(other_seen["x-auth-claimed-subject"], user.as_str());
    let other_device = other_seen["x-auth-subject"].as_str().unwrap();
    assert!(other_device.starts_with("dev_") && other_device != device);

    // Or by partner id: another profile.
    let third = &new_device_token(&gw).await;
    let bearer = format!("Bearer {third}");
    let (status, _) = post_json(
        &gw,
        "/auth/token/identify",
        &[("authorization", &bearer)],
        json!({"partner_user_id": "p-77"}),
    )
    .await;
    assert_eq!(status, 200);
    let partner = call(&gw, "/visit/x", third).await.1["x-auth-claimed-subject"].clone();
    assert!(partner.as_str().unwrap().starts_with("usr_") && partner != user.as_str());
    let (status, _) = post_json(
        &gw,
        "/auth/token/identify",
        &[("authorization", &bearer)],
        json!({"email": "a@example.com", "partner_user_id": "p"}),
    )
    .await;
    assert_eq!(status, 400, "one of the two");

    // Verify: server to server, by a client allowed to.
    let verify = |client: (&'static str, &'static str), token: String| {
        let url = gw.url("/auth/token/verify");
        async move {
            let r = http()
                .post(url)
                .basic_auth(client.0, Some(client.1))
                .json(&json!({"token": token}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let www = r
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_string());
            (status, www, r.json::<Value>().await.unwrap())
        }
    };
    let (status, www, body) = verify((VERIFIER.0, "wrong"), token.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(www.unwrap().starts_with("Basic"));
    let (status, _, body) = verify(CLIENT, token.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let (status, _, body) = verify(VERIFIER, token.clone()).await;
    assert_eq!(
        (status, &body),
        (200, &json!({"active": true, "level": "verified"}))
    );
    // Verified, the token stands for the profile it claimed.
    let (_, verified) = call(&gw, "/visit/x", &token).await;
    assert_eq!(verified["x-auth-level"], "verified");
    assert_eq!(verified["x-auth-subject"], user.as_str());
    assert_eq!(verified.get("x-auth-claimed-subject"), None);
    assert_eq!(
        call(&gw, "/visit/x", other).await.1["x-auth-subject"],
        other_device,
        "the other claimant is still only itself"
    );

    // The attack: a verified token re-identified as someone else. Refused, and nothing moves.
    let (status, body) = identify(token.clone(), json!({"email": "victim@example.com"})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    assert_eq!(call(&gw, "/visit/x", &token).await.1, verified);
    // Nor can a token verified without a claim claim one afterwards.
    let fresh = new_device_token(&gw).await;
    assert_eq!(verify(VERIFIER, fresh.clone()).await.0, 200);
    let (status, _) = identify(fresh.clone(), json!({"email": "victim@example.com"})).await;
    assert_eq!(status, 400);
    let (_, fresh_seen) = call(&gw, "/visit/x", &fresh).await;
    assert!(fresh_seen["x-auth-subject"]
        .as_str()
        .unwrap()
        .starts_with("dev_"));
    assert_eq!(fresh_seen.get("x-auth-claimed-subject"), None);

    let (status, _, body) = verify(VERIFIER, "eyJhbGciOiJub25lIn0.e30.".into()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn device_tokens_are_rationed_per_client_address() {
    let state = tempfile::tempdir().unwrap();
    let extra = "max_device_tokens_per_address = 3\ndevice_token_window = \"1m\"";
    let gw = GatewayProcess::start(&redb_config(state.path(), extra)).await;
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let response = http().post(gw.url("/auth/token")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        tokens.push(body["access_token"].as_str().unwrap().to_string());
    }
    // A device-token route counts against the same share.
    let response = http().get(gw.url("/visit/home")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("set-cookie"));
    let response = http().post(gw.url("/auth/token")).send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "60");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "slow_down");
    let response = http().get(gw.url("/visit/home")).send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert!(!response.headers().contains_key("set-cookie"));
    // A visitor who already has a token is not affected.
    let (status, seen) = call(&gw, "/visit/home", &tokens[0]).await;
    assert_eq!(status, 200);
    assert_eq!(seen["x-auth-level"], "anonymous");
}

#[tokio::test]
async fn tenants_create_tokens_and_extend_them_within_their_resources() {
    let state = tempfile::tempdir().unwrap();
    let extra = "max_validity_minutes = 60\nalgorithm = \"EdDSA\"";
    let gw = GatewayProcess::start(&redb_config(state.path(), extra)).await;
    let tenant = [("tenant_hash", "t-1"), ("oauth_key_secret", TENANT_SECRET)];

    let (status, body) = post_json(
        &gw,
        "/auth/token/create",
        &[],
        json!({"resource": ["basic"]}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "tenant_hash is required"
    );
    let (status, body) = post_json(
        &gw,
        "/auth/token/create",
        &[("tenant_hash", "t-1")],
        json!({}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "oauth_key_secret is required for t-1"
    );
    let (status, _) = post_json(
        &gw,
        "/auth/token/create",
        &[("tenant_hash", "t-1"), ("oauth_key_secret", "guess")],
        json!({}),
    )
    .await;
    assert_eq!(status, 401);
    // Each tenant header once, whatever its spelling.
    for (second, value) in [
        ("tenant_hash", "t-2"),
        ("tenant-hash", "t-1"),
        ("oauth-key-secret", "x"),
    ] {
        let mut headers = tenant.to_vec();
        headers.push((second, value));
        let (status, body) = post_json(
            &gw,
            "/auth/token/create",
            &headers,
            json!({"resource": ["basic"]}),
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request")),
            "{second}"
        );
    }
    let (status, body) = post_json(
        &gw,
        "/auth/token/create",
        &tenant,
        json!({"resource": ["basic", "billing"]}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );

    // `resource` is required and not empty; `validity` is whole minutes within the limit,
    // refused (never clamped) beyond it.
    for body in [
        json!({}),
        json!({"resource": []}),
        json!({"resource": "basic"}),
        json!({"resource": [""]}),
        json!({"resource": [1]}),
    ] {
        let (status, answer) = post_json(&gw, "/auth/token/create", &tenant, body.clone()).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_request")),
            "{body}"
        );
        assert!(answer["error_description"]
            .as_str()
            .unwrap()
            .contains("resource"));
    }
    for validity in [json!(300), json!(0), json!(-5), json!(1.5), json!("10")] {
        let (status, answer) = post_json(
            &gw,
            "/auth/token/create",
            &tenant,
            json!({"resource": ["basic"], "validity": validity}),
        )
        .await;
        assert_eq!(status, 400, "{validity}: {answer}");
        assert_eq!(answer["max_validity"], 60, "{validity}: {answer}");
        assert!(answer["error_description"]
            .as_str()
            .unwrap()
            .contains("1 to 60"));
    }
    let (status, body) = post_json(
        &gw,
        "/auth/token/create",
        &tenant,
        json!({"resource": ["basic"], "validity": 60}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 3600);
    let token = body["token"].as_str().unwrap().to_string();
    let header = jwt_part(&token, 0);
    assert_eq!(header["alg"], "EdDSA");
    let (status, seen) = call(&gw, "/api/x", &token).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["x-auth-scopes"], "basic");
    assert_eq!(seen["x-auth-tenant"], "t-1");
    assert!(
        seen.get("authorization").is_none(),
        "the credential is not forwarded"
    );

    // Update sets the live token's resources to the given set: same token, new scopes, on the
    // next request.
    let (status, body) = post_json(
        &gw,
        "/auth/token/update",
        &tenant,
        json!({"token": token, "resource": ["billing"]}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let (status, body) = post_json(
        &gw,
        "/auth/token/update",
        &[("tenant_hash", "t-2")],
        json!({"token": token, "resource": ["basic"]}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "another tenant's token"
    );
    let (status, body) = post_json(
        &gw,
        "/auth/token/update",
        &tenant,
        json!({"token": token, "resource": ["basic", "segments"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"message": "Token updated successfully", "resource": ["basic", "segments"], "token": token})
    );
    assert_eq!(
        call(&gw, "/api/x", &token).await.1["x-auth-scopes"],
        "basic segments"
    );
    // Narrowing too: the set given is the set the token has.
    let (status, body) = post_json(
        &gw,
        "/auth/token/update",
        &tenant,
        json!({"token": token, "resource": ["segments"]}),
    )
    .await;
    assert_eq!(
        (status, &body["resource"]),
        (200, &json!(["segments"])),
        "{body}"
    );
    assert_eq!(
        call(&gw, "/api/x", &token).await.0,
        403,
        "/api needs the basic resource, which the token no longer has"
    );
    for bad in [
        json!({"token": token}),
        json!({"resource": ["basic"]}),
        json!({"token": token, "resource": []}),
    ] {
        let (status, answer) = post_json(&gw, "/auth/token/update", &tenant, bad.clone()).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_request")),
            "{bad}"
        );
    }

    // A tenant without a secret needs only its hash; its default validity is 15 minutes.
    let (status, body) = post_json(
        &gw,
        "/auth/token/create",
        &[("tenant_hash", "t-2")],
        json!({"resource": ["basic"]}),
    )
    .await;
    assert_eq!(
        (status, body["expires_in"].as_u64()),
        (200, Some(900)),
        "{body}"
    );
}

#[tokio::test]
async fn oauth2_grants_rotate_refresh_tokens_and_revoke_on_reuse() {
    let state = tempfile::tempdir().unwrap();
    let gw = GatewayProcess::start(&redb_config(state.path(), "max_refresh_grants = 2")).await;

    let (status, body) = oauth_token(
        &gw,
        (CLIENT.0, "wrong"),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, body) = oauth_token(
        &gw,
        CLIENT,
        &[
            ("grant_type", "password"),
            ("username", "a"),
            ("password", "b"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (status, body) = oauth_token(
        &gw,
        CLIENT,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "admin root"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let response = http()
        .post(gw.url("/auth/oauth/token"))
        .basic_auth(CLIENT.0, Some(CLIENT.1))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");

    let first = client_token(&gw, "admin").await;
    assert_eq!(first["token_type"], "Bearer");
    assert_eq!(first["scope"], "admin");
    let access = first["access_token"].as_str().unwrap();
    let refresh = first["refresh_token"].as_str().unwrap();
    assert_eq!(call(&gw, "/admin/x", access).await.0, 200);

    // Rotation: the refresh token works once and hands out a successor.
    let (status, second) = oauth_token(
        &gw,
        CLIENT,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(status, 200, "{second}");
    let access2 = second["access_token"].as_str().unwrap();
    let refresh2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(refresh2, refresh);
    assert_eq!(call(&gw, "/admin/x", access2).await.0, 200);
    // A narrower scope may be asked for, a wider one not.
    let (status, _) = oauth_token(
        &gw,
        CLIENT,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh2),
            ("scope", "admin basic"),
        ],
    )
    .await;
    assert_eq!(status, 400);

    // Reusing the old refresh token means it leaked: the whole grant ends.
    let (status, body) = oauth_token(
        &gw,
        CLIENT,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, refused) = call(&gw, "/admin/x", access2).await;
    assert_eq!(status, 401, "{refused}");
    assert!(
        refused["www-authenticate"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{refused}"
    );
    assert_eq!(call(&gw, "/admin/x", access).await.0, 401);
    let (status, _) = oauth_token(
        &gw,
        CLIENT,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh2)],
    )
    .await;
    assert_eq!(status, 400, "the successor died with the grant");

    // At most two live grants per client-user: the third makes the oldest stop working.
    let grants: Vec<Value> = [
        client_token(&gw, "basic").await,
        client_token(&gw, "basic").await,
        client_token(&gw, "basic").await,
    ]
    .into();
    let refresh_of = |i: usize| grants[i]["refresh_token"].as_str().unwrap().to_string();
    let (status, _) = oauth_token(
        &gw,
        CLIENT,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_of(0)),
        ],
    )
    .await;
    assert_eq!(status, 400, "the oldest grant was dropped");
    for i in [1, 2] {
        let (status, body) = oauth_token(
            &gw,
            CLIENT,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_of(i)),
            ],
        )
        .await;
        assert_eq!(status, 200, "grant {i}: {body}");
    }
}

#[tokio::test]
async fn revocation_and_introspection_speak_rfc_7009_and_7662() {
    let state = tempfile::tempdir().unwrap();
    let gw = GatewayProcess::start(&redb_config(state.path(), "")).await;
    let token = client_token(&gw, "admin basic").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    // Twice: the second verification is a cache hit, which revocation must get through.
    assert_eq!(call(&gw, "/admin/x", &token).await.0, 200);
    assert_eq!(call(&gw, "/admin/x", &token).await.0, 200);

    let (status, body) =
        post_form(&gw, "/auth/oauth/introspect", CLIENT, &[("token", &token)]).await;
    assert_eq!(status, 200);
    assert_eq!(body["active"], true);
    assert_eq!(body["scope"], "admin basic");
    assert_eq!(body["client_id"], CLIENT.0);
    assert_eq!(body["iss"], "https://gateway.test");
    let (status, _) = post_form(
        &gw,
        "/auth/oauth/introspect",
        (CLIENT.0, "nope"),
        &[("token", &token)],
    )
    .await;
    assert_eq!(status, 401, "introspection is client-authenticated");
    let basic = |(id, secret): (&str, &str)| {
        use base64::Engine;
        let pair = format!("{id}:{secret}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    };
    let twice = http()
        .post(gw.url("/auth/oauth/introspect"))
        .header("authorization", basic(CLIENT))
        .header("authorization", basic(VERIFIER))
        .form(&[("token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        twice.status(),
        401,
        "two client credentials: neither believed"
    );
    let (_, body) = post_form(
        &gw,
        "/auth/oauth/introspect",
        CLIENT,
        &[("token", "not-a-token")],
    )
    .await;
    assert_eq!(body, json!({"active": false}));

    // Another client cannot revoke this client's token (RFC 7009 §2.1); answers 200 anyway.
    let (status, _) = post_form(&gw, "/auth/oauth/revoke", VERIFIER, &[("token", &token)]).await;
    assert_eq!(status, 200);
    assert_eq!(call(&gw, "/admin/x", &token).await.0, 200);
    let (status, _) = post_form(
        &gw,
        "/auth/oauth/revoke",
        CLIENT,
        &[("token", &token), ("token_type_hint", "access_token")],
    )
    .await;
    assert_eq!(status, 200);
    let (status, refused) = call(&gw, "/admin/x", &token).await;
    assert_eq!(status, 401);
    assert_eq!(
        refused["www-authenticate"],
        r#"Bearer realm="portcullis", error="invalid_token", error_description="revoked""#
    );
    let (_, body) = post_form(&gw, "/auth/oauth/introspect", CLIENT, &[("token", &token)]).await;
    assert_eq!(body, json!({"active": false}));
    let (status, _) = post_form(&gw, "/auth/oauth/revoke", CLIENT, &[("token", "unknown")]).await;
    assert_eq!(status, 200, "unknown tokens are not an error");

    // Revoking a refresh token ends its grant, access tokens included.
    let grant = client_token(&gw, "admin").await;
    let access = grant["access_token"].as_str().unwrap();
    assert_eq!(call(&gw, "/admin/x", access).await.0, 200);
    post_form(
        &gw,
        "/auth/oauth/revoke",
        CLIENT,
        &[("token", grant["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(call(&gw, "/admin/x", access).await.0, 401);

    // JWKS and discovery.
    let jwks = get_json(&gw, "/.well-known/jwks.json").await;
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["alg"].as_str(),
            key["use"].as_str()
        ),
        (Some("EC"), Some("ES256"), Some("sig"))
    );
    assert!(key.get("d").is_none(), "no private part");
    let discovery = get_json(&gw, "/.well-known/openid-configuration").await;
    assert_eq!(discovery["issuer"], "https://gateway.test");
    assert_eq!(
        discovery["token_endpoint"],
        "https://gateway.test/auth/oauth/token"
    );
    let status = http()
        .get(gw.url("/auth/oauth/token"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 405);
    let status = http()
        .post(gw.url("/auth/nothing"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_restart_loses_no_token_revocation_or_key_and_rotation_keeps_old_keys() {
    let state = tempfile::tempdir().unwrap();
    let config = redb_config(state.path(), r#"rotate_after = "2s""#);
    let mut gw = GatewayProcess::start(&config).await;
    let kept = client_token(&gw, "admin").await;
    let kept_access = kept["access_token"].as_str().unwrap().to_string();
    let revoked = client_token(&gw, "admin").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    post_form(&gw, "/auth/oauth/revoke", CLIENT, &[("token", &revoked)]).await;
    let tenant = [("tenant_hash", "t-1"), ("oauth_key_secret", TENANT_SECRET)];
    let (_, created) = post_json(
        &gw,
        "/auth/token/create",
        &tenant,
        json!({"resource": ["basic"]}),
    )
    .await;
    let created = created["token"].as_str().unwrap().to_string();
    post_json(
        &gw,
        "/auth/token/update",
        &tenant,
        json!({"token": created, "resource": ["basic", "segments"]}),
    )
    .await;
    let kid_before = http()
        .get(gw.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["keys"][0]["kid"]
        .clone();
    assert_eq!(gw.signal_and_wait("TERM", Duration::from_secs(10)), Some(0));

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let gw = GatewayProcess::start(&config).await;
    assert_eq!(
        call(&gw, "/admin/x", &kept_access).await.0,
        200,
        "issued before the restart"
    );
    assert_eq!(
        call(&gw, "/admin/x", &revoked).await.0,
        401,
        "revoked before the restart"
    );
    assert_eq!(
        call(&gw, "/api/x", &created).await.1["x-auth-scopes"],
        "basic segments"
    );
    let (status, body) = oauth_token(
        &gw,
        CLIENT,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", kept["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 200, "refresh tokens survive too: {body}");

    // The key was due for rotation: a new one signs, the old one is still published.
    let jwks = get_json(&gw, "/.well-known/jwks.json").await;
    let kids: Vec<&Value> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["kid"])
        .collect();
    assert_eq!(kids.len(), 2, "{jwks}");
    assert_eq!(kids[1], &kid_before);
    let fresh = body["access_token"].as_str().unwrap();
    let header = jwt_part(fresh, 0);
    assert_eq!(&header["kid"], kids[0]);
    let keys_file = state.path().join("state/tokens.keys.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(keys_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[tokio::test]
async fn opaque_tokens_work_the_same_way() {
    let state = tempfile::tempdir().unwrap();
    let gw = GatewayProcess::start(&redb_config(state.path(), r#"format = "opaque""#)).await;
    let token = client_token(&gw, "admin").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!token.contains('.') && token.len() >= 43, "{token}");
    let (status, seen) = call(&gw, "/admin/x", &token).await;
    assert_eq!(
        (status, seen["x-auth-subject"].as_str()),
        (200, Some(CLIENT.0))
    );
    post_form(&gw, "/auth/oauth/revoke", CLIENT, &[("token", &token)]).await;
    assert_eq!(call(&gw, "/admin/x", &token).await.0, 401);
    assert_eq!(
        call(&gw, "/admin/x", "an-unknown-opaque-token").await.0,
        401
    );
}

/// A real `redis-server` on a free port, killed on drop.
struct RedisServer {
    child: std::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    async fn start_on(port: u16, dir: tempfile::TempDir) -> RedisServer {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install redis-server)");
        eventually(Duration::from_secs(5), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        RedisServer { child, port, dir }
    }

    fn stop(mut self) -> (u16, tempfile::TempDir) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let port = self.port;
        let dir = tempfile::tempdir().unwrap();
        (port, std::mem::replace(&mut self.dir, dir))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn two_gateways_on_one_redis_share_tokens_and_revocations() {
    let redis = RedisServer::start_on(free_port(), tempfile::tempdir().unwrap()).await;
    let keys = tempfile::tempdir().unwrap();
    let config = service_config(
        &format!(
            r#"{{ kind = "redis", url = "redis://127.0.0.1:{}/0", timeout = "300ms" }}"#,
            redis.port
        ),
        &format!(r#"keys_file = "{}/keys.json""#, keys.path().display()),
    );
    let a = GatewayProcess::start(&config).await;
    let b = GatewayProcess::start(&config).await;

    let token = client_token(&a, "admin").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        call(&b, "/admin/x", &token).await.0,
        200,
        "issued by A, accepted by B"
    );
    let (status, _) = post_form(&b, "/auth/oauth/revoke", CLIENT, &[("token", &token)]).await;
    assert_eq!(status, 200);
    assert_eq!(
        call(&a, "/admin/x", &token).await.0,
        401,
        "revoked through B, refused by A"
    );

    // Store down: 503 for what needs it, never allow; back by itself when Redis returns.
    let live = client_token(&a, "admin").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (port, dir) = redis.stop();
    let (status, body) = call(&a, "/admin/x", &live).await;
    assert_eq!(status, 503, "{body}");
    let (status, body) = oauth_token(&a, CLIENT, &[("grant_type", "client_credentials")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable"))
    );
    let _redis = RedisServer::start_on(port, dir).await;
    let recovered = eventually(Duration::from_secs(5), || async {
        oauth_token(&a, CLIENT, &[("grant_type", "client_credentials")])
            .await
            .0
            == 200
    })
    .await;
    assert!(recovered, "the gateway reconnects to Redis by itself");
}

#[tokio::test]
async fn cli_minted_tokens_pass_the_bundled_routes_and_no_edit_of_one_does() {
    let state = tempfile::tempdir().unwrap();
    let config = bundled_config(state.path());
    let gw = GatewayProcess::start(&config).await;
    let path = gw.config_path();
    let (code, out) = run_cli(&[
        "token",
        "mint",
        "-c",
        path.to_str().unwrap(),
        "--sub",
        "alice",
        "--scope",
        "profile:read profile:write account:write",
        "--level",
        "verified",
        "--ttl",
        "10m",
    ]);
    assert_eq!(code, 0, "{out}");
    let token = out.trim().to_string();
    assert_eq!(token.lines().count(), 1, "only the token on stdout: {out}");

    async fn status(
        gw: &GatewayProcess,
        method: reqwest::Method,
        path: &str,
        token: String,
    ) -> u16 {
        let url = gw.url(path);
        http()
            .request(method, url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
    assert_eq!(
        status(&gw, reqwest::Method::GET, "/profile/me", token.clone()).await,
        200
    );
    assert_eq!(
        status(&gw, reqwest::Method::PUT, "/profile/me", token.clone()).await,
        200
    );
    assert_eq!(
        status(&gw, reqwest::Method::GET, "/account", token.clone()).await,
        200
    );
    assert_eq!(
        status(
            &gw,
            reqwest::Method::GET,
            "/odata/People?$select=id,name",
            token.clone()
        )
        .await,
        200
    );

    // Every one-character edit is refused (or, where it breaks the syntax, a bad request).
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let client = http();
    for i in 0..token.len() {
        let mut edited = token.clone().into_bytes();
        if edited[i] == b'.' {
            continue;
        }
        let pos = alphabet.iter().position(|&c| c == edited[i]).unwrap();
        edited[i] = alphabet[(pos + 17) % 64];
        let edited = String::from_utf8(edited).unwrap();
        let code = client
            .get(gw.url("/account"))
            .bearer_auth(&edited)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert!(code == 401 || code == 400, "edit at {i} gave {code}");
    }

    // Revocation by the CLI needs the database, which the running gateway holds.
    let (code, out) = run_cli(&["token", "revoke", "-c", path.to_str().unwrap(), &token]);
    assert_eq!(code, 1);
    assert!(out.contains("another process"), "{out}");
    let offline = state.path().join("offline.toml");
    std::fs::copy(&path, &offline).unwrap();
    drop(gw);
    let (code, out) = run_cli(&["token", "revoke", "-c", offline.to_str().unwrap(), &token]);
    assert_eq!(code, 0, "{out}");
    let gw = GatewayProcess::start(&config).await;
    assert_eq!(
        status(&gw, reqwest::Method::GET, "/account", token.clone()).await,
        401
    );
    assert!(!gw.log().contains(&token), "the token is never logged");
}
