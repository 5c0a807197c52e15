//! Responses on their way back: every framing an upstream may use reaches the client intact,
//! the upstream connection is reused after each response that allows it, and a client that
//! leaves before its answer frees the upstream connection. (Requests without a body — most API
//! traffic — take the proxy's one-sequence path, see vendor/README.md; these pin its behaviour.)

use crate::support::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The answer a scripted upstream gives to a request line, and whether it closes afterwards.
fn scripted_answer(request_line: &str) -> (&'static [u8], bool) {
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    match (request_line.starts_with("HEAD "), path) {
        (true, _) => (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false),
        (_, "/length") => (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false),
        (_, "/chunked") => (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n",
            false,
        ),
        (_, "/empty") => (b"HTTP/1.1 204 No Content\r\n\r\n", false),
        // HTTP/1.0 without a length: the body ends with the connection.
        (_, "/until-close") => (b"HTTP/1.0 200 OK\r\n\r\nhello", true),
        _ => (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", false),
    }
}

/// An upstream that answers each request by `scripted_answer`, counting the connections it
/// accepts.
async fn scripted_upstream() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut pending = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&pending[..end]).into_owned();
                        pending.drain(..end + 4);
                        let (answer, close) = scripted_answer(head.lines().next().unwrap_or(""));
                        if stream.write_all(answer).await.is_err() || close {
                            return;
                        }
                    }
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    (port, connections)
}

/// Sends `request` and reads a chunked response to its last chunk (however the proxy cut it
/// into packets), then waits briefly for more bytes or a close.
async fn chunked_request(addr: std::net::SocketAddr, request: &[u8]) -> RawResponse {
    exchange(addr, request, |raw| raw.ends_with(b"\r\n0\r\n\r\n")).await
}

/// Sends `request` and reads until `complete` says the response is whole, then waits briefly
/// for more bytes (kept in `raw`) or a close.
async fn exchange(
    addr: std::net::SocketAddr,
    request: &[u8],
    complete: impl Fn(&[u8]) -> bool,
) -> RawResponse {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    while !complete(&raw) {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("a whole response in time")
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&raw));
        raw.extend_from_slice(&buf[..n]);
    }
    let closed = more_or_close(&mut stream, &mut raw).await;
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    RawResponse {
        status: head.split_whitespace().nth(1).unwrap().parse().unwrap(),
        head,
        body: raw[head_end + 4..].to_vec(),
        raw,
        closed,
    }
}

/// The content of a complete chunked body; panics unless it ends with the last chunk.
fn dechunk(mut body: &[u8]) -> String {
    let mut content = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap(), 16)
            .expect("a hexadecimal chunk size");
        body = &body[line_end + 2..];
        if size == 0 {
            assert_eq!(body, b"\r\n", "no trailers, nothing after the last chunk");
            return String::from_utf8(content).unwrap();
        }
        content.extend_from_slice(&body[..size]);
        assert_eq!(&body[size..size + 2], b"\r\n");
        body = &body[size + 2..];
    }
}

fn gateway_config(upstream_port: u16) -> String {
    config_with(&format!(
        "[upstreams.scripted]\naddresses = [\"127.0.0.1:{upstream_port}\"]\n\n[[routes]]\npath_prefix = \"/\"\nupstream = \"scripted\"\n"
    ))
}

/// `GET /length` through the gateway: a 200 with the upstream's five bytes.
async fn get_hello(addr: std::net::SocketAddr) {
    let r = raw_request(addr, &get("/length", &[])).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.body, b"hello");
}

#[tokio::test]
async fn every_response_framing_reaches_the_client_and_the_upstream_connection_is_reused() {
    let (port, connections) = scripted_upstream().await;
    let gw = GatewayProcess::start(&gateway_config(port)).await;

    get_hello(gw.addr()).await;

    let r = chunked_request(gw.addr(), &get("/chunked", &[])).await;
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.header("transfer-encoding").as_deref(), Some("chunked"));
    // Chunk boundaries are the proxy's to choose; the content and the last chunk are not.
    assert_eq!(dechunk(&r.body), "hello");

    let r = raw_request(gw.addr(), &get("/empty", &[])).await.unwrap();
    assert_eq!(r.status, 204, "{}", r.head);
    assert_eq!(r.raw.len(), r.head.len() + 4, "a 204 has no body");

    let head = b"HEAD /length HTTP/1.1\r\nHost: test.local\r\n\r\n";
    let r = exchange(gw.addr(), head, |raw| raw.ends_with(b"\r\n\r\n")).await;
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.header("content-length").as_deref(), Some("5"));
    assert_eq!(r.raw.len(), r.head.len() + 4, "a HEAD answer has no body");

    // Four answers that leave the connection open came over one upstream connection.
    assert_eq!(connections.load(Ordering::SeqCst), 1);

    // A body that ends with the upstream's close reaches a keep-alive client chunked.
    let r = chunked_request(gw.addr(), &get("/until-close", &[])).await;
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.header("transfer-encoding").as_deref(), Some("chunked"));
    assert_eq!(dechunk(&r.body), "hello");
    assert!(!r.closed, "the client's connection outlives the upstream's");

    // That connection is gone, so the next request needs a new one.
    get_hello(gw.addr()).await;
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_client_that_leaves_before_its_answer_frees_the_upstream_connection() {
    // An upstream that reads one request, never answers, and reports when the gateway hangs up.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (hung_up, mut on_hang_up) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                let _ = hung_up.send(()).await;
                return;
            }
        }
        let _ = hung_up.send(()).await;
    });
    let gw = GatewayProcess::start(&gateway_config(port)).await;

    let mut client = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    client.write_all(&get("/slow", &[])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(client);

    // Well within the upstream read timeout (60 s): the close is noticed, not waited out.
    tokio::time::timeout(Duration::from_secs(5), on_hang_up.recv())
        .await
        .expect("the gateway kept the upstream request open after its client left")
        .unwrap();
}

#[tokio::test]
async fn both_runtime_kinds_serve_concurrent_keep_alive_clients() {
    for work_stealing in [false, true] {
        let (port, connections) = scripted_upstream().await;
        let gw = GatewayProcess::start(&format!(
            "[server]\nthreads = 2\nwork_stealing = {work_stealing}\n{}",
            gateway_config(port)
        ))
        .await;
        let clients = (0..8).map(|_| {
            let addr = gw.addr();
            tokio::spawn(async move {
                let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                for _ in 0..20 {
                    stream.write_all(&get("/length", &[])).await.unwrap();
                    let r = read_response(&mut stream).await.unwrap();
                    assert_eq!(r.status, 200, "{}", r.head);
                    assert_eq!(r.body, b"hello");
                }
            })
        });
        for client in clients.collect::<Vec<_>>() {
            client.await.unwrap();
        }
        // 160 requests: pooled connections are reused (each thread keeps its own, and with
        // work stealing a client's request may run on either thread; a next request may also
        // come before its last answer's connection is back in the pool, so more connections
        // than clients are normal.)
        let used = connections.load(Ordering::SeqCst);
        eprintln!("work_stealing = {work_stealing}: {used} upstream connections");
        assert!(
            (1..=64).contains(&used),
            "work_stealing = {work_stealing}: {used} connections"
        );
    }
}
