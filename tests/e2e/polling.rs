//! Polling for slow upstreams: `respond_within` routes answer in time or give `202` + a polling
//! id; the answer is fetched once, by the same principal, at `{prefix}/poll/{id}`; the store is
//! bounded in entries, answer size and time.

use crate::support::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const ALICE: &str = "alice-key-0123456789abcdefgh";
const BOB: &str = "bob-key-0123456789abcdefghij";

/// A slow backend: `?delay=<ms>&size=<bytes>` waits, then answers 201 with `X-Slow: done` and
/// a JSON description of the request (or `size` bytes).
struct SlowUpstream {
    port: u16,
    requests: Arc<AtomicU64>,
}

impl SlowUpstream {
    async fn start() -> SlowUpstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicU64::new(0));
        let counter = requests.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        answer(request)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        SlowUpstream { port, requests }
    }
}

async fn answer(
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let param = |name: &str| -> u64 {
        request
            .uri()
            .query()
            .unwrap_or("")
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let (delay, size) = (param("delay"), param("size"));
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let description = serde_json::json!({
        "method": request.method().as_str(),
        "subject": header("x-auth-subject"),
        "authorization": header("authorization"),
    });
    let body = request.into_body().collect().await.unwrap().to_bytes();
    tokio::time::sleep(Duration::from_millis(delay)).await;
    let mut description = description;
    description["body"] = String::from_utf8_lossy(&body).into();
    let content = if size > 0 {
        vec![b'x'; size as usize]
    } else {
        description.to_string().into_bytes()
    };
    Ok(Response::builder()
        .status(201)
        .header("x-slow", "done")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(content)))
        .unwrap())
}

async fn gateway(upstream: &SlowUpstream, polling: &str) -> GatewayProcess {
    GatewayProcess::start(&config_with(&format!(
        r#"
[upstreams.slow]
addresses = ["127.0.0.1:{port}"]
read_timeout = "5s"

[issuers.keys]
kind = "app_keys"
app_keys = [
  {{ client = "alice", key = "{ALICE}", level = "verified" }},
  {{ client = "bob", key = "{BOB}", level = "verified" }},
]

[[routes]]
name = "reports"
path_prefix = "/reports"
upstream = "slow"
respond_within = "150ms"
[routes.auth]
carriers = ["token"]

[[routes]]
name = "open"
path_prefix = "/open"
upstream = "slow"
respond_within = "150ms"

[polling]
{polling}
"#,
        port = upstream.port
    )))
    .await
}

