//! TLS with certificates made at test time (rcgen): the listener terminates TLS (and device
//! cookies get `Secure` there), and HTTPS upstreams are verified against the configured CA and
//! SNI — a wrong name or an unknown CA is a 502, never a silent downgrade.

use crate::support::*;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A test CA and a server certificate it signed for `localhost` and 127.0.0.1.
struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

impl Pki {
    fn new() -> Pki {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().unwrap();
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(ca, ca_key);
        let server = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let cert_pem = server.signed_by(&server_key, &issuer).unwrap().pem();
        Pki {
            ca_pem,
            cert_pem,
            key_pem: server_key.serialize_pem(),
        }
    }

    fn files(&self) -> [(&'static str, &str); 3] {
        [
            ("ca.pem", &self.ca_pem),
            ("cert.pem", &self.cert_pem),
            ("key.pem", &self.key_pem),
        ]
    }
}

/// A client that trusts only the test CA.
fn https_client(pki: &Pki) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap()
}

/// The gateway with a plain listener on `{port}` (for the start-up probe) and a TLS one on
/// `tls_port`, plus `extra`.
async fn tls_gateway(pki: &Pki, tls_port: u16, extra: &str) -> GatewayProcess {
    let config = config_with(&format!(
        r#"
[[listeners]]
address = "127.0.0.1:{tls_port}"
tls = {{ cert = "{{dir}}/cert.pem", key = "{{dir}}/key.pem" }}
{extra}
"#
    ));
    GatewayProcess::start_with_files(&config, &pki.files()).await
}

#[tokio::test]
async fn listener_terminates_tls_and_device_cookies_are_secure_there() {
    let pki = Pki::new();
    let tls_port = free_port();
    let gw = tls_gateway(
        &pki,
        tls_port,
        r#"
[[routes]]
name = "visit"
path_prefix = "/visit"
upstream = "echo"
[routes.auth]
carriers = ["cookie"]
issue_device_token = true

[token_service]
issuer = "https://gateway.test"
store = { kind = "redb", path = "{dir}/tokens.redb" }
"#,
    )
    .await;

    let client = https_client(&pki);
    let r = client
        .get(format!("https://localhost:{tls_port}/visit"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("access_token="), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let echoed: serde_json::Value = r.json().await.unwrap();
    let proto = echoed["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "x-forwarded-proto")
        .map(|h| h[1].clone());
    assert_eq!(proto, Some(serde_json::json!("https")));

    // The same route over plain HTTP: no `Secure` (the browser would drop the cookie).
    let r = reqwest::get(gw.url("/visit")).await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(!cookie.contains("Secure"), "{cookie}");

    // A client that does not trust the CA cannot connect at all.
    let stranger = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .build()
        .unwrap();
    assert!(stranger
        .get(format!("https://localhost:{tls_port}/visit"))
        .send()
        .await
        .is_err());
}

/// A front gateway whose upstream is `back`'s TLS listener, with `tls` as its TLS table.
async fn front_of(back_tls_port: u16, tls: &str, files: &[(&str, &str)]) -> GatewayProcess {
    GatewayProcess::start_with_files(
        &format!(
            r#"
[log]
format = "json"

[[listeners]]
address = "127.0.0.1:{{port}}"

[upstreams.back]
addresses = ["127.0.0.1:{back_tls_port}"]
connect_timeout = "1s"
read_timeout = "5s"
tls = {tls}

[[routes]]
path_prefix = "/"
upstream = "back"
"#
        ),
        files,
    )
    .await
}

#[tokio::test]
async fn https_upstreams_are_verified_by_ca_and_name() {
    let pki = Pki::new();
    let back_port = free_port();
    // The back gateway serves its echo upstream over TLS: a real HTTPS backend.
    let _back = tls_gateway(&pki, back_port, CATCH_ALL).await;
    let ca = [("ca.pem", pki.ca_pem.as_str())];

    let good = front_of(
        back_port,
        r#"{ sni = "localhost", ca_file = "{dir}/ca.pem" }"#,
        &ca,
    )
    .await;
    let r = raw_request(good.addr(), &get("/hello", &[])).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.echoed().path, "/hello");
    assert_eq!(r.echoed().header_values("x-forwarded-proto"), vec!["https"]);

    // The certificate does not name this host: refused.
    let wrong_name = front_of(
        back_port,
        r#"{ sni = "api.example.com", ca_file = "{dir}/ca.pem" }"#,
        &ca,
    )
    .await;
    let r = raw_request(wrong_name.addr(), &get("/hello", &[]))
        .await
        .unwrap();
    assert_eq!(r.status, 502);
    assert_eq!(r.json()["error"], "upstream_unavailable");

    // The system's roots do not know the test CA: refused.
    let unknown_ca = front_of(back_port, r#"{ sni = "localhost" }"#, &[]).await;
    let r = raw_request(unknown_ca.addr(), &get("/hello", &[]))
        .await
        .unwrap();
    assert_eq!(r.status, 502);

    // Without `sni` the backend's address is the name, which the certificate names too.
    let by_address = front_of(back_port, r#"{ ca_file = "{dir}/ca.pem" }"#, &ca).await;
    let r = raw_request(by_address.addr(), &get("/hello", &[]))
        .await
        .unwrap();
    assert_eq!(r.status, 200);

    // Verification off (a same-host backend with a throwaway certificate): allowed.
    let unverified = front_of(back_port, "{ verify = false }", &[]).await;
    let r = raw_request(unverified.addr(), &get("/hello", &[]))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
}

#[test]
fn bad_tls_config_is_refused_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let junk = junk.to_str().unwrap();
    let (code, out) = check_config(&config_with(&format!(
        r#"
[[listeners]]
address = "127.0.0.1:1"
tls = {{ cert = "{junk}", key = "{junk}" }}

[upstreams.secure]
addresses = ["127.0.0.1:2"]
tls = {{ sni = "bad name", ca_file = "{junk}" }}

{CATCH_ALL}
"#
    )));
    assert_eq!(code, 1, "{out}");
    for needle in [
        "listeners[1].tls",
        "upstreams.secure.tls.sni",
        "upstreams.secure.tls.ca_file",
        "holds no certificate",
    ] {
        assert!(out.contains(needle), "{needle} missing from: {out}");
    }
}
