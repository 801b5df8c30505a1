//! The Django original's data routes: results, logs, prices, the report, covid 410.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, assert_problem, spawn_app};

async fn json(app: &TestApp, path: &str) -> Value {
    let res = app.get(path).await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// Waits until the query log holds `n` rows (it is written off the request path).
async fn logged(app: &TestApp, n: i64) {
    for _ in 0..200 {
        let k: i64 = sqlx::query_scalar("select count(*) from queries")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        if k >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("query log did not reach {n}");
}

#[tokio::test]
async fn results_and_logs_page_newest_first_across_inserts() {
    let app = spawn_app(|s| {
        s.providers.clear();
        s.cache_ttl_secs = 0;
    })
    .await;
    for inv in ["100", "200", "300"] {
        app.ask(&format!("symbol=BTC&investment={inv}")).await;
    }
    let res = app.get("/process_request?symbol=NOPE&investment=1").await;
    assert_eq!(res.status(), 404);
    logged(&app, 4).await;

    let first = json(&app, "/api/results/?limit=2").await;
    let data = first["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["investment"], "300", "newest first");
    assert_eq!(data[1]["investment"], "200");
    // A result stored between pages does not shift the next one.
    app.ask("symbol=BTC&investment=400").await;
    logged(&app, 5).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = json(&app, &format!("/api/results?limit=2&cursor={cursor}")).await;
    let data = second["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["investment"], "100");
    assert!(second["next_cursor"].is_null());

    let id = data[0]["id"].as_i64().unwrap();
    let one = json(&app, &format!("/api/results/{id}/")).await;
    assert_eq!(one["response"]["exact"]["investment"], "100");
    assert_eq!(one["symbol"], "BTC");
    let res = app.get("/api/results/999999/").await;
    assert_problem(res, StatusCode::NOT_FOUND, "unknown_result", "unknown result").await;

    let logs = json(&app, "/api/logs/?limit=10").await;
    let data = logs["data"].as_array().unwrap();
    assert_eq!(data.len(), 5, "failed queries are logged too: {logs}");
    assert_eq!(data[0]["investment"], "400");
    assert!(data[0]["duration_ms"].is_i64());
    let warnings = json(&app, "/api/logs?level=warning").await;
    let w = warnings["data"].as_array().unwrap();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0]["outcome"], "unknown_symbol");
    assert_eq!(w[0]["status"], 404);
    let page1 = json(&app, "/api/logs/?limit=3").await;
    let c = page1["next_cursor"].as_str().unwrap();
    let page2 = json(&app, &format!("/api/logs/?limit=3&cursor={c}")).await;
    assert_eq!(page2["data"].as_array().unwrap().len(), 2);
    // /queries pages the same rows in the same order: one list, one cursor.
    let queries = json(&app, "/queries?page_size=3").await;
    assert_eq!(queries["next_cursor"], page1["next_cursor"]);
    let via_queries = json(&app, &format!("/queries?page_size=3&cursor={c}")).await;
    let ids = |v: &serde_json::Value| {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&via_queries), ids(&page2));
    // A cursor of another list is refused, not misread.
    let results_cursor = json(&app, "/api/results/?limit=1").await["next_cursor"].clone();
    let res = app
        .get(&format!("/api/logs/?cursor={}", results_cursor.as_str().unwrap()))
        .await;
    assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "results cursor on logs",
    )
    .await;
    let btc = json(&app, "/api/logs/?symbol=xbt").await;
    assert_eq!(btc["data"].as_array().unwrap().len(), 4, "symbols are normalised");
}

