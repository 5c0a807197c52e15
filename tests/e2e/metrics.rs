//! Prometheus metrics on their own listener, after real traffic through the gateway.

use crate::auth::{World, GUEST_KEY};
use crate::idp::now;
use crate::support::*;
use serde_json::json;

/// The value of the sample `name{labels…}` in a text exposition, labels in any order.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .find(|(series, _)| {
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|(_, value)| value.parse().ok())
}

async fn scrape(port: u16) -> String {
    let r = raw_request(
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        &get("/metrics", &[]),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/plain"));
    String::from_utf8(r.body).unwrap()
}

#[tokio::test]
async fn decisions_verifications_caches_keys_and_backends_are_counted() {
    let metrics_port = free_port();
    let w = World::start_with(|c| {
        *c = c.replace(
            "[auth]",
            &format!("[metrics]\naddress = \"127.0.0.1:{metrics_port}\"\n\n[auth]"),
        );
    })
    .await;
    let token = w.token("profile:read");
    assert_eq!(w.get("/public/a", &[]).await.status, 200);
    assert_eq!(w.get("/profile", &[]).await.status, 401);
    assert_eq!(w.bearer("/profile", &token).await.status, 200);
    assert_eq!(w.bearer("/profile", &token).await.status, 200);
    assert_eq!(w.bearer("/profile", "not-a-token").await.status, 401);
    // Valid, but without the route's scope.
    let weak = w.token("orders:read");
    assert_eq!(w.bearer("/profile", &weak).await.status, 403);
    assert_eq!(
        w.get("/guest", &[&format!("Authorization: token {GUEST_KEY}")])
            .await
            .status,
        200
    );
    w.idp.register_opaque(
        "op-metrics",
        json!({"active": true, "sub": "svc", "scope": "read", "exp": now() + 600}),
    );
    assert_eq!(w.bearer("/opaque", "op-metrics").await.status, 200);
    assert_eq!(w.get("/nowhere", &[]).await.status, 404);

    let text = scrape(metrics_port).await;
    let requests = |route, decision| {
        sample(
            &text,
            "portcullis_requests_total",
            &[("route", route), ("decision", decision)],
        )
    };
    assert_eq!(requests("public", "allow"), Some(1.0), "{text}");
    assert_eq!(requests("profile", "allow"), Some(2.0));
    assert_eq!(requests("profile", "401"), Some(2.0));
    assert_eq!(requests("profile", "403"), Some(1.0));
    assert_eq!(requests("guest", "allow"), Some(1.0));
    assert_eq!(requests("none", "404"), Some(1.0));
    assert!(text.contains("# TYPE portcullis_requests_total counter"));

    let verified = |issuer, outcome| {
        sample(
            &text,
            "portcullis_token_verification_seconds_count",
            &[("issuer", issuer), ("outcome", outcome)],
        )
    };
    assert_eq!(verified("idp", "valid"), Some(3.0));
    assert_eq!(verified("guests", "valid"), Some(1.0));
    assert_eq!(verified("opaque", "valid"), Some(1.0));
    assert_eq!(verified("unknown", "invalid"), Some(1.0));
    assert!(text.contains("# TYPE portcullis_token_verification_seconds histogram"));

    let lookups = |cache, result| {
        sample(
            &text,
            "portcullis_token_cache_lookups_total",
            &[("cache", cache), ("result", result)],
        )
    };
    assert_eq!(lookups("jwt", "miss"), Some(2.0));
    assert_eq!(lookups("jwt", "hit"), Some(1.0));
    assert_eq!(lookups("introspection", "miss"), Some(1.0));
    assert_eq!(
        sample(
            &text,
            "portcullis_introspection_requests_total",
            &[("issuer", "opaque"), ("result", "active")]
        ),
        Some(1.0)
    );

    let fetches = sample(&text, "portcullis_jwks_fetches_total", &[("issuer", "idp")]);
    assert!(fetches.is_some_and(|n| n >= 1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            "portcullis_jwks_fetch_failures_total",
            &[("issuer", "idp")]
        ),
        Some(0.0)
    );
    let age = sample(&text, "portcullis_jwks_age_seconds", &[("issuer", "idp")]);
    assert!(age.is_some_and(|s| (0.0..60.0).contains(&s)), "{text}");
    let echo = format!("127.0.0.1:{}", w.gw.echo_port);
    assert_eq!(
        sample(
            &text,
            "portcullis_upstream_backend_up",
            &[("upstream", "echo"), ("backend", &echo)]
        ),
        Some(1.0)
    );
    assert!(sample(&text, "portcullis_token_cache_entries", &[]).is_some());
    // What operators alert on: latency by route and status class, upstream time, refusals
    // by reason, and which build runs.
    let duration_count = |route, status| {
        sample(
            &text,
            "portcullis_request_duration_seconds_count",
            &[("route", route), ("status", status)],
        )
    };
    assert_eq!(duration_count("profile", "2xx"), Some(2.0), "{text}");
    assert_eq!(duration_count("profile", "4xx"), Some(3.0));
    assert!(text.contains("# TYPE portcullis_request_duration_seconds histogram"));
    assert_eq!(
        sample(
            &text,
            "portcullis_upstream_duration_seconds_count",
            &[("route", "profile")]
        ),
        Some(2.0)
    );
    let denials = |reason| sample(&text, "portcullis_denials_total", &[("reason", reason)]);
    assert_eq!(denials("invalid_token"), Some(1.0), "{text}");
    assert_eq!(denials("insufficient_scope"), Some(1.0));
    assert_eq!(denials("no_route"), Some(1.0));
    assert_eq!(
        sample(
            &text,
            "portcullis_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    // Every series the bundled Grafana dashboard queries exists.
    let dashboard = std::fs::read_to_string(repo_path("contrib/grafana/dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let mut queried = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for (at, _) in expr.match_indices("portcullis_") {
                let name: String = expr[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                queried.push(name);
            }
        }
    }
    assert!(queried.len() > 10);
    for name in queried {
        assert!(
            text.lines().any(|l| l.starts_with(&name)),
            "the dashboard queries {name}, which the gateway does not export"
        );
    }
    // The token never shows up in metrics.
    assert!(!text.contains(&token) && !text.contains(&weak) && !text.contains("op-metrics"));
}
