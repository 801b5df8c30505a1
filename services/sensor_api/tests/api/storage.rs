//! Readings in chunks: exact numbers, the move from the row table, merging hours,
//! and duplicates found in merged hours.

use std::borrow::Cow;
use std::time::Duration;

use sensor_api::chunk::Value;
use sensor_api::ingest::Format;
use sensor_api::storage;
use sqlx::PgPool;

use crate::helpers::{TestApp, spawn_app, spawn_settings, spawn_with};

/// Values and offsets that floats, naive parsers or CSV quoting get wrong, and
/// numbers too long for a 64-bit integer.
const AWKWARD: &[&str] = &[
    r#"{"device":"odd","parameter":"n","timestamp":"2026-01-01T00:00:00.000001+05:45","value":9007199254740993}"#,
    r#"{"device":"odd","parameter":"n","timestamp":"2026-01-01T00:00:01-09:30","value":1e-300}"#,
    r#"{"device":"odd","parameter":"n","timestamp":"2026-01-01T00:00:02+14:00","value":-0.10000000000000000000001}"#,
    r#"{"device":"odd","parameter":"n","timestamp":"2026-01-01T00:00:03Z","value":1.500}"#,
    r#"{"device":"odd","parameter":"n","timestamp":"2026-01-01T01:30:00+05:45","value":1e30}"#,
    r#"{"device":"odd","parameter":"n","timestamp":"2026-01-01T01:30:01+05:45","value":-9223372036854775808}"#,
    r#"{"device":"odd","parameter":"m","timestamp":"2026-01-01T00:10:00+14:00","value":-7.25e-3}"#,
    r#"{"device":"odd","parameter":"m","timestamp":"2026-01-01T00:20:00-09:30","value":0.000e2}"#,
    r#"{"device":"odd","parameter":"s","timestamp":"2026-01-01T00:00:04+05:45","value":"𝄞 \"quoted\", comma\nnew line 😀"}"#,
    r#"{"device":"odd","parameter":"s","timestamp":"2026-01-01T00:00:05+05:45","value":"42"}"#,
    r#"{"device":"odd","parameter":"s","timestamp":"2026-01-01T02:00:05-09:30","value":""}"#,
];

/// A small deterministic generator (xorshift), so that failures reproduce.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn digits(&mut self, n: u64, first_nonzero: bool) -> String {
        (0..n)
            .map(|i| {
                let d = if i == 0 && first_nonzero {
                    1 + self.below(9)
                } else {
                    self.below(10)
                };
                char::from(b'0' + u8::try_from(d).unwrap())
            })
            .collect()
    }
}

#[tokio::test]
async fn numbers_are_kept_as_postgres_numeric_keeps_them() {
    let app = spawn_app().await;
    let mut rng = Rng(0x5eed_0023);
    let mut inputs: Vec<String> = Vec::new();
    for _ in 0..5000 {
        let mut s = String::new();
        if rng.below(2) == 0 {
            s.push('-');
        }
        match rng.below(4) {
            0 => s.push('0'),
            _ => {
                let n = 1 + rng.below(25);
                s.push_str(&rng.digits(n, true));
            }
        }
        if rng.below(2) == 0 {
            s.push('.');
            let n = 1 + rng.below(25);
            s.push_str(&rng.digits(n, false));
        }
        if rng.below(3) == 0 {
            s.push(if rng.below(2) == 0 { 'e' } else { 'E' });
            match rng.below(3) {
                0 => s.push('-'),
                1 => s.push('+'),
                _ => {}
            }
            let most = if rng.below(4) == 0 { 301 } else { 25 };
            s.push_str(&rng.below(most).to_string());
        }
        sensor_api::domain::check_number(&s).unwrap();
        inputs.push(s);
    }
    let pg: Vec<String> = sqlx::query_scalar(
        "select v::numeric::text from unnest($1::text[]) with ordinality as u(v, i) order by i",
    )
    .bind(&inputs)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let mut small = 0;
    for (input, want) in inputs.iter().zip(&pg) {
        let value = Value::number(input);
        small += usize::from(matches!(value, Value::Small { .. }));
        let encoded = sensor_api::chunk::encode_values(std::iter::once(&value));
        let back = sensor_api::chunk::decode_values(&encoded, 1, true).unwrap();
        assert_eq!(&back[0].to_text(), want, "{input}");
    }
    // Both encodings were exercised.
    assert!(small > 1000 && small < inputs.len(), "{small}");
}

