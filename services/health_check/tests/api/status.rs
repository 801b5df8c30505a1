use chrono::{Duration, Utc};
use health_check::storage;

use crate::helpers::{spawn_app, spawn_with};

#[tokio::test]
async fn a_silent_service_turns_warn_then_fail_and_passes_again_when_heartbeats_resume() {
    let app = spawn_with(|s| {
        s.default_ttl_secs = 10;
        s.grace_secs = 5;
    })
    .await;
    let policy = app.settings.policy().unwrap();
    app.heartbeat("db_proxy", "pass").await;
    assert_eq!(app.service_status("db_proxy").await, "pass");

    // Evaluate as if time had passed: no sleeping.
    let t_warn = Utc::now() + Duration::seconds(12);
    assert_eq!(storage::evaluate(&app.pool, &policy, t_warn).await.unwrap(), 1);
    assert_eq!(app.service_status("db_proxy").await, "warn");
    let t_fail = Utc::now() + Duration::seconds(20);
    assert_eq!(storage::evaluate(&app.pool, &policy, t_fail).await.unwrap(), 1);
    assert_eq!(app.service_status("db_proxy").await, "fail");
    // Evaluating again changes nothing and logs nothing.
    assert_eq!(storage::evaluate(&app.pool, &policy, t_fail).await.unwrap(), 0);

    app.heartbeat("db_proxy", "pass").await;
    assert_eq!(app.service_status("db_proxy").await, "pass");

    let log = app.get_json("/transitions?service=db_proxy").await;
    let steps: Vec<(String, String)> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|t| {
            (
                t["from_status"].as_str().unwrap_or("new").to_string(),
                t["to_status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("new", "pass"),
        ("pass", "warn"),
        ("warn", "fail"),
        ("fail", "pass"),
    ];
    assert_eq!(steps, expected.map(|(a, b)| (a.to_string(), b.to_string())));
    let fail_at: chrono::DateTime<Utc> = serde_json::from_value(log["data"][1]["at"].clone()).unwrap();
    assert_eq!(
        fail_at.timestamp_micros(),
        t_fail.timestamp_micros(),
        "transition logged with its time"
    );
}

#[tokio::test]
async fn reported_failures_and_per_service_ttls_are_respected() {
    let app = spawn_with(|s| {
        s.default_ttl_secs = 10;
        s.grace_secs = 0;
        s.ttl_overrides = vec!["slow=100".into()];
    })
    .await;
    let policy = app.settings.policy().unwrap();
    app.heartbeat("slow", "pass").await;
    app.heartbeat("fast", "pass").await;
    app.heartbeat("broken", "down").await;
    storage::evaluate(&app.pool, &policy, Utc::now() + Duration::seconds(50))
        .await
        .unwrap();
    assert_eq!(app.service_status("slow").await, "pass");
    assert_eq!(app.service_status("fast").await, "fail");
    assert_eq!(app.service_status("broken").await, "fail");
    let summary = app.get_json("/services").await;
    assert_eq!(summary["status"], "fail");
    let slow = summary["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "slow")
        .unwrap()
        .clone();
    assert_eq!(slow["ttl_secs"], 100);
}

#[tokio::test]
async fn services_is_empty_and_passing_before_any_report() {
    let app = spawn_app().await;
    let body = app.get_json("/services").await;
    assert_eq!(body["status"], "pass");
    assert_eq!(body["services"].as_array().unwrap().len(), 0);
}