#[tokio::test]
async fn prices_come_from_the_stored_history_as_exact_strings() {
    let app = spawn_app(|s| s.providers.clear()).await;
    let cur = json(&app, "/api/price/current/?symbol=BTC").await;
    assert_eq!(cur["price"], "93381", "{cur}");
    assert_eq!(cur["open_time"], "2024-12-01T00:00:00Z");
    assert_eq!(cur["source"], lambo_checker::bundled::SOURCE);
    assert_eq!(cur["cache"], "miss");
    let again = json(&app, "/api/price/current?symbol=btc").await;
    assert_eq!(again["cache"], "hit");
    assert_eq!(again["price"], "93381");

    let open = json(&app, "/api/price/opening/?symbol=BTC").await;
    let o = &open["openings"][0];
    assert_eq!(o["opening"], "4136.335", "{open}");
    assert_eq!(o["candles"].as_array().unwrap().len(), 4);
    assert_eq!(o["candles"][0]["date"], "2019-01-01");
    assert_eq!(json(&app, "/api/price/opening/?symbol=BTC").await["cache"], "hit");

    let h1 = json(&app, "/api/price/history/?symbol=BTC&interval=1M&limit=2").await;
    let d = h1["data"].as_array().unwrap();
    assert_eq!(d[0]["open_time"], "2024-12-01T00:00:00Z", "newest first");
    assert_eq!(d[0]["close"], "93381");
    assert_eq!(d[1]["close"], "97482");
    let c = h1["next_cursor"].as_str().unwrap();
    let h2 = json(
        &app,
        &format!("/api/price/history/?symbol=BTC&interval=1M&limit=2&cursor={c}"),
    )
    .await;
    assert_eq!(h2["data"][0]["open_time"], "2024-10-01T00:00:00Z");
    assert_eq!(h2["data"][0]["close"], "72346");

    let res = app.get("/api/price/current/?symbol=ETH").await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found", "nothing stored for ETH").await;
}

#[tokio::test]
async fn bad_parameters_get_422_naming_the_parameter() {
    let app = spawn_app(|s| s.providers.clear()).await;
    for (path, field) in [
        ("/api/results/?limit=0", "limit"),
        ("/api/results/?limit=x", "limit"),
        ("/api/results/?cursor=garbage", "cursor"),
        ("/api/results/abc/", "id"),
        ("/api/logs/?level=debug", "level"),
        ("/api/logs/?cursor=cmVzfDE", "cursor"),
        ("/api/price/current/", "symbol"),
        ("/api/price/history/?symbol=BTC&interval=7h", "interval"),
        ("/api/price/history/?symbol=BTC&cursor=nope", "cursor"),
        ("/api/analytics/report/?from=yesterday", "from"),
        ("/api/analytics/report/?to=2026-13-01", "to"),
        ("/api/analytics/report/?from=2026-02-01&to=2026-01-01", "from"),
    ] {
        let res = app.get(path).await;
        let body = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", path).await;
        assert_eq!(body["errors"][0]["field"], field, "{path}");
    }
    let res = app.get("/api/results/?symbol=NOPE").await;
    assert_problem(res, StatusCode::NOT_FOUND, "unknown_symbol", "unknown symbol").await;
}

#[tokio::test]
async fn the_covid_prediction_is_gone_and_the_django_process_request_answers() {
    let app = spawn_app(|s| s.providers.clear()).await;
    for path in ["/api/analytics/covid/", "/api/analytics/covid"] {
        let body = assert_problem(
            app.get(path).await,
            StatusCode::GONE,
            "covid_analytics_retired",
            path,
        )
        .await;
        assert!(body["detail"].as_str().unwrap().contains("invented"));
    }
    let a = json(&app, "/api/process_request/?symbol=BTC&investment=500").await;
    let b = app.ask("symbol=BTC&investment=500").await;
    assert_eq!(a["exact"], b["exact"]);
}

