//! Dependencies that fail on purpose, through the fault-injecting proxy: every failure is a
//! JSON 502/504 (or a closed connection once the answer has begun), never a panic or a hang,
//! and the next request works. A request that may have reached the upstream is not retried.

use crate::fault_proxy::{Fault, FaultProxy};
use crate::support::*;
use std::time::{Duration, Instant};

/// A gateway whose one route goes through `proxy`, and whose echo upstream (the proxy's
/// target) listens on `echo_port`.
async fn gateway_through(proxy: &FaultProxy, echo_port: u16) -> GatewayProcess {
    GatewayProcess::start(&format!(
        r#"
[log]
format = "json"

[[listeners]]
address = "127.0.0.1:{{port}}"

[echo]
address = "127.0.0.1:{echo_port}"

[upstreams.faulty]
addresses = ["{addr}"]
connect_timeout = "500ms"
read_timeout = "700ms"

[[routes]]
path_prefix = "/"
upstream = "faulty"
"#,
        addr = proxy.addr()
    ))
    .await
}

#[tokio::test]
async fn upstream_faults_are_json_errors_and_the_next_request_works() {
    // The fault proxy forwards to the gateway's own echo upstream once it is up.
    let echo_port = free_port();
    let proxy = FaultProxy::start(([127, 0, 0, 1], echo_port).into()).await;
    let gw = gateway_through(&proxy, echo_port).await;
    let ok = |r: &RawResponse| r.status == 200 && r.echoed().path == "/after";

    for (fault, status, code) in [
        (Fault::Refuse, 502, "upstream_unavailable"),
        (Fault::Reset, 502, "upstream_unavailable"),
        (Fault::HalfClose, 502, "upstream_unavailable"),
        (Fault::Truncate(10), 502, "upstream_unavailable"),
        (
            Fault::Delay(Duration::from_secs(2)),
            504,
            "upstream_timeout",
        ),
    ] {
        proxy.set(fault);
        let started = Instant::now();
        let r = raw_request(gw.addr(), &get("/during", &[])).await.unwrap();
        assert_eq!(r.status, status, "{fault:?}: {}", r.head);
        assert_eq!(r.json()["error"], code, "{fault:?}");
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/json")
        );
        assert!(started.elapsed() < Duration::from_secs(3), "{fault:?} hung");
        proxy.set(Fault::Pass);
        let r = raw_request(gw.addr(), &get("/after", &[])).await.unwrap();
        assert!(ok(&r), "after {fault:?}: {}", r.head);
    }

    // Cut after the header: the client sees the status, then the connection closes early
    // (the gateway cannot take back what it sent) — and the gateway goes on serving.
    proxy.set(Fault::Pass);
    let whole = raw_request(gw.addr(), &get("/after", &[])).await.unwrap();
    let head_len = whole.raw.len() - whole.body.len();
    proxy.set(Fault::Truncate(head_len + 5));
    let r = raw_request(gw.addr(), &get("/after", &[])).await.unwrap();
    assert!(r.closed, "a cut answer must not leave the connection open");
    assert!(r.body.len() < whole.body.len(), "the body was cut");
    proxy.set(Fault::Pass);
    let r = raw_request(gw.addr(), &get("/after", &[])).await.unwrap();
    assert!(ok(&r));
    assert!(!gw.log().contains("panicked"));
}

#[tokio::test]
async fn a_request_that_may_have_reached_the_upstream_is_not_retried() {
    let echo_port = free_port();
    let proxy = FaultProxy::start(([127, 0, 0, 1], echo_port).into()).await;
    let gw = gateway_through(&proxy, echo_port).await;
    proxy.set(Fault::Reset);
    let before = proxy.connection_count();
    let post = b"POST /orders HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    let r = raw_request(gw.addr(), post).await.unwrap();
    assert_eq!(r.status, 502);
    assert_eq!(
        proxy.connection_count() - before,
        1,
        "the POST was sent more than once"
    );
}

