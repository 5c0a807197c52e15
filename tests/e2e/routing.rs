//! Routing by host, path and method; path normalization attacks (SECURITY.md §2.8).

use crate::support::*;

const ROUTES: &str = r#"
[upstreams.other]
addresses = ["127.0.0.1:{echo}"]

[[routes]]
name = "status-exact"
path = "/status"
upstream = "echo"

[[routes]]
name = "admin-host"
host = "admin.example.com"
path_prefix = "/"
methods = ["GET"]
upstream = "other"

[[routes]]
name = "wildcard-host"
host = "*.apps.example.com"
path_prefix = "/"
upstream = "echo"

[[routes]]
name = "public"
path_prefix = "/public"
methods = ["GET", "HEAD"]
upstream = "echo"

[[routes]]
name = "api-write"
path_prefix = "/api"
methods = ["POST", "PUT"]
upstream = "echo"
"#;

async fn gateway() -> GatewayProcess {
    GatewayProcess::start(&config_with(ROUTES)).await
}

#[tokio::test]
async fn routes_by_path_host_and_method() {
    let gw = gateway().await;
    let client = reqwest::Client::new();

    let r = client.get(gw.url("/public/a?x=1")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let echoed: EchoedRequest = r.json().await.unwrap();
    assert_eq!(
        (echoed.path.as_str(), echoed.query.as_deref()),
        ("/public/a", Some("x=1"))
    );

    assert_eq!(
        client.get(gw.url("/status")).send().await.unwrap().status(),
        200
    );
    // Exact means exact; a prefix never matches a longer segment.
    assert_eq!(
        client
            .get(gw.url("/status/x"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        client
            .get(gw.url("/publicity"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let r = raw_request(
        gw.addr(),
        b"GET /anything HTTP/1.1\r\nHost: ADMIN.example.com:80\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.echoed().path, "/anything");

    let r = raw_request(
        gw.addr(),
        b"GET /w HTTP/1.1\r\nHost: a.b.apps.example.com\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    // Label-aware: no match on a longer name that merely ends the same way.
    let r = raw_request(
        gw.addr(),
        b"GET /w HTTP/1.1\r\nHost: evilapps.example.com\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn unmatched_requests_get_json_404_and_405_with_allow() {
    let gw = gateway().await;
    let client = reqwest::Client::new();

    let r = client.get(gw.url("/nowhere")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "no_route");

    let r = client.delete(gw.url("/api/users/1")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST, PUT");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "method_not_allowed");

    let r = client
        .post(gw.url("/api/users"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn dot_segments_are_resolved_before_routing_and_forwarding() {
    let gw = gateway().await;
    // `/public/../api/x` is `/api/x`: GET is not allowed there, although `/public` allows it.
    for target in [
        "/public/../api/x",
        "/public/%2e%2e/api/x",
        "/public/%2E%2e/api/x",
        "/public/./../api/x",
        "//public/..//api/x",
    ] {
        let r = raw_request(gw.addr(), &get(target, &[])).await.unwrap();
        assert_eq!(r.status, 405, "{target}: {}", r.head);
    }
    // And what is routed is exactly what the upstream receives.
    for (target, forwarded) in [
        ("/public/a/../b", "/public/b"),
        ("/public/%61bc", "/public/abc"),
        ("/public//x/./y/", "/public/x/y/"),
        ("/public/a%20b", "/public/a%20b"),
    ] {
        let r = raw_request(gw.addr(), &get(target, &[])).await.unwrap();
        assert_eq!(r.status, 200, "{target}: {}", r.head);
        assert_eq!(r.echoed().path, forwarded, "{target}");
    }
}

#[tokio::test]
async fn ambiguous_paths_are_refused_with_400() {
    let gw = gateway().await;
    for target in [
        "/public/..%2fapi/x",
        "/public%2F..%2Fapi",
        "/public/%5c..%5capi",
        "/public/..;/api/x",
        "/public;x=1",
        "/public#/../api/x",
        "/public/%00",
        "/../etc/passwd",
        "/public/../../etc",
        "/public/%zz",
        "/public/%c0%ae%c0%ae/x",
    ] {
        let r = raw_request(gw.addr(), &get(target, &[])).await.unwrap();
        assert_eq!(r.status, 400, "{target}: {}", r.head);
        let body = r.json();
        assert_eq!(body["error"], "invalid_path", "{target}");
        // The refusal never echoes the attacker's bytes.
        assert!(
            !String::from_utf8_lossy(&r.body).contains("etc"),
            "{target}"
        );
    }
}

#[tokio::test]
async fn the_query_never_affects_routing() {
    let gw = gateway().await;
    // oauth2-proxy GHSA-7rh7-c77v-6434: a query that looks like a public path changes nothing.
    let r = raw_request(gw.addr(), &get("/api/x?/public", &[]))
        .await
        .unwrap();
    assert_eq!(r.status, 405);
    let r = raw_request(gw.addr(), &get("/nowhere?x=/public/", &[]))
        .await
        .unwrap();
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn absolute_form_targets_are_routed_on_their_path() {
    let gw = gateway().await;
    let r = raw_request(
        gw.addr(),
        b"GET http://test.local/public/../public/z?q=1 HTTP/1.1\r\nHost: test.local\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    let echoed = r.echoed();
    assert_eq!(
        (echoed.path.as_str(), echoed.query.as_deref()),
        ("/public/z", Some("q=1"))
    );
}

#[tokio::test]
async fn an_absolute_form_authority_is_the_host_routed_and_forwarded() {
    let gw = gateway().await;
    // Routed by the authority (admin.example.com: upstream "other").
    let r = raw_request(
        gw.addr(),
        b"GET http://admin.example.com/x HTTP/1.1\r\nHost: admin.example.com\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    let echoed = r.echoed();
    assert_eq!(echoed.header_values("host"), ["admin.example.com"]);
    // A Host that names another host than the authority is ambiguous: 400 (pingora refuses
    // it as the head is read, RFC 9112 §3.2.2), never routed by either.
    let r = raw_request(
        gw.addr(),
        b"POST http://admin.example.com/api/x HTTP/1.1\r\nHost: test.local\r\nContent-Length: 0\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 400, "{}", r.head);
}
