//! Idempotency keys in flight. A second request with a key whose first request
//! is still being handled gets 409 (the IETF draft's answer) instead of waiting.
//! The mark lives in Redis so that replicas agree. It is not what makes orders
//! unique — db_proxy stores the key with the order in the same transaction —
//! so a mark lost to a crash or an expiry can never cause a second order.

use std::time::Duration;

use common::Problem;
use common::rate_limit::ClientId;
use common::redis::Redis;
use sha2::{Digest, Sha256};

/// Deletes the mark only if it is still ours (it may have expired and been
/// taken by a later request).
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// The Redis key marking `key` of `client` in flight, under `prefix`. The key is
/// hashed: clients choose it, and Redis keys should stay short and printable.
pub fn in_flight_key(prefix: &str, client: &ClientId, key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{prefix}create_buy_order:in_flight:{}:{hex}", client.0)
}

/// Marks keys in flight.
#[derive(Clone)]
pub struct InFlight {
    redis: Redis,
    prefix: String,
    hold: Duration,
    release: redis::Script,
}

/// A mark this request holds; give it back with [`InFlight::release`]. If the
/// request is dropped first (its client went away), the mark is released in
/// the background so that the client's retry is not refused for `hold`.
pub struct Held {
    owner: Option<InFlight>,
    redis_key: String,
    token: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(owner) = self.owner.take() {
            let (key, token) = (
                std::mem::take(&mut self.redis_key),
                std::mem::take(&mut self.token),
            );
            tokio::spawn(async move { owner.unmark(&key, &token).await });
        }
    }
}

impl InFlight {
    /// Marks expire after `hold` even if never released.
    pub fn new(redis: Redis, prefix: &str, hold: Duration) -> Self {
        Self {
            redis,
            prefix: prefix.to_string(),
            hold,
            release: redis::Script::new(RELEASE),
        }
    }

    /// Marks the key; 409 when another request holds it, 503 when Redis is away.
    pub async fn acquire(&self, client: &ClientId, key: &str) -> Result<Held, Problem> {
        let held = Held {
            owner: Some(self.clone()),
            redis_key: in_flight_key(&self.prefix, client, key),
            token: uuid::Uuid::new_v4().simple().to_string(),
        };
        let millis = u64::try_from(self.hold.as_millis()).unwrap_or(u64::MAX);
        let set: Option<String> = redis::cmd("SET")
            .arg(&held.redis_key)
            .arg(&held.token)
            .arg("NX")
            .arg("PX")
            .arg(millis)
            .query_async(&mut self.redis.clone())
            .await
            .map_err(|e| redis_down(&e))?;
        match set {
            Some(_) => Ok(held),
            None => Err(crate::problems::Code::IdempotencyRequestInFlight.problem("a request with this idempotency key is still being processed; retry when it has finished",
            )
            .retry_after(1)),
        }
    }

    /// Gives the mark back, before the answer goes out, so that the client's
    /// next request with the key sees it free.
    pub async fn release(&self, mut held: Held) {
        held.owner = None;
        self.unmark(&held.redis_key, &held.token).await;
    }

    /// Best effort: if Redis is away, the mark expires by itself.
    async fn unmark(&self, redis_key: &str, token: &str) {
        let result = self
            .release
            .key(redis_key)
            .arg(token)
            .invoke_async::<i64>(&mut self.redis.clone())
            .await;
        if let Err(error) = result {
            tracing::warn!(%error, "could not release an in-flight idempotency key; it will expire");
        }
    }
}

fn redis_down(e: &dyn std::fmt::Display) -> Problem {
    tracing::warn!(error = %e, "redis unavailable for idempotency");
    Problem::unavailable("redis")
}