#[tokio::test]
async fn a_thousand_requests_at_a_key_rotation_cause_one_jwks_fetch() {
    use crate::auth::{World, AUD};
    use crate::idp::{claims, SigningKey};
    // Two thousand sockets between this process and the gateway it starts.
    raise_open_file_limit();
    let w = World::start().await;
    assert_eq!(
        w.bearer("/profile/x", &w.token("profile:read"))
            .await
            .status,
        200
    );
    // The IdP rotates; past the unknown-kid cooldown, a thousand requests arrive at once with
    // tokens of the new key.
    let rotated = SigningKey::generate(jsonwebtoken::Algorithm::RS256, "rotated");
    w.idp.publish(&[&w.key, &rotated]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = w.idp.fetches();
    let token = rotated.mint(&claims(&w.idp.issuer(), AUD, "u", "profile:read"));
    let request = get("/profile/x", &[&format!("Authorization: Bearer {token}")]);
    let addr = w.gw.addr();
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let request = request.clone();
            tokio::spawn(async move { raw_request(addr, &request).await.map(|r| r.status) })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for task in tasks {
        let status = task.await.unwrap().unwrap_or(0);
        *statuses.entry(status).or_insert(0) += 1;
    }
    assert_eq!(statuses.get(&200), Some(&1000), "{statuses:?}");
    assert_eq!(w.idp.fetches() - before, 1, "one fetch for all of them");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_upgrade_under_load_loses_no_request() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let echo_port = free_port();
    // `/slow` answers after 6.5 s: still in flight when the old process starts shutting down
    // (5 s after SIGQUIT, once it has handed its sockets over), done within its grace period.
    let slow = FaultProxy::start(([127, 0, 0, 1], echo_port).into()).await;
    let config = format!(
        r#"
[server]
grace_period = "3s"
upgrade_sock = "{{dir}}/upgrade.sock"
watch_config = false

[log]
format = "json"

[[listeners]]
address = "127.0.0.1:{{port}}"

[echo]
address = "127.0.0.1:{echo_port}"

[upstreams.echo]
addresses = ["127.0.0.1:{echo_port}"]

[upstreams.slow]
addresses = ["{slow}"]
read_timeout = "15s"

[[routes]]
path_prefix = "/slow"
upstream = "slow"

[[routes]]
path_prefix = "/"
upstream = "echo"
"#,
        slow = slow.addr()
    );
    let mut old = GatewayProcess::start(&config).await;
    let addr = old.addr();

    // Steady load: one request after another, each on a new connection.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut ok, mut failed) = (0u32, Vec::new());
            while !stop.load(Ordering::SeqCst) {
                match raw_request(addr, &get("/steady", &[])).await {
                    Ok(r) if r.status == 200 => ok += 1,
                    Ok(r) => failed.push(format!("status {}", r.status)),
                    Err(e) => failed.push(e.to_string()),
                }
            }
            (ok, failed)
        })
    };
    slow.set(Fault::Delay(Duration::from_millis(6500)));
    let in_flight = tokio::spawn(async move { raw_request(addr, &get("/slow/report", &[])).await });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut new = old.spawn_upgrade();
    tokio::time::sleep(Duration::from_millis(500)).await;
    old.signal("QUIT");
    let exited = eventually(Duration::from_secs(25), || {
        let code = old.exit_code();
        async move { code.is_some() }
    })
    .await;
    assert!(
        exited,
        "the old process did not exit; its log:\n{}",
        old.log()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let (ok, failed) = load.await.unwrap();
    let slow_answer = in_flight.await.unwrap().unwrap();
    let _ = new.kill();
    let _ = new.wait();

    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {failed:?}",
        failed.len(),
        ok as usize + failed.len()
    );
    assert!(ok > 10, "only {ok} requests ran");
    assert_eq!(slow_answer.status, 200, "the in-flight request was cut");
}

