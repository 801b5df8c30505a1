use common::config::Secret;
use common::internal_apis::DbProxyClient;
use common::models::NewOrder;
use common::service_client::ServiceClient;
use common::testing::{self, TEST_TOKEN};
use serde_json::Value;

pub struct TestApp {
    pub address: String,
    pub db: DbProxyClient,
    pub client: reqwest::Client,
    pub db_handle: Option<common::http::ServiceHandle>,
    _handle: common::http::ServiceHandle,
}

/// db_proxy with its own database, and fetch_buy_orders in front of it.
pub async fn spawn_app(tweak: impl FnOnce(&mut fetch_buy_orders::Settings)) -> TestApp {
    testing::init_tracing();
    let db_handle = db_proxy::testing::spawn(|_| {}).await.unwrap();
    let mut settings = fetch_buy_orders::Settings {
        db_proxy_url: db_handle.url(),
        ..fetch_buy_orders::testing::settings()
    };
    settings.rate_limit.api_keys = vec!["test-key=1000000".into()];
    tweak(&mut settings);
    let handle = fetch_buy_orders::build(settings).await.unwrap();
    let db = DbProxyClient(ServiceClient::new(
        "db_proxy",
        &db_handle.url(),
        common::testing::client(),
        Secret::new(TEST_TOKEN),
    ));
    TestApp {
        address: handle.url(),
        db,
        client: common::testing::client(),
        db_handle: Some(db_handle),
        _handle: handle,
    }
}

pub fn new_order(cents: i64) -> NewOrder {
    NewOrder {
        amount: common::money::FiatAmount::from_cents(cents).unwrap(),
        currency: common::money::Currency::Eur,
        exchange_rate: "50000".parse().unwrap(),
        rate_source: "test".into(),
        rate_fetched_at: chrono_now(),
        simulated: false,
        idempotency: None,
    }
}

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    serde_json::from_value(Value::String("2026-11-24T12:00:00Z".into())).unwrap()
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .header("x-api-key", "test-key")
            .send()
            .await
            .unwrap()
    }

    pub async fn insert(&self, n: usize) {
        for i in 0..n {
            self.db
                .add(&new_order(100 + i64::try_from(i).unwrap()))
                .await
                .unwrap();
        }
    }
}
