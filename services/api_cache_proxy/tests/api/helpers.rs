use api_cache_proxy::Settings;
use chrono::{DateTime, SecondsFormat, Utc};
use common::testing::{self, TEST_TOKEN};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    /// A connection to the real Redis (never through a test proxy), to inspect keys.
    pub redis: common::redis::Redis,
    _handle: common::http::ServiceHandle,
}

/// api_cache_proxy on a free port with a Redis key prefix of its own.
pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    testing::init_tracing();
    let mut settings = api_cache_proxy::testing::settings();
    let redis = common::redis::connect(&settings.redis).unwrap();
    tweak(&mut settings);
    let handle = api_cache_proxy::build(settings.clone()).await.unwrap();
    TestApp {
        address: handle.url(),
        client: common::testing::client(),
        settings,
        redis,
        _handle: handle,
    }
}

/// A record body with the given EUR price, fetched at `at`.
pub fn record(eur: &str, at: DateTime<Utc>) -> Value {
    json!({
        "rates": {"EUR": eur, "GBP": "52345.1", "USD": "66543.21"},
        "source": "coinbase",
        "fetched_at": at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        "simulated": false,
    })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get_record(&self) -> reqwest::Response {
        self.client.get(self.url("/record")).send().await.unwrap()
    }

    /// `POST /add` with the token; `ttl` is sent as given when present.
    pub async fn add(&self, body: &Value, ttl: Option<&str>) -> reqwest::Response {
        let mut rb = self
            .client
            .post(self.url("/add"))
            .bearer_auth(TEST_TOKEN)
            .json(body);
        if let Some(ttl) = ttl {
            rb = rb.query(&[("ttl", ttl)]);
        }
        rb.send().await.unwrap()
    }

    /// Adds and asserts 201.
    pub async fn add_ok(&self, body: &Value, ttl: Option<&str>) {
        let res = self.add(body, ttl).await;
        let status = res.status();
        assert_eq!(status, StatusCode::CREATED, "{}", res.text().await.unwrap());
    }

    /// The stored record, asserting 200.
    pub async fn stored(&self) -> Value {
        let res = self.get_record().await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    /// Redis `TTL` of the record key, in seconds (-2 when absent).
    pub async fn key_ttl(&self) -> i64 {
        let key = api_cache_proxy::storage::record_key(&self.settings.redis.key_prefix);
        let mut conn = self.redis.clone();
        redis::cmd("TTL").arg(&key).query_async(&mut conn).await.unwrap()
    }
}

pub use common::testing::assert_problem;
