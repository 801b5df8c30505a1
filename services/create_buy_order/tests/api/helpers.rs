use chrono::{DateTime, Utc};
use common::http::ServiceHandle;
use common::models::Order;
use common::rate_limit::ClientId;
use common::testing::{self, TEST_TOKEN, TcpProxy};
use serde_json::{Value, json};
use sqlx::PgPool;

/// The API key tests send; it has a budget no test exhausts.
pub const API_KEY: &str = "test-key";
/// A second client with the same budget.
pub const OTHER_API_KEY: &str = "other-key";

/// create_buy_order with a real db_proxy (own database), a real api_cache_proxy
/// (own Redis prefix) and a price record stored. Every dependency of
/// create_buy_order, and db_proxy's Postgres, is reached through a TCP proxy that
/// a test can take down and bring back.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// The `orders` database, for checking what was stored.
    pub pool: PgPool,
    pub cache_url: String,
    /// The Redis key of the cache proxy's record.
    pub record_key: String,
    /// Redis as create_buy_order sees it (its key prefix, for in-flight marks).
    pub redis: common::redis::Redis,
    pub redis_prefix: String,
    pub proxies: Proxies,
    _handles: Vec<ServiceHandle>,
}

pub struct Proxies {
    pub redis: TcpProxy,
    pub db_proxy: TcpProxy,
    pub cache: TcpProxy,
    pub postgres: TcpProxy,
}

pub fn db_settings(pg_url: Option<String>) -> db_proxy::Settings {
    let mut s = db_proxy::testing::settings();
    if let Some(url) = pg_url {
        s.pg.url = url;
    }
    s
}

/// api_cache_proxy with its own Redis prefix; returns its handle and its record's Redis key.
pub async fn spawn_cache() -> (ServiceHandle, String) {
    spawn_cache_with(|_| {}).await
}

pub async fn spawn_cache_with(tweak: impl FnOnce(&mut api_cache_proxy::Settings)) -> (ServiceHandle, String) {
    let mut s = api_cache_proxy::testing::settings();
    tweak(&mut s);
    let key = api_cache_proxy::storage::record_key(&s.redis.key_prefix);
    (api_cache_proxy::build(s).await.unwrap(), key)
}

/// The client id create_buy_order derives from an API key (as the rate limiter does).
pub fn client_of(api_key: &str) -> ClientId {
    let req = actix_web::test::TestRequest::default()
        .insert_header(("x-api-key", api_key))
        .to_http_request();
    ClientId::of(&req).0
}

/// Settings of a create_buy_order in front of `db` and `cache`. Prices are not
/// reused between orders, so a test's price change applies at once.
pub fn settings(db: &str, cache: &str, redis_url: &str, prefix: &str) -> create_buy_order::Settings {
    let mut s = create_buy_order::Settings {
        redis: common::config::RedisSettings {
            url: redis_url.into(),
            key_prefix: prefix.into(),
        },
        db_proxy_url: db.into(),
        cache_proxy_url: cache.into(),
        price_cache_millis: 0,
        ..create_buy_order::testing::settings()
    };
    s.rate_limit.api_keys = vec![format!("{API_KEY}=1000000"), format!("{OTHER_API_KEY}=1000000")];
    s
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}, |_| {}).await
}

pub async fn spawn_app_with(
    tweak_db: impl FnOnce(&mut db_proxy::Settings),
    tweak: impl FnOnce(&mut create_buy_order::Settings),
) -> TestApp {
    spawn_all(tweak_db, |_| {}, tweak).await
}

/// The three services exporting their spans to `otlp_endpoint`.
pub async fn spawn_traced(otlp_endpoint: &str) -> TestApp {
    let telemetry = common::telemetry::TelemetrySettings {
        otlp_endpoint: otlp_endpoint.into(),
        otlp_flush_millis: 50,
    };
    spawn_all(
        |s| s.common.telemetry = telemetry.clone(),
        |s| s.common.telemetry = telemetry.clone(),
        |s| s.common.telemetry = telemetry.clone(),
    )
    .await
}

