//! Background analysis jobs: accepted, answered for real, kept across restarts,
//! retaken from a dead worker, pruned after the retention, 404 for unknown ids.

use reqwest::StatusCode;
use serde_json::{Value, json};

use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{TestApp, assert_problem, recorded_ohlc, spawn_app};

async fn submit(app: &TestApp, body: Value) -> String {
    let res = app.post_json("/api/v1/analyze_async", &body).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let doc: Value = res.json().await.unwrap();
    let id = doc["task_id"].as_str().unwrap().to_string();
    assert_eq!(location, format!("/api/v1/task_status/{id}"));
    assert_eq!(doc["status_url"], location);
    assert_eq!(doc["status"], "pending");
    id
}

#[tokio::test]
async fn a_job_runs_the_real_analysis_and_its_result_matches_the_rest_answer() {
    let app = spawn_app(|s| s.providers.clear()).await;
    let id = submit(
        &app,
        json!({"symbol": "btc", "investment": 500, "user_id": "u-1"}),
    )
    .await;
    let job = app.wait_for_job(&id).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["user_id"], "u-1");
    assert_eq!(job["attempts"], 1);
    let rest = app.ask("symbol=BTC&investment=500").await;
    assert_eq!(job["result"]["exact"], rest["exact"], "the same figures as REST");
    assert_eq!(job["result"]["message"]["SYMBOL"], "BTC");
    assert!(job["error"].is_null());
}

#[tokio::test]
async fn a_job_that_cannot_be_answered_fails_with_the_reason() {
    // ETH with no provider and nothing stored: the analysis itself fails (503 after retries).
    let app = spawn_app(|s| {
        s.providers.clear();
        s.jobs.max_attempts = 1;
    })
    .await;
    let id = submit(&app, json!({"symbol": "ETH", "investment": "100"})).await;
    let job = app.wait_for_job(&id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "history_unavailable", "{job}");
}

#[tokio::test]
async fn a_job_accepted_before_a_restart_is_finished_after_it() {
    let first = spawn_app(|s| {
        s.providers.clear();
        s.jobs.workers = 0;
    })
    .await;
    let id = submit(&first, json!({"symbol": "BTC", "investment": "1000"})).await;
    let pending: Value = first
        .get(&format!("/api/v1/task_status/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pending["status"], "pending");
    let (pg, redis) = (first.settings.pg.clone(), first.settings.redis.clone());
    first.stop().await;

    let second = spawn_app(|s| {
        s.providers.clear();
        s.pg = pg;
        s.redis = redis;
    })
    .await;
    let job = second.wait_for_job(&id).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["result"]["exact"]["investment"], "1000");
}

#[tokio::test]
async fn a_job_whose_worker_died_is_taken_up_again_and_one_that_keeps_dying_fails() {
    let first = spawn_app(|s| {
        s.providers.clear();
        s.jobs.workers = 0;
    })
    .await;
    let orphan = submit(&first, json!({"symbol": "BTC", "investment": "10"})).await;
    let cursed = submit(&first, json!({"symbol": "BTC", "investment": "20"})).await;
    // Claimed by a worker that then died: running, lease expired.
    sqlx::query(
        "update jobs set status = 'running', attempts = case when id::text = $1 then 1 else 3 end,
                lease_until = now() - interval '1 second'",
    )
    .bind(&orphan)
    .execute(&first.pool)
    .await
    .unwrap();
    let (pg, redis) = (first.settings.pg.clone(), first.settings.redis.clone());
    first.stop().await;
    let second = spawn_app(|s| {
        s.providers.clear();
        s.pg = pg;
        s.redis = redis;
    })
    .await;
    let job = second.wait_for_job(&orphan).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["attempts"], 2, "claimed a second time");
    let job = second.wait_for_job(&cursed).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "worker_lost");
}

#[tokio::test]
async fn finished_jobs_are_deleted_after_the_retention() {
    let first = spawn_app(|s| {
        s.providers.clear();
        s.jobs.retention_secs = 3600;
    })
    .await;
    let old = submit(&first, json!({"symbol": "BTC", "investment": "10"})).await;
    let recent = submit(&first, json!({"symbol": "BTC", "investment": "11"})).await;
    first.wait_for_job(&old).await;
    first.wait_for_job(&recent).await;
    sqlx::query("update jobs set finished_at = now() - interval '2 hours' where id::text = $1")
        .bind(&old)
        .execute(&first.pool)
        .await
        .unwrap();
    let (pg, redis) = (first.settings.pg.clone(), first.settings.redis.clone());
    first.stop().await;
    // A worker prunes when it starts (and every minute after).
    let second = spawn_app(|s| {
        s.providers.clear();
        s.jobs.retention_secs = 3600;
        s.pg = pg;
        s.redis = redis;
    })
    .await;
    let mut gone = false;
    for _ in 0..100 {
        if second.get(&format!("/api/v1/task_status/{old}")).await.status() == StatusCode::NOT_FOUND {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(gone, "the job past retention is deleted");
    let kept = second.get(&format!("/api/v1/task_status/{recent}")).await;
    assert_eq!(kept.status(), StatusCode::OK, "a recent one is kept");
}

#[tokio::test]
async fn unknown_ids_are_404_and_bad_submissions_are_refused_naming_the_parameter() {
    let app = spawn_app(|s| s.providers.clear()).await;
    let res = app
        .get("/api/v1/task_status/0192f7d3-0000-7000-8000-000000000000")
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "unknown_task", "unknown id").await;
    let res = app.get("/api/v1/task_status/not-a-uuid").await;
    let body = assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "bad id",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "id");
    for (case, body, field) in [
        ("no investment", json!({"symbol": "BTC"}), "investment"),
        (
            "negative",
            json!({"symbol": "BTC", "investment": -5}),
            "investment",
        ),
        ("object", json!({"symbol": "BTC", "investment": {}}), "investment"),
        ("no symbol", json!({"investment": 5}), "symbol"),
        (
            "bad interval",
            json!({"symbol": "BTC", "investment": 5, "interval": "7h"}),
            "interval",
        ),
    ] {
        let res = app.post_json("/api/v1/analyze_async", &body).await;
        let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", case).await;
        assert_eq!(p["errors"][0]["field"], field, "{case}");
    }
    let res = app
        .post_json(
            "/api/v1/analyze_async",
            &json!({"symbol": "NOPE", "investment": 5}),
        )
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "unknown_symbol", "unknown symbol").await;
    let n: i64 = sqlx::query_scalar("select count(*) from jobs")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(n, 0, "nothing refused was queued");
}

#[tokio::test]
async fn a_job_that_outlives_its_first_lease_runs_once() {
    // Two workers, a 1 s lease, and an analysis that takes 2.5 s (Kraken answers
    // slowly): without renewal the second worker would take the job after 1 s.
    let app = spawn_app(|s| {
        s.import_bundled = false;
        s.jobs.workers = 2;
        s.jobs.lease_secs = 1;
        s.jobs.poll_millis = 50;
        s.common.client_timeout_millis = 10_000;
    })
    .await;
    Mock::given(method("GET"))
        .and(path("/0/public/OHLC"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(recorded_ohlc())
                .set_delay(std::time::Duration::from_millis(2500)),
        )
        .mount(&app.kraken)
        .await;
    let id = submit(&app, json!({"symbol": "BTC", "investment": "500"})).await;
    let job = app.wait_for_job(&id).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["attempts"], 1, "claimed once: {job}");
    let requests = app.kraken.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "the analysis ran once");
}
