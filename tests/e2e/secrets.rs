//! No token leaks: credentials sent through every carrier and down every error path — with the
//! log at `debug` and decision traces on — appear in no log line, no answer (error bodies,
//! challenges, traces) and nothing the upstream receives (echoed back in the answers).

use crate::auth::{World, AUD, GUEST_KEY};
use crate::idp::*;
use crate::support::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn credentials_never_reach_logs_answers_or_upstreams() {
    let w = World::start_with(|c| {
        *c = c
            .replace("level = \"info\"", "level = \"debug\"")
            .replace("[auth]", "[debug]\nnetworks = [\"127.0.0.1/32\"]\n\n[auth]");
    })
    .await;
    let exp = now() + 600;
    w.idp.register_opaque(
        "opaque-live-7f3a9c1e5b2d",
        json!({"active": true, "sub": "svc", "scope": "read", "exp": exp}),
    );
    w.idp
        .register_opaque("opaque-dead-4e8b2a6c9d1f", json!({"active": false}));

    let good = w.token("profile:read");
    let no_scope = w.token("nothing");
    let expired = w.token_with(|c| c["exp"] = json!(now() - 3600));
    let wrong_aud = w.token_with(|c| c["aud"] = json!("someone-else"));
    let forged = {
        let stranger = SigningKey::generate(jsonwebtoken::Algorithm::RS256, "a1");
        stranger.mint(&claims(&w.idp.issuer(), AUD, "user-1", "profile:read"))
    };
    let tampered = format!("{}x", &good[..good.len() - 1]);
    let secrets: Vec<String> = vec![
        good.clone(),
        no_scope.clone(),
        expired.clone(),
        wrong_aud.clone(),
        forged.clone(),
        tampered.clone(),
        GUEST_KEY.to_string(),
        "opaque-live-7f3a9c1e5b2d".into(),
        "opaque-dead-4e8b2a6c9d1f".into(),
    ];
    let trace = "X-Portcullis-Debug: 3";
    let bearer = |t: &str| format!("Authorization: Bearer {t}");
    let requests: Vec<Vec<u8>> = vec![
        // Every carrier, allowed.
        get("/profile/x", &[&bearer(&good), trace]),
        get(&format!("/profile/x?access_token={good}&a=1"), &[trace]),
        get(
            "/profile/x",
            &[&format!("Cookie: theme=dark; access_token={good}"), trace],
        ),
        get("/profile/x", &[&format!("X-Access-Token: {good}"), trace]),
        get(
            "/guest/x",
            &[&format!("Authorization: token {GUEST_KEY}"), trace],
        ),
        get("/guest/x", &[&format!("X-API-Key: {GUEST_KEY}"), trace]),
        get("/opaque/x", &[&bearer("opaque-live-7f3a9c1e5b2d"), trace]),
        // Every refusal.
        get("/profile/x", &[&bearer(&no_scope), trace]),
        get("/profile/x", &[&bearer(&expired), trace]),
        get("/profile/x", &[&bearer(&wrong_aud), trace]),
        get("/profile/x", &[&bearer(&forged), trace]),
        get("/profile/x", &[&bearer(&tampered), trace]),
        get(&format!("/profile/x?access_token={expired}"), &[trace]),
        get("/profile/x", &[&format!("X-Access-Token: {forged}"), trace]),
        get("/opaque/x", &[&bearer("opaque-dead-4e8b2a6c9d1f"), trace]),
        get(
            "/guest/x",
            &[&format!("Authorization: token {GUEST_KEY}x"), trace],
        ),
        // Two credentials (invalid_request), a malformed header, a wrong scheme.
        get(
            "/profile/x",
            &[
                &bearer(&good),
                &format!("Cookie: access_token={expired}"),
                trace,
            ],
        ),
        get(
            &format!("/profile/x?access_token={good}"),
            &[&bearer(&forged), trace],
        ),
        get(
            "/profile/x",
            &[&format!("Authorization: Bearer  {good}"), trace],
        ),
        get(
            "/profile/x",
            &[&format!("Authorization: Basic {good}"), trace],
        ),
        // Carriers the route does not take, and routes that take none.
        get("/guest/x", &[&bearer(&good), trace]),
        get("/public/x", &[&bearer(&good), trace]),
        get(&format!("/nowhere?access_token={good}"), &[trace]),
        // Error paths after the decision, where pingora logs a summary of the request: a
        // hop-by-hop nomination of a header the gateway sets.
        get(
            &format!("/profile/x?access_token={good}"),
            &["Connection: X-Forwarded-For", trace],
        ),
        get(
            &format!("/public/x?access_token={expired}"),
            &["Connection: X-Forwarded-For", trace],
        ),
        // A write the level does not allow.
        format!(
            "PUT /profile/x HTTP/1.1\r\nHost: t\r\n{}\r\n{trace}\r\nContent-Length: 2\r\n\r\n{{}}",
            bearer(&good)
        )
        .into_bytes(),
    ];
    let mut statuses = Vec::new();
    for request in &requests {
        let r = raw_request(w.gw.addr(), request).await.unwrap();
        statuses.push(r.status);
        let answer = String::from_utf8_lossy(&r.raw);
        for secret in &secrets {
            assert!(
                !answer.contains(secret.as_str()),
                "a credential in the answer to {}:\n{answer}",
                String::from_utf8_lossy(request).lines().next().unwrap()
            );
        }
    }
    // The paths above did run: allowed, refused, invalid and unrouted answers all occurred.
    for expected in [200, 400, 401, 403, 404] {
        assert!(
            statuses.contains(&expected),
            "no {expected} in {statuses:?}"
        );
    }

    // A body cut short: the client promises 100 bytes, sends 3 and hangs up.
    for path in [
        format!("/public/x?access_token={good}"),
        format!("/profile/x?access_token={good}"),
    ] {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(w.gw.addr()).await.unwrap();
        let request = format!("POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc");
        stream.write_all(request.as_bytes()).await.unwrap();
        stream.shutdown().await.unwrap();
        let mut answer = Vec::new();
        let read = stream.read_to_end(&mut answer);
        let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
        assert!(!String::from_utf8_lossy(&answer).contains(good.as_str()));
    }

    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = w.gw.log();
    assert!(
        log.contains("Fail to proxy") || log.contains("Fail to"),
        "the error paths ran and pingora logged them"
    );
    assert!(log.contains("\"DEBUG\""), "the log ran at debug level");
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "a credential reached the log"
        );
        // Nor its signature alone (the part that makes a JWT a credential).
        if let Some(signature) = secret.rsplit('.').next().filter(|s| s.len() > 20) {
            assert!(!log.contains(signature), "a signature reached the log");
        }
    }
}
