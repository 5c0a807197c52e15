//! Sign-in delegated to an upstream OpenID Connect provider: Portcullis is its confidential
//! client (authorization code + PKCE + nonce), takes the ID token back at
//! `{prefix}/oauth/callback`, checks it against the provider's published keys, and starts its
//! own session for the user the token names.
//!
//! Only what the configured issuer's discovery document names is trusted: its `issuer` must be
//! the configured one, and keys come from its `jwks_uri` alone — never from a token header.
//!
//! A sign-in in progress lives in the browser, not the store: the `portcullis_oidc` cookie is a
//! JWT signed with the token service's key (`typ` [`STATE_TYP`], so it is nothing else), holding
//! the `state` sent to the provider, the nonce, the PKCE verifier and the authorization request
//! to resume. Starting a sign-in therefore writes nothing, and any instance sharing the key file
//! can finish it.

use super::answers;
use super::cookies::{cookie, service_cookie};
use super::request::ServiceRequest;
use super::settings::UpstreamOidc;
use super::users::SignedIn;
use super::{authorize, random_id, TokenService};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use portcullis_core::answer::Answer;
use portcullis_core::digest::same_secret;
use portcullis_core::principal::now_unix;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

pub const STATE_COOKIE: &str = "portcullis_oidc";
/// The `typ` of the state cookie's JWT.
pub const STATE_TYP: &str = "portcullis-oidc-state";
/// How long a browser may spend at the provider.
const PENDING_TTL: u64 = 600;
const TIMEOUT: Duration = Duration::from_secs(5);
/// Signature algorithms accepted on ID tokens: asymmetric only (an HMAC key would be the
/// client secret, which Portcullis does not sign with).
const ALGORITHMS: [Algorithm; 7] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

#[derive(Debug, Clone, Deserialize)]
struct Discovered {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

/// A sign-in in progress at the provider (the claims of the state cookie).
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    /// The `state` parameter sent to the provider.
    state: String,
    /// The authorization request it interrupted (a query string; may be empty).
    request: String,
    nonce: String,
    verifier: String,
    exp: u64,
}

pub struct UpstreamProvider {
    config: UpstreamOidc,
    http: reqwest::Client,
    discovered: tokio::sync::OnceCell<Discovered>,
}

#[derive(Debug)]
enum UpstreamError {
    Unavailable(String),
    Refused(&'static str),
}

impl UpstreamProvider {
    pub fn new(config: UpstreamOidc) -> Result<Self, super::OpenError> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(super::OpenError::HttpClient)?;
        Ok(Self {
            config,
            http,
            discovered: tokio::sync::OnceCell::new(),
        })
    }

    /// The provider's discovery document, read once it first succeeds.
    async fn discover(&self) -> Result<&Discovered, UpstreamError> {
        self.discovered
            .get_or_try_init(|| async {
                let url = format!("{}/.well-known/openid-configuration", self.config.issuer);
                let document: Discovered = self.get_json(&url).await?;
                // OpenID Connect Discovery §4.3.
                if document.issuer.trim_end_matches('/') != self.config.issuer {
                    return Err(UpstreamError::Unavailable(
                        "the discovery document names another issuer".into(),
                    ));
                }
                let endpoints = [
                    &document.authorization_endpoint,
                    &document.token_endpoint,
                    &document.jwks_uri,
                ];
                if !endpoints.iter().all(|e| {
                    url::Url::parse(e).is_ok_and(|u| matches!(u.scheme(), "https" | "http"))
                }) {
                    return Err(UpstreamError::Unavailable(
                        "the discovery document names an endpoint that is not an HTTP URL".into(),
                    ));
                }
                Ok(document)
            })
            .await
    }

