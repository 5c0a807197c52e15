//! Test support: the real `portcullis` binary on ephemeral ports, real upstreams, real clients.

#![allow(dead_code)]

use std::collections::HashSet;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use portcullis::echo::EchoedRequest;

/// Ports handed out in this test process, so two parallel tests never get the same one.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A free 127.0.0.1 port (bound, read, released).
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind an ephemeral port")
            .local_addr()
            .unwrap()
            .port();
        let mut guard = HANDED_OUT.lock().unwrap();
        if guard.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_portcullis")
}

/// A running gateway process; killed when dropped.
pub struct GatewayProcess {
    child: Option<Child>,
    pub port: u16,
    pub echo_port: u16,
    pub dir: tempfile::TempDir,
    log_path: PathBuf,
}

impl GatewayProcess {
    /// Starts the gateway on `config` (placeholders `{port}`, `{echo}`, `{dir}` filled in) and
    /// waits until `/healthz` answers.
    pub async fn start(config: &str) -> GatewayProcess {
        Self::try_start(config)
            .await
            .unwrap_or_else(|log| panic!("gateway did not start; its log:\n{log}"))
    }

    /// As [`Self::start`], with extra files written into `{dir}` first.
    pub async fn start_with_files(config: &str, files: &[(&str, &str)]) -> GatewayProcess {
        Self::try_start_with_files(config, files)
            .await
            .unwrap_or_else(|log| panic!("gateway did not start; its log:\n{log}"))
    }

    /// As [`Self::start`], but returns the log instead of panicking when it does not come up.
    pub async fn try_start(config: &str) -> Result<GatewayProcess, String> {
        Self::try_start_with_files(config, &[]).await
    }

    /// As [`Self::start_with_files`], on a port chosen beforehand (for configs that must name
    /// each other's addresses).
    pub async fn start_on(config: &str, files: &[(&str, &str)], port: u16) -> GatewayProcess {
        Self::try_start_on(config, files, port)
            .await
            .unwrap_or_else(|log| panic!("gateway did not start; its log:\n{log}"))
    }

    async fn try_start_with_files(
        config: &str,
        files: &[(&str, &str)],
    ) -> Result<GatewayProcess, String> {
        Self::try_start_on(config, files, free_port()).await
    }