async fn spawn_all(
    tweak_db: impl FnOnce(&mut db_proxy::Settings),
    tweak_cache: impl FnOnce(&mut api_cache_proxy::Settings),
    tweak: impl FnOnce(&mut create_buy_order::Settings),
) -> TestApp {
    testing::init_tracing();
    let postgres = TcpProxy::start("127.0.0.1:5432").await.unwrap();
    let mut db = db_settings(Some(format!("postgres://postgres@{}", postgres.addr())));
    tweak_db(&mut db);
    // Checks read through their own pool, straight to Postgres, so they work while it is "down".
    let mut direct = db.pg.clone();
    direct.url = db_settings(None).pg.url;
    let pool = common::db::connect(&direct, &db_proxy::MIGRATOR).await.unwrap();
    let db_handle = db_proxy::build_with_pool(db.clone(), common::db::pool(&db.pg).unwrap()).unwrap();
    let (cache, record_key) = spawn_cache_with(tweak_cache).await;
    let redis = TcpProxy::start("127.0.0.1:6379").await.unwrap();
    let db_proxy = TcpProxy::start(db_handle.url().trim_start_matches("http://"))
        .await
        .unwrap();
    let cache_proxy = TcpProxy::start(cache.url().trim_start_matches("http://"))
        .await
        .unwrap();
    let prefix = testing::redis_settings().key_prefix;
    let mut s = settings(
        &format!("http://{}", db_proxy.addr()),
        &format!("http://{}", cache_proxy.addr()),
        &format!("redis://{}", redis.addr()),
        &prefix,
    );
    tweak(&mut s);
    let handle = create_buy_order::build(s).await.unwrap();
    let redis_conn = common::redis::connect(&common::config::RedisSettings::default()).unwrap();
    let app = TestApp {
        address: handle.url(),
        client: common::testing::client(),
        pool,
        cache_url: cache.url(),
        record_key,
        redis: redis_conn,
        redis_prefix: prefix,
        proxies: Proxies {
            redis,
            db_proxy,
            cache: cache_proxy,
            postgres,
        },
        _handles: vec![handle, cache, db_handle],
    };
    app.set_price("EUR", "35123.40", Utc::now()).await;
    app
}

/// A price record body with `rate` for `currency` (others 50000).
pub fn record(currency: &str, rate: &str, at: DateTime<Utc>, simulated: bool) -> Value {
    let mut rates = json!({"EUR": "50000", "GBP": "50000", "USD": "50000"});
    rates[currency] = json!(rate);
    json!({
        "rates": rates,
        "source": if simulated { "simulated" } else { "kraken" },
        "fetched_at": at,
        "simulated": simulated,
    })
}

/// Stores a price record in the cache proxy at `cache_url`.
pub async fn put_record(client: &reqwest::Client, cache_url: &str, record: &Value) {
    let res = client
        .post(format!("{cache_url}/add?ttl=600"))
        .bearer_auth(TEST_TOKEN)
        .json(record)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
}

impl TestApp {
    pub async fn set_price(&self, currency: &str, rate: &str, at: DateTime<Utc>) {
        put_record(&self.client, &self.cache_url, &record(currency, rate, at, false)).await;
    }

    /// Replaces the record with one fetched an hour ago, as after a long outage.
    pub async fn set_stale_price(&self) {
        let mut conn = self.redis.clone();
        let _: () = redis::cmd("DEL")
            .arg(&self.record_key)
            .query_async(&mut conn)
            .await
            .unwrap();
        self.set_price("EUR", "35000", Utc::now() - chrono::Duration::hours(1))
            .await;
    }

    /// `POST /place_order?{query}` with the test API key.
    pub async fn place_query(&self, query: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/place_order?{query}", self.address))
            .header("x-api-key", API_KEY)
            .send()
            .await
            .unwrap()
    }

    /// `POST /place_order` with a JSON body and optional Idempotency-Key.
    pub async fn place_json(&self, body: &Value, key: Option<&str>) -> reqwest::Response {
        self.place_as(API_KEY, body, key).await
    }

    pub async fn place_as(&self, api_key: &str, body: &Value, key: Option<&str>) -> reqwest::Response {
        let mut rb = self
            .client
            .post(format!("{}/place_order", self.address))
            .header("x-api-key", api_key)
            .json(body);
        if let Some(k) = key {
            rb = rb.header("Idempotency-Key", k);
        }
        rb.send().await.unwrap()
    }

    /// Places an order that must succeed; returns (replayed header, body).
    pub async fn place_ok(&self, body: &Value, key: Option<&str>) -> (bool, Value) {
        let res = self.place_json(body, key).await;
        assert_eq!(res.status(), 201, "{body}");
        let replayed = res.headers().get("idempotent-replayed").is_some();
        (replayed, res.json().await.unwrap())
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .header("x-api-key", API_KEY)
            .send()
            .await
            .unwrap()
    }

    /// Every stored order, oldest first.
    pub async fn stored(&self) -> Vec<Order> {
        let page: common::models::OrderPage = serde_json::from_value(
            self.client
                .get(format!("{}/get?page_size=100", self.db_url()))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap(),
        )
        .unwrap();
        page.data.into_iter().rev().collect()
    }

    fn db_url(&self) -> String {
        self._handles[2].url()
    }

    pub async fn order_count(&self) -> i64 {
        sqlx::query_scalar("select count(*) from orders")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

pub use common::testing::assert_problem;
