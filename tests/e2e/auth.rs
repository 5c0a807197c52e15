//! Credentials, verification, scopes, levels and tenants through the real gateway, against a
//! real identity provider. Test names cite the SECURITY.md §5 item they cover.

use crate::idp::*;
use crate::support::*;
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};
use std::time::Duration;

pub const AUD: &str = "api://portcullis";
pub const GUEST_KEY: &str = "gk_live_Zq3Lr8Vw1Xy5Np7Tb2Mc";

/// The shared world of these tests.
pub struct World {
    pub idp: Idp,
    /// The IdP's current signing key (RS256, kid "a1").
    pub key: SigningKey,
    /// A second IdP's key, on static config (kid "b1").
    pub other: SigningKey,
    /// One static key per asymmetric algorithm, kid = algorithm name.
    pub multi: Vec<SigningKey>,
    pub hmac: Vec<SigningKey>,
    pub gw: GatewayProcess,
    /// The static key files the gateway reads; declared after `gw`, so removed after it stops.
    _key_files: tempfile::TempDir,
}

pub const OTHER_ISS: &str = "https://other-idp.example";

impl World {
    pub async fn start() -> World {
        Self::start_with(|_| {}).await
    }

    /// Starts the world; `adjust` may edit the config text before the gateway starts.
    pub async fn start_with(adjust: impl FnOnce(&mut String)) -> World {
        let idp = Idp::start().await;
        let key = SigningKey::generate(Algorithm::RS256, "a1");
        idp.publish(&[&key]);
        let other = SigningKey::generate(Algorithm::ES256, "b1");
        let multi: Vec<SigningKey> = [
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
        ]
        .into_iter()
        .map(|alg| SigningKey::generate(alg, &format!("{alg:?}")))
        .collect();
        let hmac: Vec<SigningKey> = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]
            .into_iter()
            .map(|alg| SigningKey::generate(alg, &format!("{alg:?}")))
            .collect();

        let dir = tempfile::tempdir().unwrap();
        let other_jwks = dir.path().join("other.json");
        std::fs::write(&other_jwks, json!({"keys": [other.jwk]}).to_string()).unwrap();
        let multi_jwks = dir.path().join("multi.json");
        let jwks: Vec<Value> = multi.iter().map(|k| k.jwk.clone()).collect();
        std::fs::write(&multi_jwks, json!({ "keys": jwks }).to_string()).unwrap();
        let hmac_keys: Vec<String> = hmac
            .iter()
            .map(|k| {
                format!(
                    "{{ kid = \"{}\", alg = \"{:?}\", secret = \"{}\" }}",
                    k.kid,
                    k.alg,
                    k.secret()
                )
            })
            .collect();

        let mut config = config_with(&format!(
            r#"
[auth]
realm = "test"

[issuers.idp]
kind = "jwt"
issuer = "{iss}"
audiences = ["{AUD}", "orders"]
jwks_url = "{jwks}"
unknown_kid_cooldown = "1s"
refresh_every = "10m"
level_claim = "level"
tenant_claim = "tenant"
default_level = "identified"

[issuers.other]
kind = "jwt"
issuer = "{OTHER_ISS}"
audiences = ["{AUD}"]
jwks_file = "{other_jwks}"

[issuers.multi]
kind = "jwt"
issuer = "https://multi.example"
audiences = ["{AUD}"]
jwks_file = "{multi_jwks}"

[issuers.hmac]
kind = "jwt"
issuer = "https://hmac.example"
audiences = ["{AUD}"]
keys = [{hmac_keys}]

[issuers.opaque]
kind = "introspection"
introspection_url = "{introspect}"
client_id = "portcullis"
client_secret = "introspection-secret-0123456789"
timeout = "500ms"
scope_claims = ["scope"]
level_claim = "level"

[issuers.guests]
kind = "app_keys"
app_keys = [
  {{ client = "partner-a", key = "{GUEST_KEY}", scopes = ["basic"], level = "anonymous" }},
]

[[routes]]
name = "public"
path_prefix = "/public"
upstream = "echo"

[[routes]]
name = "profile"
path_prefix = "/profile"
upstream = "echo"
[routes.auth]
carriers = ["bearer", "cookie", "query", "header:X-Access-Token"]
issuers = ["idp"]
level = "identified"
scopes = ["profile:read"]
[routes.auth.methods.PUT]
level = "verified"
scopes = ["profile:write"]

[[routes]]
name = "orders"
path_prefix = "/orders"
upstream = "echo"
[routes.auth]
issuers = ["idp"]
audience = "orders"

[[routes]]
name = "other"
path_prefix = "/other"
upstream = "echo"
[routes.auth]
issuers = ["other"]

[[routes]]
name = "multi"
path_prefix = "/multi"
upstream = "echo"
[routes.auth]
issuers = ["multi", "hmac"]

[[routes]]
name = "opaque"
path_prefix = "/opaque"
upstream = "echo"
[routes.auth]
issuers = ["opaque"]
scopes = ["read"]

[[routes]]
name = "guest"
path_prefix = "/guest"
upstream = "echo"
[routes.auth]
carriers = ["token", "header:X-API-Key"]
issuers = ["guests"]

[[routes]]
name = "anon"
path_prefix = "/anon"
upstream = "echo"
[routes.auth]
issuers = ["idp"]
allow_anonymous = true

[[routes]]
name = "tenant-host"
host = "{{tenant}}.example.test"
path_prefix = "/t"
upstream = "echo"
[routes.auth]
issuers = ["idp"]

[[routes]]
name = "tenant-header"
path_prefix = "/th"
upstream = "echo"
[routes.auth]
issuers = ["idp"]
tenant_header = "tenant_hash"
"#,
            iss = idp.issuer(),
            jwks = idp.jwks_url(),
            introspect = idp.introspection_url(),
            other_jwks = other_jwks.display(),
            multi_jwks = multi_jwks.display(),
            hmac_keys = hmac_keys.join(", "),
        ));
        adjust(&mut config);
        let gw = GatewayProcess::start(&config).await;
        World {
            idp,
            key,
            other,
            multi,
            hmac,
            gw,
            _key_files: dir,
        }
    }

    /// A valid RS256 token of the IdP for `sub` with `scope`.
    pub fn token(&self, scope: &str) -> String {
        self.key
            .mint(&claims(&self.idp.issuer(), AUD, "user-1", scope))
    }

    pub fn token_with(&self, edit: impl FnOnce(&mut Value)) -> String {
        let mut c = claims(&self.idp.issuer(), AUD, "user-1", "profile:read");
        edit(&mut c);
        self.key.mint(&c)
    }

    pub async fn get(&self, path: &str, headers: &[&str]) -> RawResponse {
        raw_request(self.gw.addr(), &get(path, headers))
            .await
            .unwrap()
    }

    pub async fn bearer(&self, path: &str, token: &str) -> RawResponse {
        self.get(path, &[&format!("Authorization: Bearer {token}")])
            .await
    }
}

