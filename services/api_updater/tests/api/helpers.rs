use std::sync::Arc;

use api_updater::providers::{ProviderConfig, ProviderKind};
use api_updater::{Settings, TickOutcome, Updater};
use common::http::ServiceHandle;
use common::testing::{self, TEST_TOKEN};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A real api_cache_proxy (own Redis prefix) and an api_updater without its loop.
pub struct Stack {
    /// api_updater's base URL.
    pub address: String,
    pub cache_url: String,
    pub updater: Arc<Updater>,
    pub client: reqwest::Client,
    redis: common::redis::Redis,
    record_key: String,
    _cache: ServiceHandle,
    _updater: ServiceHandle,
}

/// A settings skeleton for tests: test token, reporting off, any port.
pub fn settings(providers: Vec<ProviderConfig>) -> Settings {
    Settings {
        providers,
        ..api_updater::testing::settings()
    }
}

/// Starts the cache proxy; returns its handle, its Redis key and a connection to inspect it.
pub async fn spawn_cache() -> (ServiceHandle, String, common::redis::Redis) {
    testing::init_tracing();
    let cache = api_cache_proxy::testing::settings();
    let key = api_cache_proxy::storage::record_key(&cache.redis.key_prefix);
    let redis = common::redis::connect(&cache.redis).unwrap();
    (api_cache_proxy::build(cache).await.unwrap(), key, redis)
}

pub async fn spawn_stack(providers: Vec<ProviderConfig>) -> Stack {
    spawn_stack_with(providers, |_| {}).await
}

pub async fn spawn_stack_with(providers: Vec<ProviderConfig>, tweak: impl FnOnce(&mut Settings)) -> Stack {
    let (cache, record_key, redis) = spawn_cache().await;
    let mut s = settings(providers);
    s.cache_proxy_url = cache.url();
    tweak(&mut s);
    let (handle, updater) = api_updater::build_without_loop(s).await.unwrap();
    Stack {
        address: handle.url(),
        cache_url: cache.url(),
        updater,
        client: common::testing::client(),
        redis,
        record_key,
        _cache: cache,
        _updater: handle,
    }
}

impl Stack {
    /// The record the cache proxy serves now, or `None` on 404.
    pub async fn cached(&self) -> Option<Value> {
        let res = self
            .client
            .get(format!("{}/record", self.cache_url))
            .send()
            .await
            .unwrap();
        match res.status() {
            StatusCode::OK => Some(res.json().await.unwrap()),
            StatusCode::NOT_FOUND => None,
            other => panic!("GET /record answered {other}"),
        }
    }

    /// Redis `TTL` of the record key (-2 when absent).
    pub async fn key_ttl(&self) -> i64 {
        let mut conn = self.redis.clone();
        redis::cmd("TTL")
            .arg(&self.record_key)
            .query_async(&mut conn)
            .await
            .unwrap()
    }

    /// Stores `record` in the cache directly, as another updater would.
    pub async fn put_directly(&self, record: &Value, ttl: u64) {
        let res = self
            .client
            .post(format!("{}/add?ttl={ttl}", self.cache_url))
            .bearer_auth(TEST_TOKEN)
            .json(record)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }

    pub async fn status(&self) -> Value {
        let res = self
            .client
            .get(format!("{}/status", self.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }
}

/// A mock price API answering in CoinGecko's format.
pub struct PriceApi {
    pub server: MockServer,
}

impl PriceApi {
    pub async fn start() -> Self {
        Self {
            server: MockServer::start().await,
        }
    }

    /// A CoinGecko provider pointed at this mock.
    pub fn coingecko(&self) -> ProviderConfig {
        self.provider(ProviderKind::CoinGecko)
    }

    pub fn provider(&self, kind: ProviderKind) -> ProviderConfig {
        ProviderConfig {
            kind,
            base_url: self.server.uri(),
        }
    }

    /// Answers every CoinGecko price request with these prices (JSON numbers, as CoinGecko does).
    pub async fn prices(&self, eur: &str, gbp: &str, usd: &str) {
        self.server.reset().await;
        Mock::given(method("GET"))
            .and(path("/api/v3/simple/price"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(
                format!(r#"{{"bitcoin":{{"eur":{eur},"gbp":{gbp},"usd":{usd}}}}}"#),
                "application/json",
            ))
            .mount(&self.server)
            .await;
    }

    /// Answers everything with `status`.
    pub async fn fail(&self, status: u16) {
        self.server.reset().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(status))
            .mount(&self.server)
            .await;
    }
}

/// A price record body as a caller of the cache proxy sends it.
pub fn record_json(eur: &str, at: chrono::DateTime<chrono::Utc>) -> Value {
    json!({
        "rates": {"EUR": eur, "GBP": "51000", "USD": "65000"},
        "source": "kraken",
        "fetched_at": at,
        "simulated": false,
    })
}

/// The stored record of a `Stored` outcome.
pub fn stored(outcome: TickOutcome) -> common::models::PriceRecord {
    match outcome {
        TickOutcome::Stored { record, .. } => record,
        other => panic!("expected stored, got {other:?}"),
    }
}
