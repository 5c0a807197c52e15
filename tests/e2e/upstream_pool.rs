//! Idle upstream connections (the keep-alive pool, kept per worker thread: vendor/README.md):
//! reused while they are good, dropped when the upstream closes one, writes on one or leaves it
//! idle past `idle_timeout` — and a dropped one never costs a request.

use crate::support::*;
use pingora::connectors::TransportConnector;
use pingora::protocols::l4::socket::SocketAddr;
use pingora::upstreams::peer::Peer;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const HELLO: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

/// Reads one request head from `stream` (the gateway's requests have no body here).
async fn read_head(stream: &mut TcpStream) -> Option<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(())
}

/// Waits for the gateway to close `stream` (its read gives end-of-file) and says how long
/// that took; panics if it does not within `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(limit, stream.read(&mut buf))
        .await
        .expect("the gateway kept the idle connection open")
        .unwrap_or(0);
    assert_eq!(n, 0, "the gateway sent something on an idle connection");
    started.elapsed()
}

/// A listener for the test to play the upstream on, and a gateway that sends every request
/// there, keeping idle connections for `idle_timeout`.
async fn gateway_before_upstream(idle_timeout: &str) -> (TcpListener, GatewayProcess) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let gw = GatewayProcess::start(&config_with(&format!(
        "[upstreams.pooled]\naddresses = [\"127.0.0.1:{port}\"]\nidle_timeout = \"{idle_timeout}\"\n\n[[routes]]\npath_prefix = \"/\"\nupstream = \"pooled\"\n"
    )))
    .await;
    (listener, gw)
}

async fn get_hello(gw: &GatewayProcess) {
    let r = raw_request(gw.addr(), &get("/hello", &[])).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.body, b"hello");
}

/// Accepts the gateway's next connection and answers its one request.
async fn answer_one(listener: &TcpListener) -> TcpStream {
    answer_one_with(listener, HELLO).await
}

/// Accepts the gateway's next connection and answers its one request with `response`.
async fn answer_one_with(listener: &TcpListener, response: &[u8]) -> TcpStream {
    let (mut stream, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .expect("the gateway opened no new upstream connection")
        .unwrap();
    read_head(&mut stream).await.expect("a request");
    stream.write_all(response).await.unwrap();
    stream
}

#[tokio::test]
async fn a_connection_the_upstream_closes_while_idle_is_dropped_and_never_reused() {
    let (listener, gw) = gateway_before_upstream("60s").await;

    let (mut first, ()) = tokio::join!(answer_one(&listener), get_hello(&gw));
    // The upstream ends its side while the connection is idle in the pool: the gateway closes
    // its side too, soon (its pool looks at idle connections every second), instead of holding
    // the socket until its idle timeout.
    first.shutdown().await.unwrap();
    let took = closed_within(&mut first, Duration::from_secs(5)).await;
    eprintln!("closed {took:?} after the upstream's FIN");

    // The next request gets a new connection, and no error.
    let (_second, ()) = tokio::join!(answer_one(&listener), get_hello(&gw));
}

#[tokio::test]
async fn a_connection_the_upstream_writes_on_while_idle_is_not_reused() {
    let (listener, gw) = gateway_before_upstream("60s").await;

    let (mut first, ()) = tokio::join!(answer_one(&listener), get_hello(&gw));
    // A stray answer on the idle connection would be read as the next request's response.
    first
        .write_all(b"HTTP/1.1 500 Stray\r\nContent-Length: 0\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let (_second, ()) = tokio::join!(answer_one(&listener), get_hello(&gw));
    closed_within(&mut first, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_idle_timeout_and_reused_before_it() {
    let (listener, gw) = gateway_before_upstream("2s").await;

    let (mut pooled, ()) = tokio::join!(answer_one(&listener), get_hello(&gw));
    // Within the timeout the same connection serves the next request.
    let reuse = async {
        read_head(&mut pooled)
            .await
            .expect("the pooled connection reused");
        pooled.write_all(HELLO).await.unwrap();
    };
    tokio::join!(reuse, get_hello(&gw));

    // Then, left idle, it is closed: not before its 2 s, and no more than the sweep's second
    // (and a loaded test machine's slack) after.
    let took = closed_within(&mut pooled, Duration::from_secs(10)).await;
    eprintln!("idle connection closed after {took:?}");
    assert!(took >= Duration::from_millis(1500), "closed after {took:?}");
}

#[tokio::test]
async fn a_connection_that_is_idle_past_its_timeout_is_not_handed_to_a_request() {
    // Requests keep coming, so the connection is taken before any sweep could drop it: the
    // deadline is checked when it is taken.
    let (listener, gw) = gateway_before_upstream("300ms").await;

    let (_first, ()) = tokio::join!(answer_one(&listener), get_hello(&gw));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_second, ()) = tokio::join!(answer_one(&listener), get_hello(&gw));
}

/// Where the gateway sends its next request after `pooled` answered one: back on `pooled`
/// (true) or on a new connection (false). Either way the request is answered.
async fn next_request_reuses(
    pooled: &mut TcpStream,
    listener: &TcpListener,
    gw: &GatewayProcess,
) -> bool {
    let serve = async {
        tokio::select! {
            head = read_head(pooled) => match head {
                Some(()) => {
                    pooled.write_all(HELLO).await.unwrap();
                    true
                }
                // Closed by the gateway: the request comes on a new connection.
                None => {
                    drop(answer_one(listener).await);
                    false
                }
            },
            accepted = answer_one(listener) => {
                drop(accepted);
                false
            }
        }
    };
    let (reused, ()) = tokio::join!(serve, get_hello(gw));
    reused
}

/// The gateway's request to an upstream that answers with `response`, and that connection.
async fn first_exchange(
    response: &'static [u8],
    listener: &TcpListener,
    gw: &GatewayProcess,
) -> TcpStream {
    let request = get("/hello", &[]);
    let (stream, r) = tokio::join!(
        answer_one_with(listener, response),
        raw_request(gw.addr(), &request)
    );
    let r = r.unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.body, b"hello");
    stream
}

#[tokio::test]
async fn the_upstreams_connection_fields_decide_reuse() {
    // The upstream session hands its response head to the proxy and keeps only the connection
    // fields (vendor/README.md): they must still decide whether the connection is reused.
    let cases: [(&[u8], bool); 5] = [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", true),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello", false),
        (b"HTTP/1.1 200 OK\r\nX-A: 1\r\nConnection: Close\r\nX-B: 2\r\nContent-Length: 5\r\n\r\nhello", false),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello", false),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello", true),
    ];
    for (response, reusable) in cases {
        let (listener, gw) = gateway_before_upstream("60s").await;
        let mut first = first_exchange(response, &listener, &gw).await;
        let reused = next_request_reuses(&mut first, &listener, &gw).await;
        assert_eq!(reused, reusable, "{}", String::from_utf8_lossy(response));
    }
}

