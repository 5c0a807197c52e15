//! What a deployment relies on, through the real binary: backends by host name, failing fast
//! when an address is taken, `--version`, completions, and the files in `contrib/`.

use crate::support::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test]
async fn an_upstream_named_by_host_name_is_resolved_and_used() {
    let config = config_with(
        r#"
[upstreams.named]
addresses = ["localhost:{echo}"]
resolve_every = "1s"

[[routes]]
path_prefix = "/"
upstream = "named"
"#,
    );
    let gw = GatewayProcess::start(&config).await;
    let r = raw_request(gw.addr(), &get("/hello", &[])).await.unwrap();
    // localhost may resolve to ::1 first, where the echo upstream (on 127.0.0.1) is not: the
    // health of each address is the balancer's business; some request gets through.
    let mut ok = r.status == 200;
    for _ in 0..4 {
        if ok {
            break;
        }
        ok = raw_request(gw.addr(), &get("/hello", &[]))
            .await
            .unwrap()
            .status
            == 200;
    }
    assert!(ok, "{}", r.head);
}

#[test]
fn a_name_that_does_not_resolve_is_a_problem_unless_allowed_to_wait() {
    let (code, out) = check_config(
        r#"
[[listeners]]
address = "127.0.0.1:1"
[upstreams.app]
addresses = ["no-such-host.invalid:8080"]
[[routes]]
path_prefix = "/"
upstream = "app"
"#,
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("upstreams.app.addresses[0]") && out.contains("does not resolve"),
        "{out}"
    );
    let (code, out) = check_config(
        r#"
[[listeners]]
address = "127.0.0.1:1"
[upstreams.app]
addresses = ["no-such-host.invalid:8080"]
start_unresolved = true
[[routes]]
path_prefix = "/"
upstream = "app"
"#,
    );
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn an_unresolved_name_keeps_the_gateway_not_ready() {
    let config = config_with(&format!(
        r#"
[upstreams.later]
addresses = ["no-such-host.invalid:8080"]
start_unresolved = true
{CATCH_ALL}"#
    ));
    let gw = GatewayProcess::start(&config).await;
    let ready = raw_request(gw.addr(), &get("/readyz", &[])).await.unwrap();
    assert_eq!(ready.status, 503, "{}", ready.head);
    let live = raw_request(gw.addr(), &get("/healthz", &[])).await.unwrap();
    assert_eq!(live.status, 200);
}

#[test]
fn a_taken_address_ends_the_process_at_once_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.toml");
    std::fs::write(
        &path,
        format!(
            "[[listeners]]\naddress = \"{address}\"\n[upstreams.app]\naddresses = [\"127.0.0.1:9\"]\n\
             [[routes]]\npath_prefix = \"/\"\nupstream = \"app\"\n"
        ),
    )
    .unwrap();
    let started = Instant::now();
    let output = Command::new(binary())
        .args(["serve", "-c", path.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let waited = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(waited < Duration::from_secs(5), "took {waited:?}");
    assert!(
        stderr.contains(&format!("cannot listen on {address}")),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn check_reports_two_services_on_one_address() {
    let (code, out) = check_config(
        r#"
[[listeners]]
address = "127.0.0.1:7001"
[[listeners]]
address = "127.0.0.1:7001"
[metrics]
address = "127.0.0.1:7001"
[upstreams.app]
addresses = ["127.0.0.1:9"]
[[routes]]
path_prefix = "/"
upstream = "app"
"#,
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("listeners[1].address"), "{out}");
    assert!(out.contains("metrics.address"), "{out}");
    assert!(
        out.contains("is also listeners[0].address's address"),
        "{out}"
    );
}

#[test]
fn version_names_the_commit_and_completions_are_printed() {
    let (code, out) = run_cli(&["--version"]);
    assert_eq!(code, 0);
    let version = out.trim();
    assert!(
        version.starts_with(&format!("portcullis {}", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    let commit = version
        .rsplit_once('(')
        .and_then(|(_, c)| c.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no commit in {version:?}"));
    assert!(
        commit == "unknown" || commit.bytes().all(|b| b.is_ascii_hexdigit()),
        "{version}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let (code, out) = run_cli(&["completions", shell]);
        assert_eq!(code, 0, "{shell}");
        assert!(
            out.contains("serve") && out.contains("check"),
            "{shell}: {out}"
        );
    }
}

#[test]
fn check_reads_the_same_default_config_as_serve() {
    let output = Command::new(binary())
        .arg("check")
        .current_dir(repo_path(""))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.starts_with("config/portcullis.toml: ok"), "{stdout}");
}

#[test]
fn the_systemd_unit_passes_systemd_analyze() {
    let Ok(analyze) = which("systemd-analyze") else {
        println!("NOTICE: systemd-analyze is not installed; the unit was not verified");
        return;
    };
    let unit = std::fs::read_to_string(repo_path("contrib/portcullis.service")).unwrap();
    assert!(
        unit.contains("ExecReload=/bin/kill -HUP $MAINPID"),
        "{unit}"
    );
    assert!(unit.contains("Restart=on-failure"), "{unit}");
    // The unit names the installed binary; verify it against the one just built.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portcullis.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/portcullis", binary())).unwrap();
    let output = Command::new(analyze)
        .args(["verify", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let about_the_unit: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("portcullis.service"))
        .collect();
    assert!(
        output.status.success() && about_the_unit.is_empty(),
        "{text}"
    );
}

fn which(program: &str) -> Result<String, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(program))
                .find(|candidate| candidate.is_file())
        })
        .map(|p| p.to_string_lossy().into_owned())
        .ok_or(())
}

/// A backend on `address` that answers every request with `body`.
async fn answering(
    address: std::net::SocketAddr,
    body: &'static str,
) -> tokio::task::JoinHandle<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(address).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    })
}

/// Lines added to /etc/hosts, removed again when dropped.
struct HostsEntry {
    name: String,
}

impl HostsEntry {
    fn set(name: &str, ip: &str) -> std::io::Result<HostsEntry> {
        let hosts = std::fs::read_to_string("/etc/hosts")?;
        let kept: Vec<&str> = hosts
            .lines()
            .filter(|l| !l.split_whitespace().any(|w| w == name))
            .collect();
        std::fs::write("/etc/hosts", format!("{}\n{ip} {name}\n", kept.join("\n")))?;
        Ok(HostsEntry { name: name.into() })
    }
}

impl Drop for HostsEntry {
    fn drop(&mut self) {
        if let Ok(hosts) = std::fs::read_to_string("/etc/hosts") {
            let kept: Vec<&str> = hosts
                .lines()
                .filter(|l| !l.split_whitespace().any(|w| w == self.name))
                .collect();
            let _ = std::fs::write("/etc/hosts", format!("{}\n", kept.join("\n")));
        }
    }
}

/// The hosts file is what the resolver reads first, so changing a name's line is a DNS change
/// the gateway must pick up within `resolve_every`.
#[tokio::test]
async fn a_changed_dns_answer_is_picked_up() {
    let name = format!("portcullis-dns-test-{}", std::process::id());
    let Ok(entry) = HostsEntry::set(&name, "127.0.0.1") else {
        println!("NOTICE: /etc/hosts is not writable here; the DNS change was not exercised");
        return;
    };
    let port = free_port();
    let _first = answering(([127, 0, 0, 1], port).into(), "first").await;
    let _second = answering(([127, 0, 0, 2], port).into(), "second").await;
    let config = config_with(&format!(
        r#"
[upstreams.named]
addresses = ["{name}:{port}"]
resolve_every = "1s"

[[routes]]
path_prefix = "/"
upstream = "named"
"#
    ));
    let gw = GatewayProcess::start(&config).await;
    let body = |r: RawResponse| String::from_utf8_lossy(&r.body).into_owned();
    let r = raw_request(gw.addr(), &get("/", &[])).await.unwrap();
    assert_eq!(body(r), "first");
    let _entry = HostsEntry::set(&name, "127.0.0.2").unwrap();
    std::mem::forget(entry); // the second entry's drop removes the name
    let moved = eventually(Duration::from_secs(10), || async {
        let r = raw_request(gw.addr(), &get("/", &[])).await.unwrap();
        body(r) == "second"
    })
    .await;
    assert!(
        moved,
        "the gateway still sends to the old address:\n{}",
        gw.log()
    );
}

/// A config with its secrets outside it: the application key in a file beside the config
/// (a relative path), the introspection client secret in the environment.
const SECRETS_OUTSIDE: &str = r#"
[[listeners]]
address = "127.0.0.1:1"
[upstreams.app]
addresses = ["127.0.0.1:9"]
[issuers.keys]
kind = "app_keys"
app_keys = [{ client = "svc", key = { file = "secrets/app-key" } }]
[issuers.remote]
kind = "introspection"
introspection_url = "https://idp.example/introspect"
client_id = "gateway"
client_secret = { env = "PORTCULLIS_TEST_INTROSPECTION_SECRET" }
[[routes]]
path_prefix = "/"
upstream = "app"
[routes.auth]
carriers = ["token", "bearer"]
"#;

#[test]
fn secrets_come_from_the_environment_or_files_beside_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(
        dir.path().join("secrets/app-key"),
        "an-application-key-from-a-file-7Hq2\n",
    )
    .unwrap();
    let path = dir.path().join("gw.toml");
    std::fs::write(&path, SECRETS_OUTSIDE).unwrap();
    let check = |secret: Option<&str>| {
        let mut command = Command::new(binary());
        command
            .args(["check", "-c", path.to_str().unwrap()])
            // Run from elsewhere: the relative secret file is found beside the config.
            .current_dir("/")
            .env_remove("PORTCULLIS_TEST_INTROSPECTION_SECRET");
        if let Some(secret) = secret {
            command.env("PORTCULLIS_TEST_INTROSPECTION_SECRET", secret);
        }
        let output = command.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code(), text)
    };
    let (code, out) = check(None);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("gw.toml:13:")
            && out.contains("issuers.remote.client_secret")
            && out.contains("PORTCULLIS_TEST_INTROSPECTION_SECRET is not set"),
        "{out}"
    );
    let (code, out) = check(Some("a-long-enough-introspection-secret"));
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("a-long-enough"), "a secret was echoed: {out}");
}

