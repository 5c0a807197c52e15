//! Hot reload: SIGHUP and file changes swap in a new config; bad ones are refused while the
//! running one keeps serving; unchanged issuers keep their keys, changed ones lose their cache.

use crate::auth::World;
use crate::support::*;
use std::time::Duration;

/// Polls `path` until its status is `want` (a reload is asynchronous), or fails after 10 s.
async fn wait_for_status(gw: &GatewayProcess, path: &str, headers: &[&str], want: u16) {
    let status = || async {
        raw_request(gw.addr(), &get(path, headers))
            .await
            .unwrap()
            .status
    };
    if !eventually(Duration::from_secs(10), || async { status().await == want }).await {
        panic!(
            "{path}: still {}, not {want}; log:\n{}",
            status().await,
            gw.log()
        );
    }
}

#[tokio::test]
async fn sighup_reloads_keeps_unchanged_keys_drops_changed_caches_and_refuses_bad_files() {
    let w = World::start_with(|c| {
        *c = c.replace("[auth]", "[server]\nwatch_config = false\n\n[auth]");
    })
    .await;
    let token = w.token("profile:read");
    let bearer = format!("Authorization: Bearer {token}");
    assert_eq!(w.bearer("/profile", &token).await.status, 200);
    assert_eq!(w.get("/late", &[&bearer]).await.status, 404);
    let fetches = w.idp.fetches();
    assert!(fetches >= 1);

    // A new route: served after SIGHUP, with the IdP's keys carried over (no new fetch).
    w.gw.rewrite_config(|text| {
        text + "\n[[routes]]\nname = \"late\"\npath_prefix = \"/late\"\nupstream = \"echo\"\n\
                [routes.auth]\nissuers = [\"idp\"]\n"
    });
    // Without a signal (watching is off) nothing changes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(w.get("/late", &[&bearer]).await.status, 404);
    w.gw.signal("HUP");
    wait_for_status(&w.gw, "/late", &[&bearer], 200).await;
    assert!(
        w.gw.wait_for_log("config reloaded", Duration::from_secs(5))
            .await
    );
    assert_eq!(
        w.idp.fetches(),
        fetches,
        "unchanged issuer refetched its keys"
    );
    assert_eq!(w.bearer("/profile", &token).await.status, 200);

    // The issuer's audience changes: its cached verification of this token must not survive.
    w.gw.rewrite_config(|text| {
        text.replacen(
            "audiences = [\"api://portcullis\", \"orders\"]",
            "audiences = [\"somebody-else\"]",
            1,
        )
    });
    w.gw.signal("HUP");
    wait_for_status(&w.gw, "/profile", &[&bearer], 401).await;

    // A broken file is refused with a logged error; the running config keeps serving.
    w.gw.rewrite_config(|text| text.replace("[[routes]]", "[[routez]]"));
    w.gw.signal("HUP");
    assert!(
        w.gw.wait_for_log("config reload refused", Duration::from_secs(5))
            .await,
        "{}",
        w.gw.log()
    );
    assert_eq!(w.get("/public/x", &[]).await.status, 200);
    assert_eq!(w.get("/late", &[]).await.status, 401);
}

#[tokio::test]
async fn a_changed_config_file_is_picked_up_without_a_signal() {
    let gw = GatewayProcess::start(&config_with(CATCH_ALL)).await;
    assert_eq!(
        raw_request(gw.addr(), &get("/anything", &[]))
            .await
            .unwrap()
            .status,
        200
    );
    gw.rewrite_config(|text| text.replace("path_prefix = \"/\"", "path_prefix = \"/only\""));
    wait_for_status(&gw, "/anything", &[], 404).await;
    wait_for_status(&gw, "/only/x", &[], 200).await;
    // Logging settings take a restart: the rest is applied, with a warning for them.
    gw.rewrite_config(|text| text.replace("level = \"info\"", "level = \"debug\""));
    assert!(
        gw.wait_for_log("takes a restart", Duration::from_secs(5))
            .await,
        "{}",
        gw.log()
    );
    assert_eq!(
        raw_request(gw.addr(), &get("/only/y", &[]))
            .await
            .unwrap()
            .status,
        200
    );
}