#[tokio::test]
async fn the_client_gets_every_field_of_a_handed_over_response_head_but_its_connection_fields() {
    let (listener, gw) = gateway_before_upstream("60s").await;
    const ANSWER: &[u8] = b"HTTP/1.1 203 Fine Then\r\nX-One: 1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=30\r\nX-Hop: 1\r\nProxy-Connection: keep-alive\r\nX-Two: two\r\nContent-Length: 5\r\n\r\nhello";
    let request = get("/hello", &[]);
    let (_stream, r) = tokio::join!(
        answer_one_with(&listener, ANSWER),
        raw_request(gw.addr(), &request)
    );
    let r = r.unwrap();
    assert_eq!(r.status, 203, "{}", r.head);
    assert!(
        r.head.starts_with("HTTP/1.1 203 Fine Then\r\n"),
        "{}",
        r.head
    );
    let head = r.head.to_ascii_lowercase();
    for field in [
        "x-one: 1",
        "set-cookie: a=1",
        "set-cookie: b=2",
        "x-two: two",
        "content-length: 5",
    ] {
        assert!(head.contains(field), "{field} missing: {}", r.head);
    }
    // Connection fields (RFC 9110 §7.6.1) are between the upstream and the gateway: the
    // client gets the gateway's own `Connection` only.
    for field in ["keep-alive: timeout", "x-hop", "proxy-connection"] {
        assert!(!head.contains(field), "{field} passed on: {}", r.head);
    }
    assert_eq!(head.matches("connection:").count(), 1, "{}", r.head);
    assert_eq!(r.body, b"hello");
}

/// A peer whose reuse hash is fixed: two of them at different addresses stand for two peers
/// whose hashes collide, the case the pool's address check (vendor/README.md) guards against.
#[derive(Clone)]
struct CollidingPeer(SocketAddr);

impl std::fmt::Display for CollidingPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Peer for CollidingPeer {
    fn address(&self) -> &SocketAddr {
        &self.0
    }
    fn tls(&self) -> bool {
        false
    }
    fn sni(&self) -> &str {
        ""
    }
    fn reuse_hash(&self) -> u64 {
        7
    }
}

#[tokio::test]
async fn an_idle_connection_is_handed_only_to_a_peer_at_the_address_it_leads_to() {
    let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer =
        |listener: &TcpListener| CollidingPeer(SocketAddr::Inet(listener.local_addr().unwrap()));
    let (to_first, to_second) = (peer(&first), peer(&second));
    let connector = TransportConnector::new(None);

    let stream = connector.new_stream(&to_first).await.unwrap();
    let (_first_end, _) = first.accept().await.unwrap();
    connector.release_stream(stream, to_first.reuse_hash(), None);
    assert!(
        connector.reused_stream(&to_second).await.is_none(),
        "a connection to the first address was handed to a peer at the second"
    );

    let stream = connector.new_stream(&to_first).await.unwrap();
    let (_first_end, _) = first.accept().await.unwrap();
    connector.release_stream(stream, to_first.reuse_hash(), None);
    let reused = connector.reused_stream(&to_first).await;
    assert!(
        reused.is_some(),
        "an idle connection was not reused for its own peer"
    );
}
