//! `GET /api/v1/readings/stream`: a device's readings as they are stored (upload
//! or CLI import), exact, once each, resumable exactly inside a batch.

use common::testing::SseEvents;
use sensor_api::ingest::Format;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

async fn open(app: &TestApp, query: &str, last_event_id: Option<&str>) -> SseEvents {
    let mut rb = app
        .client
        .get(format!("{}/api/v1/readings/stream?{query}", app.address))
        .header("x-api-key", crate::helpers::KEY)
        .timeout(std::time::Duration::from_secs(120));
    if let Some(id) = last_event_id {
        rb = rb.header("last-event-id", id);
    }
    SseEvents::new(rb.send().await.unwrap())
}

/// The next `n` readings: (event id, parameter, the value's JSON text, timestamp as sent).
async fn next(events: &mut SseEvents, n: usize) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let e = events.next().await;
        let r: Value = serde_json::from_str(&e.data).unwrap();
        // The value as written on the wire: serde_json's Value would round it through f64.
        let raw = e.data.split("\"value\":").nth(1).unwrap();
        let end = raw.find(",\"").unwrap();
        out.push((
            e.id.unwrap(),
            r["parameter"].as_str().unwrap().into(),
            raw[..end].to_string(),
            r["timestamp"].as_str().unwrap().into(),
        ));
    }
    out
}

const FIRST: &str = concat!(
    r#"{"device":"d1","parameter":"temp","timestamp":"2026-01-01T00:00:01.000001+05:45","value":21.50,"type":"numeric"}"#,
    "\n",
    r#"{"device":"d2","parameter":"temp","timestamp":"2026-01-01T00:00:01+00:00","value":1,"type":"numeric"}"#,
    "\n",
    r#"{"device":"d1","parameter":"temp","timestamp":"2026-01-01T00:00:02.000001+05:45","value":9007199254740993,"type":"numeric"}"#,
    "\n",
    r#"{"device":"d1","parameter":"door","timestamp":"2026-01-01T00:00:03-09:30","value":"open 🚪","type":"text"}"#,
    "\n",
);

#[tokio::test]
async fn a_devices_new_readings_stream_exactly_and_a_resume_inside_a_batch_misses_nothing() {
    let app = spawn_app().await;
    app.upload_ok("", "application/x-ndjson", "{\"device\":\"d1\",\"parameter\":\"temp\",\"timestamp\":\"2025-01-01T00:00:00Z\",\"value\":1,\"type\":\"numeric\"}\n")
        .await;
    let mut live = open(&app, "device=d1", None).await;
    app.upload_ok("", "application/x-ndjson", FIRST).await;
    let got = next(&mut live, 3).await;
    let parameters: Vec<&str> = got.iter().map(|g| g.1.as_str()).collect();
    assert_eq!(parameters.iter().filter(|p| **p == "temp").count(), 2, "{got:?}");
    let temps: Vec<&str> = got
        .iter()
        .filter(|g| g.1 == "temp")
        .map(|g| g.2.as_str())
        .collect();
    assert_eq!(temps, ["21.50", "9007199254740993"], "every digit, as sent");
    let door = got.iter().find(|g| g.1 == "door").unwrap();
    assert_eq!(door.2, "\"open 🚪\"");
    assert_eq!(door.3, "2026-01-01T00:00:03.000000-09:30");
    // Re-ingesting the same rows stores nothing and sends nothing; a new reading comes next.
    app.upload_ok("", "application/x-ndjson", FIRST).await;
    let more = r#"{"device":"d1","parameter":"temp","timestamp":"2026-01-01T00:00:04Z","value":-0.001,"type":"numeric"}"#;
    app.upload_ok("", "application/x-ndjson", format!("{more}\n"))
        .await;
    let after = next(&mut live, 1).await;
    assert_eq!(after[0].2, "-0.001");
    drop(live);

    // Resuming after the first event of a batch gives the rest of that batch, then the others.
    let mut resumed = open(&app, "device=d1", Some(&got[0].0)).await;
    let rest = next(&mut resumed, 3).await;
    assert_eq!(rest[..2], got[1..], "the same events, same ids");
    assert_eq!(rest[2], after[0]);
    // `after=0` is everything logged, the first upload included; a parameter filter keeps its own.
    let mut all = open(&app, "device=d1&parameter=temp&after=0", None).await;
    let temps = next(&mut all, 4).await;
    assert!(temps.iter().all(|t| t.1 == "temp"), "{temps:?}");
    assert_eq!(temps[0].2, "1");
}

#[tokio::test]
async fn readings_imported_by_the_cli_are_streamed_too() {
    let app = spawn_app().await;
    let mut live = open(&app, "device=cli", None).await;
    let rows = r#"{"device":"cli","parameter":"p","timestamp":"2026-02-01T10:00:00+14:00","value":1e-300,"type":"numeric"}"#;
    let summary = app
        .import(std::io::Cursor::new(format!("{rows}\n")), Format::Ndjson, None)
        .await;
    assert_eq!(summary.stored, 1);
    let got = next(&mut live, 1).await;
    // Exact, written out as /api/v1/readings writes it.
    assert_eq!(got[0].2, format!("0.{}1", "0".repeat(299)));
    assert_eq!(got[0].3, "2026-02-01T10:00:00.000000+14:00");
}

#[tokio::test]
async fn a_stream_needs_a_device_and_a_resume_point_of_its_own() {
    let app = spawn_app().await;
    for (query, id) in [
        ("", None),
        ("device=d1", Some("x")),
        ("device=d1&after=3.0", None),
    ] {
        let mut rb = app
            .client
            .get(format!("{}/api/v1/readings/stream?{query}", app.address))
            .header("x-api-key", crate::helpers::KEY);
        if let Some(id) = id {
            rb = rb.header("last-event-id", id);
        }
        let res = rb.send().await.unwrap();
        assert_eq!(res.status(), 422, "{query} {id:?}");
    }
}