#[tokio::test]
async fn an_unreachable_identity_provider_is_503_and_the_gateway_recovers_by_itself() {
    use crate::auth::AUD;
    use crate::idp::{claims, now, Idp, SigningKey};
    let idp = Idp::start().await;
    let key = SigningKey::generate(jsonwebtoken::Algorithm::RS256, "k1");
    idp.publish(&[&key]);
    idp.register_opaque(
        "opaque-up-1",
        serde_json::json!({"active": true, "sub": "s", "scope": "read", "exp": now() + 600}),
    );
    // Both the JWKS and the introspection endpoint are behind the fault proxy, down from the
    // start.
    let proxy = FaultProxy::start(([127, 0, 0, 1], idp.port).into()).await;
    proxy.set(Fault::Reset);
    let via = format!("http://{}", proxy.addr());
    let gw = GatewayProcess::start(&config_with(&format!(
        r#"
[issuers.idp]
kind = "jwt"
issuer = "{iss}"
audiences = ["{AUD}"]
jwks_url = "{via}/jwks"
fetch_timeout = "300ms"
unknown_kid_cooldown = "1s"

[issuers.opaque]
kind = "introspection"
introspection_url = "{via}/introspect"
client_id = "portcullis"
client_secret = "introspection-secret-0123456789"
timeout = "300ms"

[[routes]]
path_prefix = "/jwt"
upstream = "echo"
[routes.auth]
issuers = ["idp"]

[[routes]]
path_prefix = "/opaque"
upstream = "echo"
[routes.auth]
issuers = ["opaque"]
"#,
        iss = idp.issuer()
    )))
    .await;
    let token = key.mint(&claims(&idp.issuer(), AUD, "u", ""));
    let bearer = |t: &str| format!("Authorization: Bearer {t}");

    // Down: not ready, and 503 (never 401, never allow) within the timeouts.
    let ready = raw_request(gw.addr(), &get("/readyz", &[])).await.unwrap();
    assert_eq!(ready.status, 503);
    for (path, credential) in [("/jwt/x", token.as_str()), ("/opaque/x", "opaque-up-1")] {
        let started = Instant::now();
        let r = raw_request(gw.addr(), &get(path, &[&bearer(credential)]))
            .await
            .unwrap();
        assert_eq!(r.status, 503, "{path}: {}", r.head);
        assert!(r.header("retry-after").is_some());
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{path} waited too long"
        );
    }

    // Back: keys load, introspection answers, no restart needed.
    proxy.set(Fault::Pass);
    let recovered = eventually(Duration::from_secs(5), || async {
        let r = raw_request(gw.addr(), &get("/jwt/x", &[&bearer(&token)])).await;
        r.is_ok_and(|r| r.status == 200)
    })
    .await;
    assert!(recovered, "JWT verification did not recover");
    let r = raw_request(gw.addr(), &get("/opaque/x", &[&bearer("opaque-up-1")]))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let ready = raw_request(gw.addr(), &get("/readyz", &[])).await.unwrap();
    assert_eq!(ready.status, 200);
}

#[tokio::test]
async fn a_reload_does_not_drop_requests_in_flight() {
    let echo_port = free_port();
    let proxy = FaultProxy::start(([127, 0, 0, 1], echo_port).into()).await;
    let gw = gateway_through(&proxy, echo_port).await;
    // 600 ms: under the route's 700 ms read timeout, long enough to reload meanwhile.
    proxy.set(Fault::Delay(Duration::from_millis(600)));
    let addr = gw.addr();
    let in_flight = tokio::spawn(async move { raw_request(addr, &get("/report", &[])).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A good new config (one more route) while the request waits on its upstream.
    gw.rewrite_config(|c| {
        c.replace(
            "[[routes]]",
            "[[routes]]\npath = \"/added\"\nupstream = \"faulty\"\n\n[[routes]]",
        )
    });
    gw.signal("HUP");
    let reloaded_at = Instant::now();
    assert!(
        gw.wait_for_log("config reloaded", Duration::from_secs(5))
            .await
    );
    let r = in_flight.await.unwrap().unwrap();
    assert!(
        reloaded_at.elapsed() > Duration::from_millis(100),
        "the reload was not mid-request"
    );
    assert_eq!(
        r.status, 200,
        "the request in flight was dropped: {}",
        r.head
    );
    assert_eq!(r.echoed().path, "/report");
    proxy.set(Fault::Pass);
    let r = raw_request(gw.addr(), &get("/added", &[])).await.unwrap();
    assert_eq!(r.status, 200);
}
