//! The answer itself: the bundled history, the hand-computed Kraken case, the cache.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{recorded_ohlc, spawn_app};

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(
        v.as_str()
            .unwrap_or_else(|| panic!("{v} is not a decimal string")),
    )
    .unwrap()
}

fn mean(candles: &Value) -> Decimal {
    let closes: Vec<Decimal> = candles
        .as_array()
        .unwrap()
        .iter()
        .map(|c| dec(&c["close"]))
        .collect();
    assert_eq!(closes.len(), 4, "{candles}");
    closes.iter().sum::<Decimal>() / Decimal::from(4)
}

fn close_to(number: &Value, exact: Decimal, what: &str) {
    let n = number
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {number} is not a number"));
    let e: f64 = exact.to_string().parse().unwrap();
    assert!((n - e).abs() <= 1e-9 * e.abs().max(1.0), "{what}: {n} vs {e}");
}

/// Recomputes every figure from what the response lists (its candles, its
/// investment and lambo price) and checks both the exact strings and the numbers.
fn recompute_from_response_alone(body: &Value) {
    let m = &body["method"];
    let opening = mean(&m["opening_candles"]);
    let current = mean(&m["current_candles"]);
    let investment = dec(&body["exact"]["investment"]);
    let lambo = dec(&body["lambo_price"]["amount"]);
    let coins = investment / opening;
    let value = coins * current;
    let profit = value - investment;
    let growth = profit / investment;
    let lambos = profit / lambo;
    let value_lambos = value / lambo;
    let exact = &body["exact"];
    for (name, want) in [
        ("opening_price", opening),
        ("current_price", current),
        ("number_coins", coins),
        ("value_at_sale", value),
        ("profit", profit),
        ("growth_factor", growth),
        ("lambos", lambos),
        ("value_lambos", value_lambos),
    ] {
        assert_eq!(dec(&exact[name]), want, "exact.{name}");
    }
    let msg = &body["message"];
    close_to(&msg["NUMBERCOINS"], coins, "NUMBERCOINS");
    close_to(&msg["PROFIT"], profit, "PROFIT");
    close_to(&msg["GROWTHFACTOR"], growth, "GROWTHFACTOR");
    close_to(&msg["LAMBOS"], lambos, "LAMBOS");
    close_to(&msg["INVESTMENT"], investment, "INVESTMENT");
    close_to(&body["value_at_sale"], value, "value_at_sale");
    close_to(&body["value_lambos"], value_lambos, "value_lambos");
    assert_eq!(body["verdict"], if value >= lambo { "yes" } else { "no" });
    // The windows are the first and last four points of the (unthinned) series.
    let graph = body["graph_data"].as_array().unwrap();
    assert_eq!(graph.len() as u64, m["candles_used"].as_u64().unwrap());
    for (i, c) in m["opening_candles"].as_array().unwrap().iter().enumerate() {
        assert_eq!(graph[i]["x"], c["date"]);
    }
    let tail = &graph[graph.len() - 4..];
    for (g, c) in tail.iter().zip(m["current_candles"].as_array().unwrap()) {
        assert_eq!(g["x"], c["date"]);
        close_to(&g["y"], dec(&c["close"]), "graph y");
    }
}

#[tokio::test]
async fn btc_answers_from_the_bundled_history_when_no_provider_is_configured() {
    let app = spawn_app(|s| s.providers.clear()).await;
    let body = app.ask("symbol=BTC&investment=500").await;

    let m = &body["method"];
    assert_eq!(m["source"], lambo_checker::bundled::SOURCE);
    assert_eq!(m["interval"], "1M", "the interval actually used is stated");
    assert_eq!(m["interval_requested"], "15d");
    assert!(m["note"].as_str().unwrap().contains("1M"), "{m}");
    assert_eq!(body["newest_data_date"], "2024-12-31");
    assert_eq!(body["first_listing_date"], "2012-01-01");
    // The month containing 2019-01-21 opens the window; the file's last four close it.
    assert_eq!(
        m["opening_candles"],
        json!([
            {"date": "2019-01-01", "close": "3400.32"}, {"date": "2019-02-01", "close": "3815.17"},
            {"date": "2019-03-01", "close": "4095.43"}, {"date": "2019-04-01", "close": "5234.42"}
        ])
    );
    assert_eq!(
        m["current_candles"],
        json!([
            {"date": "2024-09-01", "close": "63302"}, {"date": "2024-10-01", "close": "72346"},
            {"date": "2024-11-01", "close": "97482"}, {"date": "2024-12-01", "close": "93381"}
        ])
    );
    assert_eq!(body["exact"]["opening_price"], "4136.335");
    assert_eq!(body["exact"]["current_price"], "81627.75");
    assert_eq!(body["message"]["SYMBOL"], "BTC");
    assert_eq!(body["message"]["INVESTMENT"], 500.0);
    assert_eq!(body["verdict"], "no");
    assert_eq!(
        body["lambo_price"],
        json!({"amount": "200000", "currency": "USD"})
    );
    recompute_from_response_alone(&body);
}

#[tokio::test]
async fn every_spelling_of_bitcoin_gets_the_same_answer() {
    let app = spawn_app(|s| s.providers.clear()).await;
    let want = app.ask("symbol=BTC&investment=500").await["exact"].clone();
    for s in ["btc", "XBT", "BTC-USD", "XXBTZUSD"] {
        let got = app.ask(&format!("symbol={s}&investment=500")).await;
        assert_eq!(got["exact"], want, "{s}");
        assert_eq!(got["message"]["SYMBOL"], "BTC", "{s}");
    }
}

