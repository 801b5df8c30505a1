use reqwest::StatusCode;

use crate::helpers::{assert_problem, spawn_app};

fn ndjson(lines: &[&str]) -> String {
    lines.join("\n") + "\n"
}

const GOOD_1: &str = r#"{"device":"d1","parameter":"temp","timestamp":"2024-03-07T10:00:00.000001+02:00","value":21.5,"type":"numeric"}"#;
const GOOD_2: &str =
    r#"{"device":"d1","parameter":"temp","timestamp":"2024-03-07T10:01:00+02:00","value":21.75}"#;
const BAD: &str = r#"{"device":"d1","parameter":"temp","timestamp":"yesterday at noon","value":22}"#;
const GOOD_3: &str =
    r#"{"device":"d1","parameter":"state","timestamp":"2024-03-07T10:02:00Z","value":"on","type":"text"}"#;
const GOOD_4: &str =
    r#"{"device":"d1","parameter":"temp","timestamp":"2024-03-07T10:03:00-05:30","value":-0.125}"#;

#[tokio::test]
async fn a_bad_row_in_the_middle_is_reported_by_line_and_the_others_are_stored() {
    let app = spawn_app().await;
    let body = ndjson(&[GOOD_1, GOOD_2, BAD, GOOD_3, GOOD_4]);
    let s = app.upload_ok("", "application/x-ndjson", body).await;
    assert_eq!((s.read, s.stored, s.rejected), (5, 4, 1), "{s:?}");
    assert_eq!(s.errors[0].position, "line 3");
    assert!(
        s.errors[0].reason.contains("yesterday at noon"),
        "{:?}",
        s.errors[0]
    );
    assert_eq!(app.stored_count().await, 4);
    let temps = app.all_readings("device=d1&parameter=temp&order=asc").await;
    let values: Vec<&str> = temps.iter().map(|r| r.value.get()).collect();
    assert_eq!(values, ["21.5", "21.75", "-0.125"]);
    assert_eq!(temps[2].timestamp, "2024-03-07T10:03:00.000000-05:30");
    assert_eq!(temps[2].timestamp_utc, "2024-03-07T15:33:00.000000Z");
}

#[tokio::test]
async fn in_strict_mode_a_bad_row_stores_nothing_and_is_still_reported() {
    let app = spawn_app().await;
    let body = ndjson(&[GOOD_1, GOOD_2, BAD, GOOD_3, GOOD_4]);
    let res = app.upload("strict=true", "application/x-ndjson", body).await;
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "rows_rejected", "strict").await;
    assert_eq!(problem["errors"][0]["position"], "line 3");
    assert_eq!(problem["summary"]["stored"], 0);
    assert_eq!(app.stored_count().await, 0);
    let res = app.get("/api/v1/devices/d1/latest").await;
    assert_problem(res, StatusCode::NOT_FOUND, "unknown_device", "nothing was stored").await;
}

#[tokio::test]
async fn bad_items_of_the_original_shape_are_reported_by_json_path() {
    let app = spawn_app().await;
    let body = r#"{"dev.a": [
        {"parameter": "p", "timestamp": "2024-03-07T12:00:00+02:00", "value": 1.0, "type": "numeric"},
        {"parameter": "p", "timestamp": "2024-03-07T12:01:00+02:00", "value": "1.5", "type": "numeric"},
        {"parameter": "p", "timestamp": "2024-03-07T12:02:00+02:00", "value": true},
        {"parameter": 7, "timestamp": "2024-03-07T12:03:00+02:00", "value": 2},
        "not an object",
        {"parameter": "p", "timestamp": "2024-03-07T12:04:00+02:00", "value": 3}
    ]}"#;
    let s = app.upload_ok("", "application/json", body).await;
    assert_eq!((s.read, s.stored, s.rejected), (6, 2, 4), "{s:?}");
    let positions: Vec<&str> = s.errors.iter().map(|e| e.position.as_str()).collect();
    assert_eq!(
        positions,
        [
            r#"$["dev.a"][1]"#,
            r#"$["dev.a"][2]"#,
            r#"$["dev.a"][3]"#,
            r#"$["dev.a"][4]"#
        ]
    );
    assert!(
        s.errors[0].reason.contains("type is numeric"),
        "{:?}",
        s.errors[0]
    );
    assert!(
        s.errors[2].reason.contains("parameter must be a string"),
        "{:?}",
        s.errors[2]
    );
}

#[tokio::test]
async fn a_reading_of_the_other_type_is_rejected_with_its_position_the_type_having_been_learned() {
    let app = spawn_app().await;
    // Learned in one upload ...
    app.upload_ok("", "application/x-ndjson", ndjson(&[GOOD_1])).await;
    // ... enforced in the next, and within one file too.
    let body = "device,parameter,timestamp,value,type\n\
                d1,temp,2024-03-07T11:00:00Z,warm,text\n\
                d1,mode,2024-03-07T11:00:00Z,eco,\n\
                d1,mode,2024-03-07T11:01:00Z,42,numeric\n\
                d1,temp,2024-03-07T11:02:00Z,23,\n";
    let s = app.upload_ok("", "text/csv", body).await;
    assert_eq!((s.stored, s.rejected), (2, 2), "{s:?}");
    assert_eq!(s.errors[0].position, "line 2");
    assert!(s.errors[0].reason.contains("is numeric"), "{:?}", s.errors[0]);
    assert_eq!(s.errors[1].position, "line 4");
    assert!(s.errors[1].reason.contains("is text"), "{:?}", s.errors[1]);
}

#[tokio::test]
async fn a_document_that_breaks_off_keeps_what_came_before_and_says_where_it_broke() {
    let app = spawn_app().await;
    let body = r#"{"dev.b": [
        {"parameter": "p", "timestamp": "2024-03-07T12:00:00Z", "value": 1},
        {"parameter": "p", "timestamp": "2024-03-07T12:01:00Z", "value": 2} oops
    ]}"#;
    let s = app.upload_ok("", "application/json", body).await;
    assert!(!s.complete);
    assert_eq!(s.stored, 2);
    assert!(
        s.errors[0].position.starts_with("line 3 column "),
        "{:?}",
        s.errors[0]
    );
}

#[tokio::test]
async fn re_sending_an_upload_adds_nothing_and_counts_duplicates() {
    let app = spawn_app().await;
    let body = ndjson(&[GOOD_1, GOOD_2, GOOD_3]);
    let first = app.upload_ok("", "application/x-ndjson", body.clone()).await;
    let again = app.upload_ok("", "application/x-ndjson", body).await;
    assert_eq!((first.stored, first.duplicates), (3, 0));
    assert_eq!((again.stored, again.duplicates), (0, 3));
    let params = app.get_json("/api/v1/devices/d1/parameters").await;
    assert_eq!(params["data"][1]["parameter"], "temp");
    assert_eq!(
        params["data"][1]["readings"], 2,
        "counters count stored readings once"
    );
}
