//! Authorization requests (RFC 6749 §4.1.1 with PKCE): which are acceptable, and where a bad one
//! is answered — on the gateway's own page while the client or its redirect URI is in doubt
//! (never an open redirect, §4.1.2.1), back at the client's redirect URI after that.

use super::pkce;
use super::request::requested_scopes;
use super::settings::{Client, Settings};
use std::collections::HashMap;

/// The parameters of an authorization request that the flow carries from page to page (and a
/// device's user code, carried through the login page to the verification page).
pub const PARAMETERS: [&str; 9] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "user_code",
];

/// Longest `state` or `nonce` accepted (they come back in redirects and ID tokens).
const MAX_OPAQUE: usize = 512;

/// An acceptable authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// `None`: a confidential client let off PKCE (`require_pkce = false`) sent none.
    pub code_challenge: Option<String>,
}

/// Why an authorization request is refused, and where that is said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The client or redirect URI cannot be trusted: shown on the gateway's page.
    Page(&'static str),
    /// Sent back to the client (RFC 6749 §4.1.2.1).
    Redirect(ErrorRedirect),
}

/// An error for the client, at its (checked) redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRedirect {
    pub redirect_uri: String,
    pub state: Option<String>,
    pub error: &'static str,
    pub description: &'static str,
}

/// The request's parameters, once each (a repeated one is refused like a missing one).
pub fn parameters(query: &[u8]) -> Result<HashMap<String, String>, &'static str> {
    let mut found = HashMap::new();
    for (name, value) in form_urlencoded::parse(query) {
        if PARAMETERS.contains(&name.as_ref())
            && found
                .insert(name.into_owned(), value.into_owned())
                .is_some()
        {
            return Err("a parameter of the authorization request is repeated");
        }
    }
    Ok(found)
}

fn opaque(value: Option<&String>) -> Result<Option<String>, ()> {
    match value {
        None => Ok(None),
        Some(v) if v.len() <= MAX_OPAQUE && v.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(v.clone()))
        }
        Some(_) => Err(()),
    }
}