fn challenge(r: &RawResponse) -> String {
    r.header("www-authenticate").unwrap_or_default()
}

fn assert_invalid_token(r: &RawResponse, what: &str) {
    assert_eq!(r.status, 401, "{what}: {}", r.head);
    assert!(
        challenge(r).contains("error=\"invalid_token\""),
        "{what}: {}",
        challenge(r)
    );
    assert_eq!(
        r.header("cache-control").as_deref(),
        Some("no-store"),
        "{what}"
    );
}

#[tokio::test]
async fn every_carrier_works_and_the_credential_never_reaches_the_upstream() {
    let w = World::start().await;
    let token = w.token("profile:read");
    let cases = [
        (
            get("/profile/me", &[&format!("Authorization: Bearer {token}")]),
            "bearer",
        ),
        (
            get("/profile/me", &[&format!("authorization: BEARER {token}")]),
            "bearer, any case",
        ),
        (
            get(
                "/profile/me",
                &[&format!("Cookie: theme=dark; access_token={token}")],
            ),
            "cookie",
        ),
        (
            get(&format!("/profile/me?x=1&access_token={token}&y=2"), &[]),
            "query",
        ),
        (
            get("/profile/me", &[&format!("X-Access-Token: {token}")]),
            "custom header",
        ),
    ];
    for (request, what) in cases {
        let r = raw_request(w.gw.addr(), &request).await.unwrap();
        assert_eq!(r.status, 200, "{what}: {}", r.head);
        let echoed = r.echoed();
        let seen = serde_json::to_string(&echoed).unwrap();
        assert!(
            !seen.contains(&token),
            "{what}: the token reached the upstream"
        );
        assert_eq!(echoed.header_values("x-auth-subject"), ["user-1"], "{what}");
        assert_eq!(
            echoed.header_values("x-auth-level"),
            ["identified"],
            "{what}"
        );
        assert_eq!(
            echoed.header_values("x-auth-scopes"),
            ["profile:read"],
            "{what}"
        );
        assert_eq!(echoed.header_values("x-auth-issuer"), ["idp"], "{what}");
        if what == "cookie" {
            assert_eq!(echoed.header_values("cookie"), ["theme=dark"]);
        }
        if what == "query" {
            // §5 item 17: gone from the upstream URL; the response must not be cached.
            assert_eq!(echoed.query.as_deref(), Some("x=1&y=2"));
            assert_eq!(
                r.header("cache-control").as_deref(),
                Some("private, no-store")
            );
            assert_eq!(r.header("referrer-policy").as_deref(), Some("no-referrer"));
        }
    }
    let r = w
        .get("/guest/x", &[&format!("Authorization: token {GUEST_KEY}")])
        .await;
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.echoed().header_values("x-auth-subject"), ["partner-a"]);
    assert!(r.echoed().header_values("authorization").is_empty());
    let r = w
        .get("/guest/x", &[&format!("X-API-Key: {GUEST_KEY}")])
        .await;
    assert_eq!(r.status, 200);
    assert!(r.echoed().header_values("x-api-key").is_empty());
}

#[tokio::test]
async fn item_1_2_more_than_one_credential_is_invalid_request() {
    let w = World::start().await;
    let t = w.token("profile:read");
    let bearer = format!("Authorization: Bearer {t}");
    let cookie = format!("Cookie: access_token={t}");
    let custom = format!("X-Access-Token: {t}");
    let with_query = format!("/profile/x?access_token={t}");
    let cases: Vec<(String, Vec<&str>)> = vec![
        (with_query.clone(), vec![&bearer]),
        ("/profile/x".into(), vec![&bearer, &cookie]),
        (with_query.clone(), vec![&cookie]),
        ("/profile/x".into(), vec![&custom, &bearer]),
        ("/profile/x".into(), vec![&bearer, &bearer]),
        (
            format!("/profile/x?access_token={t}&access_token={t}"),
            vec![],
        ),
        (
            "/profile/x".into(),
            vec!["Cookie: access_token=a; access_token=b"],
        ),
        ("/profile/x".into(), vec![&cookie, &cookie]),
    ];
    for (path, headers) in cases {
        let r = w.get(&path, &headers).await;
        assert_eq!(r.status, 400, "{path} {headers:?}: {}", r.head);
        assert!(
            challenge(&r).contains("error=\"invalid_request\""),
            "{}",
            challenge(&r)
        );
        assert_eq!(r.json()["error"], "invalid_request");
        assert!(
            !String::from_utf8_lossy(&r.raw).contains(&t),
            "token echoed"
        );
    }
}

