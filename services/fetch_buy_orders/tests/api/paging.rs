use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{new_order, spawn_app};

async fn problem(res: reqwest::Response, status: StatusCode, code: &str, case: &str) -> Value {
    assert_eq!(res.status(), status, "{case}");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/problem+json"),
        "{case}"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], code, "{case}: {body}");
    body
}

#[tokio::test]
async fn orders_come_newest_first_and_start_and_cursor_agree() {
    let app = spawn_app(|_| {}).await;
    app.insert(25).await;
    let first: Value = app
        .get("/get_orders/?start=0&page_size=10")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["total"], 25);
    let seqs: Vec<i64> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (16..=25).rev().collect::<Vec<_>>());
    assert_eq!(first["data"][0]["amount"], "1.24", "decimals travel as strings");
    let next = first["_links"]["next"].as_str().unwrap().to_string();
    let by_cursor: Value = app.get(&next).await.json().await.unwrap();
    let by_start: Value = app
        .get("/get_orders?start=10&page_size=10")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_cursor["data"], by_start["data"]);
    let last: Value = app.get("/get_orders?start=20").await.json().await.unwrap();
    assert_eq!(last["data"].as_array().unwrap().len(), 5);
    assert!(last["next_cursor"].is_null() && last["_links"]["next"].is_null());
}

#[tokio::test]
async fn following_next_links_while_orders_arrive_neither_skips_nor_repeats() {
    let app = spawn_app(|_| {}).await;
    app.insert(60).await;
    let writer = {
        let db = app.db.clone();
        tokio::spawn(async move {
            for i in 0..60 {
                db.add(&new_order(10_000 + i)).await.unwrap();
            }
        })
    };
    let mut seen = HashSet::new();
    let mut link = "/get_orders?page_size=7".to_string();
    let mut first_top = None;
    loop {
        let page: Value = app.get(&link).await.json().await.unwrap();
        for o in page["data"].as_array().unwrap() {
            let seq = o["seq"].as_i64().unwrap();
            first_top.get_or_insert(seq);
            assert!(seen.insert(seq), "order {seq} repeated");
        }
        match page["_links"]["next"].as_str() {
            Some(next) => link = next.to_string(),
            None => break,
        }
    }
    writer.await.unwrap();
    let top = first_top.unwrap();
    assert_eq!(
        seen,
        (1..=top).collect::<HashSet<_>>(),
        "every order up to the first page's newest, once"
    );
}

#[tokio::test]
async fn bad_parameters_are_422_problems_naming_the_field() {
    let app = spawn_app(|_| {}).await;
    let cases = [
        ("/get_orders?page_size=0", "page_size"),
        ("/get_orders?page_size=101", "page_size"),
        ("/get_orders?page_size=ten", "page_size"),
        ("/get_orders?start=-1", "start"),
        ("/get_orders?start=1.5", "start"),
        ("/get_orders?cursor=", "cursor"),
        ("/get_orders?start=0&cursor=abc", "cursor"),
    ];
    for (path, field) in cases {
        let body = problem(
            app.get(path).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            path,
        )
        .await;
        assert_eq!(body["errors"][0]["field"], field, "{path}");
    }
    // A cursor db_proxy does not recognise is refused there and passed on unchanged.
    let res = app.get("/get_orders?cursor=garbage").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app.get(&format!("/orders/{}", uuid::Uuid::new_v4())).await;
    problem(res, StatusCode::NOT_FOUND, "not_found", "unknown order").await;
    let res = app.get("/orders/not-a-uuid").await;
    problem(res, StatusCode::NOT_FOUND, "not_found", "bad id").await;
}

#[tokio::test]
async fn one_order_and_the_capacity_are_served() {
    let app = spawn_app(|_| {}).await;
    let added = app.db.add(&new_order(500_000)).await.unwrap();
    let order: Value = app
        .get(&format!("/orders/{}", added.order.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(order["bitcoin_amount"], "0.10000000");
    let cap: Value = app.get("/capacity").await.json().await.unwrap();
    assert_eq!(cap["used_btc"], "0.10000000");
    assert_eq!(cap["remaining_btc"], "99.90000000");
}

#[tokio::test]
async fn a_normal_client_is_limited_to_60_a_minute_and_a_configured_key_is_not() {
    let app = spawn_app(|_| {}).await;
    common::testing::within_one_rate_window(std::time::Duration::from_secs(15)).await;
    let url = format!("{}/capacity", app.address);
    for i in 1..=60 {
        let res = app.client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "request {i}");
        assert!(
            res.headers()["ratelimit-policy"]
                .to_str()
                .unwrap()
                .contains("q=60")
        );
        assert!(
            res.headers()["ratelimit"]
                .to_str()
                .unwrap()
                .contains(&format!("r={}", 60 - i))
        );
    }
    let res = app.client.get(&url).send().await.unwrap();
    assert!(res.headers().contains_key("retry-after"));
    problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited", "61st").await;
    for _ in 0..70 {
        assert_eq!(
            app.get("/capacity").await.status(),
            StatusCode::OK,
            "keyed client"
        );
    }
    // The standard routes are not rate limited.
    let res = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn db_proxy_or_redis_down_is_a_503_and_service_recovers() {
    let redis = common::testing::TcpProxy::start("127.0.0.1:6379").await.unwrap();
    let mut app = spawn_app(|s| s.redis.url = format!("redis://{}", redis.addr())).await;
    assert_eq!(app.get("/get_orders").await.status(), StatusCode::OK);

    redis.set_down(true);
    let res = app.get("/get_orders").await;
    assert!(res.headers().contains_key("retry-after"));
    problem(
        res,
        StatusCode::SERVICE_UNAVAILABLE,
        "dependency_unavailable",
        "redis down",
    )
    .await;
    redis.set_down(false);
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..20 {
        status = app.get("/get_orders").await.status();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::OK, "recovers when Redis is back");

    app.db_handle.take().unwrap().stop().await;
    let res = app.get("/get_orders").await;
    let body = problem(
        res,
        StatusCode::SERVICE_UNAVAILABLE,
        "dependency_unavailable",
        "db_proxy down",
    )
    .await;
    assert_eq!(body["dependency"], "db_proxy");
}
