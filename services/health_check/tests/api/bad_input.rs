use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn every_error_is_a_problem_document_with_the_right_status() {
    let app = spawn_app().await;
    let url = |p: &str| format!("{}{p}", app.address);
    let token = common::testing::TEST_TOKEN;
    let good = json!({"level": "info", "service": "x", "status": "ok", "data": {}});
    let big = vec![b'a'; 10 * 1024 * 1024];
    let c = &app.client;
    let cases = vec![
        (
            "unknown route",
            c.get(url("/nope")),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "wrong method",
            c.delete(url("/reports")),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "no token",
            c.post(url("/report")).json(&good),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "wrong token",
            c.post(url("/report")).bearer_auth("nope").json(&good),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "malformed json",
            c.post(url("/report"))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body("{\"level\":"),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "wrong content type",
            c.post(url("/report"))
                .bearer_auth(token)
                .header("content-type", "text/plain")
                .body(good.to_string()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "10 MB body",
            c.post(url("/report"))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(big),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        (
            "missing field",
            c.post(url("/report"))
                .bearer_auth(token)
                .json(&json!({"level": "info", "status": "ok"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "bad service name",
            c.post(url("/report"))
                .bearer_auth(token)
                .json(&json!({"level": "info", "service": "a b", "status": "ok"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "empty batch",
            c.post(url("/report/batch")).bearer_auth(token).json(&json!([])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "bad limit",
            c.get(url("/reports?limit=0")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "bad time",
            c.get(url("/reports?since=yesterday")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
    ];
    for (case, request, status, code) in cases {
        let res = request.send().await.unwrap();
        assert_problem(res, status, code, case).await;
    }
    // Nothing above was stored, and the service still answers.
    assert_eq!(app.get_json("/reports?count=true").await["total"], 0);
}

#[tokio::test]
async fn a_bad_report_in_a_batch_is_named_by_its_position_and_nothing_is_stored() {
    let app = spawn_app().await;
    let res = app
        .post_batch(&json!([
            {"level": "info", "service": "a", "status": "ok"},
            {"level": "", "service": "a", "status": "ok"},
        ]))
        .await;
    let body = assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "batch",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "[1].level");
    assert_eq!(app.get_json("/reports?count=true").await["total"], 0);
}

#[tokio::test]
async fn standard_routes_answer() {
    let app = spawn_app().await;
    assert_eq!(app.get_json("/healthz").await["status"], "pass");
    assert_eq!(
        app.get_json("/readyz").await["checks"]["postgres"]["status"],
        "pass"
    );
    let spec = app.get_json("/openapi.json").await;
    assert!(spec["paths"]["/report"].is_object());
    common::testing::assert_security_documented(&spec, "post", "/report", "service_token");
    let docs = app
        .client
        .get(format!("{}/docs/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger"));
    let css = app
        .client
        .get(format!("{}/docs/swagger-ui.css", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        css.status(),
        StatusCode::OK,
        "Swagger UI assets are served locally"
    );
    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("delos_http_requests_total"));
}

#[tokio::test]
async fn readiness_names_postgres_when_it_is_down() {
    let proxy = common::testing::TcpProxy::start("127.0.0.1:5432").await.unwrap();
    let app =
        crate::helpers::spawn_with(|s| s.pg.url = format!("postgres://postgres@{}", proxy.addr())).await;
    proxy.set_down(true);
    let res = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "not_ready", "readyz").await;
    assert_eq!(body["failing"][0], "postgres");
    let res = app
        .post_report(&json!({"level": "info", "service": "a", "status": "ok"}))
        .await;
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(
        res,
        StatusCode::SERVICE_UNAVAILABLE,
        "dependency_unavailable",
        "report while down",
    )
    .await;

    proxy.set_down(false);
    let res = app
        .post_report(&json!({"level": "info", "service": "a", "status": "ok"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "recovers by itself");
}
