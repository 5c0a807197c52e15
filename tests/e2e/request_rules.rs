//! `[routes.request]` (415, 413 declared or streamed) and `[routes.cors]` (preflights answered
//! by the gateway; CORS headers on upstream answers and on the gateway's own refusals).

use crate::support::*;

const KEY: &str = "rules-key-0123456789abcdef";

async fn gateway() -> GatewayProcess {
    GatewayProcess::start(&config_with(&format!(
        r#"
[issuers.keys]
kind = "app_keys"
app_keys = [{{ client = "app", key = "{KEY}", level = "verified" }}]

[[routes]]
name = "items"
path_prefix = "/items"
methods = ["GET", "POST", "PUT"]
upstream = "echo"
[routes.auth]
carriers = ["token"]
[routes.request]
json_methods = ["POST", "PUT"]
max_body_bytes = 64
[routes.cors]
allow_origins = ["https://app.example"]
allow_methods = ["GET", "PUT"]
allow_headers = ["authorization", "content-type"]
expose_headers = ["x-request-id"]
allow_credentials = true
max_age = "5m"
"#
    )))
    .await
}

fn post(headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut text = format!(
        "POST /items HTTP/1.1\r\nHost: test.local\r\nAuthorization: token {KEY}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        text.push_str(h);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

#[tokio::test]
async fn json_rules_and_body_limits() {
    let gw = gateway().await;
    let auth = format!("Authorization: token {KEY}");

    let r = raw_request(gw.addr(), &post(&["Content-Type: application/json"], b"{}"))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.echoed().body_bytes, 2);

    let r = raw_request(gw.addr(), &post(&["Content-Type: text/plain"], b"{}"))
        .await
        .unwrap();
    assert_eq!(r.status, 415);
    assert_eq!(r.json()["error"], "unsupported_media_type");
    let r = raw_request(gw.addr(), &post(&[], b"{}")).await.unwrap();
    assert_eq!(r.status, 415);
    // Reads need no media type; the limit is on bodies.
    let r = raw_request(gw.addr(), &get("/items", &[&auth]))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    // Without a credential the caller learns nothing of the route's rules.
    let r = raw_request(
        gw.addr(),
        b"POST /items HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nab",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);

    // Declared too large: refused before the body is read, connection closed.
    let big = vec![b'x'; 65];
    let r = raw_request(gw.addr(), &post(&["Content-Type: application/json"], &big))
        .await
        .unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"], "payload_too_large");
    assert!(r.closed);

    // Streamed (chunked) past the limit: 413 as it crosses it.
    let chunk = "x".repeat(40);
    let chunked = format!(
        "POST /items HTTP/1.1\r\nHost: t\r\n{auth}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n28\r\n{chunk}\r\n28\r\n{chunk}\r\n0\r\n\r\n"
    );
    let r = raw_request(gw.addr(), chunked.as_bytes()).await.unwrap();
    assert_eq!(r.status, 413, "{}", r.head);
    assert!(r.closed);
    // Within the limit, chunked passes whole.
    let small = format!(
        "POST /items HTTP/1.1\r\nHost: t\r\n{auth}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n28\r\n{chunk}\r\n0\r\n\r\n"
    );
    let r = raw_request(gw.addr(), small.as_bytes()).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.echoed().body_bytes, 40);
}

#[tokio::test]
async fn cors_preflights_and_responses() {
    let gw = gateway().await;
    let preflight = |origin: &str, method: &str, headers: &str| {
        format!(
            "OPTIONS /items/1 HTTP/1.1\r\nHost: t\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: {method}\r\nAccess-Control-Request-Headers: {headers}\r\n\r\n"
        )
    };

    // Answered by the gateway without a credential (the upstream never sees it).
    let r = raw_request(
        gw.addr(),
        preflight("https://app.example", "PUT", "authorization, content-type").as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 204, "{}", r.head);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length"), None);
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("https://app.example")
    );
    assert_eq!(
        r.header("access-control-allow-methods").as_deref(),
        Some("GET, PUT")
    );
    assert_eq!(
        r.header("access-control-allow-headers").as_deref(),
        Some("authorization, content-type")
    );
    assert_eq!(r.header("access-control-max-age").as_deref(), Some("300"));
    assert_eq!(
        r.header("access-control-allow-credentials").as_deref(),
        Some("true")
    );

    for (origin, method, headers, why) in [
        ("https://evil.example", "GET", "authorization", "origin"),
        ("https://app.example", "POST", "authorization", "method"),
        ("https://app.example", "GET", "x-internal", "header"),
    ] {
        let r = raw_request(gw.addr(), preflight(origin, method, headers).as_bytes())
            .await
            .unwrap();
        assert_eq!(r.status, 403, "{why}");
        assert_eq!(r.json()["error"], "cors_refused");
        assert_eq!(r.header("access-control-allow-origin"), None, "{why}");
    }

    // A method the route itself does not take is not a CORS question: 405 as usual.
    let r = raw_request(
        gw.addr(),
        preflight("https://app.example", "DELETE", "authorization").as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 405);

    // Actual requests: the allowed origin is echoed on the upstream's answer...
    let auth = format!("Authorization: token {KEY}");
    let r = raw_request(
        gw.addr(),
        &get("/items/1", &[&auth, "Origin: https://app.example"]),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("https://app.example")
    );
    assert_eq!(
        r.header("access-control-expose-headers").as_deref(),
        Some("x-request-id")
    );
    assert_eq!(r.header("vary").as_deref(), Some("Origin"));
    // ...and on the gateway's own refusal, so the script can read the 401.
    let r = raw_request(
        gw.addr(),
        &get("/items/1", &["Origin: https://app.example"]),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("https://app.example")
    );
    // Another origin gets no CORS grant.
    let r = raw_request(
        gw.addr(),
        &get("/items/1", &[&auth, "Origin: https://evil.example"]),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
    // A plain OPTIONS (no preflight headers) is routed as usual: not an allowed method here.
    let r = raw_request(
        gw.addr(),
        b"OPTIONS /items/1 HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 405);
}

#[test]
fn bad_cors_and_rules_config_is_refused() {
    let (code, out) = check_config(&config_with(
        r#"
[[routes]]
path_prefix = "/"
upstream = "echo"
respond_within = "0ms"
[routes.request]
json_methods = ["P OST"]
[routes.cors]
allow_origins = ["*", "https://app.example/"]
allow_credentials = true
allow_headers = ["bad header"]

[polling]
prefix = "poll/"
max_entries = 0
"#,
    ));
    assert_eq!(code, 1, "{out}");
    for needle in [
        "routes[0].request.json_methods[0]",
        "\"*\" must be the only origin",
        "cannot be used with allow_credentials",
        "routes[0].cors.allow_headers",
        "routes[0].respond_within",
        "polling.prefix",
        "polling.max_entries",
    ] {
        assert!(out.contains(needle), "{needle} missing from: {out}");
    }
}
