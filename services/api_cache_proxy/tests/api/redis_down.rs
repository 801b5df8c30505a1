use chrono::Utc;
use common::testing::TcpProxy;
use reqwest::StatusCode;

use crate::helpers::{assert_problem, record, spawn_with};

#[tokio::test]
async fn redis_down_gives_503_with_retry_after_and_service_recovers_when_it_is_back() {
    let proxy = TcpProxy::start("127.0.0.1:6379").await.unwrap();
    let app = spawn_with(|s| s.redis.url = format!("redis://{}", proxy.addr())).await;
    let body = record("61234.56", Utc::now());
    app.add_ok(&body, Some("600")).await;

    proxy.set_down(true);
    let res = app.get_record().await;
    assert_eq!(
        res.headers().get("retry-after").map(|v| v.to_str().unwrap()),
        Some("2")
    );
    let problem = assert_problem(
        res,
        StatusCode::SERVICE_UNAVAILABLE,
        "dependency_unavailable",
        "GET",
    )
    .await;
    assert_eq!(problem["dependency"], "redis");
    let res = app.add(&body, Some("600")).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(
        res,
        StatusCode::SERVICE_UNAVAILABLE,
        "dependency_unavailable",
        "POST",
    )
    .await;
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "not_ready", "readyz").await;

    proxy.set_down(false);
    assert_eq!(app.stored().await["rates"], body["rates"]);
    app.add_ok(&body, Some("600")).await;
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
