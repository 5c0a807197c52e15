//! A one-second smoke run of the load harness against the real gateway (the full comparison is
//! `bench/compare.sh`, not part of CI).

use crate::support::*;
use std::path::PathBuf;
use std::process::Command;

/// The `loadgen` example, built by `cargo test` beside this test binary.
fn loadgen() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    debug_dir.join("examples").join("loadgen")
}

#[tokio::test]
async fn the_load_harness_drives_jwt_traffic_through_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Command::new(loadgen())
        .args(["keys", "--alg", "ES256", "--out"])
        .arg(dir.path())
        .output()
        .expect("run loadgen keys (cargo test builds the example)");
    assert!(
        keys.status.success(),
        "{}",
        String::from_utf8_lossy(&keys.stderr)
    );
    let config = config_with(&format!(
        r#"
[issuers.load]
kind = "jwt"
issuer = "https://load.test"
audiences = ["load"]
jwks_file = "{}/jwks.json"

[[routes]]
path_prefix = "/"
upstream = "echo"
[routes.auth]
scopes = ["bench"]
"#,
        dir.path().display()
    ));
    let gw = GatewayProcess::start(&config).await;
    let json = dir.path().join("run.json");
    let run = tokio::process::Command::new(loadgen())
        .args([
            "run",
            "--url",
            &gw.url("/x"),
            "--connections",
            "4",
            "--duration",
            "1s",
        ])
        .args(["--key", &format!("{}/key.json", dir.path().display())])
        .args([
            "--iss",
            "https://load.test",
            "--aud",
            "load",
            "--scope",
            "bench",
            "--tokens",
            "50",
        ])
        .args(["--invalid", "0.1", "--quiet", "--json"])
        .arg(&json)
        .output()
        .await
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let ok = result["statuses"]["200"].as_u64().unwrap_or(0);
    let refused = result["statuses"]["401"].as_u64().unwrap_or(0);
    assert!(ok > 50, "{result}");
    assert!(refused > 0, "the invalid tenth was not refused: {result}");
    assert_eq!(result["errors"], 0, "{result}");
    assert_eq!(result["statuses"].as_object().unwrap().len(), 2, "{result}");
    assert!(result["latency_ms"]["p99"].as_f64().unwrap() > 0.0);
}

#[test]
fn the_load_harness_refuses_bad_options_with_a_message_not_a_panic() {
    let cases: [&[&str]; 4] = [
        &["run"],
        &["run", "--url", "ftp://127.0.0.1/"],
        &["run", "--url", "http://127.0.0.1:9/", "--connection", "4"],
        &["keys", "--alg", "RS257", "--out", "."],
    ];
    for args in cases {
        let out = Command::new(loadgen()).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("loadgen: ") && stderr.contains("usage:"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_run_that_gets_no_response_fails() {
    // A port nothing listens on: every connection is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let out = Command::new(loadgen())
        .args([
            "run",
            "--url",
            &url,
            "--connections",
            "1",
            "--duration",
            "200ms",
            "--quiet",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no request got a response"), "{stderr}");
}
