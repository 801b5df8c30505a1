use chrono::{TimeDelta, Utc};
use common::testing::TEST_TOKEN;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_problem, record, spawn_app};

#[tokio::test]
async fn every_bad_request_is_a_problem_document_with_the_right_status() {
    let app = spawn_app().await;
    let c = &app.client;
    let url = |p: &str| app.url(p);
    let good = record("61234.56", Utc::now());
    let mut negative = good.clone();
    negative["rates"]["USD"] = json!("-1");
    let mut no_source = good.clone();
    no_source["source"] = json!("  ");
    let future = record("61234.56", Utc::now() + TimeDelta::hours(1));
    let cases = vec![
        (
            "no token",
            c.post(url("/add")).json(&good),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "wrong token",
            c.post(url("/add")).bearer_auth("nope").json(&good),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "ttl zero",
            c.post(url("/add?ttl=0")).bearer_auth(TEST_TOKEN).json(&good),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "ttl over a day",
            c.post(url("/add?ttl=86401")).bearer_auth(TEST_TOKEN).json(&good),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "ttl not a number",
            c.post(url("/add?ttl=soon")).bearer_auth(TEST_TOKEN).json(&good),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "ttl negative",
            c.post(url("/add?ttl=-5")).bearer_auth(TEST_TOKEN).json(&good),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "malformed json",
            c.post(url("/add"))
                .bearer_auth(TEST_TOKEN)
                .header("content-type", "application/json")
                .body("{\"rates\":"),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "not a price record",
            c.post(url("/add"))
                .bearer_auth(TEST_TOKEN)
                .json(&json!({"price": 1})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "negative rate",
            c.post(url("/add")).bearer_auth(TEST_TOKEN).json(&negative),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "blank source",
            c.post(url("/add")).bearer_auth(TEST_TOKEN).json(&no_source),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "fetched an hour in the future",
            c.post(url("/add")).bearer_auth(TEST_TOKEN).json(&future),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "wrong content type",
            c.post(url("/add")).bearer_auth(TEST_TOKEN).body(good.to_string()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "wrong method on /record",
            c.post(url("/record")),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "wrong method on /add",
            c.get(url("/add")),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "unknown route",
            c.get(url("/nope")),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (case, rb, status, code) in cases {
        assert_problem(rb.send().await.unwrap(), status, code, case).await;
    }
    assert_eq!(app.key_ttl().await, -2, "nothing was stored");
}

#[tokio::test]
async fn a_bad_ttl_names_the_field() {
    let app = spawn_app().await;
    let res = app.add(&record("61234.56", Utc::now()), Some("0")).await;
    let body = assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "ttl=0",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "ttl", "{body}");
}

#[tokio::test]
async fn the_openapi_document_lists_both_routes() {
    let app = spawn_app().await;
    let doc: serde_json::Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/record"]["get"].is_object(), "{doc}");
    assert!(doc["paths"]["/add"]["post"].is_object(), "{doc}");
    common::testing::assert_security_documented(&doc, "post", "/add", "service_token");
}
