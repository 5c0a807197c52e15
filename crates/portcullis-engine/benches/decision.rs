//! The auth decision without the network: extraction, verification per algorithm (cache miss
//! and hit), the policy check, and the whole cached decision. Target: a cached-token decision
//! (extract + cache hit + policy) under 2 µs. `cargo bench --bench decision`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::{HeaderMap, Method};
use jsonwebtoken::Algorithm;
use portcullis_core::credential::{extract, Carrier, Credential, Limits, RequestView, Secret};
use portcullis_core::principal::{now_unix, Level, Principal};
use portcullis_engine::auth::decide;
use portcullis_engine::policy::{Requirement, RoutePolicy};
use portcullis_engine::signing::SigningKey;
use portcullis_engine::verify::claims::ClaimMapping;
use portcullis_engine::verify::jwt::{JwtIssuer, KeySource, TokenProfile};
use portcullis_engine::verify::keys::{key_from_jwk_value, key_from_secret, KeySet};
use portcullis_engine::verify::{CacheSettings, Issuers, Verifier};
use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

const ISS: &str = "https://idp.bench";
const AUD: &str = "api://bench";

/// Runs a future that never waits (cache lookups and local verification do not).
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the benchmarked path must not wait"),
    }
}

fn issuer(key: &SigningKey) -> JwtIssuer {
    let verify_key = match key.alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            key_from_secret(Some(key.kid.clone()), key.alg, key.secret().as_bytes()).unwrap()
        }
        _ => key_from_jwk_value(&key.jwk, key.alg).unwrap(),
    };
    JwtIssuer {
        name: Arc::from("bench"),
        issuer: ISS.into(),
        audiences: vec![AUD.into()],
        leeway: 60,
        profile: TokenProfile::AtJwt,
        mapping: ClaimMapping::default(),
        keys: KeySource::Static(KeySet::new(vec![verify_key])),
    }
}

fn claims(sub: usize) -> serde_json::Value {
    let now = now_unix();
    serde_json::json!({
        "iss": ISS, "aud": AUD, "sub": format!("user-{sub}"), "scope": "profile:read orders",
        "client_id": "bench", "jti": format!("j{sub}"), "iat": now, "exp": now + 3600,
    })
}

fn verifier(key: &SigningKey) -> Verifier {
    Verifier::new(
        Issuers {
            jwt: vec![Arc::new(issuer(key))],
            ..Issuers::default()
        },
        CacheSettings::default(),
    )
}

fn policy() -> RoutePolicy {
    RoutePolicy {
        carriers: vec![Carrier::Bearer, Carrier::Cookie],
        issuers: vec![],
        allow_anonymous: false,
        issue_device_token: false,
        audience: None,
        tenant_header: None,
        default: Requirement {
            level: Level::Identified,
            scopes: vec!["profile:read".into()],
            all_scopes: true,
        },
        per_method: vec![],
    }
}

fn bench(c: &mut Criterion) {
    let rs = SigningKey::generate(Algorithm::RS256, "k");
    let token = rs.mint(&claims(1));
    let mut headers = HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    headers.insert("accept", "application/json".parse().unwrap());
    let view = RequestView {
        headers: &headers,
        query: Some("$top=10"),
    };
    let policy = policy();

    c.bench_function("extract bearer", |b| {
        b.iter(|| extract(black_box(&view), &policy.carriers, Limits::default()).unwrap())
    });

    let mut group = c.benchmark_group("verify (cache miss)");
    for alg in [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::HS256,
    ] {
        let key = SigningKey::generate(alg, "k");
        let jwt_issuer = issuer(&key);
        let token = key.mint(&claims(7));
        group.bench_function(format!("{alg:?}"), |b| {
            b.iter(|| {
                let jws =
                    portcullis_engine::verify::jose::parse_compact(black_box(&token)).unwrap();
                ready(jwt_issuer.verify(&jws, now_unix())).unwrap()
            })
        });
    }
    group.finish();

    let v = verifier(&rs);
    let credential = Credential {
        carrier: Carrier::Bearer,
        secret: Secret::new(&token),
    };
    ready(v.verify(&credential, &[], now_unix())).unwrap();
    c.bench_function("verify (cache hit, RS256)", |b| {
        b.iter(|| ready(v.verify(black_box(&credential), &[], now_unix())).unwrap())
    });

    // Cache misses through the verifier: a fresh token each time (minting outside the timing).
    // The counter lives outside the closure, which criterion calls again for each of its
    // phases: restarted there, it would mint the same tokens again and measure cache hits.
    let mut n = 100;
    c.bench_function("verify through the verifier (cache miss, RS256)", |b| {
        b.iter_batched(
            || {
                n += 1;
                Credential {
                    carrier: Carrier::Bearer,
                    secret: Secret::new(&rs.mint(&claims(n))),
                }
            },
            |credential| ready(v.verify(&credential, &[], now_unix())).unwrap(),
            BatchSize::SmallInput,
        )
    });

    let principal = Principal::Authenticated(
        ready(v.verify(&credential, &[], now_unix()))
            .unwrap()
            .identity,
    );
    c.bench_function("policy check", |b| {
        b.iter(|| {
            policy
                .authorize(black_box(&principal), &Method::GET, None)
                .unwrap()
        })
    });

    c.bench_function("decision: extract + cache hit + policy (RS256)", |b| {
        b.iter(|| {
            ready(decide(
                &policy,
                &v,
                black_box(&view),
                &Method::GET,
                None,
                Limits::default(),
                now_unix(),
            ))
            .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
