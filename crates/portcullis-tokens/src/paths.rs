//! Where each endpoint of the token service is mounted. Every endpoint has a default place
//! under the service's prefix and may be moved to any path (a source API's own, such as
//! `/api/o/token`) or switched off. Only these exact paths belong to the service: everything
//! else — under the prefix too — is routed as usual.

use std::collections::HashMap;

/// One endpoint of the service. `Create`/`Update` carry the index of their token API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Jwks,
    Discovery,
    DeviceToken,
    Identify,
    Verify,
    Create(usize),
    Update(usize),
    Token,
    Revoke,
    Introspect,
    UserInfo,
    Authorize,
    Login,
    Logout,
    Callback,
    /// Sends an e-mail verification code to the address a device token claimed.
    EmailCode,
    /// Takes the code: the token becomes verified.
    EmailConfirm,
    /// RFC 8628: where a device asks for a device code and a user code.
    DeviceAuthorization,
    /// RFC 8628: the verification page where the user enters the user code.
    Device,
}

impl Endpoint {
    /// The endpoints named in `[token_service.endpoints]`, with their default place (under the
    /// prefix, except the two well-known documents). The token APIs' `create`/`update` are
    /// configured with their API.
    pub const NAMED: [(&'static str, Endpoint, Place); 17] = [
        (
            "jwks",
            Endpoint::Jwks,
            Place::Root("/.well-known/jwks.json"),
        ),
        (
            "discovery",
            Endpoint::Discovery,
            Place::Root("/.well-known/openid-configuration"),
        ),
        (
            "device_token",
            Endpoint::DeviceToken,
            Place::Under("/token"),
        ),
        (
            "identify",
            Endpoint::Identify,
            Place::Under("/token/identify"),
        ),
        ("verify", Endpoint::Verify, Place::Under("/token/verify")),
        (
            "email_code",
            Endpoint::EmailCode,
            Place::Under("/token/email"),
        ),
        (
            "email_confirm",
            Endpoint::EmailConfirm,
            Place::Under("/token/email/confirm"),
        ),
        ("token", Endpoint::Token, Place::Under("/oauth/token")),
        ("revoke", Endpoint::Revoke, Place::Under("/oauth/revoke")),
        (
            "introspect",
            Endpoint::Introspect,
            Place::Under("/oauth/introspect"),
        ),
        (
            "userinfo",
            Endpoint::UserInfo,
            Place::Under("/oauth/userinfo"),
        ),
        (
            "authorize",
            Endpoint::Authorize,
            Place::Under("/oauth/authorize"),
        ),
        ("login", Endpoint::Login, Place::Under("/login")),
        ("logout", Endpoint::Logout, Place::Under("/logout")),
        (
            "callback",
            Endpoint::Callback,
            Place::Under("/oauth/callback"),
        ),
        (
            "device_authorization",
            Endpoint::DeviceAuthorization,
            Place::Under("/oauth/device_authorization"),
        ),
        ("device", Endpoint::Device, Place::Under("/device")),
    ];

    /// Whether a browser reaches it (sign-in pages, whose cookies must reach it too).
    pub fn is_browser(self) -> bool {
        matches!(
            self,
            Endpoint::Authorize
                | Endpoint::Login
                | Endpoint::Logout
                | Endpoint::Callback
                | Endpoint::Device
        )
    }

    /// The methods it answers, as an `Allow` header lists them.
    pub fn allow(self) -> &'static str {
        match self {
            Endpoint::Jwks | Endpoint::Discovery => "GET, HEAD",
            Endpoint::UserInfo => "GET, POST",
            e if e.is_browser() => "GET, POST",
            _ => "POST",
        }
    }
}

/// An endpoint's place when the config does not name one.
#[derive(Debug, Clone, Copy)]
pub enum Place {
    /// Under the service's prefix.
    Under(&'static str),
    /// At this path whatever the prefix (a well-known document).
    Root(&'static str),
}

impl Place {
    pub fn path(self, prefix: &str) -> String {
        match self {
            Place::Under(suffix) => format!("{prefix}{suffix}"),
            Place::Root(path) => path.to_string(),
        }
    }
}

/// The mounted endpoints, both ways round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePaths {
    by_path: HashMap<String, Endpoint>,
    by_endpoint: HashMap<Endpoint, String>,
}

/// Two endpoints given the same path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path:?} is the path of both {first:?} and {second:?}")]
pub struct SamePath {
    pub path: String,
    pub first: Endpoint,
    pub second: Endpoint,
}

impl ServicePaths {
    /// From `(endpoint, path)` pairs; a path given twice is an error.
    pub fn new(mounted: impl IntoIterator<Item = (Endpoint, String)>) -> Result<Self, SamePath> {
        let mut paths = ServicePaths {
            by_path: HashMap::new(),
            by_endpoint: HashMap::new(),
        };
        for (endpoint, path) in mounted {
            if let Some(&first) = paths.by_path.get(&path) {
                return Err(SamePath {
                    path,
                    first,
                    second: endpoint,
                });
            }
            paths.by_path.insert(path.clone(), endpoint);
            paths.by_endpoint.insert(endpoint, path);
        }
        Ok(paths)
    }