    async fn get_json<T: for<'d> Deserialize<'d>>(&self, url: &str) -> Result<T, UpstreamError> {
        self.http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)
    }

    /// Sends the browser to the provider, remembering the authorization request it came with.
    pub async fn start(&self, service: &TokenService, params: &HashMap<String, String>) -> Answer {
        match self.try_start(service, params).await {
            Ok(answer) => answer,
            Err(e) => failure(e),
        }
    }

    async fn try_start(
        &self,
        service: &TokenService,
        params: &HashMap<String, String>,
    ) -> Result<Answer, UpstreamError> {
        let discovered = self.discover().await?;
        let pending = Pending {
            state: random_id(24),
            request: authorize::query_of(params),
            nonce: random_id(24),
            verifier: random_id(48),
            exp: now_unix() + PENDING_TTL,
        };
        let sealed = service
            .keys
            .current()
            .current
            .mint_typed(&pending, STATE_TYP);
        let challenge = super::pkce::challenge_of(&pending.verifier);
        let scope = self.config.scopes.join(" ");
        let location = authorize::redirect_to(
            &discovered.authorization_endpoint,
            &[
                ("response_type", "code"),
                ("client_id", &self.config.client_id),
                ("redirect_uri", &self.config.redirect_uri),
                ("scope", &scope),
                ("state", &pending.state),
                ("nonce", &pending.nonce),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        );
        // Lax: the provider sends the browser back with a cross-site GET.
        let cookie = service_cookie(service, STATE_COOKIE, &sealed, PENDING_TTL, "Lax");
        Ok(answers::see_other(location).with_header("set-cookie", cookie))
    }

    /// Exchanges the provider's code and checks the ID token it gives; returns the user.
    async fn finish(&self, code: &str, pending: &Pending) -> Result<SignedIn, UpstreamError> {
        let discovered = self.discover().await?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.config.redirect_uri),
            ("client_id", &self.config.client_id),
            ("client_secret", &self.config.client_secret),
            ("code_verifier", &pending.verifier),
        ];
        let answer = self
            .http
            .post(&discovered.token_endpoint)
            .form(&form)
            .send()
            .await
            .map_err(unavailable)?;
        if !answer.status().is_success() {
            return Err(UpstreamError::Refused("the provider refused the code"));
        }
        let body: Value = answer.json().await.map_err(unavailable)?;
        let id_token = body["id_token"]
            .as_str()
            .ok_or(UpstreamError::Refused("the provider sent no ID token"))?;
        let claims = self.check_id_token(discovered, id_token).await?;
        if claims["nonce"].as_str() != Some(pending.nonce.as_str()) {
            return Err(UpstreamError::Refused(
                "the ID token is not for this sign-in",
            ));
        }
        let name = claims[&self.config.name_claim]
            .as_str()
            .filter(|n| !n.is_empty() && n.len() <= 256)
            .ok_or(UpstreamError::Refused("the ID token names no user"))?;
        let email = claims["email"]
            .as_str()
            .filter(|_| claims["email_verified"].as_bool() != Some(false))
            .map(str::to_string);
        Ok(SignedIn {
            sub: name.to_string(),
            email,
        })
    }

    async fn check_id_token(
        &self,
        discovered: &Discovered,
        token: &str,
    ) -> Result<Value, UpstreamError> {
        let refused = |_| UpstreamError::Refused("the ID token is not valid");
        let header = jsonwebtoken::decode_header(token).map_err(refused)?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(UpstreamError::Refused(
                "the ID token's algorithm is not accepted",
            ));
        }
        let keys: JwkSet = self.get_json(&discovered.jwks_uri).await?;
        let jwk = match &header.kid {
            Some(kid) => keys.find(kid),
            None if keys.keys.len() == 1 => keys.keys.first(),
            None => None,
        }
        .ok_or(UpstreamError::Refused(
            "the ID token's key is not published",
        ))?;
        let key = DecodingKey::from_jwk(jwk).map_err(refused)?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&discovered.issuer]);
        validation.set_audience(&[&self.config.client_id]);
        validation.set_required_spec_claims(&["iss", "aud", "exp", "sub"]);
        jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(refused)
    }
}

/// The sign-in in progress that a state cookie holds, if the cookie is ours, unexpired and
/// for this `state`.
fn unseal(service: &TokenService, cookie: &str, state: &str) -> Option<Pending> {
    let (header, signing_input, signature) =
        portcullis_engine::verify::jose::parse_signature_parts(cookie).ok()?;
    if header.typ.as_deref() != Some(STATE_TYP) {
        return None;
    }
    service
        .keys
        .current()
        .verify
        .verify(
            header.kid.as_deref(),
            header.alg,
            signing_input.as_bytes(),
            signature,
        )
        .ok()?;
    let (_, payload) = signing_input.split_once('.')?;
    let pending: Pending = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    (same_secret(&pending.state, state) && pending.exp > now_unix()).then_some(pending)
}

/// A provider that could not be reached or answered nonsense; the URL (it may hold a code) is
/// left out of the message.
fn unavailable(e: reqwest::Error) -> UpstreamError {
    UpstreamError::Unavailable(e.without_url().to_string())
}

fn failure(e: UpstreamError) -> Answer {
    match e {
        UpstreamError::Unavailable(why) => {
            tracing::warn!(error = %why, "upstream OpenID provider unavailable");
            answers::page(
                503,
                "Sign-in unavailable",
                "The sign-in provider cannot be reached. Try again in a moment.",
            )
            .with_header("retry-after", "5")
        }
        UpstreamError::Refused(why) => {
            tracing::warn!(reason = why, "upstream OpenID sign-in refused");
            answers::page(403, "Sign-in failed", why)
        }
    }
}

impl UpstreamProvider {
    /// Checks the provider's answer at `{prefix}/oauth/callback?code&state`: the state cookie
    /// must be ours and for this `state`, and the code must give a valid ID token. Returns the
    /// user and the authorization request to resume, or the page to show.
    pub async fn complete(
        &self,
        service: &TokenService,
        request: &ServiceRequest<'_>,
    ) -> Result<(SignedIn, HashMap<String, String>), Answer> {
        let params: HashMap<String, String> =
            form_urlencoded::parse(request.query.unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let state = params.get("state").map(String::as_str).unwrap_or("");
        let Some(pending) =
            cookie(request.headers, STATE_COOKIE).and_then(|sealed| unseal(service, sealed, state))
        else {
            return Err(failure(UpstreamError::Refused(
                "this sign-in did not start in this browser, or has expired; start again",
            )));
        };
        let Some(code) = params.get("code") else {
            return Err(failure(UpstreamError::Refused(
                "the provider did not sign you in",
            )));
        };
        let user = self.finish(code, &pending).await.map_err(|e| {
            super::metrics::count_sign_in("upstream_failure");
            failure(e)
        })?;
        super::metrics::count_sign_in("success");
        let resumed = form_urlencoded::parse(pending.request.as_bytes())
            .into_owned()
            .collect();
        Ok((user, resumed))
    }
}
