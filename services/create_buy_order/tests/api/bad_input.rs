use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{API_KEY, assert_problem, spawn_app};

#[tokio::test]
async fn bad_orders_get_a_422_naming_the_field_and_nothing_is_stored() {
    let app = spawn_app().await;
    // (query, body, field) — the body is raw text so that numbers go as written.
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("currency=eur&amount=1.001", None, "amount"),
        ("currency=eur&amount=0", None, "amount"),
        ("currency=eur&amount=0.00", None, "amount"),
        ("currency=eur&amount=-5", None, "amount"),
        ("currency=eur&amount=1000000000", None, "amount"),
        ("currency=eur&amount=NaN", None, "amount"),
        ("currency=eur&amount=Infinity", None, "amount"),
        ("currency=eur&amount=1e2", None, "amount"),
        ("currency=eur", None, "amount"),
        ("currency=btc&amount=10", None, "currency"),
        ("amount=10", None, "currency"),
        ("", Some(r#"{"currency":"EUR","amount":1e2}"#), "amount"),
        ("", Some(r#"{"currency":"EUR","amount":69.999}"#), "amount"),
        ("", Some(r#"{"currency":"EUR","amount":-1}"#), "amount"),
        ("", Some(r#"{"currency":"EUR","amount":999999999999}"#), "amount"),
        ("", Some(r#"{"currency":"EUR","amount":"abc"}"#), "amount"),
        ("", Some(r#"{"currency":"EUR","amount":[1]}"#), "amount"),
        ("", Some(r#"{"currency":"JPY","amount":1}"#), "currency"),
        ("", Some(r#"{"currency":null,"amount":1}"#), "currency"),
        (
            "currency=usd&amount=5",
            Some(r#"{"currency":"EUR","amount":5}"#),
            "currency",
        ),
    ];
    for (query, body, field) in cases {
        let mut rb = app
            .client
            .post(format!("{}/place_order?{query}", app.address))
            .header("x-api-key", API_KEY);
        if let Some(b) = body {
            rb = rb.header("content-type", "application/json").body(b.to_string());
        }
        let res = rb.send().await.unwrap();
        let case = format!("?{query} {body:?}");
        let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", &case).await;
        assert_eq!(problem["errors"][0]["field"], *field, "{case}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().starts_with(field),
            "{case}: {problem}"
        );
    }
    assert_eq!(app.order_count().await, 0);
}

#[tokio::test]
async fn bodies_that_do_not_parse_and_wrong_routes_get_problem_documents() {
    let app = spawn_app().await;
    let send = |ct: &'static str, body: &'static str| {
        app.client
            .post(format!("{}/place_order", app.address))
            .header("x-api-key", API_KEY)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_problem(
        send("application/json", "{\"currency\":").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "malformed_json",
        "truncated",
    )
    .await;
    assert_problem(
        send("application/json", "[1,2]").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "array",
    )
    .await;
    assert_problem(
        send("application/x-www-form-urlencoded", "currency=eur&amount=1")
            .await
            .unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "form body",
    )
    .await;
    let big = "x".repeat(70 * 1024);
    let res = app
        .client
        .post(format!("{}/place_order", app.address))
        .header("x-api-key", API_KEY)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_problem(
        res,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        "70 KiB body",
    )
    .await;

    let get = app.get("/place_order").await;
    let p: Value = assert_problem(get, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "GET").await;
    assert!(p["detail"].as_str().unwrap().contains("GET"));
    assert_problem(
        app.get("/nope").await,
        StatusCode::NOT_FOUND,
        "not_found",
        "no route",
    )
    .await;
    let bad_key = app
        .place_json(&json!({"currency": "EUR", "amount": 1}), Some("has space"))
        .await;
    let p = assert_problem(
        bad_key,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "bad key",
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "Idempotency-Key");
    assert_eq!(app.order_count().await, 0);
}
