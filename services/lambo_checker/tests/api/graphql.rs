//! `/graphql`: the REST answer, stored results and prices, the limits, the offline page.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

async fn gql(app: &TestApp, query: &str) -> Value {
    let res = app.post_json("/graphql", &json!({ "query": query })).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn process_request_gives_the_rest_answer_and_results_and_prices_are_queryable() {
    let app = spawn_app(|s| s.providers.clear()).await;
    let body = gql(&app, r#"{ processRequest(symbol: "BTC", investment: "500") }"#).await;
    assert!(body["errors"].is_null(), "{body}");
    let rest = app.ask("symbol=BTC&investment=500").await;
    let g = &body["data"]["processRequest"];
    assert_eq!(g["exact"], rest["exact"]);
    assert_eq!(g["method"]["opening_candles"], rest["method"]["opening_candles"]);
    assert_eq!(g["graph_data"], rest["graph_data"]);

    let body = gql(
        &app,
        r#"{ priceHistory(symbol: "BTC", interval: "1M", limit: 2) { openTime close source }
             currentPrice(symbol: "xbt") { close } }"#,
    )
    .await;
    assert_eq!(body["data"]["priceHistory"][0]["close"], "93381", "{body}");
    assert_eq!(body["data"]["priceHistory"][1]["close"], "97482");
    assert_eq!(body["data"]["currentPrice"]["close"], "93381");

    // The results table is written off the request path.
    let mut found = Value::Null;
    for _ in 0..100 {
        let b = gql(
            &app,
            "{ results(limit: 5) { id symbol investment lambos growthFactor verdict } }",
        )
        .await;
        if b["data"]["results"].as_array().is_some_and(|a| !a.is_empty()) {
            found = b;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(found["data"]["results"][0]["symbol"], "BTC", "{found}");
    assert_eq!(found["data"]["results"][0]["investment"], "500");
}

#[tokio::test]
async fn bad_arguments_and_queries_over_the_limits_are_refused() {
    let app = spawn_app(|s| s.providers.clear()).await;
    let body = gql(&app, r#"{ processRequest(symbol: "NOPE", investment: "5") }"#).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "unknown_symbol",
        "{body}"
    );
    let body = gql(&app, r#"{ processRequest(symbol: "BTC", investment: "-5") }"#).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "validation_failed",
        "{body}"
    );
    let body = gql(&app, "{ results(limit: 1000) { id } }").await;
    assert!(body["errors"][0]["message"].as_str().is_some(), "{body}");
    // Too deep (introspection types nest without end).
    let deep = "{ __schema { types { fields { type { ofType { ofType { ofType { name } } } } } } } }";
    let body = gql(&app, deep).await;
    assert!(body["data"].is_null(), "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("nested"),
        "{body}"
    );
    // Too complex: many aliased lists of 100.
    let wide: String = (0..20)
        .map(|i| format!("a{i}: priceHistory(symbol: \"BTC\", limit: 100) {{ close source interval }} "))
        .collect();
    let body = gql(&app, &format!("{{ {wide} }}")).await;
    assert!(body["data"].is_null(), "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("complex"),
        "{body}"
    );
}

#[tokio::test]
async fn the_query_page_works_offline() {
    let app = spawn_app(|s| s.providers.clear()).await;
    let res = app.get("/graphql").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("fetch('/graphql'"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external assets"
    );
}
