use common::testing;
use lambo_checker::Settings;
use serde_json::{Value, json};
use sqlx::PgPool;
use wiremock::MockServer;

pub use common::testing::assert_problem;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub pool: PgPool,
    pub kraken: MockServer,
    pub settings: Settings,
    handle: common::http::ServiceHandle,
}

/// Settings on a free port with a database and Redis prefix of its own, Kraken at
/// `kraken_url`, and a high rate limit for the `test-key` API key.
pub fn test_settings(kraken_url: &str) -> Settings {
    testing::init_tracing();
    let mut s = lambo_checker::testing::settings();
    s.provider_urls.kraken = kraken_url.to_string();
    // Only Kraken unless a test says otherwise; the others are never reached for real.
    s.providers = vec![lambo_checker::providers::ProviderKind::Kraken.into()];
    s.provider_urls.binance = common::testing::dead_url();
    s.provider_urls.coingecko = common::testing::dead_url();
    s.rate_limit.api_keys = vec!["test-key=1000000".into()];
    // Tests mount their provider answers after start; a warm-up would race them.
    s.warm_up = false;
    s
}

/// lambo_checker with a wiremock Kraken (nothing mounted: every call 404s until a test mounts one).
pub async fn spawn_app(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let kraken = MockServer::start().await;
    let mut settings = test_settings(&kraken.uri());
    tweak(&mut settings);
    let pool = common::db::connect(&settings.pg, &lambo_checker::MIGRATOR)
        .await
        .unwrap();
    let handle = lambo_checker::build_with_pool(settings.clone(), pool.clone())
        .await
        .unwrap();
    TestApp {
        address: handle.url(),
        client: common::testing::client(),
        pool,
        kraken,
        settings,
        handle,
    }
}

impl TestApp {
    /// Stops the service (gracefully: its workers and writers end).
    pub async fn stop(self) {
        self.handle.stop().await;
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .header("x-api-key", "test-key")
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Polls `GET /api/v1/task_status/{id}` until the job is done or failed.
    pub async fn wait_for_job(&self, id: &str) -> Value {
        for _ in 0..200 {
            let res = self.get(&format!("/api/v1/task_status/{id}")).await;
            assert_eq!(res.status(), 200);
            let body: Value = res.json().await.unwrap();
            if body["status"] == "done" || body["status"] == "failed" {
                return body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("job {id} did not finish");
    }
    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path_and_query}", self.address))
            .header("x-api-key", "test-key")
            .send()
            .await
            .unwrap()
    }

    /// `GET /process_request?<query>` that must answer 200.
    pub async fn ask(&self, query: &str) -> Value {
        let res = self.get(&format!("/process_request?{query}")).await;
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, 200, "{query}: {body}");
        body
    }
}

/// One Kraken OHLC row in the documented shape: `[time, open, high, low, close, vwap, volume, count]`.
pub fn kraken_row(time: i64, close: &str) -> Value {
    serde_json::json!([time, close, close, close, close, close, "12.5", 100])
}

/// A recorded answer of the documented shape: ten complete 15-day candles from
/// 2019-01-14, then the frame still in progress (which Kraken always appends).
pub fn recorded_ohlc() -> Value {
    let start = 1_547_424_000; // 2019-01-14, the 15-day candle containing 2019-01-21 23:00
    let closes = [
        "3700", "3900", "4100", "4300", "5000", "6000", "8500", "9500", "10500", "11500",
    ];
    let mut rows: Vec<Value> = closes
        .iter()
        .enumerate()
        .map(|(i, c)| kraken_row(start + i as i64 * 1_296_000, c))
        .collect();
    let now = chrono::Utc::now().timestamp();
    rows.push(kraken_row(now - 5 * 86_400, "1000000"));
    json!({"error": [], "result": {"XXBTZUSD": rows, "last": now - 20 * 86_400}})
}
