//! A real browser signs in: headless Chromium, driven over WebDriver (chromedriver + the
//! `fantoccini` crate), fills in the gateway's login page, accepts consent and lands on the
//! client's redirect URI with a code, which the `oauth2` crate then exchanges. A screenshot of
//! the login page is kept as a test artifact.
//!
//! Needs the Debian packages `chromium` and `chromium-driver` (`.ci/run` installs them).

use crate::support::*;
use fantoccini::{ClientBuilder, Locator};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope,
    TokenResponse, TokenUrl,
};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PASSWORD: &str = "a browser's password 42";

/// chromedriver on a free port; killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver() -> Driver {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian package chromium-driver; .ci/run installs it)");
    let driver = Driver { child, port };
    let ready = eventually(Duration::from_secs(20), || async move {
        reqwest::get(format!("http://127.0.0.1:{port}/status"))
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    assert!(ready, "chromedriver did not come up");
    driver
}

#[tokio::test]
async fn headless_chromium_signs_in_consents_and_lands_on_the_redirect_uri() {
    let users = tempfile::tempdir().unwrap();
    let users_path = users.path().join("users.toml");
    portcullis_tokens::users::add_user(&users_path, "carol", PASSWORD, None, false).unwrap();
    // `localhost`, not 127.0.0.1: browsers keep `Secure` cookies on http://localhost only.
    let config = config_with(
        r#"
[[routes]]
path_prefix = "/app"
upstream = "echo"

[[routes]]
path_prefix = "/api"
upstream = "echo"
[routes.auth]
issuers = ["portcullis"]
level = "verified"
scopes = ["read"]

[token_service]
issuer = "http://localhost:{port}"
store = { path = "{dir}/tokens.redb" }
[token_service.sign_in]
users_file = "{dir}/users.toml"
[token_service.clients.web]
public = true
name = "Browser Test App"
scopes = ["read"]
grants = ["authorization_code"]
redirect_uris = ["http://localhost:{port}/app/callback"]
"#,
    );
    let gateway = GatewayProcess::start_with_files(
        &config,
        &[("users.toml", &std::fs::read_to_string(&users_path).unwrap())],
    )
    .await;
    let base = format!("http://localhost:{}", gateway.port);
    let redirect = format!("{base}/app/callback");
    let oauth = BasicClient::new(ClientId::new("web".into()))
        .set_auth_uri(AuthUrl::new(format!("{base}/auth/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(gateway.url("/auth/oauth/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(redirect.clone()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (authorize_url, state) = oauth
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .set_pkce_challenge(challenge)
        .url();

    let driver = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-dev-shm-usage", "--window-size=800,700",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let browser = ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session");

    browser.goto(authorize_url.as_str()).await.unwrap();
    let username = browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("input#username"))
        .await
        .expect("the login page");
    assert_eq!(browser.title().await.unwrap(), "Sign in");
    let screenshot = browser.screenshot().await.unwrap();
    assert!(screenshot.starts_with(b"\x89PNG") && screenshot.len() > 2_000);
    let artifact = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sign-in-login-page.png");
    std::fs::write(&artifact, &screenshot).unwrap();

    username.send_keys("carol").await.unwrap();
    browser
        .find(Locator::Css("input#password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    browser
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    let allow = browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("button[value=allow]"))
        .await
        .expect("the consent page");
    let consent_text = browser
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(consent_text.contains("Browser Test App"), "{consent_text}");
    assert!(consent_text.contains("read"), "{consent_text}");
    allow.click().await.unwrap();

    let landed = eventually(Duration::from_secs(10), || {
        let browser = &browser;
        let redirect = &redirect;
        async move {
            browser
                .current_url()
                .await
                .is_ok_and(|u| u.as_str().starts_with(redirect.as_str()))
        }
    })
    .await;
    let url = browser.current_url().await.unwrap();
    assert!(landed, "still at {url}");
    let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(&query["state"], state.secret());
    browser.close().await.unwrap();

    let tokens = oauth
        .exchange_code(AuthorizationCode::new(query["code"].clone()))
        .set_pkce_verifier(verifier)
        .request_async(&no_redirect_client())
        .await
        .expect("the browser's code is exchanged");
    let r = raw_request(
        gateway.addr(),
        &get(
            "/api/me",
            &[&format!(
                "Authorization: Bearer {}",
                tokens.access_token().secret()
            )],
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.echoed().header_values("x-auth-subject"), ["carol"]);
}
