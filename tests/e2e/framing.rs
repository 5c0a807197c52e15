//! Request framing: ambiguous lengths are refused and the connection closed, so nothing hidden
//! in a body is ever parsed as a second request (SECURITY.md §2.1, §5 item 21).

use crate::support::*;
use tokio::io::AsyncWriteExt;

/// A POST whose body, if read by the wrong framing rule, is a second request for /smuggled.
fn smuggling_attempt(framing: &str) -> Vec<u8> {
    let hidden = "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n";
    format!("POST /x HTTP/1.1\r\nHost: t\r\n{framing}\r\n\r\n0\r\n\r\n{hidden}",).into_bytes()
}

#[tokio::test]
async fn content_length_with_transfer_encoding_is_refused_and_closed() {
    let gw = GatewayProcess::start(&config_with(CATCH_ALL)).await;
    let r = raw_request(
        gw.addr(),
        &smuggling_attempt("Content-Length: 5\r\nTransfer-Encoding: chunked"),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 400, "{}", r.head);
    assert_eq!(r.json()["error"], "invalid_request");
    assert!(
        r.closed,
        "the connection must be closed after a framing error"
    );
    assert_eq!(r.response_count(), 1, "the hidden request was answered");
}

#[tokio::test]
async fn other_ambiguous_framings_are_refused() {
    let gw = GatewayProcess::start(&config_with(CATCH_ALL)).await;
    for framing in [
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: chunked, identity",
        "Transfer-Encoding: identity",
        "Content-Length: 5\r\nContent-Length: 6",
        // RFC 9110 §8.6: one number, not a list or a signed value.
        "Content-Length: 5, 5",
        "Content-Length: 5,5",
        "Content-Length: +5",
    ] {
        let r = raw_request(gw.addr(), &smuggling_attempt(framing))
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{framing}: {}", r.head);
        assert!(r.closed, "{framing}: connection left open");
        assert_eq!(r.response_count(), 1, "{framing}");
    }
}

#[tokio::test]
async fn http_1_1_requests_must_name_their_host() {
    let gw = GatewayProcess::start(&config_with(CATCH_ALL)).await;
    // RFC 9112 §3.2: HTTP/1.1 without Host is a 400; HTTP/1.0 may go without.
    let r = raw_request(gw.addr(), b"GET /x HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.head);
    assert_eq!(r.json()["error"], "invalid_request");
    let r = raw_request(gw.addr(), b"GET /x HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    // A Host that is not a host (a list, two ports) is a 400 too, not a host-less request.
    for host in ["a.test, b.test", "a.test:1:2", "[::1]x:80"] {
        let request = format!("GET /x HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let r = raw_request(gw.addr(), request.as_bytes()).await.unwrap();
        assert_eq!(r.status, 400, "{host}: {}", r.head);
    }
}

#[tokio::test]
async fn early_answers_to_requests_with_bodies_close_the_connection() {
    let gw = GatewayProcess::start(&config_with(CATCH_ALL)).await;
    // A refused path with a body: the body holds a second request that must not be parsed.
    let hidden = "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n";
    let request = format!(
        "POST /a/../../x HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{hidden}",
        hidden.len()
    );
    let r = raw_request(gw.addr(), request.as_bytes()).await.unwrap();
    assert_eq!(r.status, 400);
    assert!(r.closed);
    assert_eq!(r.response_count(), 1);
}

#[tokio::test]
async fn keep_alive_serves_sequential_requests_on_one_connection() {
    let gw = GatewayProcess::start(&config_with(CATCH_ALL)).await;
    let mut stream = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    for path in ["/a", "/b", "/c"] {
        stream.write_all(&get(path, &[])).await.unwrap();
        let r = read_response(&mut stream).await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.echoed().path, path);
        assert!(!r.closed);
    }
}

#[tokio::test]
async fn pipelined_requests_get_one_answer_and_a_close() {
    // Pingora's default (RFC 9112 §9.3.2 allows it): bytes pipelined behind a request are not
    // parsed; the first request is answered and the connection closed, the client retries.
    let gw = GatewayProcess::start(&config_with(CATCH_ALL)).await;
    let r = raw_request(
        gw.addr(),
        b"GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.echoed().path, "/a");
    assert_eq!(r.response_count(), 1);
    assert!(r.closed);
}
