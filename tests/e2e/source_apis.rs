//! The source APIs' documented client flows, step by step, through the real binary on each
//! one's example config (`config/examples/<api>.toml`), and the token-service placement that
//! makes those contracts possible: every endpoint at a configured path or switched off, and
//! only those paths taken from the routes.

use crate::support::*;
use serde_json::{json, Value};

/// A GET with `headers`: the status and, when the echo backend answered, what it saw.
async fn get_with(gw: &GatewayProcess, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = http().get(gw.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The header the echo backend saw, by lower-case name.
fn seen<'v>(echoed: &'v Value, name: &str) -> Option<&'v str> {
    echoed["headers"]
        .as_array()?
        .iter()
        .find(|pair| pair[0] == name)
        .and_then(|pair| pair[1].as_str())
}

const ALGONOMY_TENANT: &str = "abcd1234efgh5678ijkl9012mnop3456";
const ALGONOMY_SECRET: &str = "4faeaf752ee40a0f";
const ALGONOMY_OPEN_TENANT: &str = "00001111222233334444555566667777";

/// Algonomy's Creating/Updating Access Token API, as its documentation walks through it.
#[tokio::test]
async fn algonomy_token_api_flow() {
    let gw = GatewayProcess::start(&example_config("algonomy")).await;
    let tenant = [
        ("tenant_hash", ALGONOMY_TENANT),
        ("oauth_key_secret", ALGONOMY_SECRET),
    ];

    // Create: the documented example request, answered with a token of the documented shape.
    let (status, body) = post_json(
        &gw,
        "/secureApi/token/profile/create",
        &tenant,
        json!({"resource": ["basic"], "validity": 300}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 61, "{token}");
    assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()), "{token}");
    assert_eq!(body["expires_in"], 300 * 60);

    // The token goes with the API calls; the backend sees the tenant, never the token.
    let bearer = format!("Bearer {token}");
    let (status, echoed) = get_with(&gw, "/b2b/profile/p-1", &[("authorization", &bearer)]).await;
    assert_eq!(status, 200, "{echoed}");
    assert_eq!(seen(&echoed, "x-auth-tenant"), Some(ALGONOMY_TENANT));
    assert_eq!(seen(&echoed, "x-auth-scopes"), Some("basic"));
    assert_eq!(seen(&echoed, "authorization"), None);
    let (status, _) = get_with(&gw, "/b2b/profile/p-1", &[("access_token", &token)]).await;
    assert_eq!(status, 200, "the access_token header carries it too");
    let (status, _) = get_with(&gw, "/b2b/segments/s-1", &[("authorization", &bearer)]).await;
    assert_eq!(status, 403, "segments is not among its resources yet");

    // Update: the documented request; the token's resources become exactly the given set.
    let (status, body) = post_json(
        &gw,
        "/secureApi/token/profile/update",
        &tenant,
        json!({"resource": ["basic", "segments"], "token": token}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"message": "Token updated successfully", "resource": ["basic", "segments"], "token": token})
    );
    let (status, _) = get_with(&gw, "/b2b/segments/s-1", &[("authorization", &bearer)]).await;
    assert_eq!(status, 200);
    let (status, _) = post_json(
        &gw,
        "/secureApi/token/profile/update",
        &tenant,
        json!({"resource": ["segments"], "token": token}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = get_with(&gw, "/b2b/profile/p-1", &[("authorization", &bearer)]).await;
    assert_eq!(status, 403, "narrowed: basic is gone");

    // Each API product grants its own resources only, and updates its own tokens only.
    let (status, body) = post_json(
        &gw,
        "/secureApi/token/profile/create",
        &tenant,
        json!({"resource": ["gdpr"]}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let (status, body) = post_json(
        &gw,
        "/secureApi/token/gdpr/create",
        &tenant,
        json!({"resource": ["gdpr"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["expires_in"],
        15 * 60,
        "the documented default validity"
    );
    let gdpr = body["token"].as_str().unwrap().to_string();
    let (status, _) = get_with(
        &gw,
        "/gdpr/requests",
        &[("authorization", &format!("Bearer {gdpr}"))],
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = post_json(
        &gw,
        "/secureApi/token/profile/update",
        &tenant,
        json!({"resource": ["basic"], "token": gdpr}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );

    // Required fields and limits, each with its own clear refusal.
    let (status, body) =
        post_json(&gw, "/secureApi/token/profile/create", &tenant, json!({})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("resource"));
    let (status, body) = post_json(
        &gw,
        "/secureApi/token/profile/create",
        &tenant,
        json!({"resource": ["basic"], "validity": 1441}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("1 to 1440"),
        "{body}"
    );
    let (status, body) = post_json(
        &gw,
        "/secureApi/token/profile/create",
        &[("tenant_hash", ALGONOMY_TENANT)],
        json!({"resource": ["basic"]}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "this tenant has a secret"
    );
    let (status, body) = post_json(
        &gw,
        "/secureApi/token/profile/create",
        &[("tenant_hash", ALGONOMY_OPEN_TENANT)],
        json!({"resource": ["basic"]}),
    )
    .await;
    assert_eq!(
        status, 200,
        "a tenant without a secret needs its hash only: {body}"
    );

    // Nothing else of the token service is there: those paths are the routes' (here none
    // match, so the gateway's routing answers, not the token service).
    for path in ["/auth/token", "/auth/oauth/token", "/.well-known/jwks.json"] {
        let response = http().post(gw.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "no_route", "{path}");
    }
}

/// A token-service config whose endpoints are placed as a test says.
fn placed_service(endpoints: &str) -> String {
    config_with(&format!(
        r#"
[token_service]
issuer = "https://auth.test"
prefix = "/api/v5"
store = {{ kind = "redb", path = "{{dir}}/tokens.redb" }}

[token_service.clients.app]
secret_sha256 = "{secret}"
scopes = ["read"]
grants = ["client_credentials"]

[token_service.endpoints]
{endpoints}

[[routes]]
path_prefix = "/api/v5"
upstream = "echo"
"#,
        secret = sha256_hex("app-secret-0123456789"),
    ))
}

/// Only the service's exact paths are its own: the rest of its prefix routes normally, and an
/// endpoint switched off or moved leaves its old path to the routes.
#[tokio::test]
async fn token_service_endpoints_are_placed_by_the_config() {
    let gw = GatewayProcess::start(&placed_service(
        "device_token = false\ntoken = \"/api/o/token\"\nrevoke = \"/api/o/revoke_token\"",
    ))
    .await;
    // The prefix's other paths go to the route (no auth on it here).
    let (status, echoed) = get_with(&gw, "/api/v5/me", &[]).await;
    assert_eq!(status, 200, "{echoed}");
    assert_eq!(echoed["path"], "/api/v5/me");
    // Switched off: the route has it.
    let response = http().post(gw.url("/api/v5/token")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("set-cookie").is_none());
    let echoed: Value = response.json().await.unwrap();
    assert_eq!(echoed["path"], "/api/v5/token");
    // Moved: the new path is the token endpoint, the old one is the route's.
    let grant = http()
        .post(gw.url("/api/o/token"))
        .basic_auth("app", Some("app-secret-0123456789"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(grant.status(), 200);
    let grant: Value = grant.json().await.unwrap();
    assert!(grant["access_token"].is_string(), "{grant}");
    let (status, echoed) = get_with(&gw, "/api/v5/oauth/token", &[]).await;
    assert_eq!(
        (status, &echoed["path"]),
        (200, &json!("/api/v5/oauth/token"))
    );
    // Discovery lists the endpoints where they are.
    let discovery: Value = http()
        .get(gw.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["token_endpoint"], "https://auth.test/api/o/token");
    assert_eq!(
        discovery["revocation_endpoint"],
        "https://auth.test/api/o/revoke_token"
    );
    // A JSON body to an OAuth2 endpoint is a clear invalid_request (RFC 6749 §3.2: forms).
    let response = http()
        .post(gw.url("/api/o/token"))
        .basic_auth("app", Some("app-secret-0123456789"))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["error_description"].as_str().unwrap().contains("form"),
        "{body}"
    );
    let response = http()
        .post(gw.url("/api/o/revoke_token"))
        .basic_auth("app", Some("app-secret-0123456789"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(r#"{"token": "x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        400,
        "JSON by its look, whatever its type says"
    );
}

/// `check` refuses a service path that another path of the gateway or a route would shadow,
/// naming both, and unknown endpoint names.
#[test]
fn check_refuses_overlapping_service_paths() {
    let cases = [
        (
            "token = \"/api/v5/token\"",
            "\"/api/v5/token\" is the path of two endpoints: device_token and token",
        ),
        ("token = \"/healthz\"", "server.health_path"),
        ("tokn = \"/x\"", "endpoints.tokn"),
        ("token = \"/api/o/token/\"", "normalized absolute path"),
    ];
    for (endpoints, expected) in cases {
        let (code, out) = check_config(
            &placed_service(endpoints)
                .replace("{port}", "1")
                .replace("{echo}", "2")
                .replace("{dir}", "/tmp"),
        );
        assert_eq!(code, 1, "{endpoints}: {out}");
        assert!(out.contains(expected), "{endpoints}: {out}");
    }
    // A route whose exact path is a service path would never see it.
    let shadowed = placed_service("")
        .replace("{port}", "1")
        .replace("{echo}", "2")
        .replace("{dir}", "/tmp")
        + "\n[[routes]]\npath = \"/api/v5/oauth/token\"\nupstream = \"echo\"\n";
    let (code, out) = check_config(&shadowed);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("routes[1].path") && out.contains("token endpoint"),
        "{out}"
    );
}
