use std::collections::HashMap;

use chrono::DateTime;
use sensor_api::ingest::Format;

use crate::helpers::{seed, shared_data, spawn_app};

#[tokio::test]
async fn the_seed_file_imported_twice_stores_20000_readings_that_come_back_exactly() {
    let app = spawn_app().await;

    // Once as the CLI does, once uploaded: the second adds nothing.
    let first = app
        .import_file(shared_data("sensor-seed/data.json"), Format::Json, None)
        .await;
    assert_eq!(
        (first.read, first.stored, first.rejected),
        (20_000, 20_000, 0),
        "{first:?}"
    );
    assert!(first.complete && first.committed);
    let body = std::fs::read(shared_data("sensor-seed/data.json")).unwrap();
    let second = app.upload_ok("", "application/json", body).await;
    assert_eq!(
        (second.read, second.stored, second.duplicates, second.rejected),
        (20_000, 0, 20_000, 0),
        "{second:?}"
    );
    assert_eq!(app.stored_count().await, 20_000);
    let status = app.get_json("/status").await;
    assert_eq!(status["readings"], 20_000);
    assert_eq!(status["devices"], 2);

    // Every reading of the file, compared with what the API answers.
    let file = seed();
    let mut compared = 0;
    for (device, readings) in &file {
        let answered = app.all_readings(&format!("device={device}&order=asc")).await;
        assert_eq!(answered.len(), readings.len(), "{device}");
        let by_key: HashMap<(&str, i64), &crate::helpers::ApiReading> = answered
            .iter()
            .map(|r| {
                let at = DateTime::parse_from_rfc3339(&r.timestamp_utc).unwrap();
                ((r.parameter.as_str(), at.timestamp_micros()), r)
            })
            .collect();
        for want in readings {
            let at = DateTime::parse_from_rfc3339(&want.timestamp).unwrap();
            let got = by_key
                .get(&(want.parameter.as_str(), at.timestamp_micros()))
                .unwrap_or_else(|| panic!("{device} {} {} missing", want.parameter, want.timestamp));
            assert_eq!(&got.device, device);
            assert_eq!(got.kind, want.kind, "{} type", want.parameter);
            // The very same JSON: digits of numbers, characters of strings.
            assert_eq!(
                got.value.get(),
                want.value.get(),
                "{device} {} {}",
                want.parameter,
                want.timestamp
            );
            // Same instant, same offset, microseconds kept.
            let answered_local = DateTime::parse_from_rfc3339(&got.timestamp).unwrap();
            assert_eq!(answered_local, at);
            assert_eq!(answered_local.offset(), at.offset());
            assert_eq!(got.timestamp, want.timestamp);
            assert_eq!(got.utc_offset, "+02:00");
            compared += 1;
        }
    }
    assert_eq!(compared, 20_000);
}

#[tokio::test]
async fn the_wide_occupancy_csv_is_stored_under_the_named_device() {
    let app = spawn_app().await;
    let summary = app
        .import_file(shared_data("sensor-occupancy.csv"), Format::Csv, Some("room.1"))
        .await;
    assert_eq!(summary.rejected, 0, "{summary:?}");
    assert_eq!(summary.stored, 509 * 4);
    let params = app.get_json("/api/v1/devices/room.1/parameters").await;
    let names: Vec<&str> = params["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["parameter"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["V1", "V2", "V3", "V4"]);
    assert!(
        params["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["type"] == "numeric" && p["readings"] == 509)
    );
    let first = app.all_readings("device=room.1&parameter=V1&order=asc").await;
    assert_eq!(first[0].value.get(), "23.18");
    assert_eq!(
        first[0].timestamp, "2015-02-04T17:51:00.000000+00:00",
        "naive times are UTC"
    );
}
