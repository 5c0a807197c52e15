//! The token service's signing keys: generated here, saved in their own file (mode 0600), and
//! rotated. A rotated-out key stays published (JWKS) and accepted until every token it signed
//! has expired.
//!
//! The keys live in a file rather than in the store so that `portcullis token mint` can sign
//! while a gateway holds the redb database, and so that every instance of a Redis deployment
//! signs with keys the others know (point them at the same file).

use super::error::{FileError, OpenError};
use arc_swap::ArcSwap;
use jsonwebtoken::Algorithm;
use portcullis_engine::signing::{SavedKey, SigningKey};
use portcullis_engine::verify::keys::{key_from_jwk_value, KeyError, KeySet};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Serialize, Deserialize)]
struct StoredKey {
    #[serde(flatten)]
    key: SavedKey,
    created_at: u64,
    /// Set when a newer key took over: published and accepted until then.
    retire_at: Option<u64>,
}

#[derive(Serialize, Deserialize, Default)]
struct KeyFile {
    keys: Vec<StoredKey>,
}

/// What verification and signing read, swapped whole on rotation.
pub struct Ring {
    /// The newest key: signs everything.
    pub current: SigningKey,
    /// Every key still accepted, newest first.
    pub published: Vec<SigningKey>,
    pub verify: Arc<KeySet>,
}

pub struct KeyRing {
    path: PathBuf,
    alg: Algorithm,
    ring: ArcSwap<Ring>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("path", &self.path)
            .field("kid", &self.current().current.kid)
            .finish()
    }
}

fn new_kid(now: u64) -> String {
    let random: u32 = rand::random();
    format!("pc-{now}-{random:08x}")
}

fn read_file(path: &Path) -> Result<KeyFile, OpenError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| OpenError::KeyFile {
            path: path.to_path_buf(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(KeyFile::default()),
        Err(e) => Err(FileError::at(path)(e).into()),
    }
}

/// Writes the file atomically, readable by the owner only.
fn write_file(path: &Path, file: &KeyFile) -> Result<(), OpenError> {
    let bytes = serde_json::to_vec_pretty(file).expect("keys serialize");
    Ok(super::private_file::write(path, &bytes)?)
}

fn build_ring(file: &KeyFile, now: u64) -> Result<Ring, OpenError> {
    let published = live_keys(file, now)
        .map(|stored| {
            SigningKey::load(&stored.key).map_err(|source| OpenError::Key {
                kid: stored.key.kid.clone(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let current = published.first().cloned().ok_or(OpenError::NoSigningKey)?;
    let mut verify = Vec::new();
    for key in &published {
        let loaded = key_from_jwk_value(&key.jwk, key.alg).map_err(|r| OpenError::Key {
            kid: key.kid.clone(),
            source: KeyError::Rejected(r),
        })?;
        verify.push(loaded);
    }
    Ok(Ring {
        current,
        published,
        verify: Arc::new(KeySet::new(verify)),
    })
}

/// Reads the key file and rotates it when the newest key is older than `rotate_after`
/// seconds (or of another algorithm): every current key gets a retirement time
/// `retire_after` from now, a new key is added and the file rewritten. Returns the file and
/// whether it rotated.
fn read_rotating(
    path: &Path,
    alg: Algorithm,
    rotate_after: u64,
    retire_after: u64,
    now: u64,
) -> Result<(KeyFile, bool), OpenError> {
    let mut file = read_file(path)?;
    let due = file.keys.last().is_none_or(|newest| {
        now.saturating_sub(newest.created_at) >= rotate_after
            || newest.key.alg != format!("{alg:?}")
    });
    if due {
        for old in file.keys.iter_mut().filter(|k| k.retire_at.is_none()) {
            old.retire_at = Some(now + retire_after);
        }
        file.keys.retain(|k| k.retire_at.is_none_or(|at| at > now));
        let key = SigningKey::generate(alg, &new_kid(now));
        file.keys.push(StoredKey {
            key: key.save(),
            created_at: now,
            retire_at: None,
        });
        write_file(path, &file)?;
    }
    Ok((file, due))
}

/// The keys of `file` still published at `now`, newest first.
fn live_keys(file: &KeyFile, now: u64) -> impl Iterator<Item = &StoredKey> {
    file.keys
        .iter()
        .rev()
        .filter(move |k| k.retire_at.is_none_or(|at| at > now))
}

impl KeyRing {
    /// Loads the key file, creating a first key when there is none and rotating when the newest
    /// is older than `rotate_after` seconds. `retire_after`: how long a rotated-out key stays
    /// (the longest lifetime of a token it may have signed).
    pub fn open(
        path: &Path,
        alg: Algorithm,
        rotate_after: u64,
        retire_after: u64,
    ) -> Result<KeyRing, OpenError> {
        let now = portcullis_core::principal::now_unix();
        let (file, _) = read_rotating(path, alg, rotate_after, retire_after, now)?;
        Ok(KeyRing {
            path: path.to_path_buf(),
            alg,
            ring: ArcSwap::from_pointee(build_ring(&file, now)?),
        })
    }

    /// Loads the key file without ever writing it (for `token mint`).
    pub fn read_only(path: &Path) -> Result<Ring, OpenError> {
        build_ring(&read_file(path)?, portcullis_core::principal::now_unix())
    }

    pub fn current(&self) -> Arc<Ring> {
        self.ring.load_full()
    }

    /// Re-reads the file (another instance may have rotated) and rotates when due. The keys
    /// are parsed again only when the set of live keys changed.
    pub fn rotate_if_due(
        &self,
        rotate_after: u64,
        retire_after: u64,
        now: u64,
    ) -> Result<bool, OpenError> {
        let (file, rotated) = read_rotating(&self.path, self.alg, rotate_after, retire_after, now)?;
        let current = self.current();
        let published = current.published.iter().map(|k| k.kid.as_str());
        if !live_keys(&file, now)
            .map(|k| k.key.kid.as_str())
            .eq(published)
        {
            self.ring.store(Arc::new(build_ring(&file, now)?));
        }
        Ok(rotated)
    }

    /// The public JWKS document.
    pub fn jwks(&self) -> Value {
        let ring = self.current();
        let keys: Vec<Value> = ring
            .published
            .iter()
            .map(|k| {
                let mut jwk = k.jwk.clone();
                jwk["use"] = json!("sig");
                jwk
            })
            .collect();
        json!({ "keys": keys })
    }
}

impl portcullis_engine::verify::builtin::LocalKeys for KeyRing {
    fn current_keys(&self) -> Arc<KeySet> {
        self.current().verify.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_persist_rotate_and_retire() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let ring = KeyRing::open(&path, Algorithm::ES256, 3600, 600).unwrap();
        let first = ring.current().current.kid.clone();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        // Reopening keeps the key; a due rotation adds one and keeps the old one published.
        let again = KeyRing::open(&path, Algorithm::ES256, 3600, 600).unwrap();
        assert_eq!(again.current().current.kid, first);
        let now = portcullis_core::principal::now_unix();
        assert!(again.rotate_if_due(3600, 600, now + 3600).unwrap());
        let ring = again.current();
        assert_ne!(ring.current.kid, first);
        assert_eq!(ring.published.len(), 2);
        assert!(ring.verify.contains_kid(&first));
        assert_eq!(again.jwks()["keys"].as_array().unwrap().len(), 2);

        // Past its retirement the old key is gone.
        again.rotate_if_due(7200, 600, now + 3600 + 601).unwrap();
        assert!(!again.current().verify.contains_kid(&first));
        assert_eq!(
            KeyRing::read_only(&path).unwrap().current.kid,
            ring.current.kid
        );
    }
}
