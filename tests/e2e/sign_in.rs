//! Browser sign-in end to end: the authorization code flow with PKCE through the real gateway,
//! driven by the `oauth2` crate as the client and a small cookie-keeping "browser" that submits
//! the gateway's own HTML forms; refusals (verifier, replay, redirect URI, scope, CSRF), sign-out,
//! the failed-login limit, and sign-in delegated to an upstream OpenID provider (a second
//! Portcullis).

use crate::support::*;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken, Scope, TokenResponse, TokenUrl,
};
use serde_json::Value;
use std::collections::HashMap;

const PUBLIC_APP: &str = "spa";
const REDIRECT: &str = "http://127.0.0.1:9/callback";
const USER: (&str, &str) = ("alice", "correct horse battery staple");

/// A gateway with sign-in from a users file, a public client and a protected route.
fn sign_in_config(extra_sign_in: &str) -> String {
    config_with(&format!(
        r#"
[[routes]]
name = "api"
path_prefix = "/api"
upstream = "echo"
[routes.auth]
issuers = ["portcullis"]
level = "verified"
scopes = ["read"]

[token_service]
issuer = "http://127.0.0.1:{{port}}"
store = {{ path = "{{dir}}/tokens.redb" }}

[token_service.sign_in]
users_file = "{{dir}}/users.toml"
{extra_sign_in}

[token_service.clients.{PUBLIC_APP}]
public = true
name = "Example SPA"
scopes = ["openid", "email", "read", "write"]
grants = ["authorization_code", "refresh_token"]
redirect_uris = ["{REDIRECT}"]
"#
    ))
}

fn users_file() -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    portcullis_tokens::users::add_user(
        &path,
        USER.0,
        USER.1,
        Some("alice@example.com".into()),
        false,
    )
    .unwrap();
    std::fs::read_to_string(path).unwrap()
}

async fn start_gateway(extra_sign_in: &str) -> GatewayProcess {
    GatewayProcess::start_with_files(
        &sign_in_config(extra_sign_in),
        &[("users.toml", &users_file())],
    )
    .await
}

/// A browser without script: keeps cookies (per name, whatever their attributes), follows
/// nothing by itself, and submits forms with their hidden fields.
pub struct Browser {
    http: reqwest::Client,
    pub cookies: HashMap<String, String>,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// The hidden fields of the page's form.
    pub fn hidden_fields(&self) -> Vec<(String, String)> {
        self.body
            .split("<input type=\"hidden\" ")
            .skip(1)
            .map(|rest| {
                let attr = |name: &str| {
                    let start = rest.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                    let end = start + rest[start..].find('"').unwrap();
                    unescape(&rest[start..end])
                };
                (attr("name"), attr("value"))
            })
            .collect()
    }

    pub fn form_action(&self) -> String {
        let start = self.body.find("action=\"").expect("a form") + 8;
        let end = start + self.body[start..].find('"').unwrap();
        unescape(&self.body[start..end])
    }

