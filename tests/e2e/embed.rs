//! The embedding API through `examples/embed.rs`: someone else's pingora proxy calling
//! Portcullis from its `request_filter` decides like the gateway and passes the identity on.

use crate::support::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "embed-reader-key-0123456789";
const WEAK_KEY: &str = "embed-weak-key-0123456789ab";

/// The example binary, built by `cargo test` beside this test binary.
struct Embedded {
    child: Child,
    addr: std::net::SocketAddr,
}

impl Drop for Embedded {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_embedded(config: &std::path::Path, upstream_port: u16) -> Embedded {
    let exe = std::env::current_exe().unwrap();
    let examples = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples");
    let port = free_port();
    let child = Command::new(examples.join("embed"))
        .arg(config)
        .arg(format!("127.0.0.1:{port}"))
        .arg(format!("127.0.0.1:{upstream_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run the embed example (cargo test builds it)");
    let embedded = Embedded {
        child,
        addr: ([127, 0, 0, 1], port).into(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(embedded.addr).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the embed example did not listen"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    embedded
}

#[tokio::test]
async fn a_pingora_proxy_of_ones_own_decides_with_portcullis() {
    // A gateway process only for its echo upstream.
    let echo = GatewayProcess::start(&config_with(CATCH_ALL)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("embed.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[listeners]]
address = "127.0.0.1:1"

[upstreams.app]
addresses = ["127.0.0.1:{echo}"]

[issuers.keys]
kind = "app_keys"
app_keys = [
  {{ client = "reader", key = "{KEY}", level = "identified", scopes = ["profile:read"] }},
  {{ client = "weak", key = "{WEAK_KEY}", level = "identified" }},
]

[[routes]]
name = "profile"
path_prefix = "/profile"
upstream = "app"
[routes.auth]
carriers = ["token", "query"]
level = "identified"
scopes = ["profile:read"]

[[routes]]
name = "people"
path_prefix = "/odata/People"
upstream = "app"
[routes.odata]
max_top = 10
"#,
            echo = echo.echo_port
        ),
    )
    .unwrap();
    let proxy = start_embedded(&config, echo.echo_port).await;
    let auth = format!("Authorization: token {KEY}");

    let r = raw_request(proxy.addr, &get("/profile/me", &[]))
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    assert_eq!(r.json()["error"], "unauthorized");

    let r = raw_request(
        proxy.addr,
        &get("/profile/./x/../me", &[&auth, "X-Auth-Subject: admin"]),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    let echoed = r.echoed();
    assert_eq!(echoed.path, "/profile/me");
    assert_eq!(echoed.header_values("x-auth-subject"), vec!["reader"]);
    assert_eq!(echoed.header_values("x-auth-level"), vec!["identified"]);
    assert!(echoed.header_values("authorization").is_empty());

    // A token in the query is taken out of what the upstream sees.
    let r = raw_request(
        proxy.addr,
        &get(&format!("/profile/me?access_token={KEY}&view=full"), &[]),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.echoed().query.as_deref(), Some("view=full"));

    let weak = format!("Authorization: token {WEAK_KEY}");
    let r = raw_request(proxy.addr, &get("/profile/me", &[&weak]))
        .await
        .unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"], "insufficient_scope");

    let r = raw_request(proxy.addr, &get("/odata/People?$top=1000", &[]))
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    let r = raw_request(proxy.addr, &get("/odata/People?$top=5", &[]))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let r = raw_request(proxy.addr, &get("/nowhere", &[]))
        .await
        .unwrap();
    assert_eq!(r.status, 404);

    // A raw `#` is refused as the gateway refuses it, not cut off: without the fragment this
    // would be `/odata/People`, open to anyone.
    let r = raw_request(proxy.addr, &get("/odata/People#/../../profile/me", &[]))
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.head);
    assert_eq!(r.json()["error"], "invalid_path");
}
