//! Security headers on every response, CORS by configuration, 30/min on the strict routes.

use reqwest::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app(|s| s.providers.clear()).await;
    for path in [
        "/",
        "/docs/",
        "/openapi.json",
        "/nope",
        "/api/v1/restricted",
        "/healthz",
    ] {
        let res = app.get(path).await;
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert!(
            !h.contains_key("access-control-allow-origin"),
            "{path}: no CORS by default"
        );
    }
}

#[tokio::test]
async fn cors_answers_only_configured_origins() {
    let app = spawn_app(|s| {
        s.providers.clear();
        s.cors.allowed_origins = vec!["https://app.example".into()];
    })
    .await;
    let url = format!("{}/api/results/", app.address);
    let ok = app
        .client
        .get(&url)
        .header("origin", "https://app.example")
        .header("x-api-key", "test-key");
    let res = ok.send().await.unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let res = app
        .client
        .get(&url)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!res.headers().contains_key("access-control-allow-origin"));
    let pre = app
        .client
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://app.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), StatusCode::NO_CONTENT);
    assert!(
        pre.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("GET")
    );
}

#[tokio::test]
async fn restricted_and_job_submission_are_limited_to_30_a_minute() {
    let app = spawn_app(|s| s.providers.clear()).await;
    common::testing::within_one_rate_window(std::time::Duration::from_secs(20)).await;
    let url = format!("{}/api/v1/restricted", app.address);
    for i in 0..30 {
        let res = app.client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "request {i}");
        assert!(
            res.headers()["ratelimit-policy"]
                .to_str()
                .unwrap()
                .contains("q=30")
        );
    }
    let res = app.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    // The analysis routes keep their own 60/min budget.
    let res = app
        .client
        .get(format!("{}/api/results/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .client
        .post(format!("{}/api/v1/analyze_async", app.address))
        .json(&serde_json::json!({"symbol": "BTC", "investment": 1}))
        .send()
        .await
        .unwrap();
    assert!(
        res.headers()["ratelimit-policy"]
            .to_str()
            .unwrap()
            .contains("q=30")
    );
}