/// The seed's readings and the awkward ones, uploaded.
async fn loaded() -> TestApp {
    let app = spawn_with(|s| s.compact_every_millis = 0).await;
    let s = app.import_seed().await;
    assert_eq!(s.stored, 20_000, "{s:?}");
    let s = app
        .upload_ok("", "application/x-ndjson", AWKWARD.join("\n"))
        .await;
    assert_eq!((s.stored, s.rejected), (11, 0), "{s:?}");
    app
}

/// Every answer of every reading route, for comparing two instances.
async fn answers(app: &TestApp) -> Vec<(String, String)> {
    let mut out = Vec::new();
    // Status and body: a refusal (too many buckets) must be the same refusal.
    let mut get = async |path: String| {
        let res = app.get(&path).await;
        let status = res.status();
        // The text as sent (a parsed number could lose digits), but without the
        // trace id of a problem.
        let mut body = res.text().await.unwrap();
        if !status.is_success() {
            let mut problem: serde_json::Value = serde_json::from_str(&body).unwrap();
            problem.as_object_mut().unwrap().remove("trace_id");
            body = problem.to_string();
        }
        out.push((path, format!("{status} {body}")));
    };
    get("/status".into()).await;
    get("/api/v1/devices?limit=1000".into()).await;
    let devices = app.get_json("/api/v1/devices?limit=1000").await;
    for d in devices["data"].as_array().unwrap() {
        let device = d["device"].as_str().unwrap();
        let enc = device.replace('/', "%2F");
        get(format!("/api/v1/devices/{enc}/parameters?limit=1000")).await;
        get(format!("/api/v1/devices/{enc}/latest")).await;
        for order in ["asc", "desc"] {
            get(format!("/api/v1/readings?device={enc}&order={order}&limit=1000")).await;
            get(format!(
                "/api/v1/readings?device={enc}&order={order}&limit=10000&format=columnar"
            ))
            .await;
        }
        get(format!(
            "/api/v1/readings?device={enc}&from=2026-01-01T00:00:02Z&to=2026-01-01T01:30:01Z&order=asc&limit=7"
        ))
        .await;
        let params = app
            .get_json(&format!("/api/v1/devices/{enc}/parameters?limit=1000"))
            .await;
        for p in params["data"].as_array().unwrap() {
            let parameter = p["parameter"].as_str().unwrap();
            for bucket in ["1h", "1d", "10m", "1m", "7s"] {
                get(format!(
                    "/api/v1/aggregate?device={enc}&parameter={parameter}&bucket={bucket}"
                ))
                .await;
            }
        }
    }
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => "/api/v1/core/process_request?limit=3000".to_string(),
            Some(c) => format!("/api/v1/core/process_request?limit=3000&cursor={c}"),
        };
        let page = app.get(&path).await.text().await.unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&page).unwrap();
        cursor = parsed["next_cursor"].as_str().map(str::to_owned);
        out.push((path, page));
        if cursor.is_none() {
            break;
        }
    }
    out
}

fn assert_same(a: &[(String, String)], b: &[(String, String)]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.0, y.0);
        assert!(x.1 == y.1, "GET {} differs:\n{}\n{}", x.0, x.1, y.1);
    }
}

