//! A small HTTP/1.1 load generator for Portcullis and its peers.
//!
//! Its options are in [`USAGE`] (`loadgen --help`).
//!
//! Requests are built before the run and sent over keep-alive connections. With `--rate`, each
//! request has a scheduled send time; one sent late because every connection was still waiting
//! on the server counts its latency from then, so a stalled server cannot hide its queue (no
//! coordinated omission), while the generator's own timer slack (tokio's timers tick in
//! milliseconds) is not charged to the server. Latencies go into HDR histograms.

use base64::Engine;
use hdrhistogram::Histogram;
use jsonwebtoken::Algorithm;
use portcullis_engine::signing::{SavedKey, SigningKey};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Args {
    values: Vec<(String, String)>,
    flags: Vec<String>,
}

impl Args {
    fn parse(raw: &[String]) -> Args {
        let mut values = Vec::new();
        let mut flags = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            let name = raw[i].trim_start_matches("--").to_string();
            match raw.get(i + 1) {
                Some(v) if !v.starts_with("--") => {
                    values.push((name, v.clone()));
                    i += 2;
                }
                _ => {
                    flags.push(name);
                    i += 1;
                }
            }
        }
        Args { values, flags }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> T {
        self.get(name).map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| usage_error(format!("--{name} {v}: not a number")))
        })
    }

    /// A misspelt option would otherwise be ignored and the run measure something else.
    fn only(self, known: &[&str]) -> Self {
        let names = self.values.iter().map(|(n, _)| n).chain(&self.flags);
        if let Some(unknown) = names.into_iter().find(|n| !known.contains(&n.as_str())) {
            usage_error(format!("unknown option --{unknown}"));
        }
        self
    }

    /// A required option.
    fn need(&self, name: &str) -> &str {
        self.get(name)
            .unwrap_or_else(|| usage_error(format!("--{name} is required")))
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }
}

const USAGE: &str = "\
usage: loadgen keys --alg RS256 --out DIR [--kid KID]  # DIR/key.json (private), jwks.json, public.pem
       loadgen run --url http://127.0.0.1:8080/api/x [--connections 32] [--duration 10s]
                   [--rate 5000]                       # open loop: a fixed request rate
                   [--key DIR/key.json --iss I --aud A --scope \"s\" --tokens 1000]
                   [--app-key KEY]                     # `Authorization: token KEY` instead
                   [--carrier bearer|query|cookie|mix] [--invalid 0.1]
                   [--json out.json] [--label name] [--quiet]
                   [--ready-file PATH]                 # created when the load starts";

/// Bad options: what is wrong and the usage, exit status 2.
fn usage_error(message: impl std::fmt::Display) -> ! {
    eprintln!("loadgen: {message}\n{USAGE}");
    std::process::exit(2);
}

/// A file or key the run needs could not be made or read: exit status 1.
fn fatal(what: &str, error: impl std::fmt::Display) -> ! {
    eprintln!("loadgen: {what}: {error}");
    std::process::exit(1);
}

trait OrExit<T> {
    fn or_exit(self, what: &str) -> T;
}

impl<T, E: std::fmt::Display> OrExit<T> for Result<T, E> {
    fn or_exit(self, what: &str) -> T {
        self.unwrap_or_else(|e| fatal(what, e))
    }
}

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if raw.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return;
    }
    match raw.first().map(String::as_str) {
        Some("keys") => keys(&Args::parse(&raw[1..]).only(&["alg", "out", "kid"])),
        Some("run") => {
            let args = Args::parse(&raw[1..]).only(&[
                "url",
                "connections",
                "duration",
                "rate",
                "key",
                "iss",
                "aud",
                "scope",
                "tokens",
                "app-key",
                "carrier",
                "invalid",
                "json",
                "label",
                "quiet",
                "ready-file",
            ]);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(run(args));
        }
        Some(other) => usage_error(format!("unknown command {other}")),
        None => usage_error("a command is required"),
    }
}

