//! The bulk forms of `GET /api/v1/readings`: columnar JSON, CSV and NDJSON, gzip,
//! all giving back exactly what the default form does.

use std::io::Read;

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::helpers::{KEY, TestApp, assert_problem, spawn_app};

/// Values and offsets that floats, naive parsers or CSV quoting get wrong.
const AWKWARD: &[&str] = &[
    r#"{"device":"odd","parameter":"n","timestamp":"2026-01-01T00:00:00.000001+05:45","value":9007199254740993}"#,
    r#"{"device":"odd","parameter":"n","timestamp":"2026-01-01T00:00:01-09:30","value":1e-300}"#,
    r#"{"device":"odd","parameter":"n","timestamp":"2026-01-01T00:00:02+14:00","value":-0.10000000000000000000001}"#,
    r#"{"device":"odd","parameter":"n","timestamp":"2026-01-01T00:00:03Z","value":1.500}"#,
    r#"{"device":"odd","parameter":"s","timestamp":"2026-01-01T00:00:04+05:45","value":"𝄞 \"quoted\", comma\nnew line 😀"}"#,
    r#"{"device":"odd","parameter":"s","timestamp":"2026-01-01T00:00:05+05:45","value":"42"}"#,
];

async fn seeded() -> TestApp {
    let app = spawn_app().await;
    let s = app
        .upload_ok("", "application/x-ndjson", AWKWARD.join("\n"))
        .await;
    assert_eq!((s.stored, s.rejected), (6, 0), "{s:?}");
    app
}

/// (parameter, timestamp in its offset, value as JSON text) of each reading.
type Triple = (String, String, String);

async fn default_form(app: &TestApp, query: &str) -> Vec<Triple> {
    app.all_readings(query)
        .await
        .into_iter()
        .map(|r| (r.parameter, r.timestamp, r.value.get().to_string()))
        .collect()
}

async fn get_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app
        .client
        .get(format!("{}{path}", app.address))
        .header("x-api-key", KEY);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

#[derive(Debug, Deserialize)]
struct Columnar {
    device: String,
    order: String,
    parameters: Vec<ColumnParam>,
    parameter_index: Option<Vec<usize>>,
    timestamp_unit: String,
    timestamps: Vec<i64>,
    utc_offset: Option<String>,
    utc_offsets: Option<Vec<String>>,
    values: Vec<Box<RawValue>>,
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ColumnParam {
    parameter: String,
    #[serde(rename = "type")]
    kind: String,
}

/// The columnar page as triples, timestamps rebuilt from microseconds and offsets.
fn columnar_triples(c: &Columnar) -> Vec<Triple> {
    assert_eq!(c.timestamp_unit, "us");
    (0..c.timestamps.len())
        .map(|i| {
            let p = c.parameter_index.as_ref().map_or(0, |ix| ix[i]);
            let offset = c
                .utc_offsets
                .as_ref()
                .map_or_else(|| c.utc_offset.clone().unwrap(), |o| o[i].clone());
            let tz = chrono::DateTime::parse_from_rfc3339(&format!("2000-01-01T00:00:00{offset}"))
                .unwrap()
                .timezone();
            let at = chrono::DateTime::from_timestamp_micros(c.timestamps[i])
                .unwrap()
                .with_timezone(&tz)
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
            (
                c.parameters[p].parameter.clone(),
                at,
                c.values[i].get().to_string(),
            )
        })
        .collect()
}

fn csv_triples(body: &str) -> Vec<Triple> {
    let mut rdr = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(
        rdr.headers().unwrap().iter().collect::<Vec<_>>(),
        ["device", "parameter", "timestamp", "value", "type"]
    );
    rdr.records()
        .map(|r| {
            let r = r.unwrap();
            let value = match &r[4] {
                "text" => serde_json::to_string(&r[3]).unwrap(),
                _ => r[3].to_string(),
            };
            (r[1].to_string(), r[2].to_string(), value)
        })
        .collect()
}

#[derive(Deserialize)]
struct Line {
    parameter: String,
    timestamp: String,
    value: Box<RawValue>,
}

fn ndjson_triples(body: &str) -> Vec<Triple> {
    body.lines()
        .map(|l| {
            let l: Line = serde_json::from_str(l).unwrap();
            (l.parameter, l.timestamp, l.value.get().to_string())
        })
        .collect()
}

#[tokio::test]
async fn every_form_gives_back_the_same_readings_with_every_digit_and_offset() {
    let app = seeded().await;
    let want = default_form(&app, "device=odd&order=asc").await;
    assert_eq!(want.len(), 6);
    let values: Vec<&str> = want.iter().map(|w| w.2.as_str()).collect();
    for v in [
        "9007199254740993",
        "-0.10000000000000000000001",
        "1.500",
        r#""42""#,
    ] {
        assert!(values.contains(&v), "{v} kept as sent: {values:?}");
    }

    let res = app
        .get("/api/v1/readings?device=odd&order=asc&format=columnar&limit=10")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"],
        "application/vnd.delos.columnar+json"
    );
    let c: Columnar = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!((c.device.as_str(), c.order.as_str()), ("odd", "asc"));
    let kinds: Vec<(&str, &str)> = c
        .parameters
        .iter()
        .map(|p| (p.parameter.as_str(), p.kind.as_str()))
        .collect();
    assert_eq!(kinds, [("n", "numeric"), ("s", "text")]);
    assert!(
        c.utc_offset.is_none() && c.utc_offsets.is_some(),
        "mixed offsets listed per reading"
    );
    assert_eq!(c.next_cursor, None);
    assert_eq!(columnar_triples(&c), want);

    let res = app.get("/api/v1/readings?device=odd&order=asc&format=csv").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(csv_triples(&res.text().await.unwrap()), want);

