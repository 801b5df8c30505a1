use chrono::{TimeDelta, Utc};
use common::internal_apis::CacheProxyClient;
use common::models::PriceRecord;
use common::service_client::ServiceClient;
use common::testing::TEST_TOKEN;
use reqwest::StatusCode;

use crate::helpers::{assert_problem, record, spawn_app};

#[tokio::test]
async fn a_stored_record_reads_back_with_its_exact_decimal_strings() {
    let app = spawn_app().await;
    let at = Utc::now();
    let body = record("61234.56789", at);
    app.add_ok(&body, None).await;
    for path in ["/record", "/record/"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let got: serde_json::Value = res.json().await.unwrap();
        assert_eq!(got["rates"], body["rates"], "{path}");
        assert_eq!(got["source"], "coinbase");
        assert_eq!(got["simulated"], false);
        let fetched: chrono::DateTime<Utc> = serde_json::from_value(got["fetched_at"].clone()).unwrap();
        assert_eq!(fetched, at, "{path}: fetched_at keeps its nanoseconds");
    }
}

#[tokio::test]
async fn the_typed_client_round_trips_a_record_and_sees_none_when_empty() {
    let app = spawn_app().await;
    let client = CacheProxyClient(ServiceClient::new(
        "api_cache_proxy",
        &app.address,
        common::testing::client(),
        common::config::Secret::new(TEST_TOKEN),
    ));
    assert_eq!(client.record().await.unwrap(), None);
    let rec: PriceRecord = serde_json::from_value(record("61234.56", Utc::now())).unwrap();
    client.add(&rec, 30).await.unwrap();
    assert_eq!(client.record().await.unwrap(), Some(rec));
}

#[tokio::test]
async fn an_empty_cache_answers_404_no_price_record() {
    let app = spawn_app().await;
    assert_problem(
        app.get_record().await,
        StatusCode::NOT_FOUND,
        "no_price_record",
        "empty",
    )
    .await;
}

#[tokio::test]
async fn the_requested_ttl_is_set_on_the_redis_key() {
    let app = spawn_app().await;
    app.add_ok(&record("61234.56", Utc::now()), Some("1234")).await;
    let ttl = app.key_ttl().await;
    assert!((1230..=1234).contains(&ttl), "TTL {ttl}");
}

#[tokio::test]
async fn without_a_ttl_the_record_lives_a_minute() {
    let app = spawn_app().await;
    app.add_ok(&record("61234.56", Utc::now()), None).await;
    let ttl = app.key_ttl().await;
    assert!((55..=60).contains(&ttl), "TTL {ttl}");
}

#[tokio::test]
async fn a_record_with_the_same_fetched_at_is_accepted_and_its_ttl_extended() {
    let app = spawn_app().await;
    let body = record("61234.56", Utc::now());
    app.add_ok(&body, Some("30")).await;
    app.add_ok(&body, Some("3600")).await;
    let ttl = app.key_ttl().await;
    assert!((3590..=3600).contains(&ttl), "TTL {ttl}");
    assert_eq!(app.stored().await["rates"], body["rates"]);
}

#[tokio::test]
async fn an_older_record_is_refused_with_409_and_the_newer_one_kept() {
    let app = spawn_app().await;
    let now = Utc::now();
    app.add_ok(&record("61000", now), Some("600")).await;
    let res = app
        .add(&record("59000", now - TimeDelta::nanoseconds(1)), Some("3600"))
        .await;
    let problem = assert_problem(res, StatusCode::CONFLICT, "stale_record", "older record").await;
    assert!(problem["stored_fetched_at"].is_string(), "{problem}");
    assert_eq!(app.stored().await["rates"]["EUR"], "61000");
    let ttl = app.key_ttl().await;
    assert!(ttl <= 600, "the refused write left the TTL alone: {ttl}");
}

#[tokio::test]
async fn a_newer_record_replaces_the_stored_one() {
    let app = spawn_app().await;
    let now = Utc::now();
    app.add_ok(&record("61000", now - TimeDelta::seconds(15)), Some("600"))
        .await;
    app.add_ok(&record("62000", now), Some("30")).await;
    assert_eq!(app.stored().await["rates"]["EUR"], "62000");
    assert!(app.key_ttl().await <= 30);
}

#[tokio::test]
async fn racing_writers_always_leave_the_newest_record() {
    let app = spawn_app().await;
    let now = Utc::now();
    // Interleave old and new so that the newest is neither first nor last sent.
    let offsets: Vec<i64> = (0..24).map(|i| (i * 7) % 24).collect();
    let writes = offsets.iter().map(|&i| {
        let body = record(
            &format!("{}", 60_000 + i),
            now - TimeDelta::milliseconds(100 * (23 - i)),
        );
        let app = &app;
        async move { app.add(&body, Some("600")).await.status() }
    });
    let statuses = futures_util::future::join_all(writes).await;
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    assert_eq!(app.stored().await["rates"]["EUR"], "60023");
}