/// The series' hours that hold readings.
async fn hours(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(distinct (series_id, bucket)) from reading_chunks")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn chunk_rows(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as("select count(*), coalesce(sum(n), 0)::bigint from reading_chunks")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_row_table_database_moves_into_chunks_with_the_same_answers() {
    let fresh = loaded().await;
    let before = answers(&fresh).await;
    assert!(before.len() > 100);

    // The same readings in a database of the layout before chunks, written as its
    // loader wrote them (the numbers as text into `numeric`).
    let mut settings = fresh.settings.clone();
    settings.pg = common::testing::pg_settings("sensor_rows");
    let old = sqlx::migrate::Migrator {
        migrations: Cow::Owned(
            sensor_api::MIGRATOR
                .migrations
                .iter()
                .filter(|m| m.version < 20261207000001)
                .cloned()
                .collect(),
        ),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    let pool = common::db::connect(&settings.pg, &old).await.unwrap();
    let series: Vec<(i32, String, String, String, i64)> =
        sqlx::query_as("select id, device, parameter, kind, readings from series order by id")
            .fetch_all(&fresh.pool)
            .await
            .unwrap();
    for (id, device, parameter, kind, readings) in &series {
        sqlx::query(
            "insert into series (id, device, parameter, kind, readings, first_at, last_at)
             overriding system value values ($1, $2, $3, $4, $5, null, null)",
        )
        .bind(id)
        .bind(device)
        .bind(parameter)
        .bind(kind)
        .bind(readings)
        .execute(&pool)
        .await
        .unwrap();
    }
    let records = storage::records(&fresh.pool, None, i64::MAX).await.unwrap();
    assert_eq!(records.len(), 20_011);
    let (mut ids, mut ats, mut offsets, mut nums, mut txts) = (vec![], vec![], vec![], vec![], vec![]);
    for r in &records {
        ids.push(r.reading.series_id);
        ats.push(r.reading.at);
        offsets.push(r.reading.offset);
        let text = serde_json::to_value(&r.reading.value).unwrap();
        match text {
            serde_json::Value::String(s) => {
                nums.push(None);
                txts.push(Some(s));
            }
            _ => {
                nums.push(Some(serde_json::to_string(&r.reading.value).unwrap()));
                txts.push(None);
            }
        }
    }
    sqlx::query(
        "insert into readings (series_id, at, utc_offset, num, txt)
         select * from unnest($1::int4[], $2::timestamptz[], $3::int4[], $4::text[]::numeric[], $5::text[])",
    )
    .bind(&ids)
    .bind(&ats)
    .bind(&offsets)
    .bind(&nums)
    .bind(&txts)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "update series s set first_at = x.f, last_at = x.l from
         (select series_id, min(at) f, max(at) l from readings group by series_id) x where s.id = x.series_id",
    )
    .execute(&pool)
    .await
    .unwrap();
    let rollup: Vec<(i32, chrono::DateTime<chrono::Utc>, i64, String, String, String)> =
        sqlx::query_as("select series_id, bucket, n, total::text, lo::text, hi::text from rollup_hourly")
            .fetch_all(&fresh.pool)
            .await
            .unwrap();
    for (s, b, n, t, lo, hi) in rollup {
        sqlx::query("insert into rollup_hourly values ($1, $2, $3, $4::numeric, $5::numeric, $6::numeric)")
            .bind(s)
            .bind(b)
            .bind(n)
            .bind(t)
            .bind(lo)
            .bind(hi)
            .execute(&pool)
            .await
            .unwrap();
    }

    // Started on it, sensor_api migrates and moves the rows into chunks.
    let moved = spawn_settings(settings).await;
    let gone: bool = sqlx::query_scalar("select to_regclass('readings') is null")
        .fetch_one(&moved.pool)
        .await
        .unwrap();
    assert!(gone, "the row table is dropped");
    assert_eq!(chunk_rows(&moved.pool).await.1, 20_011);
    let after = answers(&moved).await;
    assert_same(&before, &after);
    // The awkward values, exactly.
    let odd = moved
        .get("/api/v1/readings?device=odd&parameter=n&order=asc")
        .await
        .text()
        .await
        .unwrap();
    for want in [
        "9007199254740993",
        "-0.10000000000000000000001",
        "1.500",
        "1000000000000000000000000000000",
        "-9223372036854775808",
        "2026-01-01T00:00:00.000001+05:45",
        "2026-01-01T00:00:01.000000-09:30",
        "2026-01-01T00:00:02.000000+14:00",
    ] {
        assert!(odd.contains(want), "{want} in {odd}");
    }
    assert!(odd.contains(&format!("0.{}1", "0".repeat(299))));
    let s = moved
        .get("/api/v1/readings?device=odd&parameter=s&order=asc")
        .await
        .text()
        .await
        .unwrap();
    assert!(s.contains("𝄞 \\\"quoted\\\", comma\\nnew line 😀"), "{s}");

    // Merging the hours changes no answer, and leaves one chunk per hour.
    assert!(storage::compact(&moved.pool, Duration::ZERO).await.unwrap() > 0);
    let (rows, n) = chunk_rows(&moved.pool).await;
    assert_eq!((rows, n), (hours(&moved.pool).await, 20_011));
    assert_same(&before, &answers(&moved).await);
}

