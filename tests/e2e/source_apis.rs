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
    let discovery: Value = get_json(&gw, "/.well-known/openid-configuration").await;
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

/// A raw HTTP/1.1 request to `host` (the tenant is in the host), with a JSON body if any.
fn on_host(method: &str, host: &str, path: &str, headers: &[&str], body: Option<&str>) -> Vec<u8> {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for h in headers {
        text.push_str(h);
        text.push_str("\r\n");
    }
    if let Some(body) = body {
        text.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    text.push_str("\r\n");
    text.push_str(body.unwrap_or(""));
    text.into_bytes()
}

/// Sends `on_host(…)` to the gateway and reads the answer.
async fn on(
    gw: &GatewayProcess,
    method: &str,
    host: &str,
    path: &str,
    headers: &[&str],
    body: Option<&str>,
) -> RawResponse {
    raw_request(gw.addr(), &on_host(method, host, path, headers, body))
        .await
        .unwrap()
}

/// The token in an `access_token` Set-Cookie.
fn cookie_token(r: &RawResponse) -> String {
    let cookie = r
        .header("set-cookie")
        .unwrap_or_else(|| panic!("no cookie: {}", r.head));
    let value = cookie
        .strip_prefix("access_token=")
        .expect("the access_token cookie");
    value.split(';').next().unwrap().to_string()
}

const EXTOLE_BACKEND: (&str, &str) = ("extole-backend", "extole-backend-secret-7Hq2Lm9x");

/// Extole's Customer API, as its documentation describes a visitor's way: a device token in
/// a cookie on the first request, the same token by query, header or cookie, identified by
/// e-mail, verified server to server, each level allowed what the documentation says, on the
/// program's own domain only.
#[tokio::test]
async fn extole_customer_api_flow() {
    let gw = GatewayProcess::start(&example_config("extole")).await;
    let acme = "acme.extole.io";

    // First request, no token: the visitor gets an anonymous device token in the cookie and
    // the request goes on as that device.
    let r = on(&gw, "GET", acme, "/api/v5/zones/home", &[], None).await;
    assert_eq!(r.status, 200, "{}", r.head);
    let token = cookie_token(&r);
    let echoed = r.echoed();
    assert_eq!(echoed.header_values("x-auth-level"), ["anonymous"]);
    assert_eq!(echoed.header_values("x-auth-tenant"), ["acme"]);
    // The same token by each documented carrier; never two at once (RFC 6750).
    let cookie = format!("Cookie: access_token={token}");
    let bearer = format!("Authorization: Bearer {token}");
    for (path, headers) in [
        (format!("/api/v5/zones/home?access_token={token}"), vec![]),
        ("/api/v5/zones/home".to_string(), vec![bearer.as_str()]),
        ("/api/v5/zones/home".to_string(), vec![cookie.as_str()]),
    ] {
        let r = on(&gw, "GET", acme, &path, &headers, None).await;
        assert_eq!(r.status, 200, "{path} {headers:?}: {}", r.head);
        assert!(
            r.header("set-cookie").is_none(),
            "no new token for a live one"
        );
        let echoed = r.echoed();
        assert!(
            echoed.query.as_deref().unwrap_or("").is_empty(),
            "the token is not forwarded"
        );
        assert!(echoed.header_values("authorization").is_empty());
    }
    let both = on_host("GET", acme, "/api/v5/zones/home", &[&bearer, &cookie], None);
    assert_eq!(raw_request(gw.addr(), &both).await.unwrap().status, 400);
    // Anonymous: journey activity yes, private profile data no.
    let event = on_host(
        "POST",
        acme,
        "/api/v5/events",
        &[&bearer],
        Some(r#"{"event":"view"}"#),
    );
    assert_eq!(raw_request(gw.addr(), &event).await.unwrap().status, 200);
    let me = on_host("GET", acme, "/api/v5/me", &[&bearer], None);
    let step_up = |r: &RawResponse| {
        r.status == 401
            && r.header("www-authenticate").is_some_and(|c| {
                c.contains("insufficient_user_authentication")
                    && c.contains("acr_values=\"verified\"")
            })
    };
    let r = raw_request(gw.addr(), &me).await.unwrap();
    assert!(step_up(&r), "RFC 9470 step-up to verified: {}", r.head);
    // PUT/POST take JSON.
    let text = format!(
        "POST /api/v5/events HTTP/1.1\r\nHost: {acme}\r\n{bearer}\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
    );
    assert_eq!(
        raw_request(gw.addr(), text.as_bytes())
            .await
            .unwrap()
            .status,
        415
    );

    // Identified by e-mail: still no private profile data.
    let identify = on_host(
        "POST",
        acme,
        "/api/v5/token/identify",
        &[&bearer],
        Some(r#"{"email":"ann@example.com"}"#),
    );
    let r = raw_request(gw.addr(), &identify).await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["level"], "identified");
    let r = raw_request(gw.addr(), &me).await.unwrap();
    assert!(step_up(&r), "{}", r.head);
    // Verified server to server by the program's backend: full access.
    let basic = format!(
        "Authorization: Basic {}",
        base64_encode(&format!("{}:{}", EXTOLE_BACKEND.0, EXTOLE_BACKEND.1))
    );
    let verify = on_host(
        "POST",
        acme,
        "/api/v5/token/verify",
        &[&basic],
        Some(&format!(r#"{{"token":"{token}"}}"#)),
    );
    let r = raw_request(gw.addr(), &verify).await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = raw_request(gw.addr(), &me).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.echoed().header_values("x-auth-level"), ["verified"]);

    // The token is acme's: another program's domain does not take it.
    let elsewhere = on_host(
        "GET",
        "globex.extole.io",
        "/api/v5/zones/home",
        &[&bearer],
        None,
    );
    assert_eq!(
        raw_request(gw.addr(), &elsewhere).await.unwrap().status,
        403
    );
    // POST /api/v5/token on a program's domain: a new device token of that program.
    let r = on(&gw, "POST", "globex.extole.io", "/api/v5/token", &[], None).await;
    assert_eq!(r.status, 200, "{}", r.head);
    let globex = r.json()["access_token"].as_str().unwrap().to_string();
    let globex_bearer = format!("Authorization: Bearer {globex}");
    let r = on(
        &gw,
        "GET",
        "globex.extole.io",
        "/api/v5/zones/home",
        &[&globex_bearer],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.echoed().header_values("x-auth-tenant"), ["globex"]);

    // A stale cookie (garbage, or a token that no longer stands) is replaced by a new device
    // token, not answered 401 forever; a bad bearer token is still refused.
    let r = on(
        &gw,
        "GET",
        acme,
        "/api/v5/zones/home",
        &["Cookie: access_token=garbage.x.y"],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.head);
    let fresh = cookie_token(&r);
    assert_ne!(fresh, "garbage.x.y");
    assert!(
        r.echoed().header_values("cookie").is_empty(),
        "the stale cookie stays here"
    );
    let r = on(
        &gw,
        "GET",
        acme,
        "/api/v5/zones/home",
        &["Authorization: Bearer garbage.x.y"],
        None,
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.head);

    // X-Extole-Debug from the operator's host: the decision traced under Extole's name.
    let r = on(
        &gw,
        "GET",
        acme,
        "/api/v5/zones/home",
        &[&bearer, "X-Extole-Debug: 1"],
        None,
    )
    .await;
    assert_eq!(
        r.header("x-extole-debug").as_deref(),
        Some("route=customer-api; decision=allow")
    );
}

fn base64_encode(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

const ITEMEXTEND_GUEST: &str = "ie_guest_key_example_Rt61Vw";
const ITEMEXTEND_APP: (&str, &str) = ("itemextend-web", "ie-web-secret-example-3Kd9Px");
const ITEMEXTEND_REDIRECT: &str = "https://app.example.com/callback";

/// The ItemExtend example with the demo users file by absolute path (the test runs it from a
/// temporary directory).
fn itemextend_config() -> String {
    let users = repo_path("config/demo-users.toml");
    example_config("itemextend").replace(
        "users_file = \"../demo-users.toml\"",
        &format!("users_file = {:?}", users.to_str().unwrap()),
    )
}

/// An authorization request of a test: where, for whom, and what the consent page names.
struct Authorization<'a> {
    authorize_path: &'a str,
    client_id: &'a str,
    redirect_uri: &'a str,
    scope: &'a str,
    /// More query parameters (`code_challenge`, …).
    extra: &'a [(&'a str, &'a str)],
    /// The client's name on the consent page.
    shown_as: &'a str,
}

/// The demo user signs in and consents through the pages (no script: forms and redirects),
/// as a browser sent to the authorization endpoint would (in `browser`, so a second
/// authorization in the same session skips the sign-in); the query the redirect URI gets.
async fn sign_in_and_consent(
    gw: &GatewayProcess,
    browser: &mut crate::sign_in::Browser,
    a: &Authorization<'_>,
) -> std::collections::HashMap<String, String> {
    let base = gw.url("");
    let base = base.trim_end_matches('/');
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.extend_pairs([
        ("response_type", "code"),
        ("client_id", a.client_id),
        ("redirect_uri", a.redirect_uri),
        ("scope", a.scope),
        ("state", "s-42"),
    ]);
    query.extend_pairs(a.extra);
    let mut page = browser
        .get(&format!("{base}{}?{}", a.authorize_path, query.finish()))
        .await;
    if page.body.contains("name=\"password\"") {
        page = sign_in_as_demo(browser, base, &page, &format!("{}?", a.authorize_path)).await;
    }
    assert!(page.body.contains(a.shown_as), "{}", page.body);
    let done = browser.submit(base, &page, &[("decision", "allow")]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done
        .location
        .as_deref()
        .unwrap()
        .starts_with(a.redirect_uri));
    let query = done.location_query();
    assert_eq!(query.get("state").map(String::as_str), Some("s-42"));
    query
}

/// Submits the login `page` as the demo user; the page it leads back to, whose path must
/// start with `back_to`.
async fn sign_in_as_demo(
    browser: &mut crate::sign_in::Browser,
    base: &str,
    page: &crate::sign_in::Page,
    back_to: &str,
) -> crate::sign_in::Page {
    assert_eq!(page.status, 200, "{}", page.body);
    let signed = browser
        .submit(
            base,
            page,
            &[("username", "demo"), ("password", "demo-password-4Vx7")],
        )
        .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let back = signed.location.clone().unwrap();
    assert!(back.starts_with(back_to), "{back}");
    browser.get(&format!("{base}{back}")).await
}

/// ItemExtend's web app asks for a code (no PKCE in its flow).
async fn itemextend_authorize(gw: &GatewayProcess) -> std::collections::HashMap<String, String> {
    let authorization = Authorization {
        authorize_path: "/api/o/authorize",
        client_id: ITEMEXTEND_APP.0,
        redirect_uri: ITEMEXTEND_REDIRECT,
        scope: "items:read items:write",
        extra: &[],
        shown_as: "ItemExtend web app",
    };
    sign_in_and_consent(gw, &mut crate::sign_in::Browser::new(), &authorization).await
}

/// POSTs a form to an endpoint as the app (its key and secret by HTTP Basic).
async fn as_app(gw: &GatewayProcess, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    post_form(gw, path, ITEMEXTEND_APP, form).await
}

/// ItemExtend's API authorization as documented: guest application keys, the
/// authorization-code grant at its own endpoint paths without PKCE for an app with a secret,
/// bearer calls, refresh, and revocation by the app or by the user holding the token.
#[tokio::test]
async fn itemextend_api_flow() {
    let gw = GatewayProcess::start(&itemextend_config()).await;
    let guest = format!("Authorization: token {ITEMEXTEND_GUEST}");

    // Guests: the application key in the Authorization header.
    let r = raw_request(gw.addr(), &get("/api/v1/items/1", &[&guest]))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.echoed().header_values("x-auth-level"), ["anonymous"]);
    assert!(r.echoed().header_values("authorization").is_empty());
    let r = raw_request(gw.addr(), &get("/api/v1/items/1", &[]))
        .await
        .unwrap();
    assert_eq!(r.status, 401);

    // A user signs in; the app exchanges the code with its secret, no PKCE.
    let query = itemextend_authorize(&gw).await;
    let code = query["code"].clone();
    let (status, tokens) = as_app(
        &gw,
        "/api/o/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ITEMEXTEND_REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let bearer = format!("Authorization: Bearer {access}");
    let r = raw_request(gw.addr(), &get("/api/v1/items/1", &[&bearer]))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.echoed().header_values("x-auth-subject"), ["demo"]);
    // A code asked for without a challenge takes no verifier: one sent is a downgrade.
    let code = itemextend_authorize(&gw).await["code"].clone();
    let (status, body) = as_app(
        &gw,
        "/api/o/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ITEMEXTEND_REDIRECT),
            (
                "code_verifier",
                "a-verifier-the-authorization-request-never-committed-to",
            ),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // JSON to the token endpoint: a clear invalid_request.
    let response = http()
        .post(gw.url("/api/o/token"))
        .basic_auth(ITEMEXTEND_APP.0, Some(ITEMEXTEND_APP.1))
        .json(&json!({"grant_type": "refresh_token", "refresh_token": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );

    // Refresh: a new access token (what the app does on a 401 after expiry).
    let (status, renewed) = as_app(
        &gw,
        "/api/o/token",
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(status, 200, "{renewed}");
    let access2 = renewed["access_token"].as_str().unwrap().to_string();
    let refresh2 = renewed["refresh_token"].as_str().unwrap().to_string();

    // The user revokes their own token, holding it: no app secret needed.
    let holder = |token: &str| {
        http()
            .post(gw.url("/api/o/revoke_token"))
            .bearer_auth(token.to_string())
    };
    let response = holder(&access2)
        .form(&[("token", access2.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let gone = format!("Authorization: Bearer {access2}");
    let r = raw_request(gw.addr(), &get("/api/v1/items/1", &[&gone]))
        .await
        .unwrap();
    assert_eq!(r.status, 401, "{}", r.head);
    // Holding a token of a grant, its refresh token too; another grant's, nothing.
    let code = itemextend_authorize(&gw).await["code"].clone();
    let (_, other) = as_app(
        &gw,
        "/api/o/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ITEMEXTEND_REDIRECT),
        ],
    )
    .await;
    let other_access = other["access_token"].as_str().unwrap().to_string();
    let response = holder(&other_access)
        .form(&[("token", refresh2.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "RFC 7009 §2.2: 200 either way");
    let (status, _) = as_app(
        &gw,
        "/api/o/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh2),
        ],
    )
    .await;
    assert_eq!(status, 200, "another grant's holder revoked nothing");
    // (That refresh rotated refresh2; the grant's current refresh token is unknown here, so
    // the app revokes the grant by the access token's holder instead.)
    let response = holder(&other_access)
        .form(&[("token", other_access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let dead = format!("Authorization: Bearer {other_access}");
    assert_eq!(
        raw_request(gw.addr(), &get("/api/v1/items/1", &[&dead]))
            .await
            .unwrap()
            .status,
        401
    );
    // A holder whose token is dead is refused with the RFC 6750 challenge.
    let response = holder(&other_access)
        .form(&[("token", other_access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // The app revokes a user's refresh token on their behalf.
    let other_refresh = other["refresh_token"].as_str().unwrap();
    let (status, body) = as_app(&gw, "/api/o/revoke_token", &[("token", other_refresh)]).await;
    assert_eq!(status, 200, "{body}");
}

/// PKCE can be let off only for a client that keeps a secret.
#[test]
fn a_public_client_cannot_go_without_pkce() {
    let config = itemextend_config()
        .replace("{port}", "1")
        .replace("{echo}", "2")
        .replace(
            "secret_sha256 = \"e63e307d3173a2b8cc63376d2755163eb98c0a2e3f0e97072358f742979ed9d7\"",
            "public = true",
        )
        .replace(
            "grants = [\"authorization_code\", \"refresh_token\"]",
            "grants = [\"authorization_code\"]",
        );
    let (code, out) = check_config(&config);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("clients.itemextend-web.require_pkce"), "{out}");
}

/// An Exepron client at the token endpoint, as its documentation describes them: a
/// confidential client authenticates with its secret (Basic), a public one names itself in the
/// form.
#[derive(Clone, Copy)]
struct ExepronClient {
    id: &'static str,
    secret: Option<&'static str>,
    redirect_uri: &'static str,
}

const EXEPRON_WEB: ExepronClient = ExepronClient {
    id: "exepron-web",
    secret: Some("exepron-web-secret-example-8Zt4Qn"),
    redirect_uri: "https://web.example.com/signin-oidc",
};
const EXEPRON_SPA: ExepronClient = ExepronClient {
    id: "exepron-spa",
    secret: None,
    redirect_uri: "https://app.example.com/callback",
};
const EXEPRON_SERVICE: ExepronClient = ExepronClient {
    id: "exepron-service",
    secret: Some("exepron-service-secret-example-2Wm7Jc"),
    redirect_uri: "",
};
const EXEPRON_TV: ExepronClient = ExepronClient {
    id: "exepron-tv",
    secret: None,
    redirect_uri: "",
};

impl ExepronClient {
    /// A token request with `form`, authenticated as this kind of client.
    async fn token(self, gw: &GatewayProcess, form: &[(&str, &str)]) -> (u16, Value) {
        if let Some(secret) = self.secret {
            return post_form(gw, "/connect/token", (self.id, secret), form).await;
        }
        let mut form = form.to_vec();
        form.push(("client_id", self.id));
        let response = http()
            .post(gw.url("/connect/token"))
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// An authorization code for tokens, with the PKCE verifier.
    async fn exchange(self, gw: &GatewayProcess, code: &str, verifier: &str) -> (u16, Value) {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri),
            ("code_verifier", verifier),
        ];
        self.token(gw, &form).await
    }

    /// A refresh token for new tokens.
    async fn refresh(self, gw: &GatewayProcess, grant: &Value) -> (u16, Value) {
        let token = grant["refresh_token"].as_str().unwrap();
        self.token(
            gw,
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
        .await
    }
}

/// The Exepron example with the demo users file by absolute path and `edit` applied.
fn exepron_config(edit: impl Fn(String) -> String) -> String {
    let users = repo_path("config/demo-users.toml");
    edit(example_config("exepron").replace(
        "users_file = \"../demo-users.toml\"",
        &format!("users_file = {:?}", users.to_str().unwrap()),
    ))
}

/// Exepron's documented steps: a client gets an access token from the identity server
/// (a web server with its secret, a JavaScript app with PKCE, a backend by client
/// credentials), with the user's sign-in and consent and the scopes asked for; calls the API
/// with it in the Authorization header, OData options and all; refreshes; and the
/// refresh-token limits per client-user and per user across clients.
#[tokio::test]
async fn exepron_openid_connect_flow() {
    let gw = GatewayProcess::start(&exepron_config(|c| {
        c.replace("max_refresh_grants = 5", "max_refresh_grants = 2")
            .replace(
                "max_refresh_grants_per_user = 10",
                "max_refresh_grants_per_user = 3",
            )
    }))
    .await;
    // Discovery names the identity server's own paths.
    let discovery: Value = get_json(&gw, "/.well-known/openid-configuration").await;
    let issuer = "https://identity.exepron.example.com";
    assert_eq!(
        discovery["authorization_endpoint"],
        format!("{issuer}/connect/authorize")
    );
    assert_eq!(
        discovery["token_endpoint"],
        format!("{issuer}/connect/token")
    );
    assert_eq!(
        discovery["userinfo_endpoint"],
        format!("{issuer}/connect/userinfo")
    );
    assert_eq!(
        discovery["end_session_endpoint"],
        format!("{issuer}/connect/endsession")
    );

    // A web server application: code, then tokens with its secret.
    let mut browser = crate::sign_in::Browser::new();
    let (challenge, web_verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let web_extra = [
        ("nonce", "n-1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let web = Authorization {
        authorize_path: "/connect/authorize",
        client_id: EXEPRON_WEB.id,
        redirect_uri: EXEPRON_WEB.redirect_uri,
        scope: "openid email api",
        extra: &web_extra,
        shown_as: "Exepron web",
    };
    let code = sign_in_and_consent(&gw, &mut browser, &web).await["code"].clone();
    let (status, a1) = EXEPRON_WEB
        .exchange(&gw, &code, web_verifier.secret())
        .await;
    assert_eq!(status, 200, "{a1}");
    assert!(a1["id_token"].is_string(), "openid asked: an ID token");
    let access = a1["access_token"].as_str().unwrap().to_string();

    // The API, with the token in the Authorization header, OData options policed.
    let bearer = format!("Authorization: Bearer {access}");
    let odata = "/api/v1/Projects?$filter=Status%20eq%20'Open'&$orderby=Name&$select=Id,Name&$skip=10&$top=20&$expand=Tasks&$inlinecount=allpages";
    let r = raw_request(gw.addr(), &get(odata, &[&bearer]))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.echoed().header_values("x-auth-subject"), ["demo"]);
    let r = raw_request(gw.addr(), &get("/api/v1/Projects?$top=501", &[&bearer]))
        .await
        .unwrap();
    assert_eq!(r.status, 400, "beyond max_top: {}", r.head);
    // UserInfo: who the user is.
    let info: Value = http()
        .get(gw.url("/connect/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], "demo");
    assert_eq!(
        info["email"], "demo@example.com",
        "the email scope was granted"
    );

    // A JavaScript application: no secret, PKCE.
    let (challenge, spa_verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let spa_extra = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let spa = Authorization {
        authorize_path: "/connect/authorize",
        client_id: EXEPRON_SPA.id,
        redirect_uri: EXEPRON_SPA.redirect_uri,
        scope: "openid api",
        extra: &spa_extra,
        shown_as: "Exepron app",
    };

    // The limits: 2 grants per client and user, 3 per user across clients. a1 and a2 (web),
    // then b1 (app): 3 in all. b2 makes 4: the oldest of all, a1, stops working.
    let code = sign_in_and_consent(&gw, &mut browser, &web).await["code"].clone();
    let (_, a2) = EXEPRON_WEB
        .exchange(&gw, &code, web_verifier.secret())
        .await;
    let code = sign_in_and_consent(&gw, &mut browser, &spa).await["code"].clone();
    let (status, b1) = EXEPRON_SPA
        .exchange(&gw, &code, spa_verifier.secret())
        .await;
    assert_eq!(status, 200, "{b1}");
    // (Each refresh rotates the refresh token; keep the newest.)
    let (status, a1_now) = EXEPRON_WEB.refresh(&gw, &a1).await;
    assert_eq!(status, 200, "3 grants: all live: {a1_now}");
    let code = sign_in_and_consent(&gw, &mut browser, &spa).await["code"].clone();
    let (_, b2) = EXEPRON_SPA
        .exchange(&gw, &code, spa_verifier.secret())
        .await;
    let (status, body) = EXEPRON_WEB.refresh(&gw, &a1_now).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "a1 stopped: {body}"
    );
    let (status, a2_now) = EXEPRON_WEB.refresh(&gw, &a2).await;
    assert_eq!(status, 200, "{a2_now}");
    let (status, b1_now) = EXEPRON_SPA.refresh(&gw, &b1).await;
    assert_eq!(status, 200, "{b1_now}");
    let (status, _) = EXEPRON_SPA.refresh(&gw, &b2).await;
    assert_eq!(status, 200);
    // A third web grant: over the per-client limit too; the oldest live one overall (a2)
    // stops, the app's stay.
    let code = sign_in_and_consent(&gw, &mut browser, &web).await["code"].clone();
    let (status, _) = EXEPRON_WEB
        .exchange(&gw, &code, web_verifier.secret())
        .await;
    assert_eq!(status, 200);
    let (status, _) = EXEPRON_WEB.refresh(&gw, &a2_now).await;
    assert_eq!(status, 400, "a2 stopped");
    let (status, _) = EXEPRON_SPA.refresh(&gw, &b1_now).await;
    assert_eq!(status, 200, "b1 lives");

    // A backend integration: client credentials, its own token.
    let (status, service) = EXEPRON_SERVICE
        .token(
            &gw,
            &[("grant_type", "client_credentials"), ("scope", "api")],
        )
        .await;
    assert_eq!(status, 200, "{service}");
    let bearer = format!(
        "Authorization: Bearer {}",
        service["access_token"].as_str().unwrap()
    );
    let r = raw_request(gw.addr(), &get("/api/v1/Projects?$top=5", &[&bearer]))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(
        r.echoed().header_values("x-auth-subject"),
        ["exepron-service"]
    );
}

/// Exepron's "application installed on a device that has no browser uses web service
/// requests": the device authorization grant (RFC 8628) — device and user codes, the user's
/// answer on the verification page, the device polling meanwhile.
#[tokio::test]
async fn exepron_device_without_a_browser() {
    let gw = GatewayProcess::start(&exepron_config(|c| {
        c.replace(
            "max_refresh_grants = 5",
            "max_refresh_grants = 5\ndevice_poll_interval = \"1s\"",
        )
    }))
    .await;
    let issuer = "https://identity.exepron.example.com";
    let discovery: Value = get_json(&gw, "/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["device_authorization_endpoint"],
        format!("{issuer}/connect/deviceauthorization")
    );
    let ask = || async {
        let response = http()
            .post(gw.url("/connect/deviceauthorization"))
            .form(&[("client_id", EXEPRON_TV.id), ("scope", "openid api")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()
    };
    let poll = |device_code: String| {
        let gw = &gw;
        async move {
            let form = [
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", &device_code),
            ];
            EXEPRON_TV.token(gw, &form).await
        }
    };
    let asked = ask().await;
    let device_code = asked["device_code"].as_str().unwrap().to_string();
    let user_code = asked["user_code"].as_str().unwrap().to_string();
    assert_eq!(user_code.len(), 9, "XXXX-XXXX: {user_code}");
    assert_eq!(asked["verification_uri"], format!("{issuer}/device"));
    assert_eq!(asked["interval"], 1);
    let (status, body) = poll(device_code.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_pending"))
    );

    // The user, in a browser: the complete verification URI, sign in, then consent.
    let complete = asked["verification_uri_complete"].as_str().unwrap();
    let path = complete.strip_prefix(issuer).unwrap();
    let base = gw.url("");
    let base = base.trim_end_matches('/');
    let mut browser = crate::sign_in::Browser::new();
    let login = browser.get(&format!("{base}{path}")).await;
    assert!(login.body.contains("name=\"password\""), "{}", login.body);
    let consent = sign_in_as_demo(&mut browser, base, &login, "/device?user_code=").await;
    let back = path;
    assert!(consent.body.contains("Exepron TV"), "{}", consent.body);
    let done = browser
        .submit(base, &consent, &[("decision", "allow")])
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Device connected"), "{}", done.body);
    // The code is spent: entered again, it is not valid.
    let again = browser.get(&format!("{base}{back}")).await;
    assert_eq!(again.status, 400, "{}", again.body);
    let wrong = browser
        .get(&format!("{base}/device?user_code=BBBB-BBBB"))
        .await;
    assert_eq!(wrong.status, 400);

    // The device's next poll, after the interval: its tokens, once.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, tokens) = poll(device_code.clone()).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["refresh_token"].is_string());
    let bearer = format!(
        "Authorization: Bearer {}",
        tokens["access_token"].as_str().unwrap()
    );
    let r = raw_request(gw.addr(), &get("/api/v1/Projects?$top=5", &[&bearer]))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.echoed().header_values("x-auth-subject"), ["demo"]);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, body) = poll(device_code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "used"
    );

    // A device that polls too fast is told to slow down; a denied request says so.
    let asked = ask().await;
    let device_code = asked["device_code"].as_str().unwrap().to_string();
    let (_, first) = poll(device_code.clone()).await;
    assert_eq!(first["error"], "authorization_pending");
    let (_, second) = poll(device_code.clone()).await;
    assert_eq!(second["error"], "slow_down");
    let user_code = asked["user_code"].as_str().unwrap();
    let page = browser
        .get(&format!("{base}/device?user_code={user_code}"))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let denied = browser.submit(base, &page, &[("decision", "deny")]).await;
    assert!(denied.body.contains("Request denied"), "{}", denied.body);
    let (status, body) = poll(device_code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("access_denied"))
    );
    // Only clients with the grant may ask.
    let response = http()
        .post(gw.url("/connect/deviceauthorization"))
        .form(&[("client_id", EXEPRON_SPA.id)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
}

/// A real SMTP server (aiosmtpd, as `./.ci/install` puts it) that keeps what it gets in a
/// maildir; killed when dropped.
struct SmtpServer {
    child: std::process::Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    async fn start() -> SmtpServer {
        let maildir = tempfile::tempdir().unwrap();
        let port = free_port();
        let python = std::env::var_os("XDG_CACHE_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache")))
            .unwrap()
            .join("portcullis/python");
        let child = std::process::Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("box"))
            .env("PYTHONPATH", &python)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 runs");
        let up = eventually(std::time::Duration::from_secs(15), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        assert!(
            up,
            "aiosmtpd did not start (./.ci/install installs it into {python:?})"
        );
        SmtpServer {
            child,
            port,
            maildir,
        }
    }

    /// The messages received so far, as text.
    fn messages(&self) -> Vec<String> {
        let new = self.maildir.path().join("box/new");
        std::fs::read_dir(new)
            .map(|entries| {
                entries
                    .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Extole's other way to a verified token: e-mail verification. The identified token asks for
/// a code, the gateway mails it through a real SMTP server, and the code makes it verified.
#[tokio::test]
async fn extole_email_verification() {
    let smtp = SmtpServer::start().await;
    let gw = GatewayProcess::start(
        &example_config("extole").replace("127.0.0.1:2525", &format!("127.0.0.1:{}", smtp.port)),
    )
    .await;
    let acme = "acme.extole.io";
    let r = on(&gw, "POST", acme, "/api/v5/token", &[], None).await;
    let token = r.json()["access_token"].as_str().unwrap().to_string();
    let bearer = format!("Authorization: Bearer {token}");
    let send = |email: &str| {
        on_host(
            "POST",
            acme,
            "/api/v5/token/email",
            &[&bearer],
            Some(&format!(r#"{{"email":"{email}"}}"#)),
        )
    };
    // Only an address the token claimed.
    let r = raw_request(gw.addr(), &send("ann@example.com"))
        .await
        .unwrap();
    assert_eq!(
        r.status,
        400,
        "not identified yet: {}",
        String::from_utf8_lossy(&r.body)
    );
    let identify = on_host(
        "POST",
        acme,
        "/api/v5/token/identify",
        &[&bearer],
        Some(r#"{"email":"ann@example.com"}"#),
    );
    assert_eq!(raw_request(gw.addr(), &identify).await.unwrap().status, 200);
    let r = raw_request(gw.addr(), &send("bob@example.com"))
        .await
        .unwrap();
    assert_eq!(r.status, 400, "another address");
    assert!(smtp.messages().is_empty());

    let r = raw_request(gw.addr(), &send("Ann@Example.com"))
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["expires_in"], 900);
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1);
    let mail = &messages[0];
    assert!(mail.contains("To: Ann@Example.com"), "{mail}");
    assert!(
        mail.contains("Subject: Your Extole verification code"),
        "{mail}"
    );
    let code: String = mail
        .split("Your verification code is ")
        .nth(1)
        .expect("a code")
        .chars()
        .take(6)
        .collect();
    assert!(code.chars().all(|c| c.is_ascii_digit()), "{code}");
    assert!(!mail.contains(&token), "the token never goes out by mail");
    // Asking again at once: 429.
    let r = raw_request(gw.addr(), &send("ann@example.com"))
        .await
        .unwrap();
    assert_eq!(r.status, 429);

    let confirm = |code: &str| {
        on_host(
            "POST",
            acme,
            "/api/v5/token/email/confirm",
            &[&bearer],
            Some(&format!(r#"{{"code":"{code}"}}"#)),
        )
    };
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = raw_request(gw.addr(), &confirm(wrong)).await.unwrap();
    assert_eq!(r.status, 400);
    let me = on_host("GET", acme, "/api/v5/me", &[&bearer], None);
    assert_eq!(
        raw_request(gw.addr(), &me).await.unwrap().status,
        401,
        "still identified"
    );
    let r = raw_request(gw.addr(), &confirm(&code)).await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["level"], "verified");
    let r = raw_request(gw.addr(), &me).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.echoed().header_values("x-auth-level"), ["verified"]);
    // A code proves the address once.
    let r = raw_request(gw.addr(), &confirm(&code)).await.unwrap();
    assert_eq!(r.status, 400);
}
