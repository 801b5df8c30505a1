use std::collections::HashMap;

use chrono::DateTime;
use reqwest::StatusCode;

use crate::helpers::{ReadingsPage, TestApp, assert_problem, distinct, seed, seed_counts, spawn_app};

async fn seeded() -> TestApp {
    let app = spawn_app().await;
    app.import_seed().await;
    app
}

/// Readings the service keeps of one series of the seed file.
fn kept(file: &crate::helpers::Seed, device: &str, parameter: &str) -> usize {
    distinct(file, device)
        .iter()
        .filter(|r| r.parameter == parameter)
        .count()
}

#[tokio::test]
async fn devices_parameters_and_latest_values_agree_with_the_file() {
    let app = seeded().await;
    let file = seed();

    let page1 = app.get_json("/api/v1/devices?limit=1").await;
    assert_eq!(page1["data"][0]["device"], "device.bar");
    let cursor = page1["next_cursor"].as_str().unwrap();
    let page2 = app
        .get_json(&format!("/api/v1/devices?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(page2["data"][0]["device"], "device.foo");
    assert_eq!(page2["data"][0]["parameters"], 17);
    assert_eq!(page2["data"][0]["readings"], distinct(&file, "device.foo").len());
    assert!(page2["next_cursor"].is_null());

    let params = app.get_json("/api/v1/devices/device.foo/parameters").await;
    let p = params["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["parameter"] == "parameter.bar")
        .unwrap();
    assert_eq!(p["type"], "text");
    assert_eq!(p["readings"], kept(&file, "device.foo", "parameter.bar"));

    // Latest value per parameter, computed from the file.
    let mut want: HashMap<&str, (i64, &str)> = HashMap::new();
    for r in &file["device.foo"] {
        let at = DateTime::parse_from_rfc3339(&r.timestamp)
            .unwrap()
            .timestamp_micros();
        let e = want.entry(r.parameter.as_str()).or_insert((at, r.value.get()));
        if at > e.0 {
            *e = (at, r.value.get());
        }
    }
    let res = app.get("/api/v1/devices/device.foo/latest").await;
    assert_eq!(res.status(), StatusCode::OK);
    let latest: ReadingsPage = {
        #[derive(serde::Deserialize)]
        struct Latest {
            data: Vec<crate::helpers::ApiReading>,
        }
        let l: Latest = serde_json::from_str(&res.text().await.unwrap()).unwrap();
        ReadingsPage {
            data: l.data,
            next_cursor: None,
        }
    };
    assert_eq!(latest.data.len(), 17);
    for r in &latest.data {
        assert_eq!(r.value.get(), want[r.parameter.as_str()].1, "{}", r.parameter);
    }
}

#[tokio::test]
async fn readings_are_newest_first_by_default_and_pages_neither_skip_nor_repeat() {
    let app = seeded().await;
    let file = seed();
    let q = "device=device.foo&parameter=parameter.foo&limit=50";
    let first: ReadingsPage = serde_json::from_str(
        &app.get(&format!("/api/v1/readings?{q}"))
            .await
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first.data.len(), 50);
    let times: Vec<_> = first
        .data
        .iter()
        .map(|r| DateTime::parse_from_rfc3339(&r.timestamp_utc).unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] > w[1]), "newest first");

    let all_desc = app
        .all_readings("device=device.foo&parameter=parameter.foo")
        .await;
    let all_asc = app
        .all_readings("device=device.foo&parameter=parameter.foo&order=asc")
        .await;
    assert_eq!(all_desc.len(), kept(&file, "device.foo", "parameter.foo"));
    let mut reversed: Vec<&str> = all_asc.iter().map(|r| r.timestamp_utc.as_str()).collect();
    reversed.reverse();
    assert_eq!(
        all_desc
            .iter()
            .map(|r| r.timestamp_utc.as_str())
            .collect::<Vec<_>>(),
        reversed
    );

    // A time range: [from, to).
    let from = &all_asc[10].timestamp_utc;
    let to = &all_asc[20].timestamp_utc;
    let ranged = app
        .all_readings(&format!(
            "device=device.foo&parameter=parameter.foo&order=asc&from={from}&to={to}"
        ))
        .await;
    assert_eq!(ranged.len(), 10);
    assert_eq!(&ranged[0].timestamp_utc, from);
}

#[tokio::test]
async fn bad_query_input_gets_a_problem_naming_the_parameter() {
    let app = seeded().await;
    let cases = [
        (
            "/api/v1/readings?device=nope",
            StatusCode::NOT_FOUND,
            "unknown_device",
            "device",
        ),
        (
            "/api/v1/devices/nope/latest",
            StatusCode::NOT_FOUND,
            "unknown_device",
            "device",
        ),
        (
            "/api/v1/devices/nope/parameters",
            StatusCode::NOT_FOUND,
            "unknown_device",
            "device",
        ),
        (
            "/api/v1/readings?device=device.foo&parameter=nope",
            StatusCode::NOT_FOUND,
            "unknown_parameter",
            "parameter",
        ),
        (
            "/api/v1/readings",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "device",
        ),
        (
            "/api/v1/readings?device=device.foo&from=noon",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "from",
        ),
        (
            "/api/v1/readings?device=device.foo&to=2024-02-30",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "to",
        ),
        (
            "/api/v1/readings?device=device.foo&from=2024-03-08&to=2024-03-07",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "from",
        ),
        (
            "/api/v1/readings?device=device.foo&limit=0",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "limit",
        ),
        (
            "/api/v1/readings?device=device.foo&order=up",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "order",
        ),
        (
            "/api/v1/readings?device=device.foo&cursor=bm9wZQ",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "cursor",
        ),
        (
            "/api/v1/devices?cursor=zz",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "cursor",
        ),
        (
            "/api/v1/aggregate?device=device.foo&parameter=parameter.foo&bucket=1s",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "bucket",
        ),
        (
            "/api/v1/aggregate?device=device.foo&parameter=parameter.foo&bucket=7x",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "bucket",
        ),
        (
            "/api/v1/aggregate?device=device.foo&parameter=parameter.bar&fn=avg",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "fn",
        ),
        (
            "/api/v1/aggregate?device=device.foo&parameter=parameter.foo&fn=first",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "fn",
        ),
        (
            "/api/v1/aggregate?device=device.foo&parameter=parameter.foo&fill=spline",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "fill",
        ),
        (
            "/api/v1/aggregate?device=device.foo&parameter=nope",
            StatusCode::NOT_FOUND,
            "unknown_parameter",
            "parameter",
        ),
        (
            "/api/v1/core/process_request?limit=99999",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "limit",
        ),
    ];
    for (path, status, code, field) in cases {
        let body = assert_problem(app.get(path).await, status, code, path).await;
        assert_eq!(body["errors"][0]["field"], field, "{path}: {body}");
    }
    // The reason for a function that does not fit the type is spelled out.
    let body = app
        .get("/api/v1/aggregate?device=device.foo&parameter=parameter.bar&fn=avg")
        .await;
    let body: serde_json::Value = body.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("text parameter"),
        "{body}"
    );
}