#[tokio::test]
async fn merged_hours_still_find_duplicates_and_take_late_readings() {
    let app = loaded().await;
    let before = answers(&app).await;
    let (segments, _) = chunk_rows(&app.pool).await;
    assert!(storage::compact(&app.pool, Duration::ZERO).await.unwrap() > 0);
    assert!(chunk_rows(&app.pool).await.0 < segments);
    assert_same(&before, &answers(&app).await);

    // The same file again: every reading is a duplicate, nothing changes.
    let again = app.import_seed().await;
    assert_eq!((again.stored, again.duplicates), (0, again.read), "{again:?}");
    let again = app
        .upload_ok("", "application/x-ndjson", AWKWARD.join("\n"))
        .await;
    assert_eq!((again.stored, again.duplicates), (0, 11), "{again:?}");
    assert_same(&before, &answers(&app).await);

    // Late readings inside merged hours (and one duplicate among them).
    let late = [
        r#"{"device":"odd","parameter":"n","timestamp":"2026-01-01T00:00:00.5Z","value":2.5}"#,
        r#"{"device":"odd","parameter":"n","timestamp":"2026-01-01T01:30:00.5+05:45","value":-1}"#,
        r#"{"device":"odd","parameter":"n","timestamp":"2026-01-01T00:00:03Z","value":7}"#,
    ];
    let s = app.upload_ok("", "application/x-ndjson", late.join("\n")).await;
    assert_eq!((s.stored, s.duplicates), (2, 1), "{s:?}");
    let merged = storage::compact(&app.pool, Duration::ZERO).await.unwrap();
    assert_eq!(merged, 2);
    let rows = app.all_readings("device=odd&parameter=n&order=asc").await;
    let values: Vec<String> = rows.iter().map(|r| r.value.get().to_owned()).collect();
    let tiny = format!("0.{}1", "0".repeat(299));
    assert_eq!(
        values,
        [
            "-0.10000000000000000000001",
            "9007199254740993",
            "1000000000000000000000000000000",
            "-1",
            "-9223372036854775808",
            "2.5",
            "1.500",
            tiny.as_str(),
        ],
        "the first reading of 00:00:03 stays"
    );
    // The roll-up counted only what was added.
    let hour = app
        .get_json("/api/v1/aggregate?device=odd&parameter=n&bucket=1h&from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00Z")
        .await;
    assert_eq!(hour["data"][0]["count"], 2, "{hour}");
}

#[tokio::test]
async fn concurrent_imports_of_one_file_store_it_once_while_hours_merge() {
    let app = spawn_with(|s| {
        s.compact_every_millis = 5;
        s.compact_quiet_millis = 0;
    })
    .await;
    let imports = (0..4).map(|_| {
        app.import(
            std::io::Cursor::new(crate::helpers::seed_json()),
            Format::Json,
            None,
        )
    });
    let summaries = futures_util::future::join_all(imports).await;
    let stored: u64 = summaries.iter().map(|s| s.stored).sum();
    let duplicates: u64 = summaries.iter().map(|s| s.duplicates).sum();
    assert_eq!(stored, 20_000, "{summaries:?}");
    assert_eq!(duplicates, 4 * 20_012 - 20_000);
    assert_eq!(chunk_rows(&app.pool).await.1, 20_000);
    // The compactor catches up (one chunk per hour), and then its gauge says so.
    let merged = async || chunk_rows(&app.pool).await == (hours(&app.pool).await, 20_000);
    let gauge = async || {
        let metrics = app.get("/metrics").await.text().await.unwrap();
        metrics
            .lines()
            .find(|l| l.starts_with("delos_sensor_unmerged_segments{"))
            .map(|l| l.rsplit(' ').next().unwrap().to_owned())
    };
    let mut state = (false, None);
    for _ in 0..200 {
        state = (merged().await, gauge().await);
        if state.0 && state.1.as_deref() == Some("0") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state, (true, Some("0".to_owned())));
    let seed = crate::helpers::seed();
    for device in seed.keys() {
        let want = crate::helpers::distinct(&seed, device).len();
        assert_eq!(
            app.all_readings(&format!("device={device}&order=asc"))
                .await
                .len(),
            want
        );
    }
}