#[tokio::test]
async fn item_18_challenges_are_exact() {
    let w = World::start().await;
    let r = w.get("/profile/x", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(challenge(&r), "Bearer realm=\"test\"");
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));

    let r = w.bearer("/profile/x", "not-a-real-token").await;
    assert_invalid_token(&r, "opaque junk");

    // §5 item 13: a valid token without the route's scope.
    let r = w.bearer("/profile/x", &w.token("orders:read")).await;
    assert_eq!(r.status, 403, "{}", r.head);
    assert_eq!(
        challenge(&r),
        "Bearer realm=\"test\", error=\"insufficient_scope\", error_description=\"the token lacks a required scope\", scope=\"profile:read\""
    );
    assert_eq!(r.json()["scope"], "profile:read");
}

#[tokio::test]
async fn item_13_scopes_and_levels_are_checked_per_request_even_when_cached() {
    let w = World::start().await;
    let reader = w.token("profile:read");
    assert_eq!(w.bearer("/profile/x", &reader).await.status, 200);
    // The same (now cached) token on a method needing more.
    let put = format!(
        "PUT /profile/x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {reader}\r\nContent-Length: 0\r\n\r\n"
    );
    let r = raw_request(w.gw.addr(), put.as_bytes()).await.unwrap();
    assert_eq!(r.status, 401, "{}", r.head);
    assert!(challenge(&r).contains("error=\"insufficient_user_authentication\""));
    assert!(challenge(&r).contains("acr_values=\"verified\""));

    let verified = w.token_with(|c| {
        c["level"] = json!("verified");
        c["scope"] = json!("profile:read");
    });
    let put = format!(
        "PUT /profile/x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {verified}\r\nContent-Length: 0\r\n\r\n"
    );
    let r = raw_request(w.gw.addr(), put.as_bytes()).await.unwrap();
    assert_eq!(
        r.status, 403,
        "verified but without profile:write: {}",
        r.head
    );
    assert!(challenge(&r).contains("scope=\"profile:write\""));

    let writer = w.token_with(|c| {
        c["level"] = json!("verified");
        c["scope"] = json!("profile:read profile:write");
    });
    let put = format!(
        "PUT /profile/x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {writer}\r\nContent-Length: 0\r\n\r\n"
    );
    let r = raw_request(w.gw.addr(), put.as_bytes()).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.echoed().header_values("x-auth-level"), ["verified"]);
}

