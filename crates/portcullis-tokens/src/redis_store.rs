//! Shared state for several gateway instances: Redis (6.2 or later, for `SET … EXAT … GET`).
//! Each operation has a deadline; when Redis is down, operations fail fast with [`StoreError`]
//! (503 to the client) and the connection is re-established on a later request.

use super::store::{Space, Store, StoreError};
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;
use tokio::sync::Mutex;

pub struct RedisStore {
    client: redis::Client,
    prefix: String,
    timeout: Duration,
    connection: Mutex<Option<ConnectionManager>>,
}

fn failed(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

impl RedisStore {
    /// Checks the URL; connects on first use, so a gateway can start while Redis is down.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(url).map_err(failed)?;
        Ok(RedisStore {
            client,
            prefix: prefix.to_string(),
            timeout,
            connection: Mutex::new(None),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        let connection = tokio::time::timeout(
            self.timeout,
            self.client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| StoreError("redis connect timed out".into()))?
        .map_err(failed)?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    fn key(&self, space: Space, key: &str) -> String {
        format!("{}{}:{key}", self.prefix, space.name())
    }

    async fn run<T: redis::FromRedisValue>(&self, command: redis::Cmd) -> Result<T, StoreError> {
        let mut connection = self.connection().await?;
        tokio::time::timeout(self.timeout, command.query_async(&mut connection))
            .await
            .map_err(|_| StoreError("redis timed out".into()))?
            .map_err(failed)
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn get(&self, space: Space, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.run(redis::cmd("GET").arg(self.key(space, key)).clone())
            .await
    }

    async fn replace(
        &self,
        space: Space,
        key: &str,
        value: &[u8],
        expires_at: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let mut command = redis::cmd("SET");
        command
            .arg(self.key(space, key))
            .arg(value)
            .arg("EXAT")
            .arg(expires_at.max(1))
            .arg("GET");
        self.run(command).await
    }

    fn describe(&self) -> String {
        let info = self.client.get_connection_info();
        format!("redis {}", info.addr())
    }
}