    async fn try_start_on(
        config: &str,
        files: &[(&str, &str)],
        port: u16,
    ) -> Result<GatewayProcess, String> {
        let echo_port = free_port();
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in files {
            std::fs::write(dir.path().join(name), content).unwrap();
        }
        let text = config
            .replace("{port}", &port.to_string())
            .replace("{echo}", &echo_port.to_string())
            .replace("{dir}", dir.path().to_str().unwrap());
        let config_path = dir.path().join("portcullis.toml");
        std::fs::write(&config_path, text).unwrap();
        let log_path = dir.path().join("gateway.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(binary())
            .args(["serve", "-c"])
            .arg(&config_path)
            .env_remove("RUST_LOG")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn portcullis");
        let mut process = GatewayProcess {
            child: Some(child),
            port,
            echo_port,
            dir,
            log_path,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = process.child.as_mut().unwrap().try_wait().unwrap() {
                return Err(format!("exited with {status}\n{}", process.log()));
            }
            if let Ok(response) = raw_request(
                process.addr(),
                b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            )
            .await
            {
                // The built-in echo upstream (on `{echo}`) is another service of the same
                // process, which may start listening a moment after the proxy: wait for it too.
                let echo_ready = !config.contains("{echo}")
                    || std::net::TcpStream::connect(("127.0.0.1", process.echo_port)).is_ok();
                if response.status == 200 && echo_ready {
                    return Ok(process);
                }
            }
            if Instant::now() > deadline {
                return Err(format!("no /healthz after 20s\n{}", process.log()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("portcullis.toml")
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log_path) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends a signal (`HUP`, `TERM`, …) to the gateway.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Replaces the config file the way an operator's tooling should: a new file renamed
    /// over the old, so the gateway never reads half of it.
    pub fn rewrite_config(&self, edit: impl FnOnce(String) -> String) {
        let path = self.config_path();
        let text = edit(std::fs::read_to_string(&path).unwrap());
        let temporary = self.dir.path().join("portcullis.toml.new");
        std::fs::write(&temporary, text).unwrap();
        std::fs::rename(&temporary, &path).unwrap();
    }

    /// Waits up to `within` for the log to contain `needle`.
    pub async fn wait_for_log(&self, needle: &str, within: Duration) -> bool {
        eventually(within, || async { self.log().contains(needle) }).await
    }

    /// Starts a second gateway on the same config that takes the listening sockets over
    /// (`serve --upgrade`); its output goes to `upgraded.log` beside the config.
    pub fn spawn_upgrade(&self) -> Child {
        let log = std::fs::File::create(self.dir.path().join("upgraded.log")).unwrap();
        Command::new(binary())
            .args(["serve", "--upgrade", "-c"])
            .arg(self.config_path())
            .env_remove("RUST_LOG")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn portcullis --upgrade")
    }

    /// The exit code once the process has exited (without waiting).
    pub fn exit_code(&mut self) -> Option<i32> {
        let status = self.child.as_mut()?.try_wait().unwrap()?;
        self.child = None;
        Some(status.code().unwrap_or(-1))
    }

    /// Sends a signal and waits up to `within` for the process to exit; returns its exit code.
    pub fn signal_and_wait(&mut self, signal: &str, within: Duration) -> Option<i32> {
        self.signal(signal);
        let deadline = Instant::now() + within;
        let child = self.child.as_mut().unwrap();
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Raises this process's soft limit on open files to its hard limit (children inherit it):
/// tests with a thousand connections need more than a common default of 1,024.
pub fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Polls `check` every 50 ms until it holds (`true`) or `within` has passed (`false`).
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One route sending everything to the echo upstream.
pub const CATCH_ALL: &str = r#"
[[routes]]
path_prefix = "/"
upstream = "echo"
"#;

/// The standard test config: gateway on `{port}`, echo upstream on `{echo}`, and `extra`
/// appended (routes, more upstreams).
pub fn config_with(extra: &str) -> String {
    format!(
        r#"
[log]
format = "json"
level = "info"

[[listeners]]
address = "127.0.0.1:{{port}}"

[echo]
address = "127.0.0.1:{{echo}}"

[upstreams.echo]
addresses = ["127.0.0.1:{{echo}}"]
connect_timeout = "1s"
read_timeout = "5s"

{extra}
"#
    )
}

/// A parsed HTTP/1.1 response read off a raw socket.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
    /// Everything read, in case more than one response came back.
    pub raw: Vec<u8>,
    /// Whether the server closed the connection after the response.
    pub closed: bool,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn echoed(&self) -> EchoedRequest {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not an echo ({e}): {} {}",
                self.head,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// How many HTTP responses the raw bytes contain.
    pub fn response_count(&self) -> usize {
        String::from_utf8_lossy(&self.raw)
            .matches("HTTP/1.1 ")
            .count()
    }
}

/// Writes `request` as-is to a fresh connection and reads one response (and whatever follows
/// within a short grace, to notice extra responses or a close).
pub async fn raw_request(addr: SocketAddr, request: &[u8]) -> std::io::Result<RawResponse> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(request).await?;
    read_response(&mut stream).await
}

/// Reads one response from `stream`, then waits briefly for more bytes or a close.
pub async fn read_response(stream: &mut tokio::net::TcpStream) -> std::io::Result<RawResponse> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let deadline = Instant::now() + Duration::from_secs(10);
    let (head_end, body_len) = loop {
        let n = tokio::time::timeout_at(deadline.into(), stream.read(&mut buf))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no response"))??;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("closed after {} bytes", raw.len()),
            ));
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(pos) = find(&raw, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..pos]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.trim()
                        .eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            break (pos + 4, len);
        }
    };
    while raw.len() < head_end + body_len {
        let n = tokio::time::timeout_at(deadline.into(), stream.read(&mut buf))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "body"))??;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let closed = more_or_close(stream, &mut raw).await;
    let head = String::from_utf8_lossy(&raw[..head_end - 4]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body_end = (head_end + body_len).min(raw.len());
    Ok(RawResponse {
        status,
        head,
        body: raw[head_end..body_end].to_vec(),
        raw,
        closed,
    })
}

/// After a whole response: waits briefly for anything more (a second response, kept in `raw`)
/// or a close; returns whether the server closed the connection.
pub async fn more_or_close(stream: &mut tokio::net::TcpStream, raw: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 16 * 1024];
    match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(n)) => {
            raw.extend_from_slice(&buf[..n]);
            matches!(
                tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await,
                Ok(Ok(0))
            )
        }
        Err(_) => false,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `GET path` with the given extra header lines, as raw bytes.
pub fn get(path: &str, headers: &[&str]) -> Vec<u8> {
    let mut text = format!("GET {path} HTTP/1.1\r\nHost: test.local\r\n");
    for h in headers {
        text.push_str(h);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text.into_bytes()
}

/// A TCP server that accepts connections and never answers (for timeouts).
pub struct Blackhole {
    pub port: u16,
    _listener: TcpListener,
}

impl Blackhole {
    pub fn start() -> Blackhole {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        Blackhole {
            port,
            _listener: listener,
        }
    }
}

/// Runs `portcullis check -c FILE` on config text; returns (exit code, stdout + stderr).
pub fn check_config(text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, text).unwrap();
    run_cli(&["check", "-c", path.to_str().unwrap()])
}

pub fn run_cli(args: &[&str]) -> (i32, String) {
    let output = Command::new(binary())
        .args(args)
        .output()
        .expect("run portcullis");
    let mut text = String::from_utf8_lossy(&output.stdout).to_string();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), text)
}