    /// Every endpoint at its default place under `prefix`, with one token API.
    pub fn defaults(prefix: &str) -> Self {
        let named = Endpoint::NAMED
            .iter()
            .map(|(_, endpoint, default)| (*endpoint, default.path(prefix)));
        let api = [
            (Endpoint::Create(0), format!("{prefix}/token/create")),
            (Endpoint::Update(0), format!("{prefix}/token/update")),
        ];
        Self::new(named.chain(api)).expect("the default paths are distinct")
    }

    /// The endpoint mounted at `path` (the normalized path, without the query).
    pub fn endpoint(&self, path: &str) -> Option<Endpoint> {
        self.by_path.get(path).copied()
    }

    /// Where `endpoint` is mounted; `None`: switched off.
    pub fn path(&self, endpoint: Endpoint) -> Option<&str> {
        self.by_endpoint.get(&endpoint).map(String::as_str)
    }

    /// Every mounted endpoint, sorted by path.
    pub fn mounted(&self) -> Vec<(&str, Endpoint)> {
        let mut all: Vec<_> = self
            .by_path
            .iter()
            .map(|(path, endpoint)| (path.as_str(), *endpoint))
            .collect();
        all.sort_unstable_by_key(|(path, _)| *path);
        all
    }

    /// The `Path` of the sign-in cookies: the longest directory every browser endpoint is
    /// under, so that the cookies reach each of them and as little else as can be.
    pub fn cookie_path(&self) -> String {
        let mut browser = self
            .by_endpoint
            .iter()
            .filter(|(endpoint, _)| endpoint.is_browser())
            .map(|(_, path)| path.as_str());
        let Some(first) = browser.next() else {
            return "/".to_string();
        };
        // The directory of the first, shortened until it holds every other one.
        let mut common = &first[..first.rfind('/').unwrap_or(0)];
        for path in browser {
            while !(path.starts_with(common) && path[common.len()..].starts_with('/')) {
                common = &common[..common.rfind('/').unwrap_or(0)];
            }
        }
        if common.is_empty() {
            "/".to_string()
        } else {
            common.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_mounted_paths_belong_to_the_service() {
        let paths = ServicePaths::defaults("/auth");
        assert_eq!(paths.endpoint("/auth/oauth/token"), Some(Endpoint::Token));
        assert_eq!(
            paths.endpoint("/.well-known/jwks.json"),
            Some(Endpoint::Jwks)
        );
        assert_eq!(
            paths.endpoint("/auth/token/create"),
            Some(Endpoint::Create(0))
        );
        assert_eq!(paths.endpoint("/auth"), None);
        assert_eq!(paths.endpoint("/auth/me"), None);
        assert_eq!(paths.endpoint("/auth/oauth/token/"), None);
        assert_eq!(paths.path(Endpoint::Login), Some("/auth/login"));
    }

    #[test]
    fn a_path_given_twice_is_refused() {
        let e = ServicePaths::new([
            (Endpoint::Token, "/t".to_string()),
            (Endpoint::DeviceToken, "/t".to_string()),
        ])
        .unwrap_err();
        assert_eq!(e.first, Endpoint::Token);
        assert_eq!(e.second, Endpoint::DeviceToken);
    }

    #[test]
    fn the_cookie_path_covers_every_browser_endpoint() {
        assert_eq!(ServicePaths::defaults("/auth").cookie_path(), "/auth");
        let split = ServicePaths::new([
            (Endpoint::Authorize, "/api/o/authorize".to_string()),
            (Endpoint::Login, "/api/login".to_string()),
            (Endpoint::Token, "/elsewhere/token".to_string()),
        ])
        .unwrap();
        assert_eq!(split.cookie_path(), "/api");
        let apart = ServicePaths::new([
            (Endpoint::Authorize, "/o/authorize".to_string()),
            (Endpoint::Login, "/login".to_string()),
        ])
        .unwrap();
        assert_eq!(apart.cookie_path(), "/");
        let prefix_is_not_a_directory = ServicePaths::new([
            (Endpoint::Authorize, "/ab/authorize".to_string()),
            (Endpoint::Login, "/abc/login".to_string()),
        ])
        .unwrap();
        assert_eq!(prefix_is_not_a_directory.cookie_path(), "/");
    }
}
