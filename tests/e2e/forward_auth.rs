//! Portcullis as the decision service behind a real nginx (`auth_request`): nginx proxies to
//! the backend and asks `[forward_auth] path` about each request first.

use crate::support::*;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const KEY: &str = "a-forward-auth-app-key-4Hn8Wq";
const IDENTIFIED: &str = "a-forward-auth-identified-7Kp2Zr";

/// nginx in front of the echo backend, asking the gateway at `gateway_port`.
struct Nginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    async fn start(gateway_port: u16, backend_port: u16) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        let conf = format!(
            r#"
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{}}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location = /_portcullis_check {{
      internal;
      proxy_pass http://127.0.0.1:{gateway_port}/_portcullis/check;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Forwarded-Method $request_method;
      proxy_set_header X-Forwarded-Uri $request_uri;
      proxy_set_header X-Forwarded-Host $host;
    }}
    location / {{
      auth_request /_portcullis_check;
      auth_request_set $auth_subject $upstream_http_x_auth_subject;
      auth_request_set $auth_level $upstream_http_x_auth_level;
      auth_request_set $auth_challenge $upstream_http_www_authenticate;
      add_header WWW-Authenticate $auth_challenge always;
      proxy_set_header X-Auth-Subject $auth_subject;
      proxy_set_header X-Auth-Level $auth_level;
      # The backend never sees the credential.
      proxy_set_header Authorization "";
      proxy_pass http://127.0.0.1:{backend_port};
    }}
  }}
}}
"#
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&path)
            .arg("-p")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx is installed (./.ci/install installs nginx-light)");
        let up = eventually(Duration::from_secs(10), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        assert!(
            up,
            "nginx did not start: {:?}",
            std::fs::read_to_string(dir.path().join("error.log"))
        );
        Nginx {
            child,
            port,
            _dir: dir,
        }
    }

    fn addr(&self) -> std::net::SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }
}

#[tokio::test]
async fn nginx_auth_request_asks_portcullis() {
    let config = config_with(&format!(
        r#"
[server]
trusted_proxies = ["127.0.0.1"]

[forward_auth]
path = "/_portcullis/check"

[issuers.keys]
kind = "app_keys"
app_keys = [
  {{ client = "svc", key = "{KEY}", level = "verified", scopes = ["orders"] }},
  {{ client = "guest", key = "{IDENTIFIED}", level = "identified", scopes = ["orders"] }},
]

[[routes]]
path_prefix = "/orders"
upstream = "echo"
[routes.auth]
carriers = ["token", "bearer"]
scopes = ["orders"]
[routes.odata]
private_fields = ["email"]
private_level = "verified"

[[routes]]
path_prefix = "/billing"
upstream = "echo"
[routes.auth]
carriers = ["token", "bearer"]
scopes = ["billing"]
"#
    ));
    let gw = GatewayProcess::start(&config).await;
    let nginx = Nginx::start(gw.port, gw.echo_port).await;
    let token = format!("Authorization: token {KEY}");

    // No credential: nginx passes the gateway's refusal and its challenge on.
    let r = raw_request(nginx.addr(), &get("/orders/1", &[]))
        .await
        .unwrap();
    assert_eq!(r.status, 401, "{}", r.head);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|c| c.starts_with("Bearer realm=")),
        "{}",
        r.head
    );
    // A valid key: the backend gets the identity, never the credential.
    let r = raw_request(nginx.addr(), &get("/orders/1?$select=id", &[&token]))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    let echoed = r.echoed();
    assert_eq!(echoed.header_values("x-auth-subject"), ["svc"]);
    assert_eq!(echoed.header_values("x-auth-level"), ["verified"]);
    assert!(echoed.header_values("authorization").is_empty());
    // Without the route's scope: 403.
    let r = raw_request(nginx.addr(), &get("/billing/1", &[&token]))
        .await
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.head);
    // The OData policy runs on the original URI: a private field is for verified callers.
    let r = raw_request(nginx.addr(), &get("/orders?$select=email", &[&token]))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "a verified caller may: {}", r.head);
    let identified = format!("Authorization: token {IDENTIFIED}");
    let r = raw_request(nginx.addr(), &get("/orders?$select=email", &[&identified]))
        .await
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.head);
    let r = raw_request(
        nginx.addr(),
        &get("/orders?$filter=nonsense%20eq", &[&token]),
    )
    .await
    .unwrap();
    assert_eq!(
        r.status, 500,
        "nginx answers 500 for a check that is neither 2xx, 401 nor 403: {}",
        r.head
    );

    // Only trusted proxies may ask: the gateway refuses a check that does not come from one.
    let r = raw_request(
        gw.addr(),
        &get(
            "/_portcullis/check",
            &[
                "X-Forwarded-Uri: /orders/1",
                &token,
                "X-Forwarded-For: 10.0.0.1",
            ],
        ),
    )
    .await
    .unwrap();
    // (127.0.0.1 is trusted here: the answer is the decision.)
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.header("x-auth-subject").as_deref(), Some("svc"));
}

#[tokio::test]
async fn a_check_from_an_untrusted_peer_is_refused() {
    let config = config_with(&format!(
        "[forward_auth]\npath = \"/_portcullis/check\"\n{CATCH_ALL}"
    ));
    let gw = GatewayProcess::start(&config).await;
    let r = raw_request(
        gw.addr(),
        &get("/_portcullis/check", &["X-Forwarded-Uri: /x"]),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 403, "{}", r.head);
}

/// The proxy sets one name for each fact and passes the client's headers on: a second
/// spelling (another name, `_` for `-`, a repeat) could be the client's, so it is refused
/// rather than ranked.
#[tokio::test]
async fn a_forwarded_fact_given_twice_in_any_spelling_is_refused() {
    let config = config_with(&format!(
        "[server]\ntrusted_proxies = [\"127.0.0.1\"]\n\n[forward_auth]\npath = \"/_portcullis/check\"\n{CATCH_ALL}"
    ));
    let gw = GatewayProcess::start(&config).await;
    for headers in [
        ["X-Original-URI: /x", "X-Forwarded-Uri: /admin"],
        ["X-Forwarded-Uri: /x", "X_Forwarded_Uri: /admin"],
        ["X-Forwarded-Uri: /x", "X-Forwarded-Uri: /admin"],
        ["X-Forwarded-Uri: /x", "X_Original_Method: DELETE"],
    ] {
        let mut headers = headers.to_vec();
        if headers[1].starts_with("X_Original_Method") {
            headers.push("X-Forwarded-Method: GET");
        }
        let r = raw_request(gw.addr(), &get("/_portcullis/check", &headers))
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{headers:?}: {}", r.head);
    }
    let r = raw_request(
        gw.addr(),
        &get("/_portcullis/check", &["X-Original-URI: /x"]),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
}
