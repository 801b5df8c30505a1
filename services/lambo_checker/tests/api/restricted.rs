//! `/api/v1/restricted`: bearer JWTs (the full refusal table), API keys, fail closed.

use common::testing::jwt::{self, TestKeys};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn valid_tokens_and_admitted_keys_get_200_naming_the_caller() {
    let keys = TestKeys::generate();
    let settings = keys.settings();
    let app = spawn_app(|s| {
        s.jwt = settings;
        s.api_keys = "restricted-key".parse().unwrap();
    })
    .await;
    let url = format!("{}/api/v1/restricted", app.address);
    for (case, token) in [
        ("rs256", keys.rs256(&jwt::claims("uid-42"))),
        ("es256", keys.es256(&jwt::claims("uid-42"))),
        ("hs256", jwt::hs256(jwt::HS256_SECRET, &jwt::claims("uid-42"))),
    ] {
        let res = app.client.get(&url).bearer_auth(token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{case}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["message"], "Successful Auth", "{case}");
        assert_eq!(body["caller"]["subject"], "uid-42", "{case}");
        assert_eq!(body["caller"]["method"], "bearer_jwt", "{case}");
    }
    let res = app
        .client
        .get(&url)
        .header("x-api-key", "restricted-key")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["caller"]["method"], "api_key");
    let res = app
        .client
        .get(&url)
        .header("x-api-key", "other")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized", "unknown key").await;
}

#[tokio::test]
async fn every_bad_token_gets_401_problem_with_www_authenticate_never_500() {
    let keys = TestKeys::generate();
    let settings = keys.settings();
    let app = spawn_app(|s| s.jwt = settings).await;
    let url = format!("{}/api/v1/restricted", app.address);
    for (case, token) in jwt::refused_tokens(&keys) {
        let res = app
            .client
            .get(&url)
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        let challenge = res
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{case}: {challenge}"
        );
        assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_token", case).await;
    }
    let res = app.client.get(&url).send().await.unwrap();
    assert_eq!(
        res.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer realm=\"delos\"")
    );
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized", "no credentials").await;
}

#[tokio::test]
async fn with_nothing_configured_the_route_refuses_everyone() {
    let keys = TestKeys::generate();
    let app = spawn_app(|_| {}).await;
    let url = format!("{}/api/v1/restricted", app.address);
    let res = app
        .client
        .get(&url)
        .bearer_auth(keys.rs256(&jwt::claims("uid-42")))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_token", "token, no keys").await;
    let res = app
        .client
        .get(&url)
        .header("x-api-key", "test-key")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized", "key, no keys").await;
}

#[tokio::test]
async fn every_key_of_the_plain_list_is_admitted_and_a_token_decides_when_a_key_is_sent_too() {
    let keys = TestKeys::generate();
    let settings = keys.settings();
    let app = spawn_app(|s| {
        s.jwt = settings;
        s.api_keys = "first-key, restricted-key".parse().unwrap();
    })
    .await;
    let url = format!("{}/api/v1/restricted", app.address);
    for key in ["first-key", "restricted-key"] {
        let res = app
            .client
            .get(&url)
            .header("x-api-key", key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{key}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["caller"]["method"], "api_key", "{key}");
        assert!(!body.to_string().contains(key), "the key itself is never echoed");
    }
    let res = app
        .client
        .get(&url)
        .header("x-api-key", "first-key")
        .bearer_auth(keys.rs256(&jwt::claims("uid-7")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["caller"]["subject"], "uid-7");
    assert_eq!(body["caller"]["method"], "bearer_jwt");
    let res = app
        .client
        .get(&url)
        .header("x-api-key", "first-key")
        .bearer_auth("not-a-jwt")
        .send()
        .await
        .unwrap();
    assert_problem(
        res,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "a bad token and a good key",
    )
    .await;
}
