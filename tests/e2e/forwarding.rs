//! What reaches the upstream: forwarding headers, request ids, hop-by-hop fields, bodies.

use crate::support::*;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn forwarding_headers_are_set_and_spoofs_dropped() {
    let gw = GatewayProcess::start(&config_with(CATCH_ALL)).await;
    let r = raw_request(
        gw.addr(),
        &get(
            "/x",
            &[
                "X-Forwarded-For: 6.6.6.6",
                "X-Forwarded-Proto: https",
                "X-Forwarded-Host: evil.example",
                "X_Forwarded_For: 7.7.7.7",
                "x-forwarded_host: evil.example",
                "X-Real-IP: 6.6.6.6",
                "X-Original-URL: /admin",
                "X-Rewrite-URL: /admin",
                "Forwarded: for=6.6.6.6;proto=https",
                "X-Envoy-Original-Path: /admin",
            ],
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    let echoed = r.echoed();
    assert_eq!(echoed.header_values("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(echoed.header_values("x-forwarded-proto"), ["http"]);
    assert_eq!(echoed.header_values("x-forwarded-host"), ["test.local"]);
    for gone in [
        "x_forwarded_for",
        "x-forwarded_host",
        "x-real-ip",
        "x-original-url",
        "x-rewrite-url",
        "forwarded",
        "x-envoy-original-path",
    ] {
        assert!(
            echoed.header_values(gone).is_empty(),
            "{gone} reached the upstream"
        );
    }
}

#[tokio::test]
async fn trusted_proxies_may_extend_the_forwarded_chain() {
    let config = config_with(CATCH_ALL).replace(
        "[log]",
        "[server]\ntrusted_proxies = [\"127.0.0.0/8\"]\n\n[log]",
    );
    let gw = GatewayProcess::start(&config).await;
    let r = raw_request(
        gw.addr(),
        &get(
            "/x",
            &[
                "X-Forwarded-For: 203.0.113.9",
                "X-Forwarded-Proto: https",
                "X_Forwarded_For: 7.7.7.7",
            ],
        ),
    )
    .await
    .unwrap();
    let echoed = r.echoed();
    assert_eq!(
        echoed.header_values("x-forwarded-for"),
        ["203.0.113.9, 127.0.0.1"]
    );
    assert_eq!(echoed.header_values("x-forwarded-proto"), ["https"]);
    // Underscore spellings are never believed, trusted peer or not.
    assert!(echoed.header_values("x_forwarded_for").is_empty());
}

#[tokio::test]
async fn request_ids_are_generated_or_kept_and_returned() {
    let gw = GatewayProcess::start(&config_with(CATCH_ALL)).await;
    let r = raw_request(gw.addr(), &get("/x", &[])).await.unwrap();
    let generated = r.header("x-request-id").expect("response carries the id");
    assert_eq!(generated.len(), 32);
    assert_eq!(
        r.echoed().header_values("x-request-id"),
        [generated.as_str()]
    );

    let r = raw_request(gw.addr(), &get("/x", &["X-Request-Id: trace-abc.123"]))
        .await
        .unwrap();
    assert_eq!(r.header("x-request-id").as_deref(), Some("trace-abc.123"));
    assert_eq!(r.echoed().header_values("x-request-id"), ["trace-abc.123"]);

    // An id that could inject into logs is replaced.
    let r = raw_request(gw.addr(), &get("/x", &["X-Request-Id: a b\"c"]))
        .await
        .unwrap();
    let replaced = r.header("x-request-id").unwrap();
    assert_ne!(replaced, "a b\"c");
    assert_eq!(
        r.echoed().header_values("x-request-id"),
        [replaced.as_str()]
    );
}

#[tokio::test]
async fn hop_by_hop_fields_stay_on_their_hop() {
    let gw = GatewayProcess::start(&config_with(CATCH_ALL)).await;
    let r = raw_request(
        gw.addr(),
        &get(
            "/x",
            &[
                "Connection: keep-alive, X-Hop-Secret",
                "X-Hop-Secret: 1",
                "Keep-Alive: timeout=5",
                "Proxy-Connection: keep-alive",
                "TE: trailers",
                "X-End-To-End: kept",
            ],
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    let echoed = r.echoed();
    for gone in ["x-hop-secret", "keep-alive", "proxy-connection", "te"] {
        assert!(
            echoed.header_values(gone).is_empty(),
            "{gone} was forwarded"
        );
    }
    assert_eq!(echoed.header_values("x-end-to-end"), ["kept"]);
}

#[tokio::test]
async fn large_bodies_stream_through() {
    let gw = GatewayProcess::start(&config_with(CATCH_ALL)).await;
    let body = vec![b'z'; 24 * 1024 * 1024];
    let r = reqwest::Client::new()
        .post(gw.url("/upload"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let echoed: EchoedRequest = r.json().await.unwrap();
    assert_eq!(echoed.body_bytes, 24 * 1024 * 1024);
}

#[tokio::test]
async fn chunked_bodies_are_forwarded_as_they_arrive() {
    let gw = GatewayProcess::start(&config_with(CATCH_ALL)).await;
    let mut stream = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    stream
        .write_all(b"POST /chunks HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    for _ in 0..5 {
        stream.write_all(b"400\r\n").await.unwrap();
        stream.write_all(&[b'c'; 0x400]).await.unwrap();
        stream.write_all(b"\r\n").await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    stream.write_all(b"0\r\n\r\n").await.unwrap();
    let r = read_response(&mut stream).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.echoed().body_bytes, 5 * 0x400);
}