    pub fn location_query(&self) -> HashMap<String, String> {
        let location = self.location.as_deref().expect("a redirect");
        url::Url::parse(location)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect()
    }
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl Browser {
    pub fn new() -> Self {
        Self {
            http: no_redirect_client(),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn keep(&mut self, response: reqwest::Response) -> Page {
        for set in response.headers().get_all("set-cookie") {
            let text = set.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if text.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        Page {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_string()),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, url: &str) -> Page {
        let response = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(response).await
    }

    pub async fn post(&mut self, url: &str, fields: &[(String, String)]) -> Page {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let response = self
            .http
            .post(url)
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        self.keep(response).await
    }

    /// Submits `page`'s form with its hidden fields and `extra`.
    pub async fn submit(&mut self, base: &str, page: &Page, extra: &[(&str, &str)]) -> Page {
        let mut fields = page.hidden_fields();
        fields.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let action = page.form_action();
        self.post(&format!("{base}{action}"), &fields).await
    }
}

/// The `oauth2` crate's client for the public app.
fn oauth_client(
    gateway: &GatewayProcess,
) -> BasicClient<
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
> {
    BasicClient::new(ClientId::new(PUBLIC_APP.into()))
        .set_auth_uri(AuthUrl::new(gateway.url("/auth/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(gateway.url("/auth/oauth/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap())
}

fn oauth_http() -> reqwest::Client {
    no_redirect_client()
}

/// Signs in (when needed) and consents: the redirect's query (code, state, iss).
async fn authorize(
    browser: &mut Browser,
    base: &str,
    authorize_url: &str,
    password: &str,
) -> HashMap<String, String> {
    let mut page = browser.get(authorize_url).await;
    if page.body.contains("name=\"password\"") {
        assert_eq!(page.status, 200, "{}", page.body);
        let signed = browser
            .submit(base, &page, &[("username", USER.0), ("password", password)])
            .await;
        assert_eq!(signed.status, 303, "{}", signed.body);
        let back = signed.location.clone().unwrap();
        assert!(back.starts_with("/auth/oauth/authorize?"), "{back}");
        page = browser.get(&format!("{base}{back}")).await;
    }
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Example SPA"), "{}", page.body);
    let done = browser.submit(base, &page, &[("decision", "allow")]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.location.as_deref().unwrap().starts_with(REDIRECT));
    done.location_query()
}

fn authorize_url(
    gateway: &GatewayProcess,
    scopes: &[&str],
) -> (String, CsrfToken, PkceCodeVerifier) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let client = oauth_client(gateway);
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge);
    for scope in scopes {
        request = request.add_scope(Scope::new(scope.to_string()));
    }
    let (url, state) = request.url();
    (url.to_string(), state, verifier)
}

async fn api_status(gateway: &GatewayProcess, token: &str) -> RawResponse {
    api_status_at(gateway, "/api/profile", token).await
}

#[tokio::test]
async fn the_code_flow_with_pkce_signs_a_user_in_through_the_oauth2_crate() {
    let gateway = start_gateway("").await;
    let base = gateway.url("");
    let mut browser = Browser::new();
    let (url, state, verifier) = authorize_url(&gateway, &["read", "openid", "email"]);

    let login = browser.get(&url).await;
    assert_eq!(login.status, 200);
    assert_eq!(login.headers["content-type"], "text/html; charset=utf-8");
    let csp = login.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert_eq!(login.headers["x-frame-options"], "DENY");
    assert!(browser.cookies.contains_key("portcullis_csrf"));

    let answer = authorize(&mut browser, &base, &url, USER.1).await;
    assert_eq!(&answer["state"], state.secret());
    assert_eq!(answer["iss"], base);
    let session = gateway
        .log()
        .lines()
        .filter(|l| l.contains(&answer["code"]) || l.contains(USER.1))
        .count();
    assert_eq!(session, 0, "no code or password in the log");

    let tokens = oauth_client(&gateway)
        .exchange_code(AuthorizationCode::new(answer["code"].clone()))
        .set_pkce_verifier(verifier)
        .request_async(&oauth_http())
        .await
        .expect("the code is exchanged");
    let access = tokens.access_token().secret();
    assert_eq!(
        tokens
            .scopes()
            .unwrap()
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>(),
        ["email", "openid", "read"]
    );
    let refresh = tokens.refresh_token().expect("a refresh token").clone();

    let r = api_status(&gateway, access).await;
    assert_eq!(r.status, 200, "{}", r.head);
    let echoed = r.echoed();
    assert_eq!(echoed.header_values("x-auth-subject"), ["alice"]);
    assert_eq!(echoed.header_values("x-auth-level"), ["verified"]);

    // The refresh token works through the crate as well.
    let refreshed = oauth_client(&gateway)
        .exchange_refresh_token(&refresh)
        .request_async(&oauth_http())
        .await
        .expect("refreshed");
    assert_eq!(
        api_status(&gateway, refreshed.access_token().secret())
            .await
            .status,
        200
    );

    // A second authorization in the same session goes straight to consent; with `openid`
    // and a nonce the answer carries an ID token for the client.
    let (url, _, verifier) = authorize_url(&gateway, &["openid", "email"]);
    let answer = authorize(&mut browser, &base, &format!("{url}&nonce=n-123"), "unused").await;
    let raw: Value = oauth_http()
        .post(gateway.url("/auth/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &answer["code"]),
            ("redirect_uri", REDIRECT),
            ("client_id", PUBLIC_APP),
            ("code_verifier", verifier.secret()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id_token = raw["id_token"].as_str().expect("an ID token");
    assert_eq!(jwt_part(id_token, 0)["typ"], "JWT");
    let claims = jwt_part(id_token, 1);
    assert_eq!(claims["aud"], PUBLIC_APP);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["nonce"], "n-123");
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["iss"], base);
    // An ID token is not an access token.
    assert_eq!(api_status(&gateway, id_token).await.status, 401);
    // Discovery names the endpoints the crate used.
    let discovery: Value = reqwest::get(gateway.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["authorization_endpoint"],
        gateway.url("/auth/oauth/authorize")
    );
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
}

/// Exchanges a code by hand; the answer's status and JSON.
async fn exchange(
    gateway: &GatewayProcess,
    code: &str,
    redirect: &str,
    verifier: &str,
) -> (u16, Value) {
    let r = oauth_http()
        .post(gateway.url("/auth/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("client_id", PUBLIC_APP),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// A browser signed in through the public client (scope `read`) and the tokens it got.
async fn signed_in(gateway: &GatewayProcess) -> (Browser, Value) {
    let mut browser = Browser::new();
    let (url, _, verifier) = authorize_url(gateway, &["read"]);
    let answer = authorize(&mut browser, &gateway.url(""), &url, USER.1).await;
    let (status, tokens) = exchange(gateway, &answer["code"], REDIRECT, verifier.secret()).await;
    assert_eq!(status, 200, "{tokens}");
    (browser, tokens)
}

/// A form post by the public client, which names itself by `client_id` alone.
async fn public_client_post(gateway: &GatewayProcess, path: &str, token: &str) -> (u16, Value) {
    let r = oauth_http()
        .post(gateway.url(path))
        .form(&[("client_id", PUBLIC_APP), ("token", token)])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn a_public_client_introspects_nothing_and_revokes_only_its_own_tokens() {
    let gateway = start_gateway("").await;
    let (_, tokens) = signed_in(&gateway).await;
    let own = tokens["access_token"].as_str().unwrap();
    let device = &new_device_token(&gateway).await;

    // RFC 7662 §2.1: no token scanning by a client that proves nothing.
    for token in [own, device] {
        let (status, body) = public_client_post(&gateway, "/auth/oauth/introspect", token).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
        assert_eq!(body.get("active"), None);
    }
    // RFC 7009 §2.1: a token issued to no client is not this client's to revoke.
    let (status, _) = public_client_post(&gateway, "/auth/oauth/revoke", device).await;
    assert_eq!(status, 200, "answered as always");
    let still = api_status(&gateway, device).await;
    assert_eq!(still.status, 401);
    assert!(
        still.head.contains("insufficient_user_authentication") && !still.head.contains("revoked"),
        "the device token still stands, short of the route's level: {}",
        still.head
    );
    let (status, _) = public_client_post(&gateway, "/auth/oauth/revoke", own).await;
    assert_eq!(status, 200);
    assert_eq!(
        api_status(&gateway, own).await.status,
        401,
        "its own: revoked"
    );
}

#[tokio::test]
async fn wrong_verifiers_replayed_codes_and_foreign_redirects_are_refused() {
    let gateway = start_gateway("").await;
    let base = gateway.url("");
    let mut browser = Browser::new();
    let (url, _, verifier) = authorize_url(&gateway, &["read"]);
    let answer = authorize(&mut browser, &base, &url, USER.1).await;
    let code = &answer["code"];

    // Wrong verifier, wrong redirect URI: refused, and the code is not spent by them.
    let wrong = PkceCodeVerifier::new("x".repeat(64));
    let (status, body) = exchange(&gateway, code, REDIRECT, wrong.secret()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = exchange(
        &gateway,
        code,
        "http://127.0.0.1:9/other",
        verifier.secret(),
    )
    .await;
    assert_eq!(status, 400);

    let (status, tokens) = exchange(&gateway, code, REDIRECT, verifier.secret()).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(api_status(&gateway, access).await.status, 200);

    // The same code again: refused, and what it gave is revoked.
    let (status, body) = exchange(&gateway, code, REDIRECT, verifier.secret()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let r = api_status(&gateway, access).await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().contains("revoked"));
    let refreshed = oauth_client(&gateway)
        .exchange_refresh_token(&RefreshToken::new(
            tokens["refresh_token"].as_str().unwrap().into(),
        ))
        .request_async(&oauth_http())
        .await;
    assert!(refreshed.is_err(), "the refresh token went with the replay");

    // An unregistered redirect URI is never redirected to: the gateway's own page says so.
    let evil = url.replace("127.0.0.1%3A9%2Fcallback", "evil.example%2Fcallback");
    assert_ne!(evil, url);
    let page = browser.get(&evil).await;
    assert_eq!(page.status, 400);
    assert!(page.location.is_none());
    assert!(page.body.contains("not registered"), "{}", page.body);

    // A scope beyond the client's, and the implicit grant: back to the client with an error.
    let (url, state, _) = authorize_url(&gateway, &["read", "admin"]);
    let page = browser.get(&url).await;
    assert_eq!(page.status, 303);
    let query = page.location_query();
    assert_eq!(query["error"], "invalid_scope");
    assert_eq!(&query["state"], state.secret());
    let page = browser
        .get(&url.replace("response_type=code", "response_type=token"))
        .await;
    assert_eq!(page.location_query()["error"], "unsupported_response_type");
    // A request without PKCE.
    let plain = url::Url::parse(&authorize_url(&gateway, &["read"]).0).unwrap();
    let without: Vec<(String, String)> = plain
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .collect();
    let mut stripped = plain.clone();
    stripped.query_pairs_mut().clear().extend_pairs(&without);
    let page = browser.get(stripped.as_str()).await;
    assert_eq!(page.location_query()["error"], "invalid_request");

    // The password grant is not offered.
    let r = oauth_http()
        .post(gateway.url("/auth/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", PUBLIC_APP),
            ("username", USER.0),
            ("password", USER.1),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn forms_without_their_csrf_token_are_refused() {
    let gateway = start_gateway("").await;
    let base = gateway.url("");
    let (url, _, _) = authorize_url(&gateway, &["read"]);

    // Login: a form posted from elsewhere has no matching cookie.
    let mut browser = Browser::new();
    let login = browser.get(&url).await;
    let mut attacker = Browser::new();
    let forged = attacker
        .submit(&base, &login, &[("username", USER.0), ("password", USER.1)])
        .await;
    assert_eq!(forged.status, 403);
    assert!(!attacker.cookies.contains_key("portcullis_session"));

    // Consent: the session's token is required.
    let signed = browser
        .submit(&base, &login, &[("username", USER.0), ("password", USER.1)])
        .await;
    assert_eq!(signed.status, 303);
    let consent = browser
        .get(&format!("{base}{}", signed.location.unwrap()))
        .await;
    let fields: Vec<(String, String)> = consent
        .hidden_fields()
        .into_iter()
        .map(|(k, v)| {
            if k == "csrf" {
                (k, "guess".into())
            } else {
                (k, v)
            }
        })
        .chain([("decision".to_string(), "allow".to_string())])
        .collect();
    let forged = browser
        .post(&format!("{base}{}", consent.form_action()), &fields)
        .await;
    assert_eq!(forged.status, 403);
    assert!(forged.location.is_none());
    // Deny goes back to the client as access_denied.
    let denied = browser
        .submit(&base, &consent, &[("decision", "deny")])
        .await;
    assert_eq!(denied.location_query()["error"], "access_denied");
}

#[tokio::test]
async fn signing_out_ends_the_session_and_revokes_its_refresh_tokens() {
    let gateway = start_gateway("").await;
    let base = gateway.url("");
    let (mut browser, tokens) = signed_in(&gateway).await;

    // A bare POST (a link or form elsewhere) signs nobody out.
    let forged = browser
        .post(&gateway.url("/auth/logout"), &[("csrf".into(), "x".into())])
        .await;
    assert_eq!(forged.status, 403);
    let confirm = browser.get(&gateway.url("/auth/logout")).await;
    assert!(confirm.body.contains("alice"), "{}", confirm.body);
    let out = browser.submit(&base, &confirm, &[]).await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(!browser.cookies.contains_key("portcullis_session"));

    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(api_status(&gateway, access).await.status, 401);
    let refreshed = oauth_client(&gateway)
        .exchange_refresh_token(&RefreshToken::new(
            tokens["refresh_token"].as_str().unwrap().into(),
        ))
        .request_async(&oauth_http())
        .await;
    assert!(refreshed.is_err());
    // Signed out: the next authorization asks for the password again.
    let again = browser.get(&authorize_url(&gateway, &["read"]).0).await;
    assert!(again.body.contains("name=\"password\""));
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_user() {
    let metrics_port = free_port();
    let gateway = start_gateway(&format!(
        "max_failures = 3\nfailure_window = \"10m\"\n\n\
         [metrics]\naddress = \"127.0.0.1:{metrics_port}\"\n"
    ))
    .await;
    let base = gateway.url("");
    let mut browser = Browser::new();
    let (url, _, _) = authorize_url(&gateway, &["read"]);
    for _ in 0..3 {
        let login = browser.get(&url).await;
        let failed = browser
            .submit(
                &base,
                &login,
                &[("username", USER.0), ("password", "wrong")],
            )
            .await;
        assert_eq!(failed.status, 401);
        assert!(failed.body.contains("Wrong user name or password"));
        assert!(
            !failed.body.contains("wrong\""),
            "the password is not echoed"
        );
    }
    let login = browser.get(&url).await;
    let limited = browser
        .submit(&base, &login, &[("username", USER.0), ("password", USER.1)])
        .await;
    assert_eq!(limited.status, 429);
    assert!(limited.headers.contains_key("retry-after"));
    assert!(!browser.cookies.contains_key("portcullis_session"));
    // Operators see the guessing run.
    let text = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("portcullis_sign_ins_total{result=\"failure\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("portcullis_sign_ins_total{result=\"limited\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn concurrent_guesses_cannot_outrun_the_limit() {
    let gateway = start_gateway("max_failures = 5\nfailure_window = \"10m\"\n").await;
    let base = gateway.url("");
    let (url, _, _) = authorize_url(&gateway, &["read"]);
    let mut ready = Vec::new();
    for _ in 0..21 {
        let mut browser = Browser::new();
        let login = browser.get(&url).await;
        ready.push((browser, login));
    }
    // All 21 at once: each is counted before its password is hashed, so only 5 are hashed.
    let mut guesses = tokio::task::JoinSet::new();
    for (mut browser, login) in ready {
        let base = base.clone();
        guesses.spawn(async move {
            let fields = [("username", USER.0), ("password", "wrong")];
            browser.submit(&base, &login, &fields).await.status
        });
    }
    let statuses = guesses.join_all().await;
    let count = |status| statuses.iter().filter(|&&s| s == status).count();
    assert_eq!((count(401), count(429)), (5, 16), "{statuses:?}");
    // And the right password after them is refused too.
    let mut browser = Browser::new();
    let login = browser.get(&url).await;
    let right = browser
        .submit(&base, &login, &[("username", USER.0), ("password", USER.1)])
        .await;
    assert_eq!(right.status, 429);
}

#[tokio::test]
async fn sign_in_can_be_delegated_to_an_upstream_openid_provider() {
    // The provider: a second Portcullis with the users file and Portcullis A as its client.
    let a_port = free_port();
    let provider_config = config_with(&format!(
        r#"{CATCH_ALL}
[token_service]
issuer = "http://127.0.0.1:{{port}}"
store = {{ path = "{{dir}}/tokens.redb" }}
[token_service.sign_in]
users_file = "{{dir}}/users.toml"
[token_service.clients.gateway-a]
secret_sha256 = "{}"
scopes = ["openid", "email"]
grants = ["authorization_code"]
redirect_uris = ["http://127.0.0.1:{a_port}/auth/oauth/callback"]
"#,
        portcullis_core::digest::digest_hex("a-secret-0123456789")
    ));
    let provider =
        GatewayProcess::start_with_files(&provider_config, &[("users.toml", &users_file())]).await;
    let gateway_config = sign_in_config("").replace(
        "users_file = \"{dir}/users.toml\"",
        &format!(
            r#"[token_service.sign_in.oidc]
issuer = "{}"
client_id = "gateway-a"
client_secret = "a-secret-0123456789"
redirect_uri = "http://127.0.0.1:{a_port}/auth/oauth/callback"
scopes = ["openid", "email"]"#,
            provider.url("")
        ),
    );
    let gateway = GatewayProcess::start_on(&gateway_config, &[], a_port).await;
    let base = gateway.url("");
    let provider_base = provider.url("");

    let mut browser = Browser::new();
    let (url, state, verifier) = authorize_url(&gateway, &["read"]);
    let to_provider = browser.get(&url).await;
    assert_eq!(to_provider.status, 303, "{}", to_provider.body);
    let provider_url = to_provider.location.clone().unwrap();
    assert!(provider_url.starts_with(&format!("{provider_base}/auth/oauth/authorize?")));
    // At the provider: sign in and consent, as any user of it would.
    let login = browser.get(&provider_url).await;
    let signed = browser
        .submit(
            &provider_base,
            &login,
            &[("username", USER.0), ("password", USER.1)],
        )
        .await;
    let consent = browser
        .get(&format!("{provider_base}{}", signed.location.unwrap()))
        .await;
    assert!(consent.body.contains("gateway-a"), "{}", consent.body);
    let back = browser
        .submit(&provider_base, &consent, &[("decision", "allow")])
        .await;
    let callback = back.location.clone().unwrap();
    assert!(
        callback.starts_with(&gateway.url("/auth/oauth/callback?")),
        "{callback}"
    );

    // A callback without the browser's state cookie is refused (login CSRF), and so is one
    // whose cookie was altered (it is a JWT signed with the gateway's key, not a store record).
    let mut stranger = Browser::new();
    assert_eq!(stranger.get(&callback).await.status, 403);
    let sealed = browser.cookies["portcullis_oidc"].clone();
    assert_eq!(sealed.split('.').count(), 3, "a compact JWS");
    let mut forger = Browser::new();
    let mut altered = sealed.clone().into_bytes();
    let last = altered.len() - 2;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    forger.cookies.insert(
        "portcullis_oidc".into(),
        String::from_utf8(altered).unwrap(),
    );
    assert_eq!(forger.get(&callback).await.status, 403);
    // The right cookie with another state is refused too.
    forger.cookies.insert("portcullis_oidc".into(), sealed);
    let other_state = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| {
            if k == "state" {
                (k.into_owned(), "other".to_string())
            } else {
                (k.into_owned(), v.into_owned())
            }
        })
        .collect::<Vec<_>>();
    let mut wrong = url::Url::parse(&callback).unwrap();
    wrong.query_pairs_mut().clear().extend_pairs(&other_state);
    assert_eq!(forger.get(wrong.as_str()).await.status, 403);

    let resumed = browser.get(&callback).await;
    assert_eq!(resumed.status, 303, "{}", resumed.body);
    assert!(browser.cookies.contains_key("portcullis_session"));
    // The callback is one-time.
    assert_eq!(browser.get(&callback).await.status, 403);
    let consent = browser
        .get(&format!("{base}{}", resumed.location.unwrap()))
        .await;
    assert!(consent.body.contains("Example SPA"), "{}", consent.body);
    let done = browser
        .submit(&base, &consent, &[("decision", "allow")])
        .await;
    let answer = done.location_query();
    assert_eq!(&answer["state"], state.secret());
    let (status, tokens) = exchange(&gateway, &answer["code"], REDIRECT, verifier.secret()).await;
    assert_eq!(status, 200, "{tokens}");
    let r = api_status(&gateway, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.echoed().header_values("x-auth-subject"), ["alice"]);
}

#[tokio::test]
async fn the_bundled_demo_client_and_user_sign_in_as_the_readme_shows() {
    let state = tempfile::tempdir().unwrap();
    let config = bundled_config(state.path());
    let gateway = GatewayProcess::start(&config).await;
    let base = gateway.url("");
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let url = format!(
        "{base}/auth/oauth/authorize?response_type=code&client_id=demo-spa\
         &redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fpublic%2Fcallback\
         &scope=openid%20profile%3Aread&state=xyz&code_challenge={}&code_challenge_method=S256",
        challenge.as_str()
    );
    let mut browser = Browser::new();
    let login = browser.get(&url).await;
    assert!(
        login.body.contains("Demo single-page app"),
        "{}",
        login.body
    );
    let signed = browser
        .submit(
            &base,
            &login,
            &[("username", "demo"), ("password", "demo-password-4Vx7")],
        )
        .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let consent = browser
        .get(&format!("{base}{}", signed.location.unwrap()))
        .await;
    let done = browser
        .submit(&base, &consent, &[("decision", "allow")])
        .await;
    assert!(done
        .location
        .as_deref()
        .unwrap()
        .starts_with("http://localhost:8080/public/callback?code="));
    let answer = done.location_query();
    assert_eq!(answer["state"], "xyz");
    let r = oauth_http()
        .post(gateway.url("/auth/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "demo-spa"),
            ("redirect_uri", "http://localhost:8080/public/callback"),
            ("code", &answer["code"]),
            ("code_verifier", verifier.secret()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    assert_eq!(tokens["scope"], "openid profile:read");
    assert!(tokens["refresh_token"].is_string() && tokens["id_token"].is_string());
    // The bundled /profile route takes the token: a verified user with profile:read.
    let r = api_status_at(
        &gateway,
        "/profile/me",
        tokens["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.head);
}

async fn api_status_at(gateway: &GatewayProcess, path: &str, token: &str) -> RawResponse {
    raw_request(
        gateway.addr(),
        &get(path, &[&format!("Authorization: Bearer {token}")]),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn an_expired_access_token_says_so_and_the_refresh_token_takes_over() {
    // Expiry is in whole seconds, so a token lives between ttl - 1 and ttl seconds: 3 s leaves
    // the refreshed one at least 2 s to be used in, even on a loaded machine.
    let config = sign_in_config("").replace("store = {", "access_ttl = \"3s\"\nstore = {");
    let gateway = GatewayProcess::start_with_files(&config, &[("users.toml", &users_file())]).await;
    let base = gateway.url("");
    let mut browser = Browser::new();
    let (url, _, verifier) = authorize_url(&gateway, &["read"]);
    let answer = authorize(&mut browser, &base, &url, USER.1).await;
    let (status, tokens) = exchange(&gateway, &answer["code"], REDIRECT, verifier.secret()).await;
    assert_eq!(status, 200, "{tokens}");
    tokio::time::sleep(std::time::Duration::from_millis(3_100)).await;
    let r = api_status(&gateway, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(r.status, 401);
    let challenge = r.header("www-authenticate").unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(
        challenge.contains("error_description=\"expired\""),
        "{challenge}"
    );
    let refreshed = oauth_client(&gateway)
        .exchange_refresh_token(&RefreshToken::new(
            tokens["refresh_token"].as_str().unwrap().into(),
        ))
        .request_async(&oauth_http())
        .await
        .expect("the refresh token still works");
    assert_eq!(
        api_status(&gateway, refreshed.access_token().secret())
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn browser_apps_on_other_origins_reach_the_token_endpoint_through_cors() {
    let config = sign_in_config("").replace(
        &format!("[token_service.clients.{PUBLIC_APP}]"),
        &format!(
            "[token_service.cors]\nallow_origins = [\"https://spa.example\"]\n\n\
             [token_service.clients.{PUBLIC_APP}]"
        ),
    );
    let gateway = GatewayProcess::start_with_files(&config, &[("users.toml", &users_file())]).await;
    let preflight = |origin: &str| {
        format!(
            "OPTIONS /auth/oauth/token HTTP/1.1\r\nHost: t\r\nOrigin: {origin}\r\n\
             Access-Control-Request-Method: POST\r\n\
             Access-Control-Request-Headers: content-type\r\nConnection: close\r\n\r\n"
        )
    };
    let r = raw_request(gateway.addr(), preflight("https://spa.example").as_bytes())
        .await
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.head);
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("https://spa.example")
    );
    assert!(r
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    let r = raw_request(gateway.addr(), preflight("https://evil.example").as_bytes())
        .await
        .unwrap();
    assert_eq!(r.status, 403);
    assert!(r.header("access-control-allow-origin").is_none());

    // The actual request's answer (here an error) is readable by the allowed origin only.
    let token_url = gateway.url("/auth/oauth/token");
    let token = |origin: &'static str| {
        let url = token_url.clone();
        async move {
            oauth_http()
                .post(url)
                .header("origin", origin)
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("client_id", PUBLIC_APP),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let r = token("https://spa.example").await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://spa.example"
    );
    let r = token("https://evil.example").await;
    assert!(!r.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn an_unreachable_upstream_provider_is_a_503_page_not_a_hang() {
    let closed = free_port();
    let config = sign_in_config("").replace(
        "users_file = \"{dir}/users.toml\"",
        &format!(
            "[token_service.sign_in.oidc]\nissuer = \"http://127.0.0.1:{closed}\"\n\
             client_id = \"a\"\nclient_secret = \"s\"\n\
             redirect_uri = \"http://127.0.0.1:9/auth/oauth/callback\""
        ),
    );
    let gateway = GatewayProcess::start(&config).await;
    let mut browser = Browser::new();
    let started = std::time::Instant::now();
    let page = browser.get(&authorize_url(&gateway, &["read"]).0).await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(page.headers.contains_key("retry-after"));
    assert!(page.location.is_none());
    assert!(started.elapsed() < std::time::Duration::from_secs(6));
    // A callback with no sign-in in progress is refused.
    let stray = browser
        .get(&gateway.url("/auth/oauth/callback?code=x&state=y"))
        .await;
    assert_eq!(stray.status, 403);
}
