//! Redis: multiplexed, self-reconnecting connections
//! (`redis::aio::ConnectionManager`), one per service and runtime thread, shared
//! by every request on that thread. A pool (deadpool-redis) would cost an extra
//! `PING` round trip at every checkout; a multiplexed connection pipelines
//! concurrent commands instead. Per thread, because a connection's driver task
//! lives on the runtime that opened it: shared across actix's worker threads,
//! every command crossed threads twice (a sixth of a page request's CPU).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, Pipeline, RedisFuture, Value};

use crate::config::RedisSettings;

/// A handle to the service's Redis. Cheap to clone; clone it to send a command
/// (`&mut` is needed for that, not for sharing): it implements
/// [`ConnectionLike`], so `query_async(&mut redis)` works as on a connection.
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    id: u64,
    client: redis::Client,
    config: ConnectionManagerConfig,
    /// Commands that did not reach Redis (refused, dropped, timed out).
    errors: prometheus_client::metrics::counter::Counter,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis").field("id", &self.inner.id).finish()
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's connection of each [`Redis`], by its id.
    static LOCAL: RefCell<HashMap<u64, ConnectionManager>> = RefCell::new(HashMap::new());
}

impl Redis {
    /// This thread's connection, made on first use (lazily: it connects with
    /// the first command, on this thread's runtime).
    fn local(&self) -> redis::RedisResult<ConnectionManager> {
        LOCAL.with(|map| {
            if let Some(conn) = map.borrow().get(&self.inner.id) {
                return Ok(conn.clone());
            }
            let conn = ConnectionManager::new_lazy_with_config(
                self.inner.client.clone(),
                self.inner.config.clone(),
            )?;
            map.borrow_mut().insert(self.inner.id, conn.clone());
            Ok(conn)
        })
    }
}

impl Redis {
    /// The counter of commands that did not reach Redis (for `/metrics`).
    pub fn errors(&self) -> prometheus_client::metrics::counter::Counter {
        self.inner.errors.clone()
    }

    fn count<T>(&self, result: redis::RedisResult<T>) -> redis::RedisResult<T> {
        if let Err(e) = &result
            && (e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal())
        {
            self.inner.errors.inc();
        }
        result
    }
}

impl ConnectionLike for Redis {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let conn = self.local();
        Box::pin(async move {
            let result = match conn {
                Ok(mut c) => c.req_packed_command(cmd).await,
                Err(e) => Err(e),
            };
            self.count(result)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let conn = self.local();
        Box::pin(async move {
            let result = match conn {
                Ok(mut c) => c.req_packed_commands(cmd, offset, count).await,
                Err(e) => Err(e),
            };
            self.count(result)
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.client.get_connection_info().redis_settings().db()
    }
}

/// Connects lazily: this succeeds while Redis is down, commands fail fast until
/// it is back, and a connection is remade after an error by itself.
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
    Ok(Redis {
        inner: Arc::new(Inner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            client,
            config,
            errors: prometheus_client::metrics::counter::Counter::default(),
        }),
    })
}

/// `PING`.
pub async fn ping(redis: &Redis) -> anyhow::Result<()> {
    let _: String = redis::cmd("PING").query_async(&mut redis.clone()).await?;
    Ok(())
}
