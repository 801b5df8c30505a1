use std::collections::HashMap;
use std::path::PathBuf;

use common::testing;
use reqwest::StatusCode;
use sensor_api::Settings;
use sensor_api::ingest::{Format, IngestOptions, Summary};
use serde::Deserialize;
use serde_json::value::RawValue;
use sqlx::PgPool;

/// Key with every right (and a high rate limit).
pub const KEY: &str = "test-key";
/// Key without rights.
pub const READ_KEY: &str = "read-key";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub pool: PgPool,
    _handle: common::http::ServiceHandle,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

/// sensor_api on a free port with a database and Redis prefix of its own.
pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    testing::init_tracing();
    let mut settings = Settings {
        pg: testing::pg_settings("sensor"),
        redis: testing::redis_settings(),
        common: testing::common_settings(),
        api_keys: common::config::Secret::new(format!("{KEY}=ingest+restricted,{READ_KEY}=")),
        ..Settings::default()
    };
    settings.http.port = 0;
    settings.http.host = "127.0.0.1".into();
    settings.rate_limit.api_keys = vec![format!("{KEY}=1000000"), format!("{READ_KEY}=1000000")];
    tweak(&mut settings);
    let handle = sensor_api::build(settings.clone()).await.unwrap();
    let pool = common::db::pool(&settings.pg).unwrap();
    TestApp {
        address: handle.url(),
        client: reqwest::Client::new(),
        pool,
        _handle: handle,
    }
}

/// `../shared/data/<name>` beside the repository.
pub fn shared_data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name)
}

/// One reading of the original file, its value kept exactly as written.
#[derive(Debug, Deserialize)]
pub struct FileReading {
    pub parameter: String,
    pub timestamp: String,
    pub value: Box<RawValue>,
    #[serde(rename = "type")]
    pub kind: String,
}

/// The seed file: device → readings.
pub type Seed = HashMap<String, Vec<FileReading>>;

/// The seed file, parsed independently of the service.
pub fn seed() -> Seed {
    let text =
        std::fs::read_to_string(shared_data("sensor-seed/data.json")).expect("../shared/data/sensor-seed");
    serde_json::from_str(&text).unwrap()
}

/// A reading as the API answers, value raw.
#[derive(Debug, Deserialize)]
pub struct ApiReading {
    pub device: String,
    pub parameter: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub value: Box<RawValue>,
    pub timestamp: String,
    pub timestamp_utc: String,
    pub utc_offset: String,
}

#[derive(Debug, Deserialize)]
pub struct ReadingsPage {
    pub data: Vec<ApiReading>,
    pub next_cursor: Option<String>,
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .header("x-api-key", KEY)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let res = self.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.json().await.unwrap()
    }

    /// Uploads `body` as `content_type` with `query` (e.g. `strict=true`).
    pub async fn upload(
        &self,
        query: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .post(format!("{}/api/v1/readings?{query}", self.address))
            .header("x-api-key", KEY)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Uploads and expects a 200 summary.
    pub async fn upload_ok(
        &self,
        query: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Summary {
        let res = self.upload(query, content_type, body).await;
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Imports a file the way the CLI does (straight into the database).
    pub async fn import_file(&self, path: PathBuf, format: Format, device: Option<&str>) -> Summary {
        let file = std::fs::File::open(path).unwrap();
        sensor_api::ingest::run(
            &self.pool,
            file,
            IngestOptions {
                format,
                device: device.map(str::to_owned),
                strict: false,
            },
        )
        .await
        .unwrap()
    }

    /// Every reading of `query` (e.g. `device=d&order=asc`), following cursors.
    pub async fn all_readings(&self, query: &str) -> Vec<ApiReading> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                None => format!("/api/v1/readings?{query}&limit=1000"),
                Some(c) => format!("/api/v1/readings?{query}&limit=1000&cursor={c}"),
            };
            let res = self.get(&path).await;
            assert_eq!(res.status(), StatusCode::OK, "GET {path}");
            let page: ReadingsPage = serde_json::from_str(&res.text().await.unwrap()).unwrap();
            out.extend(page.data);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return out,
            }
        }
    }

    pub async fn stored_count(&self) -> i64 {
        sqlx::query_scalar("select count(*) from readings")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

pub use common::testing::assert_problem;
