//! `X-Portcullis-Debug`: traces for debug-scope holders and debug networks, nothing for anyone
//! else, never the token or the subject, and never passed upstream.

use crate::auth::World;
use crate::support::*;

fn trace(r: &RawResponse) -> Option<String> {
    r.header("x-portcullis-debug")
}

#[tokio::test]
async fn traces_go_to_debug_scope_holders_only_and_never_upstream() {
    let w = World::start_with(|c| {
        *c = c.replace("[auth]", "[debug]\nscope = \"portcullis:debug\"\n\n[auth]");
    })
    .await;
    let plain = w.token("profile:read");
    let debugger = w.token("profile:read portcullis:debug");
    let ask = |token: &str, level: &str| {
        [
            format!("Authorization: Bearer {token}"),
            format!("X-Portcullis-Debug: {level}"),
        ]
    };
    let world = &w;
    let send = |headers: [String; 2]| async move {
        let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
        world.get("/profile/me", &refs).await
    };

    // Without the scope (and not from a debug network) the header is silently ignored.
    let r = send(ask(&plain, "3")).await;
    assert_eq!(r.status, 200);
    assert_eq!(trace(&r), None);
    assert!(r
        .echoed()
        .headers
        .iter()
        .all(|(n, _)| n != "x-portcullis-debug"));

    let r = send(ask(&debugger, "1")).await;
    assert_eq!(trace(&r).as_deref(), Some("route=profile; decision=allow"));
    assert!(r
        .echoed()
        .headers
        .iter()
        .all(|(n, _)| n != "x-portcullis-debug"));

    let r = send(ask(&debugger, "2")).await;
    let level2 = trace(&r).unwrap();
    assert!(
        level2.starts_with("route=profile; decision=allow; carrier=bearer; level=identified; issuer=idp; scopes=profile:read,portcullis:debug; cache="),
        "{level2}"
    );
    assert!(!level2.contains("auth_us"));

    let r = send(ask(&debugger, "3")).await;
    let level3 = trace(&r).unwrap();
    assert!(level3.contains("cache=hit"), "{level3}");
    for stage in ["route_us=", "auth_us=", "odata_us=", "upstream_us="] {
        assert!(level3.contains(stage), "{stage} missing: {level3}");
    }
    for secret in [debugger.as_str(), "user-1"] {
        assert!(!level3.contains(secret) && !level2.contains(secret));
    }

    // A refusal has no principal to hold the scope: no trace.
    let r = w.get("/profile/me", &["X-Portcullis-Debug: 1"]).await;
    assert_eq!((r.status, trace(&r)), (401, None));
    // Nonsense levels ask for nothing.
    let r = send(ask(&debugger, "9")).await;
    assert_eq!(trace(&r), None);
}

#[tokio::test]
async fn debug_networks_see_refusals_too() {
    let gw = GatewayProcess::start(&config_with(
        r#"
[debug]
networks = ["127.0.0.0/8"]

[issuers.keys]
kind = "app_keys"
app_keys = [{ client = "c", key = "gk_debug_network_key_0123", scopes = ["read"] }]

[[routes]]
name = "locked"
path_prefix = "/locked"
upstream = "echo"
[routes.auth]
issuers = ["keys"]

[[routes]]
name = "open"
path_prefix = "/"
upstream = "echo"
"#,
    ))
    .await;
    let r = raw_request(gw.addr(), &get("/locked/x", &["X-Portcullis-Debug: 1"]))
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(
        trace(&r).as_deref(),
        Some("route=locked; decision=refused; status=401")
    );
    let r = raw_request(gw.addr(), &get("/nowhere", &["X-Portcullis-Debug: 2"]))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        trace(&r).as_deref(),
        Some("route=open; decision=allow; auth=none")
    );
}

/// A source API's own debug header (Extole's `X-Extole-Debug`) in place of Portcullis's:
/// asked and answered under that name, on forwarded requests and the gateway's own refusals,
/// and the default name means nothing then.
#[tokio::test]
async fn the_debug_header_name_is_configurable() {
    let w = World::start_with(|c| {
        *c = c.replace(
            "[auth]",
            "[debug]\nscope = \"portcullis:debug\"\nheader = \"X-Extole-Debug\"\n\n[auth]",
        );
    })
    .await;
    let debugger = w.token("profile:read portcullis:debug");
    let bearer = format!("Authorization: Bearer {debugger}");
    let r = w.get("/profile/me", &[&bearer, "X-Extole-Debug: 1"]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("x-extole-debug").as_deref(),
        Some("route=profile; decision=allow")
    );
    assert!(r
        .echoed()
        .headers
        .iter()
        .all(|(n, _)| n != "x-extole-debug"));
    let r = w
        .get("/profile/me", &[&bearer, "X-Portcullis-Debug: 1"])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-portcullis-debug"), None);
    assert_eq!(r.header("x-extole-debug"), None);
    // A refusal the gateway answers itself carries the trace under the same name (to a debug
    // network: a refused caller's scopes prove nothing).
    let w = World::start_with(|c| {
        *c = c.replace(
            "[auth]",
            "[debug]\nnetworks = [\"127.0.0.0/8\"]\nheader = \"X-Extole-Debug\"\n\n[auth]",
        );
    })
    .await;
    let r = w.get("/profile/me", &["X-Extole-Debug: 1"]).await;
    assert_eq!(r.status, 401, "{}", r.head);
    assert_eq!(
        r.header("x-extole-debug").as_deref(),
        Some("route=profile; decision=refused; status=401"),
        "{}",
        r.head
    );
}