#[tokio::test]
async fn a_key_read_from_a_relative_file_is_accepted() {
    let config = config_with(
        r#"
[issuers.keys]
kind = "app_keys"
app_keys = [{ client = "svc", key = { file = "app-key" }, level = "verified" }]

[[routes]]
path_prefix = "/"
upstream = "echo"
[routes.auth]
carriers = ["token"]
"#,
    );
    let gw = GatewayProcess::start_with_files(
        &config,
        &[("app-key", "key-from-a-file-beside-3Mw8Zr\n")],
    )
    .await;
    let r = raw_request(
        gw.addr(),
        &get("/", &["Authorization: token key-from-a-file-beside-3Mw8Zr"]),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.echoed().header_values("x-auth-subject"), ["svc"]);
}

#[test]
fn the_compose_gateway_config_checks() {
    let output = Command::new(binary())
        .args(["check", "-c"])
        .arg(repo_path("contrib/compose/portcullis.toml"))
        .env("PORTCULLIS_REDIS_URL", "redis://redis:6379/0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    let compose = std::fs::read_to_string(repo_path("compose.yaml")).unwrap();
    for service in ["portcullis:", "redis:", "backend:"] {
        assert!(compose.contains(service), "compose.yaml lacks {service}");
    }
}

/// Builds the image with the Dockerfile's steps where a container engine runs; says so where
/// none does (the build steps are then only the ones CI's cargo build runs).
#[test]
fn the_container_image_builds_where_an_engine_runs() {
    let engine_up = Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !engine_up {
        println!("NOTICE: no container engine is running here; the image was not built");
        return;
    }
    let tag = format!("portcullis-test:{}", std::process::id());
    let build = Command::new("docker")
        .args(["build", "-t", &tag, "."])
        .current_dir(repo_path(""))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&build.stderr);
    if !build.status.success() && log.contains("pull") {
        println!("NOTICE: the base images cannot be pulled here; the image was not built:\n{log}");
        return;
    }
    assert!(build.status.success(), "{log}");
    let version = Command::new("docker")
        .args(["run", "--rm", &tag, "--version"])
        .output()
        .unwrap();
    let _ = Command::new("docker").args(["rmi", &tag]).status();
    assert!(
        String::from_utf8_lossy(&version.stdout).starts_with("portcullis "),
        "{version:?}"
    );
}