    let res = app
        .get("/api/v1/readings?device=odd&order=asc&format=ndjson")
        .await;
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    assert_eq!(ndjson_triples(&res.text().await.unwrap()), want);

    // A CSV or NDJSON page is an upload as it is: sent again, all duplicates. (Not
    // 1e-300: Postgres writes it out in 302 characters, beyond what an upload takes.)
    for form in ["csv", "ndjson"] {
        let page = app
            .get(&format!("/api/v1/readings?device=odd&parameter=s&format={form}"))
            .await
            .text()
            .await
            .unwrap();
        let ct = if form == "csv" {
            "text/csv"
        } else {
            "application/x-ndjson"
        };
        let again = app.upload_ok("", ct, page).await;
        assert_eq!(
            (again.read, again.stored, again.duplicates, again.rejected),
            (2, 0, 2, 0),
            "{again:?}"
        );
    }
}

#[tokio::test]
async fn one_parameter_with_one_offset_has_no_per_reading_columns() {
    let app = seeded().await;
    let c: Columnar = serde_json::from_str(
        &app.get("/api/v1/readings?device=odd&parameter=s&format=columnar")
            .await
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(c.order, "desc");
    assert!(c.parameter_index.is_none());
    assert_eq!(c.utc_offset.as_deref(), Some("+05:45"));
    assert!(c.utc_offsets.is_none());
    assert_eq!(
        c.values.iter().map(|v| v.get()).collect::<Vec<_>>()[0],
        r#""42""#,
        "a text stays text"
    );
    assert_eq!(
        columnar_triples(&c),
        default_form(&app, "device=odd&parameter=s").await
    );
}

#[tokio::test]
async fn accept_chooses_the_form_when_format_is_absent_and_format_wins() {
    let app = seeded().await;
    for (accept, ct) in [
        ("text/csv", "text/csv; charset=utf-8"),
        ("application/x-ndjson", "application/x-ndjson"),
        (
            "application/vnd.delos.columnar+json",
            "application/vnd.delos.columnar+json",
        ),
        ("text/html, text/csv;q=0.9", "text/csv; charset=utf-8"),
        ("application/json", "application/json"),
        ("*/*", "application/json"),
    ] {
        let res = get_with(&app, "/api/v1/readings?device=odd", &[("accept", accept)]).await;
        assert_eq!(res.status(), StatusCode::OK, "{accept}");
        assert_eq!(res.headers()["content-type"], ct, "{accept}");
    }
    // The next page keeps the form chosen by `Accept`, and caches are told to key on it.
    let res = get_with(
        &app,
        "/api/v1/readings?device=odd&limit=2",
        &[("accept", "text/csv")],
    )
    .await;
    let link = res.headers()["link"].to_str().unwrap();
    assert!(link.contains("&format=csv&"), "{link}");
    assert!(
        res.headers()
            .get_all("vary")
            .iter()
            .flat_map(|v| v.to_str().unwrap().split(','))
            .any(|v| v.trim().eq_ignore_ascii_case("accept")),
        "{:?}",
        res.headers()
    );
    let res = get_with(
        &app,
        "/api/v1/readings?device=odd&format=json",
        &[("accept", "text/csv")],
    )
    .await;
    assert_eq!(res.headers()["content-type"], "application/json");
    let res = app.get("/api/v1/readings?device=odd&format=xml").await;
    let p = assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "format=xml",
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "format");
}

#[tokio::test]
async fn bulk_forms_page_with_a_link_header_and_take_bigger_pages() {
    let app = seeded().await;
    let mut path = "/api/v1/readings?device=odd&order=asc&format=csv&limit=4".to_string();
    let mut got = Vec::new();
    let mut pages = 0;
    loop {
        let res = app.get(&path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        pages += 1;
        let link = res.headers().get("link").map(|l| l.to_str().unwrap().to_string());
        got.extend(csv_triples(&res.text().await.unwrap()));
        match link {
            Some(l) => {
                let (url, rel) = l.split_once("; ").unwrap();
                assert_eq!(rel, r#"rel="next""#);
                path = url.trim_matches(['<', '>']).to_string();
                assert!(path.contains("format=csv"), "{path}");
            }
            None => break,
        }
    }
    assert_eq!(pages, 2);
    assert_eq!(got, default_form(&app, "device=odd&order=asc").await);

    assert_eq!(
        app.get("/api/v1/readings?device=odd&format=ndjson&limit=10000")
            .await
            .status(),
        StatusCode::OK
    );
    for too_many in [
        "/api/v1/readings?device=odd&format=csv&limit=10001",
        "/api/v1/readings?device=odd&limit=1001",
    ] {
        let res = app.get(too_many).await;
        assert_problem(
            res,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            too_many,
        )
        .await;
    }
}

#[tokio::test]
async fn gzip_is_sent_to_clients_that_ask_and_unpacks_to_the_same_answer() {
    let app = seeded().await;
    for form in ["json", "columnar", "csv", "ndjson"] {
        let path = format!("/api/v1/readings?device=odd&order=asc&format={form}");
        let plain = get_with(&app, &path, &[]).await;
        assert!(plain.headers().get("content-encoding").is_none(), "{form}");
        let plain = plain.bytes().await.unwrap();
        let zipped = get_with(&app, &path, &[("accept-encoding", "gzip")]).await;
        assert_eq!(zipped.status(), StatusCode::OK);
        assert_eq!(zipped.headers()["content-encoding"], "gzip", "{form}");
        let zipped = zipped.bytes().await.unwrap();
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(&zipped[..])
            .read_to_end(&mut unpacked)
            .unwrap();
        assert_eq!(unpacked, plain, "{form}");
    }
}
