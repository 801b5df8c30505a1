//! The price record in Redis: every Redis command of the service is here.

use chrono::{DateTime, SecondsFormat, Utc};
use common::models::PriceRecord;
use common::redis::Redis;

/// Compare-and-set in one step, so two racing writers cannot interleave a read and a
/// write. Timestamps are fixed-width RFC 3339 (`...T12:00:00.000000000Z`), so byte
/// order is time order; bytes are compared one by one because Lua's `<` on strings
/// follows the server's collation locale.
const SET_UNLESS_NEWER_STORED: &str = r"
local current = redis.call('GET', KEYS[1])
if current then
  local ok, doc = pcall(cjson.decode, current)
  if ok and type(doc) == 'table' and type(doc.fetched_at) == 'string' then
    local stored, new = doc.fetched_at, ARGV[2]
    if #stored == #new then
      for i = 1, #new do
        local s, n = string.byte(stored, i), string.byte(new, i)
        if s > n then return {'stale', stored} end
        if s < n then break end
      end
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return {'stored'}
";

/// The Redis key of the latest record under `prefix`.
pub fn record_key(prefix: &str) -> String {
    format!("{prefix}btc_price:latest")
}

/// `fetched_at` in the fixed-width form the script compares.
pub fn canonical_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis is unreachable or failed the command.
    #[error("redis: {0}")]
    Redis(String),
    /// The stored value is not a price record (written by something else).
    #[error("stored value is not a price record: {0}")]
    Corrupt(#[from] serde_json::Error),
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        StoreError::Redis(e.to_string())
    }
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Put {
    /// The record is now the latest, with the requested TTL.
    Stored,
    /// A newer record is stored; nothing changed.
    Stale {
        /// `fetched_at` of the record kept.
        stored_fetched_at: String,
    },
}

/// The latest price record in Redis.
#[derive(Clone)]
pub struct RecordStore {
    redis: Redis,
    key: String,
    script: redis::Script,
}

impl RecordStore {
    /// A store using `redis`, with keys under `prefix`.
    pub fn new(redis: Redis, prefix: &str) -> Self {
        Self {
            redis,
            key: record_key(prefix),
            script: redis::Script::new(SET_UNLESS_NEWER_STORED),
        }
    }

    /// The latest record; `None` when none is stored or it expired.
    #[tracing::instrument(skip_all)]
    pub async fn latest(&self) -> Result<Option<PriceRecord>, StoreError> {
        let raw: Option<String> = redis::cmd("GET")
            .arg(&self.key)
            .query_async(&mut self.redis.clone())
            .await?;
        Ok(raw.map(|r| serde_json::from_str(&r)).transpose()?)
    }

    /// Stores `record` for `ttl_secs` unless a newer one is stored.
    #[tracing::instrument(skip_all, fields(source = %record.source, fetched_at = %record.fetched_at, ttl_secs = ttl_secs))]
    pub async fn put(&self, record: &PriceRecord, ttl_secs: u64) -> Result<Put, StoreError> {
        let fetched_at = canonical_time(record.fetched_at);
        let mut doc = serde_json::to_value(record)?;
        doc["fetched_at"] = serde_json::Value::String(fetched_at.clone());
        let reply: Vec<String> = self
            .script
            .key(&self.key)
            .arg(doc.to_string())
            .arg(&fetched_at)
            .arg(ttl_secs)
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(match reply.as_slice() {
            [stale, stored] if stale == "stale" => Put::Stale {
                stored_fetched_at: stored.clone(),
            },
            _ => Put::Stored,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn canonical_times_are_fixed_width_so_byte_order_is_time_order() {
        let times = [
            Utc.timestamp_opt(0, 0).single(),
            Utc.timestamp_opt(1_700_000_000, 0).single(),
            Utc.timestamp_opt(1_700_000_000, 5).single(),
            Utc.timestamp_opt(1_700_000_000, 500_000_000).single(),
            Utc.timestamp_opt(1_700_000_001, 0).single(),
        ];
        let texts: Vec<String> = times.iter().flatten().map(|t| canonical_time(*t)).collect();
        assert_eq!(texts.len(), 5);
        assert!(texts.iter().all(|t| t.len() == texts[0].len()), "{texts:?}");
        assert!(texts.windows(2).all(|w| w[0] < w[1]), "{texts:?}");
    }
}