/// The access-log event of the request with `id`, once written.
async fn access_event(gw: &GatewayProcess, id: &str) -> serde_json::Value {
    for _ in 0..100 {
        let found = gw
            .log()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| e["target"] == "access" && e["request_id"] == id);
        if let Some(event) = found {
            return event;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no access event for {id} in:\n{}", gw.log());
}

#[tokio::test]
async fn the_access_log_says_who_what_why_and_how_much() {
    let key = "an-access-log-app-key-5Rt8Wq";
    let config = config_with(&format!(
        r#"
[issuers.keys]
kind = "app_keys"
app_keys = [{{ client = "subject-one@example.com", key = "{key}", level = "verified" }}]

[[routes]]
name = "api"
path_prefix = "/api"
upstream = "echo"
[routes.auth]
carriers = ["token"]
"#
    ));
    let gw = GatewayProcess::start(&config).await;
    let send = |id: &'static str, auth: Option<String>| {
        let gw = &gw;
        async move {
            let mut headers = vec![
                format!("X-Request-Id: {id}"),
                "User-Agent: log-test/1.0".to_string(),
            ];
            headers.extend(auth);
            let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
            raw_request(gw.addr(), &get("/api/things", &headers))
                .await
                .unwrap()
        }
    };
    assert_eq!(
        send("log-allowed", Some(format!("Authorization: token {key}")))
            .await
            .status,
        200
    );
    assert_eq!(
        send(
            "log-refused",
            Some("Authorization: token not-a-key-at-all-000000".into())
        )
        .await
        .status,
        401
    );

    let allowed = access_event(&gw, "log-allowed").await;
    assert_eq!(allowed["route"], "api");
    assert_eq!(allowed["status"], 200);
    assert_eq!(allowed["reason"], "-");
    assert_eq!(allowed["user_agent"], "log-test/1.0");
    assert_eq!(allowed["host"], "test.local", "{allowed}");
    assert!(
        allowed["bytes_out"].as_u64().is_some_and(|n| n > 0),
        "{allowed}"
    );
    assert_eq!(allowed["bytes_in"], 0);
    let subject = allowed["subject"].as_str().unwrap();
    assert!(
        subject.len() == 16 && subject.bytes().all(|b| b.is_ascii_hexdigit()),
        "{allowed}"
    );
    let refused = access_event(&gw, "log-refused").await;
    assert_eq!(refused["status"], 401);
    assert_eq!(refused["reason"], "invalid_token", "{refused}");
    assert_eq!(refused["subject"], "-");
    let log = gw.log();
    assert!(
        !log.contains("subject-one@example.com"),
        "the subject reached the log"
    );
    assert!(!log.contains(key), "the key reached the log");
}

