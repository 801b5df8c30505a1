use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::PathBuf;
use std::sync::OnceLock;

use chrono::DateTime;

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
    /// What it was started with (to start it again).
    pub settings: Settings,
    pub handle: common::http::ServiceHandle,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

/// sensor_api on a free port with a database and Redis prefix of its own.
pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    testing::init_tracing();
    let mut settings = Settings {
        api_keys: format!("{KEY}=ingest+restricted,{READ_KEY}=").parse().unwrap(),
        ..sensor_api::testing::settings()
    };
    settings.rate_limit.api_keys = vec![format!("{KEY}=1000000"), format!("{READ_KEY}=1000000")];
    tweak(&mut settings);
    spawn_settings(settings).await
}

/// sensor_api started with `settings` (as `spawn_with` makes them).
pub async fn spawn_settings(settings: Settings) -> TestApp {
    let handle = sensor_api::build(settings.clone()).await.unwrap();
    let pool = common::db::pool(&settings.pg).unwrap();
    TestApp {
        address: handle.url(),
        client: common::testing::client(),
        pool,
        settings,
        handle,
    }
}

/// `services/sensor_api/data/<name>`, files shipped with the crate.
pub fn data_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join(name)
}

/// The generated seed file (see `sensor_api::sample`), made once per test binary.
pub fn seed_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(sensor_api::sample::seed_like_json)
}

/// One reading of the seed file, its value kept exactly as written.
#[derive(Debug, Deserialize)]
pub struct FileReading {
    pub parameter: String,
    pub timestamp: String,
    pub value: Box<RawValue>,
    #[serde(rename = "type")]
    pub kind: String,
}

impl FileReading {
    /// Same parameter, timestamp text, value text and type.
    pub fn same(&self, other: &FileReading) -> bool {
        (&self.parameter, &self.timestamp, self.value.get(), &self.kind)
            == (&other.parameter, &other.timestamp, other.value.get(), &other.kind)
    }

    /// The instant, in microseconds since the epoch (UTC).
    pub fn micros(&self) -> i64 {
        DateTime::parse_from_rfc3339(&self.timestamp)
            .unwrap()
            .timestamp_micros()
    }

    /// The timestamp as the service writes it: the instant in its offset, with
    /// `+00:00` for `Z` (the service keeps the offset in seconds, not its spelling).
    pub fn answered_timestamp(&self) -> String {
        match self.timestamp.strip_suffix('Z') {
            Some(t) => format!("{t}+00:00"),
            None => self.timestamp.clone(),
        }
    }
}

/// The seed file: device → readings.
pub type Seed = HashMap<String, Vec<FileReading>>;

/// The seed file, parsed independently of the service.
pub fn seed() -> Seed {
    serde_json::from_str(seed_json()).unwrap()
}

/// The readings of `device` the service keeps: one per parameter and instant,
/// in file order. sensor_api keys a reading by (device, parameter, UTC instant);
/// the offset it was written with is not part of the key, and a reading whose
/// key is stored already is a duplicate (skipped, the first one stays). The
/// seed file's duplicates are exact copies and it writes no instant in two
/// offsets, which this checks, so which copy is kept cannot matter.
pub fn distinct<'a>(file: &'a Seed, device: &str) -> Vec<&'a FileReading> {
    let mut seen: HashMap<(&str, i64), &FileReading> = HashMap::new();
    let mut out = Vec::new();
    for r in &file[device] {
        match seen.entry((r.parameter.as_str(), r.micros())) {
            Entry::Occupied(e) => assert!(
                e.get().same(r),
                "{device}: {:?} and {:?} share a key but differ",
                e.get(),
                r
            ),
            Entry::Vacant(e) => {
                e.insert(r);
                out.push(r);
            }
        }
    }
    out
}

/// Readings in the seed file, and how many of them the service keeps.
pub fn seed_counts(file: &Seed) -> (u64, u64) {
    let rows = file.values().map(Vec::len).sum::<usize>();
    let kept = file.keys().map(|d| distinct(file, d).len()).sum::<usize>();
    (rows as u64, kept as u64)
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
        self.import(file, format, device).await
    }

    /// Imports the generated seed file the way the CLI does.
    pub async fn import_seed(&self) -> Summary {
        self.import(std::io::Cursor::new(seed_json()), Format::Json, None)
            .await
    }

    /// Imports what `reader` holds straight into the database, as the CLI does.
    pub async fn import(
        &self,
        reader: impl std::io::Read + Send + 'static,
        format: Format,
        device: Option<&str>,
    ) -> Summary {
        sensor_api::ingest::run(
            &self.pool,
            reader,
            IngestOptions {
                format,
                device: device.map(str::to_owned),
                strict: false,
                assume_offset: None,
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
        sqlx::query_scalar("select coalesce(sum(n), 0)::bigint from reading_chunks")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

pub use common::testing::assert_problem;
