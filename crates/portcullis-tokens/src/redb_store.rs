//! The default store: one embedded `redb` database file. Writes are durable when they return
//! (redb commits with fsync), so a restart loses nothing; reads are memory-mapped and cheap.

use super::store::{Space, Store, StoreError};
use async_trait::async_trait;
use redb::{Database, ReadableDatabase, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::Arc;

type Table = TableDefinition<'static, &'static str, &'static [u8]>;

const TOKENS: Table = TableDefinition::new("tokens");
const DEVICES: Table = TableDefinition::new("devices");
const IDENTITIES: Table = TableDefinition::new("identities");
const REFRESH: Table = TableDefinition::new("refresh");
const GRANTS: Table = TableDefinition::new("grants");
const SESSIONS: Table = TableDefinition::new("sessions");
const CODES: Table = TableDefinition::new("codes");

fn table(space: Space) -> Table {
    match space {
        Space::Tokens => TOKENS,
        Space::Devices => DEVICES,
        Space::Identities => IDENTITIES,
        Space::Refresh => REFRESH,
        Space::Grants => GRANTS,
        Space::Sessions => SESSIONS,
        Space::Codes => CODES,
    }
}

/// Prefixes a value with its expiry (8 bytes, big-endian) for stores without native expiry.
fn with_expiry(value: &[u8], expires_at: u64) -> Vec<u8> {
    let mut stored = Vec::with_capacity(8 + value.len());
    stored.extend_from_slice(&expires_at.to_be_bytes());
    stored.extend_from_slice(value);
    stored
}

/// The value of a stored entry if it has not expired at `now`.
fn unless_expired(stored: &[u8], now: u64) -> Option<Vec<u8>> {
    let (expiry, value) = stored.split_at_checked(8)?;
    let expires_at = u64::from_be_bytes(expiry.try_into().ok()?);
    (now < expires_at).then(|| value.to_vec())
}

fn failed(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

pub struct RedbStore {
    db: Arc<Database>,
    path: PathBuf,
}

impl RedbStore {
    /// Opens (or creates) the database file, creating its directory and every table. Fails when
    /// another process holds the file (redb locks it).
    pub fn open(path: &Path) -> Result<RedbStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| failed(format!("{}: {e}", dir.display())))?;
        }
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError(format!(
                "{} is open in another process (a running gateway?)",
                path.display()
            )),
            other => failed(format!("{}: {other}", path.display())),
        })?;
        let txn = db.begin_write().map_err(failed)?;
        for space in Space::ALL {
            txn.open_table(table(space)).map_err(failed)?;
        }
        txn.commit().map_err(failed)?;
        Ok(RedbStore {
            db: Arc::new(db),
            path: path.to_path_buf(),
        })
    }

    fn read(&self, space: Space, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(failed)?;
        let table = txn.open_table(table(space)).map_err(failed)?;
        let stored = table.get(key).map_err(failed)?;
        Ok(stored.and_then(|v| unless_expired(v.value(), portcullis_core::principal::now_unix())))
    }

    /// Runs a write transaction on the blocking pool (commits fsync) and returns `f`'s result.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_write().map_err(failed)?;
            let result = f(&txn)?;
            txn.commit().map_err(failed)?;
            Ok(result)
        })
        .await
        .map_err(failed)?
    }
}

#[async_trait]
impl Store for RedbStore {
    async fn get(&self, space: Space, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(space, key)
    }

    async fn replace(
        &self,
        space: Space,
        key: &str,
        value: &[u8],
        expires_at: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_string();
        let stored = with_expiry(value, expires_at);
        self.write(move |txn| {
            let mut table = txn.open_table(table(space)).map_err(failed)?;
            let old = table
                .insert(key.as_str(), stored.as_slice())
                .map_err(failed)?;
            Ok(old.and_then(|v| unless_expired(v.value(), portcullis_core::principal::now_unix())))
        })
        .await
    }

    async fn purge_expired(&self) -> Result<usize, StoreError> {
        self.write(|txn| {
            let now = portcullis_core::principal::now_unix();
            let mut purged = 0;
            for space in Space::ALL {
                let mut table = txn.open_table(table(space)).map_err(failed)?;
                table
                    .retain(|_, v| {
                        let live = unless_expired(v, now).is_some();
                        purged += usize::from(!live);
                        live
                    })
                    .map_err(failed)?;
            }
            Ok(purged)
        })
        .await
    }

    fn describe(&self) -> String {
        format!("redb {}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_prefix_round_trips_and_expires() {
        let stored = with_expiry(b"{}", 100);
        assert_eq!(unless_expired(&stored, 99).as_deref(), Some(&b"{}"[..]));
        assert_eq!(unless_expired(&stored, 100), None);
        assert_eq!(unless_expired(b"short", 0), None);
    }

    #[tokio::test]
    async fn values_survive_reopening_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/tokens.redb");
        let far = portcullis_core::principal::now_unix() + 3600;
        {
            let store = RedbStore::open(&path).unwrap();
            store.put(Space::Tokens, "a", b"1", far).await.unwrap();
            store.put(Space::Tokens, "old", b"x", 1).await.unwrap();
            let previous = store.replace(Space::Tokens, "a", b"2", far).await.unwrap();
            assert_eq!(previous.as_deref(), Some(&b"1"[..]));
            assert!(
                matches!(RedbStore::open(&path), Err(StoreError(m)) if m.contains("another process"))
            );
        }
        let store = RedbStore::open(&path).unwrap();
        assert_eq!(
            store.get(Space::Tokens, "a").await.unwrap().as_deref(),
            Some(&b"2"[..])
        );
        assert_eq!(store.get(Space::Tokens, "old").await.unwrap(), None);
        assert_eq!(store.get(Space::Devices, "a").await.unwrap(), None);
        assert_eq!(store.purge_expired().await.unwrap(), 1);
    }
}