#[tokio::test]
async fn item_3_4_5_11_forged_headers_are_refused_without_any_fetch() {
    let w = World::start().await;
    let c = claims(&w.idp.issuer(), AUD, "user-1", "profile:read");
    let body = |header: Value| {
        use base64::Engine;
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.", b64(&header), b64(&c))
    };
    let mut forged = vec![];
    for alg in ["none", "None", "NONE", "nOnE"] {
        forged.push((
            body(json!({"alg": alg, "typ": "at+jwt"})),
            format!("alg {alg}"),
        ));
    }
    forged.push((body(json!({"typ": "at+jwt"})), "missing alg".into()));
    // A real RS256 header with an empty signature.
    let signed = w.token("profile:read");
    let unsigned = signed.rsplit_once('.').unwrap().0.to_string() + ".";
    forged.push((unsigned, "empty signature".into()));
    // Item 4: HS256 "signed" with the RSA public key as the secret.
    let confused = {
        let pem = w.key.public_pem.clone().unwrap();
        let k = jsonwebtoken::EncodingKey::from_secret(pem.as_bytes());
        let mut h = jsonwebtoken::Header::new(Algorithm::HS256);
        h.kid = Some("a1".into());
        h.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&h, &c, &k).unwrap()
    };
    forged.push((confused, "HS256 with the RSA public key".into()));
    // Items 5 and 11: key material or critical extensions in the header.
    let fetches_before = w.idp.fetches();
    let trap = format!("{}/attacker-jwks", w.idp.issuer());
    for (name, extra) in [
        ("jku", json!(trap)),
        ("x5u", json!(trap)),
        ("jwk", w.key.jwk.clone()),
        (
            "x5c",
            json!(["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]),
        ),
        ("crit", json!(["exp"])),
    ] {
        let mut header = json!({"alg": "RS256", "kid": "a1", "typ": "at+jwt"});
        header[name] = extra;
        forged.push((w.key.mint_raw(&header, &c), format!("header {name}")));
    }
    for (token, what) in forged {
        let r = w.bearer("/profile/x", &token).await;
        assert_invalid_token(&r, &what);
    }
    assert_eq!(
        w.idp
            .other_requests
            .load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a token-named URL was fetched"
    );
    assert_eq!(
        w.idp.fetches(),
        fetches_before,
        "forged headers caused JWKS fetches"
    );
}

#[tokio::test]
async fn item_6_a_key_of_another_issuer_is_refused() {
    let w = World::start().await;
    // Signed by issuer "other"'s key but claiming the IdP as issuer (and vice versa).
    let mut header = json!({"alg": "ES256", "kid": "b1", "typ": "at+jwt"});
    let forged = w
        .other
        .mint_raw(&header, &claims(&w.idp.issuer(), AUD, "u", "profile:read"));
    assert_invalid_token(&w.bearer("/profile/x", &forged).await, "kid of B, iss of A");
    header["kid"] = json!("a1");
    let forged = w
        .other
        .mint_raw(&header, &claims(&w.idp.issuer(), AUD, "u", "profile:read"));
    assert_invalid_token(&w.bearer("/profile/x", &forged).await, "kid of A, key of B");
    // The other issuer's own token is good on its own route only.
    let good = w.other.mint(&claims(OTHER_ISS, AUD, "u", ""));
    assert_eq!(w.bearer("/other/x", &good).await.status, 200);
    assert_invalid_token(
        &w.bearer("/profile/x", &good).await,
        "issuer not allowed on route",
    );
}

#[tokio::test]
async fn item_7_8_9_wrongly_typed_or_aimed_claims_are_refused() {
    let w = World::start().await;
    let iss = w.idp.issuer();
    let cases: Vec<(String, &str)> = vec![
        (w.token_with(|c| c["exp"] = json!("never")), "string exp"),
        (
            w.token_with(|c| c["nbf"] = json!("99999999999")),
            "string nbf",
        ),
        (
            w.token_with(|c| c["iss"] = json!([iss.clone()])),
            "array iss",
        ),
        (w.token_with(|c| c["aud"] = json!(5)), "numeric aud"),
        (
            w.token_with(|c| {
                c.as_object_mut().unwrap().remove("aud");
            }),
            "missing aud",
        ),
        (
            w.token_with(|c| c["aud"] = json!("api://portcullis-other")),
            "other aud",
        ),
        (
            w.token_with(|c| c["aud"] = json!("api://portcull")),
            "substring aud",
        ),
        (
            w.token_with(|c| c["iss"] = json!(format!("{iss}/"))),
            "iss with trailing slash",
        ),
        (
            w.token_with(|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            "missing exp",
        ),
        (
            w.token_with(|c| {
                c.as_object_mut().unwrap().remove("sub");
            }),
            "missing sub",
        ),
        (
            w.token_with(|c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
            "missing jti",
        ),
        (
            w.token_with(|c| c["level"] = json!("admin")),
            "unknown level",
        ),
        (
            w.key.mint_raw(
                &json!({"alg": "RS256", "kid": "a1", "typ": "JWT"}),
                &claims(&iss, AUD, "u", "profile:read"),
            ),
            "typ JWT",
        ),
        (
            w.key.mint_raw(
                &json!({"alg": "RS256", "kid": "a1"}),
                &claims(&iss, AUD, "u", "profile:read"),
            ),
            "no typ",
        ),
    ];
    for (token, what) in cases {
        assert_invalid_token(&w.bearer("/profile/x", &token).await, what);
    }
    // `application/AT+JWT` is the same media type.
    let typed = w.key.mint_raw(
        &json!({"alg": "RS256", "kid": "a1", "typ": "application/AT+JWT"}),
        &claims(&iss, AUD, "u", "profile:read"),
    );
    assert_eq!(w.bearer("/profile/x", &typed).await.status, 200);
}

#[tokio::test]
async fn item_10_time_claims_honour_the_leeway() {
    let w = World::start().await;
    let now = now();
    let ok = |r: &RawResponse| r.status == 200;
    assert!(
        ok(&w
            .bearer("/profile/x", &w.token_with(|c| c["exp"] = json!(now - 30)))
            .await),
        "expired within leeway"
    );
    let r = w
        .bearer("/profile/x", &w.token_with(|c| c["exp"] = json!(now - 90)))
        .await;
    assert_invalid_token(&r, "expired beyond leeway");
    assert!(challenge(&r).contains("error_description=\"expired\""));
    assert!(
        ok(&w
            .bearer("/profile/x", &w.token_with(|c| c["nbf"] = json!(now + 30)))
            .await),
        "nbf within leeway"
    );
    assert_invalid_token(
        &w.bearer("/profile/x", &w.token_with(|c| c["nbf"] = json!(now + 120)))
            .await,
        "nbf ahead",
    );
    assert_invalid_token(
        &w.bearer(
            "/profile/x",
            &w.token_with(|c| c["iat"] = json!(now + 3600)),
        )
        .await,
        "iat in the future",
    );
}

#[tokio::test]
async fn item_15_route_audiences_are_checked_on_every_request() {
    let w = World::start().await;
    let only_api = w.token("");
    let both = w.token_with(|c| c["aud"] = json!([AUD, "orders"]));
    assert_eq!(w.bearer("/anon/x", &only_api).await.status, 200);
    // Same token, now cached, on a route that needs `orders`.
    assert_invalid_token(
        &w.bearer("/orders/x", &only_api).await,
        "cached token, other route audience",
    );
    assert_eq!(w.bearer("/orders/x", &both).await.status, 200);
}

#[tokio::test]
async fn every_algorithm_verifies_with_its_own_key_only() {
    let w = World::start().await;
    for key in w.multi.iter().chain(w.hmac.iter()) {
        let iss = if w.hmac.iter().any(|h| h.kid == key.kid) {
            "https://hmac.example"
        } else {
            "https://multi.example"
        };
        let token = key.mint(&claims(iss, AUD, "u", ""));
        let r = w.bearer("/multi/x", &token).await;
        assert_eq!(r.status, 200, "{:?}: {}", key.alg, r.head);
        // The same signature under another algorithm name: the key's algorithm decides.
        let swapped_alg = if key.alg == Algorithm::RS256 {
            "RS384"
        } else {
            "RS256"
        };
        let header = json!({"alg": swapped_alg, "kid": key.kid, "typ": "at+jwt"});
        let forged = key.mint_raw(&header, &claims(iss, AUD, "u", ""));
        let (input, _) = forged.rsplit_once('.').unwrap();
        let (_, signature) = token.rsplit_once('.').unwrap();
        assert_invalid_token(
            &w.bearer("/multi/x", &format!("{input}.{signature}")).await,
            "swapped alg",
        );
    }
}

#[tokio::test]
async fn item_22_hostile_sizes_are_refused_fast() {
    let w = World::start().await;
    let started = std::time::Instant::now();
    // 1 MB of dots: pingora refuses headers that large before we see them, or we do.
    let dots = format!("Authorization: Bearer {}", ".".repeat(1 << 20));
    let r = raw_request(w.gw.addr(), &get("/profile/x", &[&dots])).await;
    if let Ok(r) = r {
        assert!(matches!(r.status, 400 | 431), "{}", r.head);
    }
    let long = format!("Authorization: Bearer {}", "a".repeat(9000));
    let r = w.get("/profile/x", &[&long]).await;
    assert_eq!(r.status, 400, "{}", r.head);
    let big_kid = w.key.mint_raw(
        &json!({"alg": "RS256", "kid": "k".repeat(10 * 1024), "typ": "at+jwt"}),
        &claims(&w.idp.issuer(), AUD, "u", ""),
    );
    let r = w.bearer("/profile/x", &big_kid).await;
    assert!(matches!(r.status, 400 | 401), "{}", r.head);
    let mut nested = claims(&w.idp.issuer(), AUD, "u", "");
    let mut deep = json!(1);
    for _ in 0..200 {
        deep = json!([deep]);
    }
    nested["deep"] = deep;
    assert_invalid_token(
        &w.bearer("/profile/x", &w.key.mint(&nested)).await,
        "deeply nested JSON",
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(!w.gw.log().contains("panicked"));
}

#[tokio::test]
async fn item_19_client_sent_identity_headers_never_reach_the_upstream() {
    let w = World::start().await;
    let token = w.token("profile:read");
    for path in ["/public/x", "/profile/x"] {
        let r = w
            .get(
                path,
                &[
                    &format!("Authorization: Bearer {token}"),
                    "X-Auth-Subject: admin",
                    "x_auth_subject: admin",
                    "X-AUTH_LEVEL: verified",
                    "X-Auth-Scopes: everything",
                ],
            )
            .await;
        assert_eq!(r.status, 200, "{path}: {}", r.head);
        let echoed = r.echoed();
        let spoofed = serde_json::to_string(&echoed.headers).unwrap();
        assert!(
            !spoofed.contains("admin") && !spoofed.contains("everything"),
            "{path}: {spoofed}"
        );
        if path == "/public/x" {
            // A public route does not look at credentials, but still strips the impostors.
            assert!(echoed.header_values("x-auth-level").is_empty());
        }
    }
}

#[tokio::test]
async fn anonymous_callers_only_where_allowed() {
    let w = World::start().await;
    let r = w.get("/anon/x", &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.echoed().header_values("x-auth-subject").is_empty());
    // A bad token is not downgraded to anonymous.
    assert_invalid_token(
        &w.bearer("/anon/x", "garbage-token").await,
        "bad token on anonymous route",
    );
}

#[tokio::test]
async fn tenants_from_host_or_header_must_match_the_token() {
    let w = World::start().await;
    let acme = w.token_with(|c| c["tenant"] = json!("acme"));
    let host = |h: &str, t: &str| {
        format!("GET /t/x HTTP/1.1\r\nHost: {h}\r\nAuthorization: Bearer {t}\r\n\r\n").into_bytes()
    };
    let r = raw_request(w.gw.addr(), &host("acme.example.test", &acme))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.echoed().header_values("x-auth-tenant"), ["acme"]);
    let r = raw_request(w.gw.addr(), &host("globex.example.test", &acme))
        .await
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.head);
    let r = w
        .get(
            "/th/x",
            &[
                &format!("Authorization: Bearer {acme}"),
                "tenant_hash: acme",
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    let r = w
        .get(
            "/th/x",
            &[
                &format!("Authorization: Bearer {acme}"),
                "tenant_hash: globex",
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    // No tenant header where the route reads one: the tenant is not skipped, the request is.
    let bearer = format!("Authorization: Bearer {acme}");
    let r = w.get("/th/x", &[&bearer]).await;
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // Two tenant headers, in one spelling or two: refused, never checked on the first only.
    for second in [
        "tenant_hash: globex",
        "tenant-hash: globex",
        "Tenant_Hash: acme",
    ] {
        let r = w
            .get("/th/x", &[&bearer, "tenant_hash: acme", second])
            .await;
        assert_eq!(r.status, 400, "{second}: {}", r.head);
        assert_eq!(r.json()["error"], "invalid_request");
    }
    // The dash spelling alone is the same header.
    let r = w.get("/th/x", &[&bearer, "tenant-hash: acme"]).await;
    assert_eq!(r.status, 200, "{}", r.head);
}

#[tokio::test]
async fn opaque_tokens_by_introspection() {
    let w = World::start().await;
    let exp = now() + 600;
    w.idp.register_opaque(
        "op-good-1",
        json!({"active": true, "sub": "svc-1", "scope": "read write", "exp": exp}),
    );
    w.idp.register_opaque(
        "op-noscope",
        json!({"active": true, "sub": "svc-2", "scope": "write", "exp": exp}),
    );
    w.idp
        .register_opaque("op-inactive", json!({"active": false}));
    w.idp.register_opaque(
        "op-string-active",
        json!({"active": "true", "sub": "x", "scope": "read"}),
    );
    w.idp.register_opaque(
        "op-expired",
        json!({"active": true, "sub": "x", "scope": "read", "exp": now() - 600}),
    );

    let r = w.bearer("/opaque/x", "op-good-1").await;
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.echoed().header_values("x-auth-subject"), ["svc-1"]);
    let calls = w
        .idp
        .introspections
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(w.bearer("/opaque/x", "op-good-1").await.status, 200);
    assert_eq!(
        w.idp
            .introspections
            .load(std::sync::atomic::Ordering::SeqCst),
        calls,
        "not cached"
    );

    assert_eq!(w.bearer("/opaque/x", "op-noscope").await.status, 403);
    for t in [
        "op-inactive",
        "op-string-active",
        "op-expired",
        "op-unknown",
    ] {
        assert_invalid_token(&w.bearer("/opaque/x", t).await, t);
    }
    // Item 14: an opaque token primed at the introspection issuer means nothing to a JWT route.
    assert_invalid_token(
        &w.bearer("/profile/x", "op-good-1").await,
        "opaque token on JWT route",
    );
}

#[tokio::test]
async fn introspection_outages_are_503_never_401_or_allow() {
    let w = World::start().await;
    w.idp
        .register_opaque("op-a", json!({"active": true, "sub": "s", "scope": "read"}));
    for (i, (mode, what)) in [
        (IntrospectMode::Status(500), "500"),
        (IntrospectMode::Status(401), "401 to our credentials"),
        (IntrospectMode::NotJson, "not JSON"),
        (
            IntrospectMode::Slow(Duration::from_secs(3)),
            "slower than the timeout",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        w.idp.set_introspect_mode(mode);
        let started = std::time::Instant::now();
        let r = w.bearer("/opaque/x", &format!("op-a-{i}")).await;
        assert_eq!(r.status, 503, "{what}: {}", r.head);
        assert!(r.header("retry-after").is_some());
        assert!(!challenge(&r).contains("invalid_token"), "{what}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{what}: {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn item_23_jwks_outages_keep_last_good_keys_and_rotation_works() {
    let w = World::start().await;
    let token = w.token("profile:read");
    assert_eq!(w.bearer("/profile/x", &token).await.status, 200);
    let fetches = w.idp.fetches();
    // The IdP breaks in every way; a fresh token with a known kid still verifies (no fetch).
    for mode in [JwksMode::Status(500), JwksMode::Garbage, JwksMode::Empty] {
        w.idp.set_jwks_mode(mode.clone());
        let fresh = w.token("profile:read");
        assert_eq!(w.bearer("/profile/x", &fresh).await.status, 200, "{mode:?}");
    }
    // An unknown kid triggers a refresh that fails: 401 (the kid is unknown), keys kept.
    let stranger = SigningKey::generate(Algorithm::RS256, "unknown-kid");
    let t = stranger.mint(&claims(&w.idp.issuer(), AUD, "u", "profile:read"));
    assert_invalid_token(
        &w.bearer("/profile/x", &t).await,
        "unknown kid while IdP broken",
    );
    assert_eq!(
        w.bearer("/profile/x", &w.token("profile:read"))
            .await
            .status,
        200,
        "old keys kept"
    );
    // Rotation: the IdP publishes a new key; after the cooldown, its tokens are accepted.
    w.idp.set_jwks_mode(JwksMode::Serve);
    let rotated = SigningKey::generate(Algorithm::RS256, "a2");
    w.idp.publish(&[&w.key, &rotated]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let t = rotated.mint(&claims(&w.idp.issuer(), AUD, "u", "profile:read"));
    assert_eq!(w.bearer("/profile/x", &t).await.status, 200);
    assert!(w.idp.fetches() > fetches);
    // Item 24: a flood of unknown kids while the IdP is failing: bounded fetches, no hang.
    w.idp.set_jwks_mode(JwksMode::Slow(Duration::from_secs(30)));
    let before = w.idp.fetches();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let k = SigningKey::generate(Algorithm::ES256, &format!("flood-{i}"));
        let t = k.mint(&claims(&w.idp.issuer(), AUD, "u", "profile:read"));
        let addr = w.gw.addr();
        tasks.push(tokio::spawn(async move {
            raw_request(
                addr,
                &get("/profile/x", &[&format!("Authorization: Bearer {t}")]),
            )
            .await
        }));
    }
    for task in tasks {
        let r = task.await.unwrap().unwrap();
        assert!(matches!(r.status, 401 | 503), "{}", r.head);
    }
    assert!(
        w.idp.fetches() - before <= 2,
        "{} fetches for a flood",
        w.idp.fetches() - before
    );
}

#[tokio::test]
async fn a_cold_jwks_outage_is_503_and_not_ready() {
    let idp = Idp::start().await;
    idp.set_jwks_mode(JwksMode::Status(503));
    let config = config_with(&format!(
        r#"
[issuers.idp]
kind = "jwt"
issuer = "{}"
audiences = ["{AUD}"]
jwks_url = "{}"
fetch_timeout = "300ms"

[[routes]]
path_prefix = "/"
upstream = "echo"
[routes.auth]
"#,
        idp.issuer(),
        idp.jwks_url()
    ));
    let gw = GatewayProcess::start(&config).await;
    let r = raw_request(gw.addr(), &get("/readyz", &[])).await.unwrap();
    assert_eq!(r.status, 503, "ready without keys: {}", r.head);
    let key = SigningKey::generate(Algorithm::RS256, "a1");
    let t = key.mint(&claims(&idp.issuer(), AUD, "u", ""));
    let r = raw_request(
        gw.addr(),
        &get("/x", &[&format!("Authorization: Bearer {t}")]),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 503, "{}", r.head);
    assert!(!challenge(&r).contains("invalid_token"));
    // The IdP comes back: the gateway becomes ready by itself.
    idp.publish(&[&key]);
    idp.set_jwks_mode(JwksMode::Serve);
    let ready = eventually(Duration::from_secs(6), || async {
        raw_request(gw.addr(), &get("/readyz", &[]))
            .await
            .unwrap()
            .status
            == 200
    })
    .await;
    assert!(ready, "never became ready");
    let r = raw_request(
        gw.addr(),
        &get("/x", &[&format!("Authorization: Bearer {t}")]),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
}

#[tokio::test]
async fn oidc_discovery_finds_the_jwks() {
    let idp = Idp::start().await;
    let key = SigningKey::generate(Algorithm::ES256, "d1");
    idp.publish(&[&key]);
    let config = config_with(&format!(
        r#"
[issuers.idp]
kind = "jwt"
issuer = "{}"
audiences = ["{AUD}"]
discovery = true

[[routes]]
path_prefix = "/"
upstream = "echo"
[routes.auth]
"#,
        idp.issuer()
    ));
    let gw = GatewayProcess::start(&config).await;
    let t = key.mint(&claims(&idp.issuer(), AUD, "u", ""));
    let r = raw_request(
        gw.addr(),
        &get("/x", &[&format!("Authorization: Bearer {t}")]),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(
        idp.discovery_fetches
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test]
async fn item_17_tokens_never_reach_the_logs() {
    let w = World::start().await;
    let token = w.token("profile:read");
    let bad = w.token_with(|c| c["exp"] = json!(1));
    for request in [
        get(&format!("/profile/x?access_token={token}"), &[]),
        get(&format!("/profile/x?access_token={bad}"), &[]),
        get("/profile/x", &[&format!("Authorization: Bearer {bad}")]),
        get(
            "/profile/x",
            &[
                &format!("Cookie: access_token={token}"),
                &format!("Authorization: Bearer {token}"),
            ],
        ),
        get("/guest/x", &[&format!("Authorization: token {GUEST_KEY}")]),
    ] {
        let r = raw_request(w.gw.addr(), &request).await.unwrap();
        for secret in [&token, &bad, &GUEST_KEY.to_string()] {
            // Neither error answers nor what the upstream received (echoed back) hold it.
            assert!(
                !String::from_utf8_lossy(&r.raw).contains(secret.as_str()),
                "{}",
                r.head
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = w.gw.log();
    for secret in [&token, &bad, &GUEST_KEY.to_string()] {
        assert!(
            !log.contains(secret.as_str()),
            "a credential reached the log"
        );
    }
    // The signature alone is also a secret worth not logging.
    assert!(!log.contains(token.rsplit('.').next().unwrap()));
}

#[test]
fn weak_or_inconsistent_auth_config_is_refused() {
    let (code, out) = check_config(
        r#"
[[listeners]]
address = "127.0.0.1:1"

[upstreams.u]
addresses = ["127.0.0.1:2"]

[issuers.weak]
kind = "jwt"
issuer = "https://a.example"
audiences = ["x"]
keys = [{ kid = "k", alg = "HS256", secret = "your-256-bit-secret" }]

[issuers.noaud]
kind = "jwt"
issuer = "https://b.example"
jwks_url = "http://idp.example.com/jwks"

[issuers.guests]
kind = "app_keys"
app_keys = [{ client = "c", key = "short" }]

[[routes]]
path_prefix = "/"
upstream = "u"
[routes.auth]
carriers = ["bearer", "basic"]
scopes = ["a\"b"]
issuers = ["nobody"]

# A value outside a closed set makes its route unreadable; the others are still checked.
[[routes]]
path_prefix = "/other"
upstream = "u"
[routes.auth]
level = "root"
"#,
    );
    assert_eq!(code, 1, "{out}");
    for expected in [
        "issuers.weak.keys[0]",
        "issuers.noaud.audiences",
        "issuers.noaud.jwks_url",
        "issuers.guests.app_keys[0]",
        "routes[0].auth.carriers",
        "routes[0].auth.scopes",
        "routes[1].auth.level",
        "routes[0].auth.issuers",
    ] {
        assert!(out.contains(expected), "missing {expected}:\n{out}");
    }
}

#[tokio::test]
async fn item_23_keys_older_than_max_stale_give_503_not_401() {
    let idp = Idp::start().await;
    let key = SigningKey::generate(Algorithm::ES256, "s1");
    idp.publish(&[&key]);
    let config = config_with(&format!(
        r#"
[issuers.idp]
kind = "jwt"
issuer = "{}"
audiences = ["{AUD}"]
jwks_url = "{}"
refresh_every = "1s"
max_stale = "1s"
fetch_timeout = "300ms"

[[routes]]
path_prefix = "/"
upstream = "echo"
[routes.auth]
"#,
        idp.issuer(),
        idp.jwks_url()
    ));
    let gw = GatewayProcess::start(&config).await;
    let fresh = || key.mint(&claims(&idp.issuer(), AUD, "u", ""));
    let bearer = |t: String| get("/x", &[&format!("Authorization: Bearer {t}")]);
    assert_eq!(
        raw_request(gw.addr(), &bearer(fresh()))
            .await
            .unwrap()
            .status,
        200
    );
    idp.set_jwks_mode(JwksMode::Status(500));
    // Within refresh_every + max_stale the last good keys serve…
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        raw_request(gw.addr(), &bearer(fresh()))
            .await
            .unwrap()
            .status,
        200
    );
    // …past it, verification is unavailable: 503, not an invalid-token 401.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = raw_request(gw.addr(), &bearer(fresh())).await.unwrap();
    assert_eq!(r.status, 503, "{}", r.head);
    assert!(!challenge(&r).contains("invalid_token"));
    // The IdP recovers; so does the gateway, by itself.
    idp.set_jwks_mode(JwksMode::Serve);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        raw_request(gw.addr(), &bearer(fresh()))
            .await
            .unwrap()
            .status,
        200
    );
}

#[tokio::test]
async fn item_8_inline_pem_keys_and_the_legacy_profile() {
    let key = SigningKey::generate(Algorithm::PS256, "p1");
    let pem = key.public_pem.clone().unwrap();
    let config = config_with(&format!(
        r#"
[issuers.legacy]
kind = "jwt"
issuer = "https://legacy.example"
audiences = ["{AUD}"]
profile = "legacy"
keys = [{{ kid = "p1", alg = "PS256", pem = """
{pem}""" }}]

[[routes]]
path_prefix = "/"
upstream = "echo"
[routes.auth]
"#
    ));
    let gw = GatewayProcess::start(&config).await;
    let base = json!({"iss": "https://legacy.example", "aud": AUD, "sub": "u", "exp": now() + 600});
    let bearer = |t: String| get("/x", &[&format!("Authorization: Bearer {t}")]);
    let typ_jwt = key.mint_raw(&json!({"alg": "PS256", "kid": "p1", "typ": "JWT"}), &base);
    assert_eq!(
        raw_request(gw.addr(), &bearer(typ_jwt))
            .await
            .unwrap()
            .status,
        200
    );
    let untyped = key.mint_raw(&json!({"alg": "PS256", "kid": "p1"}), &base);
    assert_eq!(
        raw_request(gw.addr(), &bearer(untyped))
            .await
            .unwrap()
            .status,
        200
    );
    // An ID token (it has a nonce) is not an access token (RFC 8725 §3.11, CL-9).
    let mut id_token = base.clone();
    id_token["nonce"] = json!("n-0S6_WzA2Mj");
    let t = key.mint_raw(
        &json!({"alg": "PS256", "kid": "p1", "typ": "JWT"}),
        &id_token,
    );
    assert_invalid_token(
        &raw_request(gw.addr(), &bearer(t)).await.unwrap(),
        "ID token",
    );
    let t = key.mint_raw(
        &json!({"alg": "PS256", "kid": "p1", "typ": "logout+jwt"}),
        &base,
    );
    assert_invalid_token(
        &raw_request(gw.addr(), &bearer(t)).await.unwrap(),
        "logout token",
    );
}

#[tokio::test]
async fn application_keys_from_a_file_of_digests() {
    let digest = portcullis_core::digest::digest_hex("ak_file_9fK2mQ7xL4pR8vW1");
    let config = config_with(
        r#"
[issuers.guests]
kind = "app_keys"
app_keys_file = "{dir}/keys.toml"

[[routes]]
path_prefix = "/"
upstream = "echo"
[routes.auth]
carriers = ["token"]
level = "identified"
scopes = ["segments"]
"#,
    );
    // The gateway process reads `{dir}/keys.toml`: write it into the directory it will use.
    let keys = format!(
        "[[app_keys]]\nclient = \"partner-b\"\nsha256 = \"{digest}\"\ntenant = \"acme\"\nscopes = [\"basic\", \"segments\"]\nlevel = \"identified\"\n"
    );
    let gw = GatewayProcess::start_with_files(&config, &[("keys.toml", &keys)]).await;
    let r = raw_request(
        gw.addr(),
        &get("/x", &["Authorization: token ak_file_9fK2mQ7xL4pR8vW1"]),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.head);
    let echoed = r.echoed();
    assert_eq!(echoed.header_values("x-auth-subject"), ["partner-b"]);
    assert_eq!(echoed.header_values("x-auth-tenant"), ["acme"]);
    assert_eq!(echoed.header_values("x-auth-scopes"), ["basic segments"]);
    let r = raw_request(
        gw.addr(),
        &get("/x", &["Authorization: token ak_file_9fK2mQ7xL4pR8vW2"]),
    )
    .await
    .unwrap();
    assert_invalid_token(&r, "wrong application key");
    // A bearer token is not read on a route that takes application keys only.
    let r = raw_request(
        gw.addr(),
        &get("/x", &["Authorization: Bearer ak_file_9fK2mQ7xL4pR8vW1"]),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 400, "{}", r.head);
}

#[tokio::test]
async fn item_14_introspection_results_are_per_endpoint() {
    let first = Idp::start().await;
    let second = Idp::start().await;
    first.register_opaque(
        "shared-token-1",
        json!({"active": true, "sub": "s", "scope": "read"}),
    );
    let issuer = |name: &str, idp: &Idp| {
        format!(
            r#"
[issuers.{name}]
kind = "introspection"
introspection_url = "{}"
client_id = "portcullis"
client_secret = "introspection-secret-0123456789"
"#,
            idp.introspection_url()
        )
    };
    let config = config_with(&format!(
        r#"{}{}
[[routes]]
path_prefix = "/one"
upstream = "echo"
[routes.auth]
issuers = ["one"]

[[routes]]
path_prefix = "/two"
upstream = "echo"
[routes.auth]
issuers = ["two"]
"#,
        issuer("one", &first),
        issuer("two", &second)
    ));
    let gw = GatewayProcess::start(&config).await;
    let bearer = |p: &str| get(p, &["Authorization: Bearer shared-token-1"]);
    assert_eq!(
        raw_request(gw.addr(), &bearer("/one/x"))
            .await
            .unwrap()
            .status,
        200
    );
    // Primed at endpoint one; endpoint two has never heard of it.
    assert_invalid_token(
        &raw_request(gw.addr(), &bearer("/two/x")).await.unwrap(),
        "token of another endpoint",
    );
    assert_eq!(
        second
            .introspections
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}
