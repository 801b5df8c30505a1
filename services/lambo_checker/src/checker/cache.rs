//! The Redis caches: answers (keyed by question and data version, so a refresh of
//! the stored history makes every older answer unreachable at once) and the price
//! routes' documents. Redis down means answering without them, never failing.
//! In front of Redis, each process keeps the answers it saw for a few seconds
//! (`local_cache_millis`): a hot question costs no round trip.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    local: Arc<Local>,
}

/// Answers this process saw lately, by question key.
struct Local {
    ttl: Duration,
    answers: Mutex<HashMap<String, (Instant, String)>>,
}

/// A bound on the process's answers, so many different questions cannot grow
/// it without limit (it is emptied when full; the entries live seconds anyway).
const LOCAL_MAX: usize = 10_000;

impl Local {
    fn get(&self, key: &str) -> Option<String> {
        if self.ttl.is_zero() {
            return None;
        }
        let answers = self.answers.lock().ok()?;
        let (at, body) = answers.get(key)?;
        (at.elapsed() < self.ttl).then(|| body.clone())
    }

    fn put(&self, key: &str, body: &str) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut answers) = self.answers.lock() {
            if answers.len() >= LOCAL_MAX {
                answers.clear();
            }
            answers.insert(key.to_string(), (Instant::now(), body.to_string()));
        }
    }

    fn clear(&self) {
        if let Ok(mut answers) = self.answers.lock() {
            answers.clear();
        }
    }
}

/// What the answer cache holds for a question: the data version read with it (to
/// store a computed answer under), and the answer if one is cached.
pub struct Lookup {
    pub version: String,
    pub body: Option<String>,
}

impl Cache {
    /// `local_ttl`: how long this process keeps an answer it saw (zero: not at all).
    pub fn new(redis: Redis, prefix: String, local_ttl: Duration) -> Self {
        Self {
            redis,
            prefix,
            local: Arc::new(Local {
                ttl: local_ttl,
                answers: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn version_key(&self) -> String {
        format!("{}lambo:data_version", self.prefix)
    }

    /// The cached answer to the question keyed `key`, from this process when it saw
    /// it lately, else from Redis; `None` when Redis is unavailable.
    pub async fn answer(&self, key: &str) -> Option<Lookup> {
        if let Some(body) = self.local.get(key) {
            return Some(Lookup {
                version: String::new(),
                body: Some(body),
            });
        }
        let res: Result<Vec<Option<String>>, _> = redis::Script::new(ANSWER_GET)
            .key(self.version_key())
            .arg(format!("{}lambo:r:", self.prefix))
            .arg(key)
            .invoke_async(&mut self.redis.clone())
            .await;
        match res {
            Ok(v) => {
                let mut v = v.into_iter();
                let lookup = Lookup {
                    version: v.next().flatten().unwrap_or_else(|| "0".into()),
                    body: v.next().flatten(),
                };
                if let Some(body) = &lookup.body {
                    self.local.put(key, body);
                }
                Some(lookup)
            }
            Err(e) => {
                tracing::warn!(error = %e, "result cache unavailable; answering without it");
                None
            }
        }
    }

    /// Caches an answer under the data version it was computed with.
    pub async fn put_answer(&self, version: &str, key: &str, body: &str, ttl_secs: u64) {
        self.local.put(key, body);
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
        // This process's answers go at once; other replicas' within their local TTL.
        self.local.clear();
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
