//! Upstream down, silent or partly down: a JSON 502/504, and the gateway keeps serving.

use crate::support::*;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_dead_upstream_gives_502_json() {
    let dead = free_port();
    let gw = GatewayProcess::start(&config_with(&format!(
        r#"
[upstreams.dead]
addresses = ["127.0.0.1:{dead}"]
connect_timeout = "500ms"

[[routes]]
path_prefix = "/dead"
upstream = "dead"

[[routes]]
path_prefix = "/"
upstream = "echo"
"#
    )))
    .await;
    let client = reqwest::Client::new();
    let r = client.get(gw.url("/dead/x")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "upstream_unavailable");
    // The gateway is unharmed.
    assert_eq!(
        client.get(gw.url("/fine")).send().await.unwrap().status(),
        200
    );
    assert!(!gw.log().contains("panicked"));
}

#[tokio::test]
async fn a_silent_upstream_gives_504_within_the_read_timeout() {
    let hole = Blackhole::start();
    let gw = GatewayProcess::start(&config_with(&format!(
        r#"
[upstreams.silent]
addresses = ["127.0.0.1:{}"]
read_timeout = "400ms"

[[routes]]
path_prefix = "/"
upstream = "silent"
"#,
        hole.port
    )))
    .await;
    let started = Instant::now();
    let r = reqwest::Client::new()
        .get(gw.url("/slow"))
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(r.status(), 504);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "upstream_timeout");
    assert!(
        waited >= Duration::from_millis(350) && waited < Duration::from_secs(4),
        "waited {waited:?}"
    );
}

#[tokio::test]
async fn health_checks_take_dead_backends_out_of_rotation() {
    let dead = free_port();
    let gw = GatewayProcess::start(&config_with(&format!(
        r#"
[upstreams.mixed]
addresses = ["127.0.0.1:{dead}", "127.0.0.1:{{echo}}"]
connect_timeout = "300ms"
health_check = {{ interval = "100ms", unhealthy_after = 1 }}

[[routes]]
path_prefix = "/"
upstream = "mixed"
"#
    )))
    .await;
    // Give the first health check time to run, then every request must land on the live one.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let client = reqwest::Client::new();
    for i in 0..10 {
        let r = client.get(gw.url(&format!("/r{i}"))).send().await.unwrap();
        assert_eq!(r.status(), 200, "request {i}");
    }
}

#[tokio::test]
async fn a_health_checked_upstream_is_not_taken_out_while_starting() {
    // The in-process echo upstream starts alongside the proxy; a probe fired at boot used to
    // catch it before it listened and take it out for a whole interval.
    let gw = GatewayProcess::start(&config_with(
        r#"
[upstreams.checked]
addresses = ["127.0.0.1:{echo}"]
health_check = { interval = "3s" }

[[routes]]
path_prefix = "/"
upstream = "checked"
"#,
    ))
    .await;
    let client = reqwest::Client::new();
    for i in 0..10 {
        let r = client
            .get(gw.url(&format!("/boot/{i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "request {i} right after start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
