use std::collections::HashSet;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{API_KEY, OTHER_API_KEY, assert_problem, client_of, spawn_app};

#[tokio::test]
async fn a_retry_with_the_same_key_returns_the_same_order_marked_as_replayed() {
    let app = spawn_app().await;
    let body = json!({"currency": "EUR", "amount": 69});
    let (replayed, first) = app.place_ok(&body, Some("retry-1")).await;
    assert!(!replayed);
    assert_eq!(first["order"]["client_order_id"], "retry-1");
    // The same request in its other original form is the same request.
    let res = app
        .place_query("currency=eur&amount=69.00&client_order_id=retry-1")
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    assert_eq!(
        res.headers()["location"],
        format!("/orders/{}", first["order"]["id"].as_str().unwrap())
    );
    let again: Value = res.json().await.unwrap();
    assert_eq!(again["order"], first["order"]);
    assert_eq!(again["replayed"], true);
    assert_eq!(app.order_count().await, 1);
}

#[tokio::test]
async fn the_same_key_with_a_different_request_is_refused_with_422() {
    let app = spawn_app().await;
    app.place_ok(&json!({"currency": "EUR", "amount": 69}), Some("k"))
        .await;
    for changed in [
        json!({"currency": "EUR", "amount": 70}),
        json!({"currency": "USD", "amount": 69}),
    ] {
        let res = app.place_json(&changed, Some("k")).await;
        assert_problem(
            res,
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "changed request",
        )
        .await;
    }
    assert_eq!(app.order_count().await, 1);
}

#[tokio::test]
async fn the_same_key_sent_200_times_at_once_places_exactly_one_order() {
    let app = spawn_app().await;
    let body = json!({"currency": "EUR", "amount": "12.34", "client_order_id": "storm"});
    let answers = join_all((0..200).map(|_| async {
        let res = app.place_json(&body, None).await;
        let status = res.status();
        (status, res.json::<Value>().await.unwrap())
    }))
    .await;
    let mut ids = HashSet::new();
    for (status, body) in &answers {
        match *status {
            StatusCode::CREATED => {
                ids.insert(body["order"]["id"].as_str().unwrap().to_string());
            }
            StatusCode::CONFLICT => assert_eq!(body["code"], "idempotency_request_in_flight", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(ids.len(), 1, "every 201 names the same order");
    assert_eq!(app.order_count().await, 1);
    // Once the storm is over, a retry is a plain replay.
    let (replayed, last) = app.place_ok(&body, None).await;
    assert!(replayed);
    assert!(ids.contains(last["order"]["id"].as_str().unwrap()));
}

#[tokio::test]
async fn a_key_still_in_flight_gets_409_with_retry_after_and_nothing_is_stored() {
    let app = spawn_app().await;
    // Another replica is handling this key right now.
    let mark = create_buy_order::in_flight_key(&app.redis_prefix, &client_of(API_KEY), "busy");
    let mut conn = app.redis.clone();
    let _: () = redis::cmd("SET")
        .arg(&mark)
        .arg("someone-else")
        .arg("PX")
        .arg(60_000)
        .query_async(&mut conn)
        .await
        .unwrap();
    let res = app
        .place_json(&json!({"currency": "EUR", "amount": 1}), Some("busy"))
        .await;
    assert_eq!(res.headers()["retry-after"], "1");
    assert_problem(
        res,
        StatusCode::CONFLICT,
        "idempotency_request_in_flight",
        "in flight",
    )
    .await;
    assert_eq!(app.order_count().await, 0);
    // Its mark is not ours to remove; when it is gone the key works.
    let _: () = redis::cmd("DEL").arg(&mark).query_async(&mut conn).await.unwrap();
    app.place_ok(&json!({"currency": "EUR", "amount": 1}), Some("busy"))
        .await;
}

#[tokio::test]
async fn keys_are_scoped_per_client() {
    let app = spawn_app().await;
    let body = json!({"currency": "EUR", "amount": 5});
    let a = app.place_as(API_KEY, &body, Some("shared")).await;
    let b = app.place_as(OTHER_API_KEY, &body, Some("shared")).await;
    assert_eq!(
        (a.status(), b.status()),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    assert!(b.headers().get("idempotent-replayed").is_none());
    assert_eq!(app.order_count().await, 2);
    assert_ne!(client_of(API_KEY), client_of(OTHER_API_KEY));
}

#[tokio::test]
async fn a_retry_is_answered_even_when_no_fresh_price_is_available_but_new_orders_are_not() {
    let app = spawn_app().await;
    let body = json!({"currency": "EUR", "amount": 20});
    let (_, first) = app.place_ok(&body, Some("before-outage")).await;
    app.set_stale_price().await;

    let (replayed, again) = app.place_ok(&body, Some("before-outage")).await;
    assert!(replayed);
    assert_eq!(again["order"], first["order"]);
    let changed = app
        .place_json(&json!({"currency": "EUR", "amount": 21}), Some("before-outage"))
        .await;
    assert_problem(
        changed,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        "changed",
    )
    .await;
    let new_key = app.place_json(&body, Some("during-outage")).await;
    assert_problem(new_key, StatusCode::SERVICE_UNAVAILABLE, "stale_price", "new key").await;
    assert_eq!(app.order_count().await, 1);
}
