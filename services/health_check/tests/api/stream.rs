//! `GET /transitions/stream`: every status change once, in commit order,
//! resumable exactly; and the status page that follows it.

use chrono::{Duration, Utc};
use common::testing::SseEvents;
use health_check::storage;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_with};

async fn open(app: &TestApp, query: &str, last_event_id: Option<&str>) -> SseEvents {
    let mut rb = app
        .client
        .get(format!("{}/transitions/stream?{query}", app.address))
        .timeout(std::time::Duration::from_secs(120));
    if let Some(id) = last_event_id {
        rb = rb.header("last-event-id", id);
    }
    SseEvents::new(rb.send().await.unwrap())
}

/// The next `n` transitions as (seq, service, to_status), each seq its event's id.
async fn next(events: &mut SseEvents, n: usize) -> Vec<(i64, String, String)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let e = events.next().await;
        let t: Value = serde_json::from_str(&e.data).unwrap();
        let seq = t["seq"].as_i64().unwrap();
        assert_eq!(e.id, Some(seq.to_string()));
        out.push((
            seq,
            t["service"].as_str().unwrap().into(),
            t["to_status"].as_str().unwrap().into(),
        ));
    }
    out
}

fn step(seq: i64, service: &str, to: &str) -> (i64, String, String) {
    (seq, service.into(), to.into())
}

#[tokio::test]
async fn every_change_is_streamed_in_order_and_a_resume_misses_nothing() {
    let app = spawn_with(|s| {
        s.default_ttl_secs = 10;
        s.grace_secs = 5;
    })
    .await;
    let policy = app.settings.policy().unwrap();
    app.heartbeat("db_proxy", "pass").await;
    let mut live = open(&app, "", None).await;
    app.heartbeat("sensor_api", "pass").await;
    // Each first heartbeat logs two changes (the instance's, then the service's);
    // the stream shows services' by default and starts after what was there.
    assert_eq!(
        next(&mut live, 1).await,
        vec![step(4, "sensor_api", "pass")],
        "starts at now"
    );
    storage::evaluate(&app.pool, &policy, Utc::now() + Duration::seconds(12))
        .await
        .unwrap();
    let warned = next(&mut live, 2).await;
    assert!(warned[0].0 > 4 && warned[1].0 > warned[0].0, "{warned:?}");
    assert!(warned.iter().all(|t| t.2 == "warn"), "{warned:?}");
    drop(live);
    app.heartbeat("db_proxy", "pass").await;
    let mut resumed = open(&app, "", Some(&warned[0].0.to_string())).await;
    let rest = next(&mut resumed, 2).await;
    assert_eq!(rest[0], warned[1]);
    assert_eq!((rest[1].1.as_str(), rest[1].2.as_str()), ("db_proxy", "pass"));
    assert_eq!(
        rest[1].0, 10,
        "two transitions each for two heartbeats, the warnings and this pass"
    );
    // A filter skips the others' changes but keeps their place.
    let mut only = open(&app, "service=db_proxy&after_seq=0", None).await;
    let mine = next(&mut only, 3).await;
    assert!(mine.iter().all(|t| t.1 == "db_proxy"), "{mine:?}");
    assert_eq!(mine[2], rest[1]);
    // The instances' changes come with instances=true.
    let mut all = open(&app, "instances=true&after_seq=0", None).await;
    assert_eq!(next(&mut all, 10).await.len(), 10);
}

#[tokio::test]
async fn a_bad_resume_point_is_a_422() {
    let app = spawn_with(|_| {}).await;
    let res = app
        .client
        .get(format!("{}/transitions/stream?after_seq=-3", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
}

#[tokio::test]
async fn the_status_page_follows_the_stream_from_what_it_shows() {
    let app = spawn_with(|_| {}).await;
    app.heartbeat("db_proxy", "pass").await;
    // The sequencer runs in the background; the page names the newest seq it has.
    let mut page = String::new();
    for _ in 0..200 {
        page = app
            .client
            .get(format!("{}/", app.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if page.contains("<body data-seq=2>") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(page.contains("<body data-seq=2>"), "{page}");
    assert!(page.contains("<tr data-service=\"db_proxy\">"), "{page}");
    assert!(page.contains("new EventSource('/transitions/stream?instances=true&after_seq='"));
    assert!(page.contains("<noscript><meta http-equiv=refresh content=10></noscript>"));
}
