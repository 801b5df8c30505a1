use std::collections::{HashMap, HashSet};

use chrono::DateTime;
use sensor_api::ingest::Format;

use crate::helpers::{data_file, distinct, seed, seed_counts, seed_json, spawn_app};

#[tokio::test]
async fn the_seed_file_imported_twice_stores_each_reading_once_and_gives_every_one_back_exactly() {
    let app = spawn_app().await;
    let file = seed();
    // Readings in the file, and those left once exact copies are dropped.
    let (rows, kept) = seed_counts(&file);
    assert!(
        rows > kept && kept >= 20_000,
        "{rows} {kept}: the file has copies to skip"
    );

    // Once as the CLI does, once uploaded: the second adds nothing.
    let first = app.import_seed().await;
    assert_eq!(
        (first.read, first.stored, first.duplicates, first.rejected),
        (rows, kept, rows - kept, 0),
        "{first:?}"
    );
    assert!(first.complete && first.committed);
    let second = app.upload_ok("", "application/json", seed_json()).await;
    assert_eq!(
        (second.read, second.stored, second.duplicates, second.rejected),
        (rows, 0, rows, 0),
        "{second:?}"
    );
    assert_eq!(app.stored_count().await, kept as i64);
    let status = app.get_json("/status").await;
    assert_eq!(status["readings"], kept);
    assert_eq!(status["devices"], 2);

    // Every reading of the file, compared with what the API answers.
    let mut compared = 0;
    let mut offsets = HashSet::new();
    for device in file.keys() {
        let readings = distinct(&file, device);
        let answered = app.all_readings(&format!("device={device}&order=asc")).await;
        assert_eq!(answered.len(), readings.len(), "{device}");
        let by_key: HashMap<(&str, i64), &crate::helpers::ApiReading> = answered
            .iter()
            .map(|r| {
                let at = DateTime::parse_from_rfc3339(&r.timestamp_utc).unwrap();
                ((r.parameter.as_str(), at.timestamp_micros()), r)
            })
            .collect();
        assert_eq!(by_key.len(), answered.len(), "{device}: no reading twice");
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
            let local = want.answered_timestamp();
            assert_eq!(got.timestamp, local);
            assert_eq!(got.utc_offset, local[local.len() - 6..]);
            offsets.insert(got.utc_offset.clone());
            compared += 1;
        }
    }
    assert_eq!(compared, kept);
    assert!(offsets.len() >= 4, "several offsets: {offsets:?}");
}

#[tokio::test]
async fn a_stored_instant_written_with_another_offset_is_a_duplicate_and_the_first_stays() {
    let app = spawn_app().await;
    let line =
        |ts: &str, v: &str| format!(r#"{{"device":"d","parameter":"p","timestamp":"{ts}","value":{v}}}"#);
    let first = app
        .upload_ok(
            "",
            "application/x-ndjson",
            line("2024-03-07T12:00:00.000001+02:00", "1.50"),
        )
        .await;
    assert_eq!((first.stored, first.duplicates), (1, 0));
    // The same instant in UTC and in -05:00: already stored, whatever the spelling.
    let body = [
        line("2024-03-07T10:00:00.000001Z", "1.50"),
        line("2024-03-07T05:00:00.000001-05:00", "1.50"),
    ]
    .join("\n");
    let again = app.upload_ok("", "application/x-ndjson", body).await;
    assert_eq!(
        (again.read, again.stored, again.duplicates),
        (2, 0, 2),
        "{again:?}"
    );
    let all = app.all_readings("device=d").await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].timestamp, "2024-03-07T12:00:00.000001+02:00");
    assert_eq!(all[0].value.get(), "1.50");
}

#[tokio::test]
async fn the_wide_occupancy_csv_is_stored_under_the_named_device() {
    let app = spawn_app().await;
    let summary = app
        .import_file(data_file("sensor-occupancy.csv"), Format::Csv, Some("room.1"))
        .await;
    assert_eq!(summary.rejected, 0, "{summary:?}");
    assert_eq!(summary.stored, 509 * 4);
    assert_eq!(summary.offset_assumed, 509 * 4, "wide CSV times carry no offset");
    assert_eq!(summary.assumed_offset.as_deref(), Some("+00:00"));
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
        "wide CSV times are UTC by default"
    );
}