#[test]
fn check_warns_of_shadowed_routes_and_unused_upstreams_but_passes() {
    let (code, out) = check_config(
        r#"
[[listeners]]
address = "127.0.0.1:1"
[upstreams.app]
addresses = ["127.0.0.1:2"]
[upstreams.spare]
addresses = ["127.0.0.1:3"]
[[routes]]
path_prefix = "/"
upstream = "app"
[[routes]]
path_prefix = "/admin"
upstream = "app"
"#,
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning:") && out.contains("routes[1]: never matches: routes[0]"),
        "{out}"
    );
    assert!(
        out.contains("upstreams.spare: no route uses this upstream"),
        "{out}"
    );
}

/// `user add` on a terminal asks for the password and does not show it (`script` gives the
/// command a pseudo-terminal fed from our pipe).
#[test]
fn user_add_asks_for_the_password_on_a_terminal_without_echoing_it() {
    use std::io::Write;
    let Ok(_) = which("script") else {
        println!("NOTICE: `script` is not installed; the terminal prompt was not exercised");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    let command = format!("{} user add -f {} --name carol", binary(), users.display());
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let password = "a-terminal-password-9Kd2";
    // Give the prompt time to turn echo off before the password arrives.
    std::thread::sleep(Duration::from_millis(500));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{shown}");
    assert!(shown.contains("password:"), "{shown}");
    assert!(
        !shown.contains(password),
        "the password was echoed: {shown}"
    );
    let users = portcullis_tokens::users::Users::load(&users).unwrap();
    assert!(users.verify("carol", password).is_some());
}

#[tokio::test]
async fn each_listening_address_is_logged_once_at_start() {
    let gw = GatewayProcess::start(&config_with(CATCH_ALL)).await;
    let listening: Vec<serde_json::Value> = gw
        .log()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["message"] == "listening")
        .collect();
    let addresses: Vec<&str> = listening
        .iter()
        .filter_map(|e| e["address"].as_str())
        .collect();
    assert_eq!(
        addresses,
        [
            format!("127.0.0.1:{}", gw.port),
            format!("127.0.0.1:{}", gw.echo_port)
        ],
        "{}",
        gw.log()
    );
}
