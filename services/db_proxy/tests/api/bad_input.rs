use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, keyed_order, order, spawn_app, stored_totals};

fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

fn without(mut body: Value, key: &str) -> Value {
    body.as_object_mut().unwrap().remove(key);
    body
}

#[tokio::test]
async fn bad_orders_are_refused_with_problem_documents_and_nothing_is_stored() {
    let (app, pool) = spawn_app().await;
    let good = order("69.00", "35123.40");
    let unprocessable = [
        (
            "amount with 3 decimals as string",
            with(good.clone(), "amount", json!("1.234")),
        ),
        (
            "amount with 3 decimals as number",
            with(good.clone(), "amount", json!(1.234)),
        ),
        ("zero amount", with(good.clone(), "amount", json!(0))),
        (
            "zero amount as string",
            with(good.clone(), "amount", json!("0.00")),
        ),
        ("negative amount", with(good.clone(), "amount", json!("-5"))),
        (
            "amount of a billion",
            with(good.clone(), "amount", json!("1000000000")),
        ),
        (
            "amount in exponent form",
            with(good.clone(), "amount", json!("1e2")),
        ),
        ("currency BTC", with(good.clone(), "currency", json!("BTC"))),
        ("zero rate", with(good.clone(), "exchange_rate", json!("0"))),
        ("negative rate", with(good.clone(), "exchange_rate", json!("-1"))),
        (
            "rate not a number",
            with(good.clone(), "exchange_rate", json!("abc")),
        ),
        (
            "bitcoin amount that does not fit",
            with(
                with(good.clone(), "amount", json!("999999999.99")),
                "exchange_rate",
                json!("0.000000000000000001"),
            ),
        ),
        ("empty rate_source", with(good.clone(), "rate_source", json!(""))),
        (
            "bad rate_fetched_at",
            with(good.clone(), "rate_fetched_at", json!("yesterday")),
        ),
        ("missing amount", without(good.clone(), "amount")),
        ("missing currency", without(good.clone(), "currency")),
        ("missing exchange_rate", without(good.clone(), "exchange_rate")),
        ("missing rate_source", without(good.clone(), "rate_source")),
        (
            "missing rate_fetched_at",
            without(good.clone(), "rate_fetched_at"),
        ),
        ("empty idempotency key", keyed_order("1.00", "100", "c", "", "h")),
        ("empty client id", keyed_order("1.00", "100", "", "k", "h")),
        ("empty request hash", keyed_order("1.00", "100", "c", "k", "")),
        (
            "idempotency key too long",
            keyed_order("1.00", "100", "c", &"k".repeat(256), "h"),
        ),
        ("body is an array", json!([good.clone()])),
    ];
    for (case, body) in unprocessable {
        let res = app.post_add(&body).await;
        assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", case).await;
    }

    let url = format!("{}/add", app.address);
    let token = common::testing::TEST_TOKEN;
    let c = &app.client;
    let raw = [
        (
            "malformed json",
            c.post(&url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body("{\"amount\":"),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "wrong content type",
            c.post(&url)
                .bearer_auth(token)
                .header("content-type", "text/plain")
                .body(good.to_string()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "no token",
            c.post(&url).json(&good),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "wrong token",
            c.post(&url).bearer_auth("not-the-token").json(&good),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "no token and a malformed body",
            c.post(&url).header("content-type", "application/json").body("{"),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "wrong method",
            c.get(&url),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "unknown route",
            c.get(format!("{}/nope", app.address)),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (case, rb, status, code) in raw {
        let res = rb.send().await.unwrap();
        assert_problem(res, status, code, case).await;
    }
    assert_eq!(stored_totals(&pool).await, (0, 0), "nothing stored");

    // The original route with a trailing slash, and the lowercase currency, still work.
    let res = app
        .client
        .post(format!("{}/add/", app.address))
        .bearer_auth(token)
        .json(&with(good, "currency", json!("eur")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(res.headers().get("location").is_some());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["order"]["amount"], "69.00");
    assert_eq!(body["order"]["currency"], "EUR");
    assert_eq!(body["order"]["exchange_rate"], "35123.4");
    assert_eq!(body["order"]["bitcoin_amount"], "0.00196451");
    assert_eq!(body["replayed"], false);
}
