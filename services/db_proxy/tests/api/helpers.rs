use common::models::{AddedOrder, OrderPage};
use common::testing::TEST_TOKEN;
use db_proxy::Settings;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    _handle: common::http::ServiceHandle,
}

/// Creates and migrates the settings' database (through `settings.pg.url`).
pub async fn migrated_pool(settings: &Settings) -> PgPool {
    common::db::connect(&settings.pg, &db_proxy::MIGRATOR)
        .await
        .unwrap()
}

/// Starts an instance on `pool` (its own pool, as a separate process would have).
pub fn start(settings: &Settings) -> TestApp {
    let pool = common::db::pool(&settings.pg).unwrap();
    let handle = db_proxy::build_with_pool(settings.clone(), pool).unwrap();
    TestApp {
        address: handle.url(),
        client: common::testing::client(),
        _handle: handle,
    }
}

/// One db_proxy with its own database, and a pool on that database for checks.
pub async fn spawn_app() -> (TestApp, PgPool) {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> (TestApp, PgPool) {
    let mut settings = db_proxy::testing::settings();
    tweak(&mut settings);
    let pool = migrated_pool(&settings).await;
    (start(&settings), pool)
}

/// Two db_proxy instances on the SAME database.
pub async fn spawn_pair(tweak: impl FnOnce(&mut Settings)) -> (TestApp, TestApp, PgPool) {
    let mut settings = db_proxy::testing::settings();
    tweak(&mut settings);
    let pool = migrated_pool(&settings).await;
    (start(&settings), start(&settings), pool)
}

/// A `NewOrder` body priced in EUR at `rate`.
pub fn order(amount: &str, rate: &str) -> Value {
    json!({
        "amount": amount,
        "currency": "EUR",
        "exchange_rate": rate,
        "rate_source": "test",
        "rate_fetched_at": "2026-01-02T03:04:05Z",
        "simulated": false,
    })
}

/// The same with an idempotency key.
pub fn keyed_order(amount: &str, rate: &str, client: &str, key: &str, hash: &str) -> Value {
    let mut o = order(amount, rate);
    o["idempotency"] = json!({ "client_id": client, "key": key, "request_hash": hash });
    o
}

impl TestApp {
    pub async fn post_add(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}/add", self.address))
            .bearer_auth(TEST_TOKEN)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Adds an order that must be stored.
    pub async fn add_ok(&self, body: &Value) -> AddedOrder {
        let res = self.post_add(body).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{body}");
        res.json().await.unwrap()
    }

    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path_and_query}", self.address))
            .send()
            .await
            .unwrap()
    }

    pub async fn page(&self, query: &str) -> OrderPage {
        let res = self.get(&format!("/get?{query}")).await;
        assert_eq!(res.status(), StatusCode::OK, "GET /get?{query}");
        res.json().await.unwrap()
    }
}

/// (sum of satoshis, number of orders) as stored.
pub async fn stored_totals(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as("select coalesce(sum(satoshis), 0)::bigint, count(*) from orders")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// (used_satoshis, order_count) of the state row.
pub async fn state_row(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as("select used_satoshis, order_count from order_state where id = 1")
        .fetch_one(pool)
        .await
        .unwrap()
}

pub use common::testing::assert_problem;