/// Checks an authorization request against the registered clients.
pub fn check<'s>(
    settings: &'s Settings,
    params: &HashMap<String, String>,
) -> Result<(AuthorizationRequest, &'s Client), Refusal> {
    let client = params
        .get("client_id")
        .and_then(|id| settings.clients.get(id))
        .filter(|c| c.authorization_code)
        .ok_or(Refusal::Page(
            "The application that sent you here is not registered for sign-in.",
        ))?;
    // RFC 6749 §3.1.2.3: may be left out only when exactly one is registered.
    let redirect_uri = match params.get("redirect_uri") {
        Some(uri) if client.redirect_uris.contains(uri) => uri.clone(),
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        _ => {
            return Err(Refusal::Page(
                "The application asked to send you to an address it has not registered.",
            ))
        }
    };
    let state = opaque(params.get("state"))
        .map_err(|()| Refusal::Page("The application sent a malformed state parameter."))?;
    let refuse = |error, description| {
        Refusal::Redirect(ErrorRedirect {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            error,
            description,
        })
    };
    match params.get("response_type").map(String::as_str) {
        Some("code") => {}
        None => return Err(refuse("invalid_request", "response_type is required")),
        // RFC 9700 §2.1.2: no implicit grant (`token`), nor hybrids.
        Some(_) => {
            return Err(refuse(
                "unsupported_response_type",
                "only response_type=code is supported",
            ))
        }
    }
    // The same rule as the token endpoint's; asked-for scopes come back sorted, once each
    // (`requested_scopes` has dropped the repeats).
    let Some(mut scopes) = requested_scopes(params, &client.scopes) else {
        return Err(refuse(
            "invalid_scope",
            "a scope is beyond what the client may ask",
        ));
    };
    if params.contains_key("scope") {
        scopes.sort();
    }
    // PKCE for every client (RFC 9700 §2.1.1) unless a confidential client is configured
    // without it, and S256 only: `plain` protects nothing against an attacker who can read
    // the authorization request. A challenge that is sent is always checked.
    let code_challenge = match params.get("code_challenge") {
        None if !client.require_pkce => None,
        challenge => Some(
            challenge
                .filter(|c| pkce::valid_challenge(c))
                .ok_or_else(|| refuse("invalid_request", "a code_challenge (S256) is required"))?,
        ),
    };
    if code_challenge.is_some()
        && params.get("code_challenge_method").map(String::as_str) != Some("S256")
    {
        return Err(refuse(
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    let nonce = opaque(params.get("nonce"))
        .map_err(|()| refuse("invalid_request", "the nonce is malformed"))?;
    Ok((
        AuthorizationRequest {
            client_id: client.id.clone(),
            redirect_uri,
            scopes,
            state,
            nonce,
            code_challenge: code_challenge.cloned(),
        },
        client,
    ))
}

/// `redirect_uri` with `extra` added to its query (the registered URI may have one already).
/// Callers pass URLs checked before (registered redirect URIs at config load, a provider's
/// endpoints at discovery).
pub fn redirect_to(redirect_uri: &str, extra: &[(&str, &str)]) -> String {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return redirect_uri.to_string();
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in extra {
            query.append_pair(name, value);
        }
    }
    url.into()
}

/// Where an authorization answer sends the browser: the client's redirect URI with `answer`,
/// the request's `state` and `iss` (RFC 9207) — for codes and errors alike.
pub fn back_to_client(
    redirect_uri: &str,
    answer: &[(&str, &str)],
    state: Option<&str>,
    issuer: &str,
) -> String {
    let mut extra = answer.to_vec();
    if let Some(state) = state {
        extra.push(("state", state));
    }
    extra.push(("iss", issuer));
    redirect_to(redirect_uri, &extra)
}

impl ErrorRedirect {
    pub fn location(&self, issuer: &str) -> String {
        back_to_client(
            &self.redirect_uri,
            &[
                ("error", self.error),
                ("error_description", self.description),
            ],
            self.state.as_deref(),
            issuer,
        )
    }
}

/// The query string that repeats an authorization request (for forms and redirects).
pub fn query_of(params: &HashMap<String, String>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for name in PARAMETERS {
        if let Some(value) = params.get(name) {
            query.append_pair(name, value);
        }
    }
    query.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::principal::Level;

    /// A service with sign-in and one public client, as `[token_service]` would compile.
    fn settings() -> Settings {
        use super::super::settings::*;
        let client = Client {
            id: "app".into(),
            name: "app".into(),
            secret_sha256: None,
            scopes: vec!["openid".into(), "read".into(), "write".into()],
            client_credentials: false,
            refresh_token: false,
            authorization_code: true,
            device_code: false,
            redirect_uris: vec![
                "https://app.test/cb".into(),
                "http://127.0.0.1:9/cb?x=1".into(),
            ],
            level: Level::Verified,
            issue_refresh_tokens: false,
            may_verify: false,
            require_pkce: true,
        };
        Settings {
            name: "portcullis".into(),
            prefix: "/auth".into(),
            paths: crate::paths::ServicePaths::defaults("/auth"),
            tenant_host: None,
            email: None,
            token_apis: vec![crate::settings::TokenApi {
                name: "default".into(),
                resources: Vec::new(),
                default_validity_minutes: 15,
                max_validity_minutes: 1440,
            }],
            issuer: "https://auth.test".into(),
            audience: "portcullis".into(),
            format: TokenFormat::Jwt,
            algorithm: jsonwebtoken::Algorithm::ES256,
            store: StoreSettings::Redb("/tmp/never-opened.redb".into()),
            keys_file: "/tmp/never-opened.keys.json".into(),
            rotate_after: 30 * 86_400,
            access_ttl: 900,
            device_ttl: 30 * 86_400,
            refresh_ttl: 30 * 86_400,
            max_refresh_grants: 5,
            max_refresh_grants_per_user: 20,
            device_poll_interval: 5,
            device_token_limit: None,
            default_validity_minutes: 15,
            max_validity_minutes: 1440,
            clients: [("app".to_string(), client)].into(),
            tenants: HashMap::new(),
            sign_in: Some(SignInSettings {
                users: UserSource::File("/tmp/never-read-users.toml".into()),
                session_ttl: 8 * 3600,
                code_ttl: 60,
                max_failures: 5,
                failure_window: std::time::Duration::from_secs(900),
            }),
        }
    }

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let mut p: HashMap<String, String> = [
            ("response_type", "code"),
            ("client_id", "app"),
            ("redirect_uri", "https://app.test/cb"),
            ("scope", "read openid"),
            ("state", "s1"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in pairs {
            if v.is_empty() {
                p.remove(*k);
            } else {
                p.insert(k.to_string(), v.to_string());
            }
        }
        p
    }

    #[test]
    fn a_good_request_is_accepted_with_sorted_scopes() {
        let s = settings();
        let (request, client) = check(&s, &params(&[])).unwrap();
        assert_eq!(request.scopes, ["openid", "read"]);
        assert_eq!(client.level, Level::Verified);
        assert_eq!(request.state.as_deref(), Some("s1"));
    }

    #[test]
    fn unknown_clients_and_unregistered_redirects_stay_on_the_page() {
        let s = settings();
        for bad in [
            params(&[("client_id", "nobody")]),
            params(&[("redirect_uri", "https://evil.test/cb")]),
            params(&[("redirect_uri", "https://app.test/cb/")]),
            params(&[("redirect_uri", "https://app.test/cb?x=1")]),
            // Two registered: it may not be left out.
            params(&[("redirect_uri", "")]),
        ] {
            assert!(matches!(check(&s, &bad), Err(Refusal::Page(_))), "{bad:?}");
        }
    }

    #[test]
    fn other_problems_go_back_to_the_client_with_state_and_issuer() {
        let s = settings();
        let cases = [
            (
                params(&[("response_type", "token")]),
                "unsupported_response_type",
            ),
            (params(&[("response_type", "")]), "invalid_request"),
            (params(&[("scope", "read admin")]), "invalid_scope"),
            (params(&[("code_challenge", "")]), "invalid_request"),
            (
                params(&[("code_challenge_method", "plain")]),
                "invalid_request",
            ),
        ];
        for (bad, expected) in cases {
            let Err(Refusal::Redirect(refusal)) = check(&s, &bad) else {
                panic!("not a redirect: {bad:?}");
            };
            let location = refusal.location("https://auth.test");
            let url = url::Url::parse(&location).unwrap();
            let got: HashMap<_, _> = url.query_pairs().into_owned().collect();
            assert_eq!(got["error"], expected, "{bad:?}");
            assert_eq!(got["state"], "s1");
            assert_eq!(got["iss"], "https://auth.test");
            assert!(location.starts_with("https://app.test/cb?"));
        }
    }

    #[test]
    fn redirects_keep_the_registered_query() {
        assert_eq!(
            redirect_to("http://127.0.0.1:9/cb?x=1", &[("code", "a b")]),
            "http://127.0.0.1:9/cb?x=1&code=a+b"
        );
    }

    #[test]
    fn repeated_parameters_are_refused() {
        assert!(parameters(b"client_id=a&client_id=b").is_err());
        assert_eq!(parameters(b"client_id=a&other=1&other=2").unwrap().len(), 1);
    }
}
