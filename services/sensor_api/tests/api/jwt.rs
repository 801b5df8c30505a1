//! Bearer tokens on `/api/v1/core/restricted`: the full refusal table, fail closed, who the caller is.

use common::testing::jwt::{self, TestKeys};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{KEY, READ_KEY, assert_problem, spawn_with};

#[tokio::test]
async fn valid_rs256_es256_and_hs256_tokens_are_admitted_and_the_answer_names_the_caller() {
    let keys = TestKeys::generate();
    let settings = keys.settings();
    let app = spawn_with(|s| s.jwt = settings).await;
    let url = format!("{}/api/v1/core/restricted", app.address);
    for (case, token, alg) in [
        ("rs256", keys.rs256(&jwt::claims("alice")), "RS256"),
        ("es256", keys.es256(&jwt::claims("alice")), "ES256"),
        (
            "hs256",
            jwt::hs256(jwt::HS256_SECRET, &jwt::claims("alice")),
            "HS256",
        ),
    ] {
        let res = app.client.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{case}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["message"], "Successful Auth", "{case}");
        assert_eq!(body["caller"]["subject"], "alice", "{case}");
        assert_eq!(body["caller"]["method"], "bearer_jwt", "{case}");
        assert_eq!(body["caller"]["algorithm"], alg, "{case}");
        assert_eq!(body["caller"]["issuer"], jwt::ISSUER, "{case}");
    }
    // API keys keep working beside tokens.
    let res = app
        .client
        .get(&url)
        .header("x-api-key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["caller"]["method"], "api_key");
    assert!(!body.to_string().contains(KEY), "the key itself is never echoed");
}

#[tokio::test]
async fn every_bad_token_gets_401_problem_with_www_authenticate() {
    let keys = TestKeys::generate();
    let settings = keys.settings();
    let app = spawn_with(|s| s.jwt = settings).await;
    let url = format!("{}/api/v1/core/restricted", app.address);
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
            challenge.starts_with("Bearer realm=\"delos\""),
            "{case}: {challenge}"
        );
        assert!(challenge.contains("invalid_token"), "{case}: {challenge}");
        assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_token", case).await;
    }
    let res = app.client.get(&url).send().await.unwrap();
    assert!(res.headers().contains_key("www-authenticate"), "no credentials");
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized", "no credentials").await;
}

#[tokio::test]
async fn with_no_key_configured_a_well_signed_token_is_refused() {
    let keys = TestKeys::generate();
    let app = spawn_with(|_| {}).await;
    let url = format!("{}/api/v1/core/restricted", app.address);
    for (case, token) in [
        ("rs256", keys.rs256(&jwt::claims("alice"))),
        ("hs256", jwt::hs256(jwt::HS256_SECRET, &jwt::claims("alice"))),
    ] {
        let res = app.client.get(&url).bearer_auth(token).send().await.unwrap();
        assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_token", case).await;
    }
}

#[tokio::test]
async fn a_jwks_served_over_http_is_fetched_and_used() {
    let keys = TestKeys::generate();
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::path("/jwks"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(keys.jwks.clone()))
        .expect(1)
        .mount(&server)
        .await;
    let mut settings = keys.settings();
    settings.jwks_file = String::new();
    settings.jwks_url = format!("{}/jwks", server.uri());
    let app = spawn_with(|s| s.jwt = settings).await;
    let url = format!("{}/api/v1/core/restricted", app.address);
    for _ in 0..3 {
        let res = app
            .client
            .get(&url)
            .bearer_auth(keys.rs256(&jwt::claims("bob")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    // Fetched once and cached (the mock's `expect(1)` is checked when it drops).
}

#[tokio::test]
async fn restricted_is_limited_to_30_a_minute_and_answers_carry_security_headers() {
    let app = spawn_with(|_| {}).await;
    common::testing::within_one_rate_window(std::time::Duration::from_secs(20)).await;
    let url = format!("{}/api/v1/core/restricted", app.address);
    for i in 0..30 {
        let res = app.client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "request {i}");
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        assert_eq!(res.headers()["x-frame-options"], "DENY");
        assert!(res.headers().contains_key("content-security-policy"));
    }
    let res = app.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn restricted_wants_the_restricted_right_not_ingest_and_a_token_decides_when_a_key_is_sent_too() {
    let keys = TestKeys::generate();
    let settings = keys.settings();
    let app = spawn_with(|s| {
        s.jwt = settings;
        s.api_keys = format!("{KEY}=restricted,{READ_KEY}=ingest").parse().unwrap();
    })
    .await;
    let url = format!("{}/api/v1/core/restricted", app.address);
    let res = app
        .client
        .get(&url)
        .header("x-api-key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["caller"]["method"], "api_key");
    let res = app
        .client
        .get(&url)
        .header("x-api-key", READ_KEY)
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, StatusCode::FORBIDDEN, "forbidden", "ingest-only key").await;
    assert_eq!(body["right"], "restricted");
    let res = app
        .client
        .get(&url)
        .header("x-api-key", READ_KEY)
        .bearer_auth(keys.rs256(&jwt::claims("carol")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["caller"]["subject"], "carol");
    assert_eq!(body["caller"]["method"], "bearer_jwt");
    let res = app
        .client
        .get(&url)
        .header("x-api-key", KEY)
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
