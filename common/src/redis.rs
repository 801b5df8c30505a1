//! Redis: one multiplexed, self-reconnecting connection per service
//! (`redis::aio::ConnectionManager`), shared by every request. A pool
//! (deadpool-redis) would cost an extra `PING` round trip at every checkout;
//! one multiplexed connection pipelines concurrent commands instead.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::RedisSettings;

/// A handle to the service's Redis connection. Cheap to clone; clone it to send
/// a command (`&mut` is needed for that, not for sharing).
pub type Redis = ConnectionManager;

/// Connects lazily: this succeeds while Redis is down, commands fail fast until
/// it is back, and the connection is remade after an error by itself. Call it
/// inside the Tokio runtime that should drive the connection.
pub fn connect(settings: &RedisSettings) -> anyhow::Result<Redis> {
    let client = redis::Client::open(settings.url.as_str())
        .map_err(|e| anyhow::anyhow!("redis url {:?} is not valid: {e}", settings.url))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        // Few, quick retries: while Redis is away a request should get its 503 fast;
        // the next command after a failure tries again.
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(500));
    Ok(ConnectionManager::new_lazy_with_config(client, config)?)
}

/// `PING`.
pub async fn ping(redis: &Redis) -> anyhow::Result<()> {
    let _: String = redis::cmd("PING").query_async(&mut redis.clone()).await?;
    Ok(())
}
