use common::testing::{self, TEST_TOKEN};
use health_check::Settings;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

pub struct TestApp {
    pub address: String,
    pub pool: PgPool,
    pub client: reqwest::Client,
    pub settings: Settings,
    _handle: common::http::ServiceHandle,
}

/// health_check on a free port with a database of its own.
pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    testing::init_tracing();
    let mut settings = health_check::testing::settings();
    tweak(&mut settings);
    let pool = common::db::connect(&settings.pg, &health_check::MIGRATOR)
        .await
        .unwrap();
    let handle = health_check::build_with_pool(settings.clone(), pool.clone()).unwrap();
    TestApp {
        address: handle.url(),
        pool,
        client: common::testing::client(),
        settings,
        _handle: handle,
    }
}

impl TestApp {
    pub async fn post_report(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}/report", self.address))
            .bearer_auth(TEST_TOKEN)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_batch(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}/report/batch", self.address))
            .bearer_auth(TEST_TOKEN)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, path_and_query: &str) -> Value {
        let res = self
            .client
            .get(format!("{}{path_and_query}", self.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "GET {path_and_query}");
        res.json().await.unwrap()
    }

    pub async fn heartbeat(&self, service: &str, status: &str) {
        let res = self
            .post_report(&json!({"level": "heartbeat", "service": service, "status": status, "data": {}}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }

    pub async fn service_status(&self, service: &str) -> String {
        let body = self.get_json("/services").await;
        body["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["service"] == service)
            .map(|s| s["status"].as_str().unwrap().to_string())
            .unwrap_or_default()
    }
}

pub use common::testing::assert_problem;
