//! Hostile input that the framing and auth tests do not already cover: requests hidden behind
//! an `Upgrade` the upstream declines, HTTP/1.0 bodies without a length, invalid UTF-8 in
//! headers, thousands of query parameters and headers. The hidden request never reaches the
//! upstream; everything else gets a fast 4xx (or passes untouched) and the gateway goes on.

use crate::support::*;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::Response;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An upstream that records the path of every request it receives and answers 200 (to an
/// `Upgrade` too: it declines to switch protocols).
struct RecordingUpstream {
    port: u16,
    paths: Arc<Mutex<Vec<String>>>,
}

impl RecordingUpstream {
    async fn start() -> RecordingUpstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let paths = Arc::new(Mutex::new(Vec::new()));
        let seen = paths.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: hyper::Request<_>| {
                        seen.lock().unwrap().push(request.uri().path().to_string());
                        async {
                            Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                                Bytes::from_static(b"ok"),
                            )))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        RecordingUpstream { port, paths }
    }

    fn paths(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }
}

async fn gateway(upstream: &RecordingUpstream) -> GatewayProcess {
    GatewayProcess::start(&config_with(&format!(
        r#"
[upstreams.recorder]
addresses = ["127.0.0.1:{}"]

[[routes]]
path_prefix = "/"
upstream = "recorder"
"#,
        upstream.port
    )))
    .await
}

#[tokio::test]
async fn requests_hidden_behind_upgrades_or_unframed_bodies_never_reach_the_upstream() {
    let upstream = RecordingUpstream::start().await;
    let gw = gateway(&upstream).await;

    // An Upgrade the upstream answers with 200, not 101: the bytes after the head are not a
    // tunnel, and must not become a second request either.
    let upgrade = b"GET /socket HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /hidden-upgrade HTTP/1.1\r\nHost: t\r\n\r\n";
    let _ = raw_request(gw.addr(), upgrade).await;
    // HTTP/1.0 with a body but no length: the body runs to the end of the connection.
    let unframed =
        b"POST /form HTTP/1.0\r\nHost: t\r\n\r\nGET /hidden-http10 HTTP/1.1\r\nHost: t\r\n\r\n";
    let _ = raw_request(gw.addr(), unframed).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let paths = upstream.paths();
    assert!(
        paths.iter().all(|p| !p.starts_with("/hidden")),
        "a hidden request reached the upstream: {paths:?}"
    );
    assert!(paths.iter().any(|p| p == "/socket"), "{paths:?}");
    // The gateway is still serving.
    let r = raw_request(gw.addr(), &get("/after", &[])).await.unwrap();
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn malformed_and_oversized_heads_are_refused_fast() {
    let upstream = RecordingUpstream::start().await;
    let gw = gateway(&upstream).await;
    let started = Instant::now();

    // Invalid UTF-8 (and obs-text) in a header value: refused or passed, never a crash.
    let mut latin1 = b"GET /utf HTTP/1.1\r\nHost: t\r\nX-Name: caf".to_vec();
    latin1.extend_from_slice(&[0xe9, 0xff, 0xfe]);
    latin1.extend_from_slice(b"\r\n\r\n");
    if let Ok(r) = raw_request(gw.addr(), &latin1).await {
        assert!(matches!(r.status, 200 | 400), "{}", r.head);
    }
    // A control byte in a header value is never forwarded.
    let control = b"GET /ctl HTTP/1.1\r\nHost: t\r\nX-Evil: a\x01b\r\n\r\n";
    if let Ok(r) = raw_request(gw.addr(), control).await {
        assert_eq!(r.status, 400, "{}", r.head);
    }
    // Thousands of query parameters: the query is not parsed on plain routes, so it passes.
    let query: Vec<String> = (0..5000).map(|i| format!("p{i}=v")).collect();
    let r = raw_request(gw.addr(), &get(&format!("/many?{}", query.join("&")), &[]))
        .await
        .unwrap();
    assert!(matches!(r.status, 200 | 414 | 431), "{}", r.head);
    // Thousands of headers, and one enormous header.
    let many: Vec<String> = (0..5000).map(|i| format!("X-H{i}: v")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    if let Ok(r) = raw_request(gw.addr(), &get("/headers", &refs)).await {
        assert!(matches!(r.status, 400 | 431), "{}", r.head);
    }
    let huge = format!("X-Huge: {}", "h".repeat(2 << 20));
    if let Ok(r) = raw_request(gw.addr(), &get("/huge", &[&huge])).await {
        assert!(matches!(r.status, 400 | 431), "{}", r.head);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(!upstream
        .paths()
        .iter()
        .any(|p| p == "/ctl" || p == "/headers" || p == "/huge"));
    let r = raw_request(gw.addr(), &get("/after", &[])).await.unwrap();
    assert_eq!(r.status, 200);
    assert!(!gw.log().contains("panicked"));
}

/// A client that sends its request head a byte at a time (slowloris) is cut off at
/// `request_header_timeout`, however steadily it trickles; an honest request on the next
/// connection is served.
#[tokio::test]
async fn a_trickled_request_head_is_cut_off_at_the_deadline() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = config_with(CATCH_ALL).replace(
        "[log]",
        "[server]\nrequest_header_timeout = \"1s\"\n\n[log]",
    );
    let gw = GatewayProcess::start(&config).await;
    let mut stream = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    let started = Instant::now();
    let head = b"GET /x HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut cut_off = None;
    for byte in head.iter().cycle().take(200) {
        if stream.write_all(&[*byte]).await.is_err() {
            cut_off = Some(started.elapsed());
            break;
        }
        let mut buf = [0u8; 64];
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut_off = Some(started.elapsed());
                break;
            }
            Ok(Ok(_)) => panic!("answered a head that never ended"),
            Err(_) => {} // still open: trickle on
        }
    }
    let cut_off = cut_off.expect("the connection stayed open past 20 s of trickling");
    assert!(
        cut_off >= Duration::from_millis(900) && cut_off < Duration::from_secs(5),
        "cut off after {cut_off:?}"
    );
    let r = raw_request(gw.addr(), &get("/x", &[])).await.unwrap();
    assert_eq!(r.status, 200);
}
