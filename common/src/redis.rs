//! Redis pools (`deadpool-redis`).

use deadpool_redis::{Config, Pool, Runtime};

use crate::config::RedisSettings;

/// A pool; connections are made lazily, so this succeeds while Redis is down.
pub fn pool(settings: &RedisSettings) -> anyhow::Result<Pool> {
    let mut cfg = Config::from_url(settings.url.clone());
    cfg.pool = Some(deadpool_redis::PoolConfig {
        max_size: settings.pool_size,
        timeouts: deadpool_redis::Timeouts {
            wait: Some(std::time::Duration::from_secs(2)),
            create: Some(std::time::Duration::from_secs(1)),
            recycle: Some(std::time::Duration::from_secs(1)),
        },
        ..Default::default()
    });
    Ok(cfg.create_pool(Some(Runtime::Tokio1))?)
}

/// `PING`.
pub async fn ping(pool: &Pool) -> anyhow::Result<()> {
    let mut conn = pool.get().await?;
    let _: String = deadpool_redis::redis::cmd("PING").query_async(&mut conn).await?;
    Ok(())
}
