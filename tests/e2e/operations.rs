//! Health endpoints, the access log and graceful shutdown.

use crate::support::*;
use std::time::Duration;

#[tokio::test]
async fn health_and_readiness_are_answered_by_the_gateway() {
    let config = config_with(CATCH_ALL).replace(
        "[log]",
        "[server]\nhealth_path = \"/-/live\"\nready_path = \"/-/ready\"\n\n[log]",
    );
    let gw = GatewayProcess::start(&config.replace("/healthz", "/-/live")).await;
    let r = raw_request(gw.addr(), &get("/-/live", &[])).await.unwrap();
    assert_eq!((r.status, r.json()["status"].as_str()), (200, Some("ok")));
    let r = raw_request(gw.addr(), &get("/-/ready", &[])).await.unwrap();
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (200, Some("ready"))
    );
    // The default path is an ordinary route now, and a probe's User-Agent grants nothing
    // (oauth2-proxy CVE-2026-34457).
    let r = raw_request(
        gw.addr(),
        &get("/healthz", &["User-Agent: kube-probe/1.29"]),
    )
    .await
    .unwrap();
    assert_eq!(r.echoed().path, "/healthz");
}

#[tokio::test]
async fn one_json_access_log_event_per_request() {
    let gw = GatewayProcess::start(&config_with(CATCH_ALL)).await;
    let r = raw_request(
        gw.addr(),
        &get(
            "/logged/path?secret_query=hunter2",
            &["X-Request-Id: log-test-1"],
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    // The event is written after the response; give it a moment.
    let mut event = None;
    for _ in 0..50 {
        event = gw
            .log()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| e["request_id"] == "log-test-1");
        if event.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let event = event.unwrap_or_else(|| panic!("no access event in:\n{}", gw.log()));
    assert_eq!(event["target"], "access");
    assert_eq!(event["path"], "/logged/path");
    assert_eq!(event["route"], "route-0");
    assert_eq!(event["upstream"], "echo");
    assert_eq!(event["status"], 200);
    assert!(event["duration_us"].as_u64().is_some());
    assert!(
        !gw.log().contains("hunter2"),
        "the query string reached the log"
    );
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    let config = config_with(CATCH_ALL).replace(
        "[log]",
        "[server]\ngrace_period = \"0s\"\ngraceful_shutdown_timeout = \"1s\"\n\n[log]",
    );
    let mut gw = GatewayProcess::start(&config).await;
    assert_eq!(
        raw_request(gw.addr(), &get("/x", &[]))
            .await
            .unwrap()
            .status,
        200
    );
    let code = gw.signal_and_wait("TERM", Duration::from_secs(10));
    assert_eq!(code, Some(0), "log:\n{}", gw.log());
}

#[tokio::test]
async fn the_access_log_can_be_turned_off() {
    let config =
        config_with(CATCH_ALL).replace("level = \"info\"", "level = \"info\"\naccess_log = false");
    let gw = GatewayProcess::start(&config).await;
    let r = raw_request(gw.addr(), &get("/quiet", &["X-Request-Id: quiet-1"]))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!gw.log().contains("quiet-1"), "{}", gw.log());
}

#[test]
fn user_add_writes_an_argon2id_hash_read_from_stdin() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.toml");
    let add = |name: &str, password: &str, extra: &[&str]| {
        let mut child = std::process::Command::new(binary())
            .args(["user", "add", "-f"])
            .arg(&file)
            .args(["--name", name])
            .args(extra)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        let output = child.wait_with_output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let (code, out) = add(
        "alice",
        "correct horse battery staple",
        &["--email", "a@x.test"],
    );
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = add("alice", "correct horse battery staple", &[]);
    assert_eq!(code, Some(1));
    assert!(out.contains("exists"), "{out}");
    let (code, _) = add("bob", "short", &[]);
    assert_eq!(code, Some(1));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("name = \"alice\""));
    assert!(text.contains("$argon2id$"));
    assert!(text.contains("a@x.test"));
    assert!(
        !text.contains("correct horse"),
        "the password itself was written"
    );
    let users = portcullis_tokens::users::Users::load(&file).unwrap();
    assert!(users
        .verify("alice", "correct horse battery staple")
        .is_some());
}
