//! Replicas: each instance has its own status, and its service's rolls up from them.

use chrono::{Duration, Utc};
use health_check::storage;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_with};

async fn beat(app: &TestApp, instance: &str, status: &str) {
    let res = app
        .post_report(
            &json!({"level": "heartbeat", "service": "db_proxy", "instance": instance, "status": status}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

fn instance<'a>(summary: &'a Value, id: &str) -> &'a Value {
    summary["services"][0]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["instance"] == id)
        .unwrap()
}

#[tokio::test]
async fn one_replica_of_two_going_silent_shows_on_services_and_degrades_the_service() {
    let app = spawn_with(|s| {
        s.default_ttl_secs = 10;
        s.grace_secs = 5;
    })
    .await;
    let policy = app.settings.policy().unwrap();
    beat(&app, "host-a:8010", "pass").await;
    beat(&app, "host-b:8010", "pass").await;
    assert_eq!(app.service_status("db_proxy").await, "pass");

    // b keeps beating, a goes silent past TTL + grace.
    let later = Utc::now() + Duration::seconds(30);
    sqlx::query("update instance_status set last_seen = $1 where instance = 'host-b:8010'")
        .bind(later)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(storage::evaluate(&app.pool, &policy, later).await.unwrap(), 1);
    let summary = app.get_json("/services").await;
    assert_eq!(summary["services"][0]["status"], "warn", "{summary}");
    assert_eq!(instance(&summary, "host-a:8010")["status"], "fail");
    assert_eq!(instance(&summary, "host-b:8010")["status"], "pass");

    // Both down: the service fails; a back: degraded again.
    beat(&app, "host-b:8010", "down").await;
    assert_eq!(app.service_status("db_proxy").await, "fail");
    beat(&app, "host-a:8010", "pass").await;
    assert_eq!(app.service_status("db_proxy").await, "warn");

    let log = app.get_json("/transitions?service=db_proxy").await;
    let service_steps: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|t| t["to_status"].as_str().unwrap())
        .collect();
    assert_eq!(service_steps, ["pass", "warn", "fail", "warn"]);
    assert!(
        log["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["instance"].is_null())
    );
    let a = app
        .get_json("/transitions?service=db_proxy&instance=host-a:8010")
        .await;
    let a_steps: Vec<&str> = a["data"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|t| t["to_status"].as_str().unwrap())
        .collect();
    assert_eq!(a_steps, ["pass", "fail", "pass"]);
    let all = app.get_json("/transitions?instances=true").await;
    assert_eq!(all["data"].as_array().unwrap().len(), 4 + 3 + 2);

    let page = app
        .client
        .get(format!("{}/", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("host-a:8010") && page.contains("host-b:8010"),
        "{page}"
    );
}

#[tokio::test]
async fn the_original_body_without_an_instance_still_counts() {
    let app = spawn_with(|_| {}).await;
    app.heartbeat("api_updater", "pass").await;
    let summary = app.get_json("/services").await;
    assert_eq!(summary["services"][0]["status"], "pass");
    assert_eq!(summary["services"][0]["instances"][0]["instance"], "");
}

#[tokio::test]
async fn a_restart_of_health_check_gives_every_known_service_its_ttl_again() {
    let app = spawn_with(|s| {
        s.default_ttl_secs = 10;
        s.grace_secs = 5;
    })
    .await;
    beat(&app, "host-a:8010", "pass").await;
    // Heard from an hour ago, before this health_check started (the restart).
    let hour_ago = Utc::now() - Duration::hours(1);
    sqlx::query("update instance_status set last_seen = $1")
        .bind(hour_ago)
        .execute(&app.pool)
        .await
        .unwrap();
    let restarted = app.settings.policy().unwrap();
    let now = Utc::now();
    assert_eq!(
        storage::evaluate(&app.pool, &restarted, now).await.unwrap(),
        0,
        "no pass → fail at the restart"
    );
    assert_eq!(app.service_status("db_proxy").await, "pass");
    // Still silent past TTL + grace after the restart: then it fails.
    assert_eq!(
        storage::evaluate(&app.pool, &restarted, now + Duration::seconds(16))
            .await
            .unwrap(),
        1
    );
    assert_eq!(app.service_status("db_proxy").await, "fail");
}

#[tokio::test]
async fn metrics_show_each_services_rolled_up_status_for_alerting() {
    let app = spawn_with(|s| s.evaluate_every_secs = 1).await;
    app.heartbeat("db_proxy", "down").await;
    app.heartbeat("sensor_api", "degraded").await;
    app.heartbeat("lambo_checker", "ok").await;
    let gauge = |text: &str, service: &str| {
        text.lines()
            .find(|l| {
                l.starts_with("delos_health_status{") && l.contains(&format!("target_service=\"{service}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_owned)
    };
    // Refreshed with each evaluation (every second here).
    let mut text = String::new();
    for _ in 0..50 {
        text = common::testing::client()
            .get(format!("{}/metrics", app.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if gauge(&text, "lambo_checker").is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(gauge(&text, "db_proxy").as_deref(), Some("2"), "{text}");
    assert_eq!(gauge(&text, "sensor_api").as_deref(), Some("1"));
    assert_eq!(gauge(&text, "lambo_checker").as_deref(), Some("0"));
}