#[tokio::test]
async fn process_request_pages_through_every_record_with_typed_values() {
    let app = seeded().await;
    let file = seed();
    // (device, parameter, instant) → the timestamp as it should come back.
    let mut want: HashMap<(String, String, i64), String> = HashMap::new();
    for device in file.keys() {
        for r in distinct(&file, device) {
            want.insert(
                (device.clone(), r.parameter.clone(), r.micros()),
                r.answered_timestamp(),
            );
        }
    }
    let mut seen = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => "/api/v1/core/process_request?limit=5000".to_string(),
            Some(c) => format!("/api/v1/core/process_request?limit=5000&cursor={c}"),
        };
        let page = app.get_json(&path).await;
        assert_eq!(page["message"], "Data available");
        let records = page["graph_data"].as_array().unwrap();
        seen += records.len();
        for r in records {
            match r["type"].as_str().unwrap() {
                "numeric" => assert!(r["value"].is_number(), "{r}"),
                _ => assert!(r["value"].is_string(), "{r}"),
            }
            let at = DateTime::parse_from_rfc3339(r["timestamp_utc"].as_str().unwrap()).unwrap();
            let key = (
                r["device_id"].as_str().unwrap().to_string(),
                r["parameter"].as_str().unwrap().to_string(),
                at.timestamp_micros(),
            );
            let local = want
                .remove(&key)
                .unwrap_or_else(|| panic!("{r} unexpected or repeated"));
            assert_eq!(r["timestamp"], local, "{r}");
            assert_eq!(r["utc_offset"], local[local.len() - 6..], "{r}");
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen as u64, seed_counts(&file).1);
    assert!(want.is_empty(), "{} records never came", want.len());
    let old = app
        .get_json("/api/v1/core/process_request?limit=3&graph_data=string")
        .await;
    let parsed: serde_json::Value = serde_json::from_str(old["graph_data"].as_str().unwrap()).unwrap();
    assert_eq!(parsed.as_array().unwrap().len(), 3);
}
