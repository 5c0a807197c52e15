//! Why the token service could not open, or a file of it could not be read or written. Each
//! error keeps its cause (`source()`), and says which file.

use portcullis_engine::verify::keys::KeyError;
use std::path::PathBuf;

/// The token service could not open (or rotate its keys).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] super::store::StoreError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{}: not a key file: {source}", path.display())]
    KeyFile {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("signing key {kid}: {source}")]
    Key {
        kid: String,
        #[source]
        source: KeyError,
    },
    #[error("the key file holds no current signing key")]
    NoSigningKey,
    #[error("email_verification: {0}")]
    Mail(String),
    #[error(transparent)]
    Users(#[from] UsersError),
    #[error("the upstream OpenID client: {0}")]
    HttpClient(#[source] reqwest::Error),
}

/// A file that could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct FileError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl FileError {
    /// Tags an I/O error with its file.
    pub fn at(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> FileError {
        let path = path.into();
        move |source| FileError { path, source }
    }
}

/// A users file (`portcullis user add`) that cannot be used, or a user that cannot be added.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("cannot read {0}")]
    Unreadable(#[source] FileError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{}: {}", path.display(), source.message())]
    Syntax {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("{}: user {user:?}: {problem}", path.display())]
    BadHash {
        path: PathBuf,
        user: String,
        problem: String,
    },
    #[error("{}: user {user:?} is listed twice", path.display())]
    Twice { path: PathBuf, user: String },
    #[error("user {0:?} exists (use --replace)")]
    Exists(String),
    #[error("the name must be non-empty, without control characters")]
    BadName,
    #[error("the password must have at least 12 characters")]
    ShortPassword,
    #[error("cannot hash the password: {0}")]
    Hashing(String),
    #[error("cannot write the users file: {0}")]
    Serialize(#[source] toml::ser::Error),
}
