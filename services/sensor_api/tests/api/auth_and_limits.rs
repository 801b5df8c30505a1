use reqwest::StatusCode;

use crate::helpers::{KEY, READ_KEY, assert_problem, spawn_app, spawn_with};

const ONE: &str = r#"{"device":"d","parameter":"p","timestamp":"2024-03-07T10:00:00Z","value":1}"#;

#[tokio::test]
async fn uploads_and_restricted_need_a_key_with_the_right() {
    let app = spawn_app().await;
    let url = format!("{}/api/v1/readings", app.address);
    let cases: [(Option<&str>, StatusCode, &str); 3] = [
        (None, StatusCode::UNAUTHORIZED, "unauthorized"),
        (Some("wrong"), StatusCode::UNAUTHORIZED, "unauthorized"),
        (Some(READ_KEY), StatusCode::FORBIDDEN, "forbidden"),
    ];
    for (key, status, code) in cases {
        let mut rb = app
            .client
            .post(&url)
            .header("content-type", "application/x-ndjson")
            .body(ONE);
        if let Some(k) = key {
            rb = rb.header("x-api-key", k);
        }
        assert_problem(
            rb.send().await.unwrap(),
            status,
            code,
            &format!("upload with {key:?}"),
        )
        .await;
        let mut rb = app.client.get(format!("{}/api/v1/core/restricted", app.address));
        if let Some(k) = key {
            rb = rb.header("x-api-key", k);
        }
        assert_problem(
            rb.send().await.unwrap(),
            status,
            code,
            &format!("restricted with {key:?}"),
        )
        .await;
    }
    assert_eq!(app.stored_count().await, 0);
    let ok = app.get_json("/api/v1/core/restricted").await;
    assert_eq!(ok["message"], "Successful Auth");
}

#[tokio::test]
async fn an_upload_over_the_size_limit_gets_413_and_stores_nothing() {
    let app = spawn_with(|s| s.max_upload_bytes = 1000).await;
    let body: String = (0..100)
        .map(|i| {
            format!(
                r#"{{"device":"d","parameter":"p","timestamp":"2024-03-07T10:00:{:02}Z","value":{i}}}"#,
                i % 60
            ) + "\n"
        })
        .collect();
    assert!(body.len() > 1000);
    let res = app.upload("", "application/x-ndjson", body).await;
    assert_problem(
        res,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        "over the limit",
    )
    .await;
    assert_eq!(app.stored_count().await, 0);
    // Under the limit is fine (uploads are not bound by the JSON body limit).
    let small = app.upload_ok("", "application/x-ndjson", ONE).await;
    assert_eq!(small.stored, 1);
}

#[tokio::test]
async fn uploads_of_unknown_type_and_bad_options_are_refused() {
    let app = spawn_app().await;
    let res = app.upload("", "text/plain", ONE).await;
    assert_problem(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "text/plain",
    )
    .await;
    let res = app.upload("format=xml", "text/plain", ONE).await;
    assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "format=xml",
    )
    .await;
    let res = app
        .upload("", "text/csv", "time,a\n2024-03-07T10:00:00Z,1\n")
        .await;
    let body = assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "wide csv without device",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "device");
    let s = app
        .upload_ok(
            "format=csv-wide&device=room",
            "text/plain",
            "time,a\n2024-03-07T10:00:00Z,1\n",
        )
        .await;
    assert_eq!(s.stored, 1);
}

#[tokio::test]
async fn public_routes_are_rate_limited_per_client() {
    let app = spawn_with(|s| s.rate_limit.per_minute = 3).await;
    common::testing::within_one_rate_window(std::time::Duration::from_secs(15)).await;
    let url = format!("{}/status", app.address);
    for _ in 0..3 {
        let res = app.client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers().contains_key("ratelimit-policy"));
    }
    let res = app.client.get(&url).send().await.unwrap();
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited", "4th request").await;
    // A key with its own budget is counted apart.
    let res = app
        .client
        .get(&url)
        .header("x-api-key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_the_api_key_scheme() {
    let app = spawn_app().await;
    let doc = app.get_json("/openapi.json").await;
    for path in [
        "/api/v1/readings",
        "/api/v1/devices",
        "/api/v1/devices/{device}/parameters",
        "/api/v1/devices/{device}/latest",
        "/api/v1/aggregate",
        "/api/v1/core/process_request",
        "/api/v1/core/restricted",
        "/status",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from /openapi.json"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["name"],
        "X-API-Key"
    );
    assert_eq!(
        app.get("/docs/").await.status(),
        StatusCode::OK,
        "Swagger UI is bundled"
    );
}

#[tokio::test]
async fn a_chunked_upload_that_grows_past_the_limit_is_cut_off_with_413_and_stores_nothing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_with(|s| s.max_upload_bytes = 1000).await;
    // No Content-Length: the limit can only be found while streaming.
    let mut conn = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /api/v1/readings HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\nContent-Type: application/x-ndjson\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    for i in 0..40 {
        let line = format!(
            "{{\"device\":\"d\",\"parameter\":\"p\",\"timestamp\":\"2024-03-07T10:00:{i:02}Z\",\"value\":{i}}}\n"
        );
        if conn
            .write_all(format!("{:x}\r\n{line}\r\n", line.len()).as_bytes())
            .await
            .is_err()
        {
            break; // the server may answer and close before the rest is sent
        }
    }
    let _ = conn.write_all(b"0\r\n\r\n").await;
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("body_too_large"), "{answer}");
    assert_eq!(app.stored_count().await, 0);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let app = spawn_with(|s| s.rate_limit.trusted_proxies = vec!["127.0.0.1".into()]).await;
    common::testing::assert_forwarded_for_budgets(&format!("{}/api/v1/devices", app.address), true).await;
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = spawn_with(|s| s.rate_limit.trusted_proxies = Vec::new()).await;
    common::testing::assert_forwarded_for_budgets(&format!("{}/api/v1/devices", app.address), false).await;
}
