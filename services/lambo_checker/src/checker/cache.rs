//! The Redis caches: answers (keyed by question and data version, so a refresh of
//! the stored history makes every older answer unreachable at once) and the price
//! routes' documents. Redis down means answering without them, never failing.

use common::redis::Redis;

/// The Lua script reading the data version and the cached answer in one round trip.
const ANSWER_GET: &str = r"
local v = redis.call('GET', KEYS[1]) or '0'
return {v, redis.call('GET', ARGV[1] .. v .. ':' .. ARGV[2])}
";

/// The caches of one service instance. Cheap to clone.
#[derive(Clone)]
pub struct Cache {
    redis: Redis,
    /// Prefix of this service's keys (`delos:lambo_checker:`).
    prefix: String,
}

/// What the answer cache holds for a question: the data version read with it (to
/// store a computed answer under), and the answer if one is cached.
pub struct Lookup {
    pub version: String,
    pub body: Option<String>,
}

impl Cache {
    pub fn new(redis: Redis, prefix: String) -> Self {
        Self { redis, prefix }
    }

    fn version_key(&self) -> String {
        format!("{}lambo:data_version", self.prefix)
    }

    /// The cached answer to the question keyed `key`; `None` when Redis is unavailable.
    pub async fn answer(&self, key: &str) -> Option<Lookup> {
        let res: Result<Vec<Option<String>>, _> = redis::Script::new(ANSWER_GET)
            .key(self.version_key())
            .arg(format!("{}lambo:r:", self.prefix))
            .arg(key)
            .invoke_async(&mut self.redis.clone())
            .await;
        match res {
            Ok(v) => {
                let mut v = v.into_iter();
                Some(Lookup {
                    version: v.next().flatten().unwrap_or_else(|| "0".into()),
                    body: v.next().flatten(),
                })
            }
            Err(e) => {
                tracing::warn!(error = %e, "result cache unavailable; answering without it");
                None
            }
        }
    }

    /// Caches an answer under the data version it was computed with.
    pub async fn put_answer(&self, version: &str, key: &str, body: &str, ttl_secs: u64) {
        let r: Result<(), _> = redis::cmd("SET")
            .arg(format!("{}lambo:r:{version}:{key}", self.prefix))
            .arg(body)
            .arg("EX")
            .arg(ttl_secs)
            .query_async(&mut self.redis.clone())
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "cannot cache the answer");
        }
    }

    /// Marks stored data changed: cached answers of the old version are never read again.
    pub async fn bump_data_version(&self) {
        let r: Result<i64, _> = redis::cmd("INCR")
            .arg(self.version_key())
            .query_async(&mut self.redis.clone())
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "cannot bump the data version; cached answers expire by TTL");
        }
    }

    /// A cached price document (`current:BTC`, `opening:BTC`).
    pub async fn price(&self, key: &str) -> Option<serde_json::Value> {
        let r: Result<Option<String>, _> = redis::cmd("GET")
            .arg(format!("{}lambo:price:{key}", self.prefix))
            .query_async(&mut self.redis.clone())
            .await;
        r.ok().flatten().and_then(|s| serde_json::from_str(&s).ok())
    }

    /// Caches a price document, for `ttl_secs` or (`None`) for good.
    pub async fn put_price(&self, key: &str, v: &serde_json::Value, ttl_secs: Option<u64>) {
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{}lambo:price:{key}", self.prefix))
            .arg(v.to_string());
        if let Some(t) = ttl_secs {
            cmd.arg("EX").arg(t.max(1));
        }
        let r: Result<(), _> = cmd.query_async(&mut self.redis.clone()).await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "price cache unavailable");
        }
    }
}
