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
async fn each_hop_by_hop_field_is_stripped_when_it_comes_alone() {
    // The proxy checks for these names in one pass before removing any (vendor/README.md): each
    // must be found by itself, not only beside a `Connection` header.
    let gw = GatewayProcess::start(&config_with(CATCH_ALL)).await;
    for field in [
        "Keep-Alive: timeout=5",
        "Proxy-Connection: keep-alive",
        "TE: trailers",
        "Trailer: X-Checksum",
        "Proxy-Authorization: Basic cHJveHk6c2VjcmV0",
        "Proxy-Authenticate: Basic",
        "HTTP2-Settings: AAMAAABkAAQAAP__",
    ] {
        let r = raw_request(gw.addr(), &get("/x", &[field, "X-End-To-End: kept"]))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{field}: {}", r.head);
        let echoed = r.echoed();
        let name = field.split(':').next().unwrap().to_ascii_lowercase();
        assert!(
            echoed.header_values(&name).is_empty(),
            "{field} was forwarded"
        );
        assert_eq!(echoed.header_values("x-end-to-end"), ["kept"], "{field}");
    }
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

/// `[routes.upstream_identity] send = "assertion"`: the upstream gets a short-lived JWT signed
/// by the gateway instead of `X-Auth-*` headers, and verifies it with the gateway's JWKS.
#[tokio::test]
async fn an_upstream_verifies_the_signed_identity_assertion() {
    use jsonwebtoken::{decode, jwk::JwkSet, DecodingKey, Validation};
    let key = "an-assertion-app-key-2Wq7Lm9Z";
    let config = config_with(&format!(
        r#"
[token_service]
issuer = "https://gateway.test"
store = {{ path = "{{dir}}/tokens.redb" }}

[issuers.keys]
kind = "app_keys"
app_keys = [{{ client = "svc", key = "{key}", level = "verified", scopes = ["orders"] }}]

[[routes]]
path_prefix = "/"
upstream = "echo"
[routes.auth]
carriers = ["token", "bearer"]
[routes.upstream_identity]
send = "assertion"
ttl = "2s"
"#
    ));
    let gw = GatewayProcess::start(&config).await;
    let r = raw_request(
        gw.addr(),
        &get(
            "/orders",
            &[
                &format!("Authorization: token {key}"),
                "X-Portcullis-Assertion: forged-by-the-client",
            ],
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    let echoed = r.echoed();
    let assertions = echoed.header_values("x-portcullis-assertion");
    assert_eq!(assertions.len(), 1, "{:?}", echoed.headers);
    let assertion = assertions[0].to_string();
    assert_ne!(assertion, "forged-by-the-client");
    assert!(echoed.header_values("x-auth-subject").is_empty());
    assert!(echoed.header_values("authorization").is_empty());

    // The upstream's side: the gateway's published keys.
    let jwks = raw_request(gw.addr(), &get("/.well-known/jwks.json", &[]))
        .await
        .unwrap();
    assert_eq!(jwks.status, 200, "{}", jwks.head);
    let jwks: JwkSet = serde_json::from_slice(&jwks.body).unwrap();
    let header = jsonwebtoken::decode_header(&assertion).unwrap();
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("the signing key is published");
    let key_of = DecodingKey::from_jwk(jwk).unwrap();
    let validation = |audience: &str| {
        let mut v = Validation::new(header.alg);
        v.set_audience(&[audience]);
        v.set_issuer(&["https://gateway.test"]);
        v.leeway = 0;
        v
    };
    let claims = decode::<serde_json::Value>(&assertion, &key_of, &validation("echo"))
        .expect("the upstream accepts the assertion")
        .claims;
    assert_eq!(claims["sub"], "svc");
    assert_eq!(claims["level"], "verified");
    assert_eq!(claims["scope"], "orders");
    assert_eq!(claims["orig_iss"], "keys");
    assert!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap() == 2);

    // Meant for another upstream: refused there.
    assert!(decode::<serde_json::Value>(&assertion, &key_of, &validation("billing")).is_err());
    // Tampered: refused.
    let mut forged = assertion.clone().into_bytes();
    let at = forged.len() - 5;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert!(decode::<serde_json::Value>(&forged, &key_of, &validation("echo")).is_err());
    // Not an access token: the gateway refuses it as a bearer credential.
    let replayed = raw_request(
        gw.addr(),
        &get("/orders", &[&format!("Authorization: Bearer {assertion}")]),
    )
    .await
    .unwrap();
    assert_eq!(replayed.status, 401, "{}", replayed.head);
    // Replayed after it expired: refused.
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert!(matches!(
        decode::<serde_json::Value>(&assertion, &key_of, &validation("echo"))
            .unwrap_err()
            .kind(),
        jsonwebtoken::errors::ErrorKind::ExpiredSignature
    ));
    // A new request gets a fresh one.
    let again = raw_request(
        gw.addr(),
        &get("/orders", &[&format!("Authorization: token {key}")]),
    )
    .await
    .unwrap();
    let fresh = again.echoed().header_values("x-portcullis-assertion")[0].to_string();
    assert_ne!(fresh, assertion);
    assert!(decode::<serde_json::Value>(&fresh, &key_of, &validation("echo")).is_ok());
}

#[test]
fn an_assertion_needs_the_token_services_keys_and_a_short_life() {
    let (code, out) = check_config(
        r#"
[[listeners]]
address = "127.0.0.1:1"
[upstreams.app]
addresses = ["127.0.0.1:2"]
[[routes]]
path_prefix = "/"
upstream = "app"
[routes.upstream_identity]
send = "assertion"
ttl = "2h"
"#,
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("routes[0].upstream_identity.send"), "{out}");
    assert!(out.contains("routes[0].upstream_identity.ttl"), "{out}");
}

/// `keep_credential = true`: a backend that must see the caller's credential gets it where the
/// client put it (header stays header, query stays query), beside the identity headers; routes
/// without it never pass it.
#[tokio::test]
async fn a_route_may_opt_in_to_passing_the_verified_credential_on() {
    let key = "a-passed-on-app-key-6Tb3Nq8Z";
    let config = config_with(&format!(
        r#"
[issuers.keys]
kind = "app_keys"
app_keys = [{{ client = "svc", key = "{key}", level = "verified" }}]

[[routes]]
path_prefix = "/legacy"
upstream = "echo"
[routes.auth]
carriers = ["token", "query"]
[routes.upstream_identity]
keep_credential = true

[[routes]]
path_prefix = "/"
upstream = "echo"
[routes.auth]
carriers = ["token", "query"]
"#
    ));
    let gw = GatewayProcess::start(&config).await;
    let header = format!("Authorization: token {key}");
    let r = raw_request(gw.addr(), &get("/legacy/a", &[&header]))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    let echoed = r.echoed();
    assert_eq!(
        echoed.header_values("authorization"),
        [format!("token {key}").as_str()]
    );
    assert_eq!(echoed.header_values("x-auth-subject"), ["svc"]);
    let r = raw_request(
        gw.addr(),
        &get(&format!("/legacy/b?access_token={key}&x=1"), &[]),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    let echoed = r.echoed();
    assert_eq!(
        echoed.query.as_deref(),
        Some(format!("access_token={key}&x=1").as_str())
    );
    assert!(
        echoed.header_values("authorization").is_empty(),
        "moved to another carrier"
    );
    // Elsewhere the credential never reaches the upstream.
    let r = raw_request(gw.addr(), &get("/other", &[&header]))
        .await
        .unwrap();
    assert!(r.echoed().header_values("authorization").is_empty());
    let r = raw_request(
        gw.addr(),
        &get(&format!("/other?access_token={key}&x=1"), &[]),
    )
    .await
    .unwrap();
    assert_eq!(r.echoed().query.as_deref(), Some("x=1"));
}

/// An upstream that keeps the raw head of the one request it reads and answers with header
/// names in mixed case, so the spelling on both wires can be seen.
async fn raw_upstream() -> (u16, tokio::sync::oneshot::Receiver<String>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (send, receive) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the gateway closed before a whole head");
            head.extend_from_slice(&buf[..n]);
        }
        stream
            .write_all(
                b"HTTP/1.1 200 OK\r\nX-Upstream-Thing: Kept As Is\r\nContent-Length: 2\r\n\r\nok",
            )
            .await
            .unwrap();
        let _ = send.send(String::from_utf8_lossy(&head).into_owned());
    });
    (port, receive)
}

#[tokio::test]
async fn header_names_reach_the_upstream_and_the_client_in_lower_case() {
    let (port, head) = raw_upstream().await;
    let gw = GatewayProcess::start(&config_with(&format!(
        "[upstreams.raw]\naddresses = [\"127.0.0.1:{port}\"]\n\n[[routes]]\npath_prefix = \"/\"\nupstream = \"raw\"\n"
    )))
    .await;
    let r = raw_request(gw.addr(), &get("/x", &["X-Client-Thing: Value As Sent"]))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    // Names are case-insensitive (RFC 9110 §5.1); the gateway writes them as HTTP/2 does, and
    // never touches a value.
    assert!(
        r.head.contains("\r\nx-upstream-thing: Kept As Is\r\n"),
        "{}",
        r.head
    );
    let forwarded = head.await.unwrap();
    assert!(
        forwarded.contains("\r\nx-client-thing: Value As Sent\r\n"),
        "{forwarded}"
    );
    assert!(!forwarded.contains("X-Client-Thing"), "{forwarded}");
}
