//! A real identity provider for the tests: keys generated at test time, tokens minted with
//! jsonwebtoken, and a hyper HTTP server for JWKS, OIDC discovery and introspection whose
//! behaviour the test switches (slow, down, garbage, empty, rotated).

#![allow(dead_code)]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
pub use portcullis_engine::signing::SigningKey;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub fn rand_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    aws_lc_rs::rand::fill(&mut out).unwrap();
    out
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Standard RFC 9068 claims for `iss`/`aud`, valid for an hour.
pub fn claims(iss: &str, aud: &str, sub: &str, scope: &str) -> Value {
    let now = now();
    json!({
        "iss": iss, "aud": aud, "sub": sub, "scope": scope,
        "client_id": "test-client", "jti": format!("jti-{}", URL_SAFE_NO_PAD.encode(rand_bytes::<9>())),
        "iat": now, "exp": now + 3600,
    })
}

/// What the JWKS endpoint does.
#[derive(Clone, Debug)]
pub enum JwksMode {
    Serve,
    Status(u16),
    Garbage,
    Empty,
    /// Wait this long, then serve.
    Slow(Duration),
    /// Accept and close without answering.
    Reset,
}

/// What the introspection endpoint answers for a token.
#[derive(Clone, Debug)]
pub enum IntrospectMode {
    /// Answer from the registered tokens (`{"active": false}` for unknown ones).
    Serve,
    Status(u16),
    NotJson,
    Slow(Duration),
}

struct IdpState {
    issuer: String,
    jwks: Value,
    jwks_mode: JwksMode,
    introspect_mode: IntrospectMode,
    /// token → introspection answer
    opaque: Vec<(String, Value)>,
    /// The `Authorization` header introspection calls must carry.
    introspect_auth: String,
}

/// The running identity provider.
pub struct Idp {
    pub port: u16,
    state: Arc<Mutex<IdpState>>,
    pub jwks_fetches: Arc<AtomicU64>,
    pub discovery_fetches: Arc<AtomicU64>,
    pub introspections: Arc<AtomicU64>,
    pub other_requests: Arc<AtomicU64>,
}

impl Idp {
    /// Starts an IdP on an ephemeral port; its issuer is `http://127.0.0.1:<port>`.
    pub async fn start() -> Idp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(IdpState {
            issuer: format!("http://127.0.0.1:{port}"),
            jwks: json!({"keys": []}),
            jwks_mode: JwksMode::Serve,
            introspect_mode: IntrospectMode::Serve,
            opaque: Vec::new(),
            introspect_auth: format!(
                "Basic {}",
                STANDARD.encode("portcullis:introspection-secret-0123456789")
            ),
        }));
        let idp = Idp {
            port,
            state: state.clone(),
            jwks_fetches: Arc::default(),
            discovery_fetches: Arc::default(),
            introspections: Arc::default(),
            other_requests: Arc::default(),
        };
        let counters = (
            idp.jwks_fetches.clone(),
            idp.discovery_fetches.clone(),
            idp.introspections.clone(),
            idp.other_requests.clone(),
        );
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = state.clone();
                let counters = counters.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let state = state.clone();
                        let counters = counters.clone();
                        async move { handle(request, state, counters).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        idp
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.issuer())
    }

    pub fn introspection_url(&self) -> String {
        format!("{}/introspect", self.issuer())
    }

    pub fn publish(&self, keys: &[&SigningKey]) {
        let jwks: Vec<Value> = keys.iter().map(|k| k.jwk.clone()).collect();
        self.state.lock().unwrap().jwks = json!({ "keys": jwks });
    }

    pub fn set_jwks_mode(&self, mode: JwksMode) {
        self.state.lock().unwrap().jwks_mode = mode;
    }

    pub fn set_introspect_mode(&self, mode: IntrospectMode) {
        self.state.lock().unwrap().introspect_mode = mode;
    }

    /// Registers an opaque token and what introspection says about it.
    pub fn register_opaque(&self, token: &str, answer: Value) {
        self.state
            .lock()
            .unwrap()
            .opaque
            .push((token.to_string(), answer));
    }

    pub fn fetches(&self) -> u64 {
        self.jwks_fetches.load(Ordering::SeqCst)
    }
}

type Counters = (
    Arc<AtomicU64>,
    Arc<AtomicU64>,
    Arc<AtomicU64>,
    Arc<AtomicU64>,
);

async fn handle(
    request: Request<hyper::body::Incoming>,
    state: Arc<Mutex<IdpState>>,
    counters: Counters,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let path = request.uri().path().to_string();
    let reply = |status: u16, body: String| {
        Ok(Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap())
    };
    match path.as_str() {
        "/jwks" => {
            counters.0.fetch_add(1, Ordering::SeqCst);
            let (mode, jwks) = {
                let s = state.lock().unwrap();
                (s.jwks_mode.clone(), s.jwks.clone())
            };
            match mode {
                JwksMode::Serve => reply(200, jwks.to_string()),
                JwksMode::Status(code) => reply(code, "{}".into()),
                JwksMode::Garbage => reply(200, "<html>not json".into()),
                JwksMode::Empty => reply(200, r#"{"keys":[]}"#.into()),
                JwksMode::Slow(delay) => {
                    tokio::time::sleep(delay).await;
                    reply(200, jwks.to_string())
                }
                JwksMode::Reset => {
                    // Hang up without an answer: the connection drops with the task.
                    futures_never().await
                }
            }
        }
        "/.well-known/openid-configuration" => {
            counters.1.fetch_add(1, Ordering::SeqCst);
            let issuer = state.lock().unwrap().issuer.clone();
            reply(
                200,
                json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")}).to_string(),
            )
        }
        "/introspect" => {
            counters.2.fetch_add(1, Ordering::SeqCst);
            let authorization = request
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let method = request.method().clone();
            let body = request
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let (mode, expected_auth, answer) = {
                let s = state.lock().unwrap();
                let form: Vec<(String, String)> = url_form(&body);
                let token = form
                    .iter()
                    .find(|(k, _)| k == "token")
                    .map(|(_, v)| v.clone());
                let answer = token
                    .and_then(|t| {
                        s.opaque
                            .iter()
                            .find(|(k, _)| *k == t)
                            .map(|(_, v)| v.clone())
                    })
                    .unwrap_or(json!({"active": false}));
                (s.introspect_mode.clone(), s.introspect_auth.clone(), answer)
            };
            if method != hyper::Method::POST || authorization != expected_auth {
                return reply(401, r#"{"error":"invalid_client"}"#.into());
            }
            match mode {
                IntrospectMode::Serve => reply(200, answer.to_string()),
                IntrospectMode::Status(code) => reply(code, "{}".into()),
                IntrospectMode::NotJson => reply(200, "active=true".into()),
                IntrospectMode::Slow(delay) => {
                    tokio::time::sleep(delay).await;
                    reply(200, answer.to_string())
                }
            }
        }
        _ => {
            counters.3.fetch_add(1, Ordering::SeqCst);
            reply(404, "{}".into())
        }
    }
}

async fn futures_never() -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    std::future::pending().await
}

fn url_form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            Some((decode(k), decode(v)))
        })
        .collect()
}