fn keys(args: &Args) {
    let alg_name = args.get("alg").unwrap_or("RS256");
    let alg: Algorithm = alg_name
        .parse()
        .unwrap_or_else(|_| usage_error(format!("--alg {alg_name}: not a JWS algorithm")));
    let out = std::path::PathBuf::from(args.need("out"));
    std::fs::create_dir_all(&out).or_exit("--out");
    let key = SigningKey::generate(alg, args.get("kid").unwrap_or("load-1"));
    std::fs::write(
        out.join("key.json"),
        serde_json::to_vec_pretty(&key.save()).or_exit("key.json"),
    )
    .or_exit("key.json");
    std::fs::write(
        out.join("jwks.json"),
        json!({"keys": [key.jwk]}).to_string(),
    )
    .or_exit("jwks.json");
    if let Some(pem) = &key.public_pem {
        std::fs::write(out.join("public.pem"), pem).or_exit("public.pem");
    }
    eprintln!(
        "wrote {}/key.json and jwks.json ({alg:?}, kid {})",
        out.display(),
        key.kid
    );
}

fn parse_url(url: &str) -> (String, String) {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| usage_error(format!("--url {url}: must be http://host:port/path")));
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    (host.to_string(), path)
}

/// The credentials to send, one per request slot.
fn credentials(args: &Args) -> Vec<String> {
    if let Some(key) = args.get("app-key") {
        return vec![key.to_string()];
    }
    let Some(path) = args.get("key") else {
        return Vec::new();
    };
    let saved: SavedKey =
        serde_json::from_slice(&std::fs::read(path).or_exit("--key")).or_exit("--key");
    let key = SigningKey::load(&saved).or_exit("--key");
    let count: usize = args.num("tokens", 1000);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let iss = args.need("iss");
    let aud = args.need("aud");
    let scope = args.get("scope").unwrap_or("");
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = count.div_ceil(threads);
    let tokens: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let key = &key;
                s.spawn(move || {
                    (t * per..((t + 1) * per).min(count))
                        .map(|i| {
                            key.mint(&json!({
                                "iss": iss, "aud": aud, "sub": format!("load-{i}"), "scope": scope,
                                "client_id": "loadgen", "jti": format!("lg-{i}"), "iat": now, "exp": now + 3600,
                            }))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    if !args.flag("quiet") {
        eprintln!(
            "minted {} {:?} tokens in {:.1?}",
            tokens.len(),
            key.alg,
            started.elapsed()
        );
    }
    tokens
}

/// Builds every request's bytes up front.
fn requests(args: &Args, host: &str, path: &str) -> Vec<Vec<u8>> {
    let creds = credentials(args);
    let carrier = args.get("carrier").unwrap_or("bearer");
    let scheme = if args.get("app-key").is_some() {
        "token"
    } else {
        "Bearer"
    };
    let invalid: f64 = args.num("invalid", 0.0);
    let build = |i: usize, credential: Option<&str>| {
        let carrier = if carrier == "mix" {
            ["bearer", "query", "cookie"][i % 3]
        } else {
            carrier
        };
        let (target, header) = match (credential, carrier) {
            (None, _) => (path.to_string(), String::new()),
            (Some(c), "query") => {
                let sep = if path.contains('?') { '&' } else { '?' };
                (format!("{path}{sep}access_token={c}"), String::new())
            }
            (Some(c), "cookie") => (path.to_string(), format!("Cookie: access_token={c}\r\n")),
            (Some(c), _) => (path.to_string(), format!("Authorization: {scheme} {c}\r\n")),
        };
        format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n{header}\r\n").into_bytes()
    };
    if creds.is_empty() {
        return vec![build(0, None)];
    }
    let bad_every = if invalid > 0.0 {
        (1.0 / invalid).round() as usize
    } else {
        0
    };
    (0..creds.len().max(3))
        .map(|i| {
            if bad_every > 0 && i % bad_every == 0 {
                let garbage =
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(i.to_le_bytes());
                build(
                    i,
                    Some(&format!("eyJhbGciOiJSUzI1NiJ9.{garbage}.{garbage}")),
                )
            } else {
                build(i, Some(&creds[i % creds.len()]))
            }
        })
        .collect()
}

/// Reads one response; returns its status.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).unwrap_or("");
            let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok(status);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

struct Totals {
    histogram: Histogram<u64>,
    statuses: std::collections::BTreeMap<u16, u64>,
    errors: u64,
}

async fn run(args: Args) {
    let url = args.need("url");
    let (host, path) = parse_url(url);
    let connections: usize = args.num("connections", 32);
    let duration = portcullis::parse_duration(args.get("duration").unwrap_or("10s"))
        .unwrap_or_else(|e| usage_error(format!("--duration: {e}")));
    let rate: f64 = args.num("rate", 0.0);
    let requests = Arc::new(requests(&args, &host, &path));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    // Minting a large token pool takes a while; scripts that watch the gateway wait for this.
    if let Some(ready) = args.get("ready-file") {
        std::fs::write(ready, b"").or_exit("--ready-file");
    }

    let progress = (!args.flag("quiet")).then(|| {
        let done = done.clone();
        let failed = failed.clone();
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = done.load(Ordering::Relaxed);
                eprint!(
                    "\r[{:>3.0}s] {:>9} req/s  {:>9} total  {:>6} errors ",
                    started.elapsed().as_secs_f64(),
                    now - last,
                    now,
                    failed.load(Ordering::Relaxed)
                );
                last = now;
            }
        })
    });

    let mut workers = Vec::new();
    for c in 0..connections {
        let (requests, done, failed, next, host) = (
            requests.clone(),
            done.clone(),
            failed.clone(),
            next.clone(),
            host.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut totals = Totals {
                histogram: Histogram::new_with_bounds(1, 60_000_000, 3).unwrap(),
                statuses: Default::default(),
                errors: 0,
            };
            let mut stream: Option<TcpStream> = None;
            let mut buf = Vec::with_capacity(16 * 1024);
            let mut i = c;
            loop {
                let (index, scheduled) = if rate > 0.0 {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let at = started + Duration::from_secs_f64(n as f64 / rate);
                    if at >= deadline {
                        break;
                    }
                    // Behind schedule because every connection was busy: the server's doing,
                    // so the latency counts from `at` (no coordinated omission). Ahead of it, the
                    // wait ends on tokio's millisecond timer, up to 1 ms after `at`: the
                    // generator's doing, so the latency counts from the send.
                    let behind = Instant::now() > at;
                    tokio::time::sleep_until(at.into()).await;
                    (n as usize, if behind { at } else { Instant::now() })
                } else {
                    if Instant::now() >= deadline {
                        break;
                    }
                    i += connections;
                    (i, Instant::now())
                };
                if stream.is_none() {
                    match TcpStream::connect(&host).await {
                        Ok(s) => {
                            let _ = s.set_nodelay(true);
                            stream = Some(s);
                        }
                        Err(_) => {
                            totals.errors += 1;
                            failed.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    }
                }
                let s = stream.as_mut().expect("connected");
                let request = &requests[index % requests.len()];
                let outcome = match s.write_all(request).await {
                    Ok(()) => read_response(s, &mut buf).await,
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(status) => {
                        let micros = scheduled.elapsed().as_micros() as u64;
                        totals.histogram.saturating_record(micros.max(1));
                        *totals.statuses.entry(status).or_default() += 1;
                        done.fetch_add(1, Ordering::Relaxed);
                        let closes = buf
                            .windows(17)
                            .any(|w| w.eq_ignore_ascii_case(b"connection: close"));
                        if closes {
                            stream = None;
                        }
                    }
                    Err(_) => {
                        totals.errors += 1;
                        failed.fetch_add(1, Ordering::Relaxed);
                        stream = None;
                    }
                }
            }
            totals
        }));
    }
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
    let mut errors = 0;
    for w in workers {
        let t = w.await.expect("worker");
        histogram.add(&t.histogram).unwrap();
        for (s, n) in t.statuses {
            *statuses.entry(s).or_default() += n;
        }
        errors += t.errors;
    }
    if let Some(p) = progress {
        p.abort();
        eprintln!();
    }
    let elapsed = started
        .elapsed()
        .as_secs_f64()
        .min(duration.as_secs_f64())
        .max(0.001);
    let total = histogram.len();
    let q = |p: f64| histogram.value_at_quantile(p) as f64 / 1000.0;
    let result = json!({
        "label": args.get("label").unwrap_or(url),
        "url": url,
        "connections": connections,
        "rate": rate,
        "seconds": elapsed,
        "requests": total,
        "rps": total as f64 / elapsed,
        "latency_ms": {"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "p999": q(0.999), "max": histogram.max() as f64 / 1000.0},
        "statuses": statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "errors": errors,
    });
    println!(
        "{}: {:.0} req/s, p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms, statuses {:?}, errors {}",
        result["label"].as_str().unwrap_or(""),
        total as f64 / elapsed,
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        histogram.max() as f64 / 1000.0,
        statuses,
        errors
    );
    if let Some(path) = args.get("json") {
        std::fs::write(path, serde_json::to_vec_pretty(&result).or_exit("--json"))
            .or_exit("--json");
    }
    if total == 0 {
        fatal("no request got a response", format!("{errors} errors"));
    }
}
