//! Secret-valued keys (client secrets, HMAC secrets, plain application keys, the Redis URL with
//! its password) may name where the secret is instead of holding it, so that a config can be
//! committed and mounted while its secrets come from the environment or a secrets file:
//!
//! ```toml
//! client_secret = "inline, for development"
//! client_secret = { env = "IDP_CLIENT_SECRET" }
//! client_secret = { file = "/run/secrets/idp_client_secret" }   # trailing newline dropped
//! ```
//!
//! A relative `file` is read beside the config file. A missing variable or unreadable file is a
//! config problem at the key's line, like any other.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;

/// Where a secret is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The secret itself.
    Text(String),
    /// An environment variable of the gateway's process.
    Env(String),
    /// A file (its content without a trailing newline).
    File(PathBuf),
}

impl SecretSource {
    /// The secret, or why it cannot be had (never the secret itself).
    pub fn resolve(&self) -> Result<String, String> {
        match self {
            SecretSource::Text(text) => Ok(text.clone()),
            SecretSource::Env(name) => std::env::var(name)
                .map_err(|_| format!("the environment variable {name} is not set")),
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map(|text| text.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|e| format!("cannot read the secret file {}: {e}", path.display())),
        }
    }
}

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SourceVisitor;
        impl<'de> Visitor<'de> for SourceVisitor {
            type Value = SecretSource;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, { env = \"NAME\" } or { file = \"path\" }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(SecretSource::Text(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let Some(key) = map.next_key::<String>()? else {
                    return Err(de::Error::custom("expected env or file"));
                };
                let value: String = map.next_value()?;
                let source = match key.as_str() {
                    "env" => SecretSource::Env(value),
                    "file" => SecretSource::File(PathBuf::from(value)),
                    other => return Err(de::Error::unknown_field(other, &["env", "file"])),
                };
                if let Some(extra) = map.next_key::<String>()? {
                    return Err(de::Error::custom(format!(
                        "{extra:?}: give one of env or file"
                    )));
                }
                Ok(source)
            }
        }
        deserializer.deserialize_any(SourceVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        secret: SecretSource,
    }

    fn read(text: &str) -> Result<SecretSource, String> {
        toml::from_str::<Holder>(text)
            .map(|h| h.secret)
            .map_err(|e| e.message().to_string())
    }

    #[test]
    fn a_secret_is_inline_or_named_by_env_or_file() {
        assert_eq!(
            read("secret = \"s\"").unwrap(),
            SecretSource::Text("s".into())
        );
        assert_eq!(
            read("secret = { env = \"X\" }").unwrap(),
            SecretSource::Env("X".into())
        );
        assert_eq!(
            read("secret = { file = \"/run/s\" }").unwrap(),
            SecretSource::File("/run/s".into())
        );
        assert!(read("secret = { vault = \"x\" }")
            .unwrap_err()
            .contains("vault"));
        assert!(read("secret = { env = \"X\", file = \"y\" }").is_err());
        assert!(read("secret = 7").is_err());
    }

    #[test]
    fn resolving_says_where_it_failed_never_what_it_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s");
        std::fs::write(&file, "from-a-file\n").unwrap();
        assert_eq!(SecretSource::File(file).resolve().unwrap(), "from-a-file");
        let missing = SecretSource::Env("PORTCULLIS_SURELY_UNSET_VARIABLE".into());
        assert!(missing.resolve().unwrap_err().contains("is not set"));
    }
}
