use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, put_record, record, spawn_app};

#[tokio::test]
async fn the_original_query_form_places_an_order_priced_exactly_and_stored_once() {
    let app = spawn_app().await;
    let res = app.place_query("currency=eur&amount=69").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(res.headers().get("idempotent-replayed").is_none());
    assert!(res.headers().contains_key("ratelimit"), "IETF RateLimit field");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"], "Order was placed for EUR:69.00");
    let order = &body["order"];
    assert_eq!(order["amount"], "69.00");
    assert_eq!(order["currency"], "EUR");
    assert_eq!(order["exchange_rate"], "35123.4");
    // 69 / 35123.40 = 0.001964502... → rounded up to 0.00196451
    assert_eq!(order["bitcoin_amount"], "0.00196451");
    assert_eq!(order["rate_source"], "kraken");
    assert_eq!(order["simulated"], false);
    assert!(order["rate_fetched_at"].is_string());
    assert_eq!(location, format!("/orders/{}", order["id"].as_str().unwrap()));

    let read: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(&read, order);
    let (amount, sats): (String, i64) = (
        sqlx::query_scalar("select amount::text from orders")
            .fetch_one(&app.pool)
            .await
            .unwrap(),
        sqlx::query_scalar("select satoshis from orders")
            .fetch_one(&app.pool)
            .await
            .unwrap(),
    );
    assert_eq!((amount.as_str(), sats), ("69.00", 196_451));
}

#[tokio::test]
async fn the_original_json_body_works_with_a_number_or_a_string_amount_and_a_trailing_slash() {
    let app = spawn_app().await;
    app.set_price("USD", "60000", Utc::now()).await;
    for (path, body) in [
        ("/place_order", json!({"currency": "USD", "amount": 600})),
        ("/place_order/", json!({"currency": "usd", "amount": "600.00"})),
    ] {
        let res = app
            .client
            .post(format!("{}{path}", app.address))
            .header("x-api-key", crate::helpers::API_KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "{path} {body}");
        let placed: Value = res.json().await.unwrap();
        assert_eq!(placed["data"], "Order was placed for USD:600.00");
        assert_eq!(placed["order"]["bitcoin_amount"], "0.01000000");
    }
    // curl -d sends a form content type; a JSON body is still read as JSON.
    let res = app
        .client
        .post(format!("{}/place_order", app.address))
        .header("x-api-key", crate::helpers::API_KEY)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(r#"{"currency":"USD","amount":600}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(app.order_count().await, 3);
}

#[tokio::test]
async fn hand_checked_amounts_come_back_exact_through_the_whole_path() {
    let app = spawn_app().await;
    // (amount, EUR rate, bitcoin): each checked by long division, rounded up.
    let cases = [
        ("100.99", "30000.1234", "0.00336632"),
        ("69", "35123.40", "0.00196451"),
        ("1", "3", "0.33333334"),
        ("0.01", "99999999", "0.00000001"),
        ("999999999.99", "123456789.123456789", "8.10000007"),
        ("10", "30000.000000000000000001", "0.00033334"),
        ("50", "50000", "0.00100000"),
    ];
    for (amount, rate, btc) in cases {
        app.set_price("EUR", rate, Utc::now()).await;
        let (_, body) = app
            .place_ok(&json!({"currency": "EUR", "amount": amount}), None)
            .await;
        assert_eq!(body["order"]["bitcoin_amount"], btc, "{amount} EUR at {rate}");
    }
    let stored: Vec<String> = app
        .stored()
        .await
        .iter()
        .map(|o| o.bitcoin_amount.to_string())
        .collect();
    assert_eq!(stored, cases.map(|c| c.2.to_string()));
}

#[tokio::test]
async fn an_order_priced_by_the_simulated_provider_says_so() {
    let app = spawn_app().await;
    put_record(
        &app.client,
        &app.cache_url,
        &record("GBP", "40000", Utc::now(), true),
    )
    .await;
    let (_, body) = app
        .place_ok(&json!({"currency": "GBP", "amount": 40}), None)
        .await;
    assert_eq!(body["order"]["simulated"], true);
    assert_eq!(body["order"]["rate_source"], "simulated");
    assert_eq!(body["order"]["bitcoin_amount"], "0.00100000");
}

#[tokio::test]
async fn without_a_key_two_identical_requests_are_two_orders() {
    let app = spawn_app().await;
    let a = app.place_query("currency=eur&amount=10").await;
    let b = app.place_query("currency=eur&amount=10").await;
    assert_eq!(
        (a.status(), b.status()),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    assert_eq!(app.order_count().await, 2);
}

#[tokio::test]
async fn capacity_on_the_public_side_shows_used_and_remaining_bitcoin() {
    let app = spawn_app().await;
    app.place_query("currency=eur&amount=69").await;
    let cap: Value = app.get("/capacity").await.json().await.unwrap();
    assert_eq!(cap["cap_btc"], "100.00000000");
    assert_eq!(cap["used_btc"], "0.00196451");
    assert_eq!(cap["remaining_btc"], "99.99803549");
    let missing = app.get(&format!("/orders/{}", uuid::Uuid::nil())).await;
    assert_problem(missing, StatusCode::NOT_FOUND, "not_found", "unknown order").await;
}

#[tokio::test]
async fn a_normal_client_is_blocked_after_60_requests_a_minute_with_the_ietf_fields() {
    let app = spawn_app().await;
    common::testing::within_one_rate_window(std::time::Duration::from_secs(15)).await;
    let url = format!("{}/capacity", app.address);
    for i in 0..60 {
        let res = app.client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "request {i}");
        assert!(
            res.headers()["ratelimit-policy"]
                .to_str()
                .unwrap()
                .contains("q=60")
        );
    }
    let res = app
        .client
        .post(format!("{}/place_order?currency=eur&amount=1", app.address))
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("retry-after"));
    assert!(res.headers()["ratelimit"].to_str().unwrap().contains("r=0"));
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited", "61st request").await;
    assert_eq!(app.order_count().await, 0, "a limited request places nothing");
    // A client with its own key and budget is not affected.
    assert_eq!(app.get("/capacity").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_openapi_document_and_offline_swagger_ui_are_served() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    for path in ["/place_order", "/orders/{id}", "/capacity"] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    let ui = app.get("/docs/").await;
    assert_eq!(ui.status(), StatusCode::OK);
    assert!(ui.text().await.unwrap().contains("swagger-ui"));
}