#[tokio::test]
async fn kraken_default_method_matches_the_hand_computation_without_the_candle_in_progress() {
    let app = spawn_app(|s| s.import_bundled = false).await;
    Mock::given(method("GET"))
        .and(path("/0/public/OHLC"))
        .and(query_param("pair", "XBTUSD"))
        .and(query_param("interval", "21600"))
        .respond_with(ResponseTemplate::new(200).set_body_json(recorded_ohlc()))
        .expect(1)
        .mount(&app.kraken)
        .await;

    let body = app.ask("symbol=BTC&investment=500").await;

    // By hand: opening = (3700+3900+4100+4300)/4 = 4000; current = (8500+9500+10500+11500)/4
    // = 10000 (the in-progress 1000000 is not used); coins = 500/4000 = 0.125;
    // value = 1250; profit = 750; growth = 1.5; lambos = 750/200000 = 0.00375.
    assert_eq!(body["method"]["source"], "kraken");
    assert_eq!(body["method"]["pair"], "XBTUSD");
    assert_eq!(body["method"]["interval"], "15d");
    assert_eq!(body["method"]["candles_used"], 10);
    assert_eq!(body["method"]["note"], Value::Null);
    let e = &body["exact"];
    assert_eq!(e["opening_price"], "4000");
    assert_eq!(e["current_price"], "10000");
    assert_eq!(e["number_coins"], "0.125");
    assert_eq!(e["value_at_sale"], "1250");
    assert_eq!(e["profit"], "750");
    assert_eq!(e["growth_factor"], "1.5");
    assert_eq!(e["lambos"], "0.00375");
    assert_eq!(e["value_lambos"], "0.00625");
    let msg = &body["message"];
    assert_eq!(msg["NUMBERCOINS"], 0.125);
    assert_eq!(msg["PROFIT"], 750.0);
    assert_eq!(msg["GROWTHFACTOR"], 1.5);
    assert_eq!(msg["LAMBOS"], 0.00375);
    assert_eq!(body["newest_data_date"], "2019-06-12");
    assert_eq!(body["graph_data"].as_array().unwrap().len(), 10);
    recompute_from_response_alone(&body);

    // Stored now: the second question is answered from Postgres or the cache, not Kraken (expect(1)).
    let again = app.ask("symbol=XBT&investment=500").await;
    assert_eq!(again["exact"], body["exact"]);
}

#[tokio::test]
async fn a_repeated_question_is_a_cache_hit_and_a_different_one_is_not() {
    let app = spawn_app(|s| s.providers.clear()).await;
    let first = app.get("/process_request?symbol=BTC&investment=500").await;
    assert_eq!(first.headers()["x-cache"], "miss");
    let second = app.get("/process_request?symbol=btc&investment=500.00").await;
    assert_eq!(
        second.headers()["x-cache"],
        "hit",
        "normalised symbol and amount share a key"
    );
    let other = app.get("/process_request?symbol=BTC&investment=501").await;
    assert_eq!(other.headers()["x-cache"], "miss");
    let listing = app
        .get("/process_request?symbol=BTC&investment=500&since=listing")
        .await;
    assert_eq!(
        listing.headers()["x-cache"],
        "miss",
        "the method is part of the key"
    );
}

#[tokio::test]
async fn opening_averages_are_stored_for_good() {
    let app = spawn_app(|s| s.providers.clear()).await;
    app.ask("symbol=BTC&investment=500").await;
    let (opening, n): (Decimal, i64) = sqlx::query_as(
        "select opening, cardinality(closes)::bigint from opening_averages where symbol = 'BTC'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(opening, Decimal::from_str("4136.335").unwrap());
    assert_eq!(n, 4);
}

#[tokio::test]
async fn max_points_bounds_the_chart_series_but_not_the_figures() {
    let app = spawn_app(|s| s.providers.clear()).await;
    let full = app.ask("symbol=BTC&investment=500&since=listing").await;
    let thin = app
        .ask("symbol=BTC&investment=500&since=listing&max_points=10")
        .await;
    assert_eq!(full["graph_data"].as_array().unwrap().len(), 156);
    let g = thin["graph_data"].as_array().unwrap();
    assert_eq!(g.len(), 10);
    assert_eq!(g[0]["x"], "2012-01-01");
    assert_eq!(g[9]["x"], "2024-12-01");
    assert_eq!(thin["exact"], full["exact"]);
}

#[tokio::test]
async fn a_zero_ttl_turns_the_cache_off() {
    let app = spawn_app(|s| {
        s.providers.clear();
        s.cache_ttl_secs = 0;
    })
    .await;
    for _ in 0..2 {
        let res = app.get("/process_request?symbol=BTC&investment=500").await;
        assert_eq!(res.headers()["x-cache"], "miss");
    }
}

#[tokio::test]
async fn the_warm_up_stores_the_default_btc_series_in_the_background() {
    let kraken = wiremock::MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/0/public/OHLC"))
        .and(query_param("interval", "21600"))
        .respond_with(ResponseTemplate::new(200).set_body_json(recorded_ohlc()))
        .expect(1)
        .mount(&kraken)
        .await;
    let uri = kraken.uri();
    let app = spawn_app(move |s| {
        s.warm_up = true;
        s.provider_urls.kraken = uri;
    })
    .await;
    let mut stored = 0;
    for _ in 0..100 {
        stored = sqlx::query_scalar::<_, i64>("select count(*) from candles where source = 'kraken'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        if stored > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(stored, 10);
    // The question is then answered from the stored series (Kraken asked once in all).
    let body = app.ask("symbol=BTC&investment=500").await;
    assert_eq!(body["exact"]["profit"], "750");
}