/// Inserts one logged query (and its result when `gf` is given).
async fn insert(
    app: &TestApp,
    at: &str,
    symbol: Option<&str>,
    status: i16,
    outcome: &str,
    gf: Option<&str>,
    lambos: &str,
) {
    let id: i64 = sqlx::query_scalar(
        "insert into queries (created_at, channel, client, symbol, investment, status, outcome, cache_hit)
         values ($1::timestamptz, 'rest', 'ip:test', $2, '100', $3, $4, false) returning id",
    )
    .bind(at)
    .bind(symbol)
    .bind(status)
    .bind(outcome)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    if let Some(gf) = gf {
        sqlx::query(
            "insert into results (query_id, symbol, investment, lambos, response)
             values ($1, $2, 100, $3::numeric, jsonb_build_object('exact', jsonb_build_object('growth_factor', $4::text)))",
        )
        .bind(id)
        .bind(symbol.unwrap())
        .bind(lambos)
        .bind(gf)
        .execute(&app.pool)
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn the_report_is_computed_from_the_stored_log_and_results() {
    let app = spawn_app(|s| s.providers.clear()).await;
    insert(
        &app,
        "2026-01-01T10:00:00Z",
        Some("BTC"),
        200,
        "answered",
        Some("-0.5"),
        "0",
    )
    .await;
    insert(
        &app,
        "2026-01-01T11:00:00Z",
        Some("BTC"),
        200,
        "answered",
        Some("3"),
        "0.2",
    )
    .await;
    insert(
        &app,
        "2026-01-02T10:00:00Z",
        Some("BTC"),
        200,
        "answered",
        Some("2500"),
        "1.5",
    )
    .await;
    insert(
        &app,
        "2026-01-02T11:00:00Z",
        Some("ETH"),
        200,
        "answered",
        Some("12"),
        "2",
    )
    .await;
    insert(
        &app,
        "2026-01-02T12:00:00Z",
        Some("ETH"),
        503,
        "history_unavailable",
        None,
        "0",
    )
    .await;
    insert(
        &app,
        "2026-01-03T12:00:00Z",
        None,
        422,
        "validation_failed",
        None,
        "0",
    )
    .await;
    insert(
        &app,
        "2025-12-31T23:59:59Z",
        Some("SOL"),
        200,
        "answered",
        Some("0.5"),
        "0",
    )
    .await;

    let r = json(&app, "/api/analytics/report/?from=2026-01-01&to=2026-01-04").await;
    assert_eq!(r["totals"]["queries"], 6, "{r}");
    assert_eq!(r["totals"]["answered"], 4);
    assert_eq!(r["totals"]["client_errors"], 1);
    assert_eq!(r["totals"]["server_errors"], 1);
    assert_eq!(r["totals"]["results"], 4);
    assert_eq!(r["error_rate"], "0.3333");
    assert_eq!(r["server_error_rate"], "0.1667");
    // Growth factors -0.5, 3, 12, 2500: median is the mean of 3 and 12.
    assert_eq!(r["growth_factor"]["median"], "7.5");
    let dist: Vec<i64> = r["growth_factor"]["distribution"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_i64().unwrap())
        .collect();
    assert_eq!(dist, [1, 0, 1, 1, 1]);
    // Two of four results bought at least one Lamborghini (LAMBOS >= 1).
    assert_eq!(r["lambo_share"], "0.5");
    assert_eq!(
        r["queries_per_day"],
        serde_json::json!([
            {"day": "2026-01-01", "queries": 2}, {"day": "2026-01-02", "queries": 3}, {"day": "2026-01-03", "queries": 1}
        ])
    );
    assert_eq!(
        r["queries_per_symbol"][0],
        serde_json::json!({"symbol": "BTC", "queries": 3, "answered": 3})
    );
    assert_eq!(
        r["queries_per_symbol"][1],
        serde_json::json!({"symbol": "ETH", "queries": 2, "answered": 1})
    );
    let top: Vec<&str> = r["top_symbols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(top, ["BTC", "ETH"]);
    assert_eq!(r["errors_by_outcome"].as_array().unwrap().len(), 2);

    let eth = json(&app, "/api/analytics/report/?symbol=eth").await;
    assert_eq!(eth["totals"]["queries"], 2);
    assert_eq!(eth["growth_factor"]["median"], "12");
    assert_eq!(eth["lambo_share"], "1");
    let empty = json(&app, "/api/analytics/report/?from=2030-01-01").await;
    assert_eq!(empty["totals"]["queries"], 0);
    assert!(empty["error_rate"].is_null() && empty["growth_factor"]["median"].is_null());
}
