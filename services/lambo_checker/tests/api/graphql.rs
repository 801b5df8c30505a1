//! `/graphql`: the REST answer, stored results and prices, the limits, the offline page.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

async fn gql(app: &TestApp, query: &str) -> Value {
    let res = app.post_json("/graphql", &json!({ "query": query })).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn the_original_query_works_unchanged_and_analysis_types_every_field() {
    let app = spawn_app(|s| s.providers.clear()).await;
    // The original schema: an Int investment, message and graphData as JSON text.
    let body = gql(
        &app,
        r#"{ processRequest(symbol: "BTC", investment: 500) { message graphData } }"#,
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    let rest = app.ask("symbol=BTC&investment=500").await;
    let rest_500 = rest.clone();
    let g = &body["data"]["processRequest"];
    let message: Value = serde_json::from_str(g["message"].as_str().unwrap()).unwrap();
    let graph: Value = serde_json::from_str(g["graphData"].as_str().unwrap()).unwrap();
    for key in [
        "NUMBERCOINS",
        "PROFIT",
        "GROWTHFACTOR",
        "LAMBOS",
        "INVESTMENT",
        "SYMBOL",
    ] {
        assert_eq!(message[key], rest["message"][key], "{key}");
    }
    assert_eq!(graph, rest["graph_data"]);

    // The typed field: every figure, the verdict, the method, the chart as objects.
    let body = gql(
        &app,
        r#"{ analysis(symbol: "BTC", investment: "500.50") {
               verdict canBuyLambo lamboPrice { amount currency }
               exact { numberCoins lambos openingPrice currentPrice }
               message { lambos symbol }
               method { source interval window openingCandles { date close } }
               graphData { x y } } }"#,
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    let rest = app.ask("symbol=BTC&investment=500.50").await;
    let a = &body["data"]["analysis"];
    assert_eq!(a["verdict"], rest["verdict"]);
    assert_eq!(a["exact"]["numberCoins"], rest["exact"]["number_coins"]);
    assert_eq!(a["exact"]["lambos"], rest["exact"]["lambos"]);
    assert_eq!(a["exact"]["openingPrice"], rest["exact"]["opening_price"]);
    assert_eq!(a["lamboPrice"]["amount"], rest["lambo_price"]["amount"]);
    assert_eq!(a["message"]["lambos"], rest["message"]["LAMBOS"]);
    assert_eq!(a["method"]["openingCandles"], rest["method"]["opening_candles"]);
    assert_eq!(a["graphData"], rest["graph_data"]);
    assert_eq!(a["method"]["window"], 4);

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
        if b["data"]["results"].as_array().is_some_and(|a| a.len() >= 2) {
            found = b;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    // Newest first: the analysis of 500.50, then the original query's 500.
    let results = &found["data"]["results"];
    assert_eq!(results[0]["symbol"], "BTC", "{found}");
    assert_eq!(results[0]["investment"], "500.5", "{found}");
    assert_eq!(results[1]["investment"], "500", "{found}");
    assert_eq!(
        results[1]["growthFactor"], rest_500["exact"]["growth_factor"],
        "{found}"
    );
    assert_eq!(results[1]["verdict"], rest_500["verdict"], "{found}");
}

#[tokio::test]
async fn bad_arguments_and_queries_over_the_limits_are_refused() {
    let app = spawn_app(|s| s.providers.clear()).await;
    let body = gql(
        &app,
        r#"{ processRequest(symbol: "NOPE", investment: 5) { message } }"#,
    )
    .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "unknown_symbol",
        "{body}"
    );
    let body = gql(
        &app,
        r#"{ processRequest(symbol: "BTC", investment: -5) { message } }"#,
    )
    .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "validation_failed",
        "{body}"
    );
    let body = gql(
        &app,
        r#"{ analysis(symbol: "BTC", investment: "5.001") { verdict } }"#,
    )
    .await;
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
