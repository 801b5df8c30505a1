//! Timestamps without an offset: refused unless the caller names the offset to
//! assume; wide CSV (which has none) is read in UTC or the named offset, and the
//! summary counts the readings read with an assumed offset.

use reqwest::StatusCode;
use sensor_api::ingest::{Format, IngestOptions};

use crate::helpers::{assert_problem, data_file, spawn_app};

const WITH_OFFSET: &str =
    r#"{"device":"tz","parameter":"temp","timestamp":"2026-01-01T00:00:00.000000+01:00","value":1}"#;
const NAIVE: &str =
    r#"{"device":"tz","parameter":"temp","timestamp":"2026-01-01T00:00:01.000000","value":2}"#;

fn ndjson(lines: &[&str]) -> String {
    lines.join("\n") + "\n"
}

#[tokio::test]
async fn an_ndjson_timestamp_without_offset_is_a_row_error_naming_its_line() {
    let app = spawn_app().await;
    let s = app
        .upload_ok("", "application/x-ndjson", ndjson(&[WITH_OFFSET, NAIVE]))
        .await;
    assert_eq!(
        (s.read, s.stored, s.rejected, s.offset_assumed),
        (2, 1, 1, 0),
        "{s:?}"
    );
    assert_eq!(s.errors[0].position, "line 2");
    assert!(s.errors[0].reason.contains("no UTC offset"), "{:?}", s.errors[0]);
    assert!(s.errors[0].reason.contains("assume_offset"), "{:?}", s.errors[0]);
    assert_eq!(s.assumed_offset, None);
}

#[tokio::test]
async fn a_json_timestamp_without_offset_is_a_row_error_naming_its_path() {
    let app = spawn_app().await;
    let body = r#"{"dev.tz": [
        {"parameter": "p", "timestamp": "2026-01-01T00:00:00Z", "value": 1},
        {"parameter": "p", "timestamp": "2026-01-01 00:00:01", "value": 2}
    ]}"#;
    let s = app.upload_ok("", "application/json", body).await;
    assert_eq!((s.stored, s.rejected), (1, 1), "{s:?}");
    assert_eq!(s.errors[0].position, r#"$["dev.tz"][1]"#);
    assert!(s.errors[0].reason.contains("no UTC offset"), "{:?}", s.errors[0]);
}

#[tokio::test]
async fn a_long_csv_timestamp_without_offset_is_refused_too_and_strict_mode_stores_nothing() {
    let app = spawn_app().await;
    let body = "device,parameter,timestamp,value\ntz,p,2026-01-01T00:00:00Z,1\ntz,p,2026-01-01T00:00:01,2\n";
    let res = app.upload("strict=true", "text/csv", body).await;
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "rows_rejected", "strict").await;
    assert_eq!(problem["errors"][0]["position"], "line 3");
    assert_eq!(app.stored_count().await, 0);
}

#[tokio::test]
async fn the_offset_to_assume_is_applied_to_naive_times_only_and_counted() {
    let app = spawn_app().await;
    // `%2B` is the encoded `+`; a bare `+` (decoded to a space) is taken as one too.
    for (query, offset, local, utc) in [
        (
            "assume_offset=%2B05:45",
            "+05:45",
            "2026-01-01T00:00:01.000000+05:45",
            "2025-12-31T18:15:01.000000Z",
        ),
        (
            "assume_offset=+14:00",
            "+14:00",
            "2026-01-01T00:00:01.000000+14:00",
            "2025-12-31T10:00:01.000000Z",
        ),
        (
            "assume_offset=-09:30",
            "-09:30",
            "2026-01-01T00:00:01.000000-09:30",
            "2026-01-01T09:30:01.000000Z",
        ),
    ] {
        let device = format!("tz{}", offset.replace(':', ""));
        let body = ndjson(&[
            &WITH_OFFSET.replace("\"tz\"", &format!("{device:?}")),
            &NAIVE.replace("\"tz\"", &format!("{device:?}")),
        ]);
        let s = app.upload_ok(query, "application/x-ndjson", body).await;
        assert_eq!(
            (s.stored, s.rejected, s.offset_assumed),
            (2, 0, 1),
            "{query}: {s:?}"
        );
        assert_eq!(s.assumed_offset.as_deref(), Some(offset), "{query}");
        let got = app
            .all_readings(&format!("device={}&order=asc", device.replace('+', "%2B")))
            .await;
        let (written, naive): (Vec<_>, Vec<_>) = got.iter().partition(|r| r.utc_offset == "+01:00");
        assert_eq!(
            written[0].timestamp, "2026-01-01T00:00:00.000000+01:00",
            "written offset kept"
        );
        assert_eq!(naive[0].timestamp, local, "{query}");
        assert_eq!(naive[0].timestamp_utc, utc, "{query}");
        assert_eq!(naive[0].utc_offset, offset, "{query}");
    }
}

#[tokio::test]
async fn a_bad_offset_to_assume_is_a_problem_naming_the_parameter() {
    let app = spawn_app().await;
    for bad in ["CET", "%2B24:00", "2"] {
        let res = app
            .upload(
                &format!("assume_offset={bad}"),
                "application/x-ndjson",
                ndjson(&[NAIVE]),
            )
            .await;
        let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", bad).await;
        assert_eq!(problem["errors"][0]["field"], "assume_offset", "{bad}");
    }
    assert_eq!(app.stored_count().await, 0);
}

#[tokio::test]
async fn a_wide_csv_is_read_in_utc_by_default_and_in_the_named_offset_when_asked() {
    let app = spawn_app().await;
    let csv = std::fs::read(data_file("sensor-occupancy.csv")).unwrap();
    let s = app.upload_ok("device=room.utc", "text/csv", csv.clone()).await;
    assert_eq!((s.stored, s.offset_assumed), (509 * 4, 509 * 4), "{s:?}");
    assert_eq!(s.assumed_offset.as_deref(), Some("+00:00"));
    let s = app
        .upload_ok("device=room.ak&assume_offset=-09:30", "text/csv", csv)
        .await;
    assert_eq!((s.stored, s.offset_assumed), (509 * 4, 509 * 4), "{s:?}");
    assert_eq!(s.assumed_offset.as_deref(), Some("-09:30"));
    let first = app.all_readings("device=room.ak&parameter=V1&order=asc").await;
    assert_eq!(first[0].timestamp, "2015-02-04T17:51:00.000000-09:30");
    assert_eq!(first[0].timestamp_utc, "2015-02-05T03:21:00.000000Z");
}

#[tokio::test]
async fn the_cli_path_takes_the_offset_to_assume_as_an_option() {
    let app = spawn_app().await;
    let run = |assume_offset| {
        sensor_api::ingest::run(
            &app.pool,
            std::io::Cursor::new(ndjson(&[NAIVE])),
            IngestOptions {
                format: Format::Ndjson,
                device: None,
                strict: false,
                assume_offset,
            },
        )
    };
    let refused = run(None).await.unwrap();
    assert_eq!((refused.stored, refused.rejected), (0, 1), "{refused:?}");
    let s = run(Some(-34_200)).await.unwrap();
    assert_eq!((s.stored, s.offset_assumed), (1, 1), "{s:?}");
    assert_eq!(s.assumed_offset.as_deref(), Some("-09:30"));
}