/// A `config/examples/` file with its addresses made a test's: the gateway (`127.0.0.1:8080`
/// in the file) on `{port}`, the backend (`127.0.0.1:9000`) the gateway's own echo service on
/// `{echo}`.
pub fn example_config(name: &str) -> String {
    let text = std::fs::read_to_string(repo_path(&format!("config/examples/{name}.toml"))).unwrap();
    assert!(text.contains("127.0.0.1:8080") && text.contains("127.0.0.1:9000"));
    text.replace("127.0.0.1:8080", "127.0.0.1:{port}")
        .replace("127.0.0.1:9000", "127.0.0.1:{echo}")
        + "\n[echo]\naddress = \"127.0.0.1:{echo}\"\n"
}

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The bundled `config/portcullis.toml` made runnable in a test: ports as placeholders, the
/// store in `state`, the demo users file by absolute path.
pub fn bundled_config(state: &std::path::Path) -> String {
    let bundled = std::fs::read_to_string(repo_path("config/portcullis.toml")).unwrap();
    let config = bundled
        .replace("127.0.0.1:8080", "127.0.0.1:{port}")
        .replace("127.0.0.1:8081", "127.0.0.1:{echo}")
        .replace(
            "../var/portcullis/tokens.redb",
            &format!("{}/tokens.redb", state.display()),
        )
        .replace(
            "\"demo-users.toml\"",
            &format!("{:?}", repo_path("config/demo-users.toml")),
        );
    assert!(
        config.contains(state.to_str().unwrap()),
        "the bundled store path moved"
    );
    config
}

/// An HTTP client that follows no redirect (tests look at each answer themselves).
pub fn no_redirect_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A GET through the gateway whose answer is JSON.
pub async fn get_json(gw: &GatewayProcess, path: &str) -> serde_json::Value {
    http()
        .get(gw.url(path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A new anonymous device token from the token service (`POST /auth/token`).
pub async fn new_device_token(gw: &GatewayProcess) -> String {
    let body: serde_json::Value = no_redirect_client()
        .post(gw.url("/auth/token"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"]
        .as_str()
        .expect("a device token")
        .to_string()
}

/// A JSON part of a compact JWT (0: header, 1: claims), unverified: for looking at what the
/// gateway issued.
pub fn jwt_part(token: &str, index: usize) -> serde_json::Value {
    use base64::Engine;
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// SHA-256 in hex, as configs hold secrets.
pub fn sha256_hex(text: &str) -> String {
    portcullis_core::digest::digest_hex(text)
}

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// POSTs `body` as JSON with `headers`: the status and the JSON answer (`Null` if none).
pub async fn post_json(
    gw: &GatewayProcess,
    path: &str,
    headers: &[(&str, &str)],
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let mut request = http().post(gw.url(path)).json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

/// POSTs a form as `client` (id and secret by HTTP Basic): the status and the JSON answer.
pub async fn post_form(
    gw: &GatewayProcess,
    path: &str,
    client: (&str, &str),
    form: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let response = http()
        .post(gw.url(path))
        .basic_auth(client.0, Some(client.1))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}