#[tokio::test]
async fn the_cli_imports_several_files_at_once_each_in_its_own_transaction() {
    let app = spawn_with(|s| s.compact_every_millis = 0).await;
    let dir = std::env::temp_dir().join(format!("delos-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Four files over the same series, in opposite orders, so that the imports
    // contend for the same rows; one has a bad row.
    let mut files = Vec::new();
    for f in 0..4 {
        let mut body = String::from("device,parameter,timestamp,value,type\n");
        for i in 0..5000 {
            let (d, p) = if f % 2 == 0 {
                (i % 3, i % 2)
            } else {
                (2 - i % 3, 1 - i % 2)
            };
            let at = chrono::DateTime::from_timestamp(1_767_225_600 + i64::from(f) * 5000 + i64::from(i), 0)
                .unwrap();
            body.push_str(&format!("d{d},p{p},{},{}.{i:04},numeric\n", at.to_rfc3339(), f));
        }
        if f == 3 {
            body.push_str("d0,p0,yesterday,1,numeric\n");
        }
        let path = dir.join(format!("f{f}.csv"));
        std::fs::write(&path, body).unwrap();
        files.push(path.to_string_lossy().into_owned());
    }
    let args = sensor_api::cli::ImportArgs {
        files: files.clone(),
        device: None,
        format: None,
        strict: false,
        assume_offset: None,
        pg_url: Some(app.settings.pg.url.clone()),
        database: Some(app.settings.pg.database.clone()),
        quiet: true,
        jobs: Some(4),
    };
    let code = sensor_api::cli::import(args).await.unwrap();
    assert_eq!(code, 1, "one bad row, the rest stored");
    assert_eq!(app.stored_count().await, 20_000);
    let totals = app.get_json("/status").await;
    assert_eq!(totals["readings"], 20_000);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_hour_still_being_written_is_merged_every_32_segments() {
    let app = spawn_with(|s| s.compact_every_millis = 0).await;
    // A live feed: one upload per reading, all in the current hour.
    let now = chrono::Utc::now().timestamp();
    let hour = chrono::DateTime::from_timestamp(now - now.rem_euclid(3600), 0).unwrap();
    for i in 0..40 {
        let at = hour + chrono::Duration::milliseconds(i);
        let line = format!(
            r#"{{"device":"live","parameter":"t","timestamp":"{}","value":{i}.5}}"#,
            at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        );
        let s = app.upload_ok("", "application/x-ndjson", line).await;
        assert_eq!(s.stored, 1, "{s:?}");
    }
    let before = app.all_readings("device=live&order=asc").await;
    let levels = async || -> Vec<(i16, i32)> {
        sqlx::query_as("select level, n from reading_chunks order by level, n")
            .fetch_all(&app.pool)
            .await
            .unwrap()
    };
    assert_eq!(levels().await.len(), 40);
    // The hour is not over (an hour's quiet asked for): only the segments are merged.
    assert_eq!(
        storage::compact(&app.pool, Duration::from_secs(3600))
            .await
            .unwrap(),
        1
    );
    assert_eq!(levels().await, [(1, 40)]);
    let after = app.all_readings("device=live&order=asc").await;
    assert_eq!(before.len(), 40);
    for (a, b) in before.iter().zip(&after) {
        assert_eq!((&a.timestamp, a.value.get()), (&b.timestamp, b.value.get()));
    }
    // Fewer than 32 new segments wait for the hour's end.
    let s = app
        .upload_ok(
            "",
            "application/x-ndjson",
            format!(
                r#"{{"device":"live","parameter":"t","timestamp":"{}","value":1}}"#,
                (hour + chrono::Duration::seconds(1)).to_rfc3339()
            ),
        )
        .await;
    assert_eq!(s.stored, 1);
    assert_eq!(
        storage::compact(&app.pool, Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    assert_eq!(levels().await, [(0, 1), (1, 40)]);
}