fn request(method: &str, path: &str, key: Option<&str>, body: &str) -> Vec<u8> {
    let auth = key.map_or(String::new(), |k| format!("Authorization: token {k}\r\n"));
    format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn send(gw: &GatewayProcess, method: &str, path: &str, key: Option<&str>) -> RawResponse {
    raw_request(gw.addr(), &request(method, path, key, ""))
        .await
        .unwrap()
}

/// Polls `location` as `key` until it is no longer pending.
async fn first_answer(gw: &GatewayProcess, location: &str, key: Option<&str>) -> RawResponse {
    for _ in 0..100 {
        let r = send(gw, "GET", location, key).await;
        if r.status != 202 {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("still pending after 5 s");
}

#[tokio::test]
async fn fast_answers_come_directly_slow_ones_by_polling_once_to_their_owner() {
    let upstream = SlowUpstream::start().await;
    let gw = gateway(&upstream, "").await;

    // In time: the upstream's own answer, credential removed, identity added.
    let r = send(&gw, "GET", "/reports/a?delay=0", Some(ALICE)).await;
    assert_eq!(r.status, 201, "{}", r.head);
    assert_eq!(r.header("x-slow").as_deref(), Some("done"));
    assert!(r.header("x-request-id").is_some());
    let described = r.json();
    assert_eq!(described["subject"], "alice");
    assert_eq!(described["authorization"], serde_json::Value::Null);

    // Too slow: 202 with an id and where to poll.
    let slow = request("POST", "/reports/b?delay=700", Some(ALICE), r#"{"q":1}"#);
    let r = raw_request(gw.addr(), &slow).await.unwrap();
    assert_eq!(r.status, 202, "{}", r.head);
    let id = r.json()["polling_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 22);
    let location = r.header("location").unwrap();
    assert_eq!(location, format!("/_portcullis/poll/{id}"));
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));

    // Still running: pending for its owner; nobody else learns anything.
    let r = send(&gw, "GET", &location, Some(ALICE)).await;
    assert_eq!(r.status, 202);
    assert_eq!(r.json()["status"], "pending");
    let r = send(&gw, "GET", &location, Some(BOB)).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "unknown_polling_id");
    let r = send(&gw, "GET", &location, None).await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());

    // Done: the stored status, headers and body, once.
    let r = first_answer(&gw, &location, Some(ALICE)).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["body"], r#"{"q":1}"#);
    // Fetched once: a second fetch finds nothing.
    let r = send(&gw, "GET", &location, Some(ALICE)).await;
    assert_eq!(r.status, 404);
    // The upstream ran the request exactly once, with its body.
    assert_eq!(upstream.requests.load(Ordering::SeqCst), 2);

    // Garbage ids and other methods.
    let r = send(&gw, "GET", "/_portcullis/poll/not-an-id", Some(ALICE)).await;
    assert_eq!(r.status, 404);
    let r = send(&gw, "DELETE", &location, Some(ALICE)).await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn the_fetched_answer_is_the_upstreams() {
    let upstream = SlowUpstream::start().await;
    let gw = gateway(&upstream, "").await;
    let slow = request("PUT", "/reports/c?delay=400", Some(BOB), r#"{"n":42}"#);
    let r = raw_request(gw.addr(), &slow).await.unwrap();
    assert_eq!(r.status, 202);
    let location = r.header("location").unwrap();
    let r = first_answer(&gw, &location, Some(BOB)).await;
    assert_eq!(r.status, 201, "{}", r.head);
    assert_eq!(r.header("x-slow").as_deref(), Some("done"));
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let described = r.json();
    assert_eq!(described["method"], "PUT");
    assert_eq!(described["subject"], "bob");
    assert_eq!(described["body"], r#"{"n":42}"#);
    assert_eq!(described["authorization"], serde_json::Value::Null);
}

#[tokio::test]
async fn routes_without_auth_poll_by_id_alone() {
    let upstream = SlowUpstream::start().await;
    let gw = gateway(&upstream, "").await;
    let r = send(&gw, "GET", "/open/x?delay=300", None).await;
    assert_eq!(r.status, 202);
    let location = r.header("location").unwrap();
    let r = first_answer(&gw, &location, None).await;
    assert_eq!(r.status, 201);
    // The id never reaches the access log.
    let id = location.rsplit('/').next().unwrap();
    assert!(!gw.log().contains(id), "polling id in the log");
}

#[tokio::test]
async fn the_store_is_bounded_in_entries_size_and_time() {
    let upstream = SlowUpstream::start().await;
    let gw = gateway(
        &upstream,
        r#"max_entries = 1
max_body_bytes = 1000
result_ttl = "1s""#,
    )
    .await;

    // One entry: a second slow request while it is taken simply waits for its answer.
    let first = send(&gw, "GET", "/open/1?delay=500", None).await;
    assert_eq!(first.status, 202);
    let second = send(&gw, "GET", "/open/2?delay=500", None).await;
    assert_eq!(second.status, 201, "{}", second.head);

    // Kept for result_ttl only.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let r = send(&gw, "GET", &first.header("location").unwrap(), None).await;
    assert_eq!(r.status, 404, "expired");

    // Answers larger than max_body_bytes are not kept: a 502 stands in.
    let big = send(&gw, "GET", "/open/3?delay=300&size=5000", None).await;
    assert_eq!(big.status, 202);
    let location = big.header("location").unwrap();
    let r = first_answer(&gw, &location, None).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.json()["error"], "upstream_answer_too_large");
    // And in time, too large is a 502 as well (the answer is buffered).
    let r = send(&gw, "GET", "/open/4?size=5000", None).await;
    assert_eq!(r.status, 502);
}
