//! The Django original's data routes, under `/api/` (trailing slash optional):
//! stored results, the audit log, prices (current, opening, history), an analytics
//! report computed from the results and the log, and the retired covid "prediction"
//! (410). Lists are newest first and keyset-paged with an opaque `next_cursor`.
//! Prices are exact decimals as strings. Cache-aside: opening averages are cached in
//! Redis for good (they never change), current prices for `price_cache_ttl_secs`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use common::Problem;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::checker::{RawQuestion, parse_asset};
use crate::domain::{self, Interval};
use crate::state::State;
use crate::storage;
use common::paging::Keyset;

use super::QUERY_LOG;

/// The lists these routes page; `/api/logs/` shares the query log's with `/queries`.
const RESULTS: Keyset = Keyset::new("results.id_desc", 1);
const CANDLES: Keyset = Keyset::new("candles.time_source_interval_desc", 1);

fn limit(raw: Option<&str>) -> Result<u32, Problem> {
    const LIMIT: common::paging::PageSize = common::paging::PageSize::new("limit", 20, 100);
    LIMIT.parse(raw)
}

fn page<T: serde::Serialize>(data: &[T], next_cursor: Option<String>) -> Value {
    json!({ "data": data, "next_cursor": next_cursor })
}

fn db(e: sqlx::Error) -> Problem {
    common::db::problem(e)
}

/// Query of `GET /api/results/`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ResultsQuery {
    /// Only this coin.
    symbol: Option<String>,
    /// 1-100, default 20.
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

fn result_row(r: storage::StoredResult, full: bool) -> Value {
    let (verdict, growth_factor) = r.verdict_and_growth().unzip();
    let mut v = json!({
        "id": r.query_id,
        "created_at": r.created_at,
        "symbol": r.symbol,
        "investment": domain::exact(r.investment),
        "lambos": domain::exact(r.lambos),
        "growth_factor": growth_factor,
        "verdict": verdict,
        "method": r.method,
    });
    if full {
        v["response"] = r.response;
    }
    v
}

/// Stored analysis results (every computed answer), newest first.
#[utoipa::path(get, tag = "results", path = "/api/results/", params(ResultsQuery),
    responses((status = 200, description = "{data: [{id, created_at, symbol, investment, lambos, growth_factor, verdict, method}], next_cursor}"),
              (status = 404, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn results(state: web::Data<State>, q: web::Query<ResultsQuery>) -> Result<HttpResponse, Problem> {
    let checker = &state.checker;
    let limit = limit(q.limit.as_deref())?;
    let symbol = q.symbol.as_deref().map(|s| parse_asset(Some(s))).transpose()?;
    let before = q.cursor.as_deref().map(|c| RESULTS.key(c)).transpose()?;
    let mut rows = storage::results_page(
        &checker.pool,
        before.unwrap_or(i64::MAX),
        symbol.map(|a| a.symbol),
        i64::from(limit) + 1,
    )
    .await
    .map_err(db)?;
    let next = RESULTS.next_page(&mut rows, limit, |r| r.query_id);
    let rows: Vec<Value> = rows.into_iter().map(|r| result_row(r, false)).collect();
    Ok(HttpResponse::Ok().json(page(&rows, next)))
}

/// One stored result with the whole answer document; unknown id 404.
#[utoipa::path(get, tag = "results", path = "/api/results/{id}/", params(("id" = i64, Path, description = "result id")),
    responses((status = 200, description = "{id, created_at, symbol, ..., response}"),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn result(state: web::Data<State>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    let checker = &state.checker;
    let id: i64 = req
        .match_info()
        .get("id")
        .unwrap_or_default()
        .parse()
        .map_err(|_| Problem::invalid_field("id", "must be an integer result id"))?;
    match storage::result(&checker.pool, id).await.map_err(db)? {
        Some(r) => Ok(HttpResponse::Ok().json(result_row(r, true))),
        None => Err(crate::problems::Code::UnknownResult.problem(format!("no result {id}"))),
    }
}

/// Query of `GET /api/logs/`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LogsQuery {
    /// Only this coin.
    symbol: Option<String>,
    /// `info` (answered), `warning` (4xx), `error` (5xx).
    level: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// The audit log: every question (REST, gRPC, job), answered or not, newest first.
#[utoipa::path(get, tag = "results", path = "/api/logs/", params(LogsQuery),
    responses((status = 200, description = "{data: [{id, created_at, level, channel, client, symbol, investment, status, outcome, duration_ms, cache_hit}], next_cursor}"),
              (status = 404, body = Problem, description = "the symbol filter names no supported coin"),
              (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn logs(state: web::Data<State>, q: web::Query<LogsQuery>) -> Result<HttpResponse, Problem> {
    let checker = &state.checker;
    let limit = limit(q.limit.as_deref())?;
    let symbol = q.symbol.as_deref().map(|s| parse_asset(Some(s))).transpose()?;
    let statuses = match q.level.as_deref().map(str::trim) {
        None | Some("") => 0..=999,
        Some("info") => 0..=399,
        Some("warning") => 400..=499,
        Some("error") => 500..=999,
        Some(_) => return Err(Problem::invalid_field("level", "must be info, warning or error")),
    };
    let before = q.cursor.as_deref().map(|c| QUERY_LOG.key(c)).transpose()?;
    let mut rows = storage::logs_page(
        &checker.pool,
        before.unwrap_or(i64::MAX),
        symbol.map(|a| a.symbol),
        statuses,
        i64::from(limit) + 1,
    )
    .await
    .map_err(db)?;
    let next = QUERY_LOG.next_page(&mut rows, limit, |r| r.id);
    Ok(HttpResponse::Ok().json(page(&rows, next)))
}

/// Query of the price routes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PriceQuery {
    /// Coin symbol (BTC = XBT).
    symbol: Option<String>,
    /// History only: `15d`, `1w`, `1d`, `1M`; default every stored interval.
    interval: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// The latest stored close of a coin, its time and source (cached `price_cache_ttl_secs`).
#[utoipa::path(get, tag = "prices", path = "/api/price/current/", params(PriceQuery),
    responses((status = 200, description = "{symbol, price, currency, open_time, interval, source, pair, cache}"),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn current(state: web::Data<State>, q: web::Query<PriceQuery>) -> Result<HttpResponse, Problem> {
    let checker = &state.checker;
    let asset = parse_asset(q.symbol.as_deref())?;
    let key = format!("current:{}", asset.symbol);
    let ttl = checker.settings.price_cache_ttl_secs;
    if ttl > 0
        && let Some(mut v) = checker.cache.price(&key).await
    {
        v["cache"] = "hit".into();
        return Ok(HttpResponse::Ok().json(v));
    }
    let c = storage::newest_candle(&checker.pool, asset.symbol)
        .await
        .map_err(db)?
        .ok_or_else(|| Problem::not_found(format!("no prices of {} are stored yet", asset.symbol)))?;
    let mut v = json!({
        "symbol": asset.symbol,
        "price": domain::exact(c.close),
        "currency": checker.settings.lambo_currency,
        "open_time": c.open_time,
        "interval": c.interval,
        "source": c.source,
        "pair": c.pair,
        "note": "the close of the newest complete stored candle",
    });
    if ttl > 0 {
        checker.cache.put_price(&key, &v, Some(ttl)).await;
    }
    v["cache"] = "miss".into();
    Ok(HttpResponse::Ok().json(v))
}

/// The stored opening averages of a coin with the candles they came from (computed
/// and stored with the default method if none is stored yet; cached for good).
#[utoipa::path(get, tag = "prices", path = "/api/price/opening/", params(PriceQuery),
    responses((status = 200, description = "{symbol, openings: [{source, interval, since, opening, candles: [{date, close}]}], cache}"),
              (status = 404, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn opening(state: web::Data<State>, q: web::Query<PriceQuery>) -> Result<HttpResponse, Problem> {
    let checker = &state.checker;
    let asset = parse_asset(q.symbol.as_deref())?;
    let key = format!("opening:{}", asset.symbol);
    if let Some(mut v) = checker.cache.price(&key).await {
        v["cache"] = "hit".into();
        return Ok(HttpResponse::Ok().json(v));
    }
    let mut stored = storage::openings(&checker.pool, asset.symbol).await.map_err(db)?;
    if stored.is_empty() {
        // Computing an answer stores the opening window (for good).
        let question = checker.parse(&RawQuestion {
            symbol: Some(asset.symbol.to_string()),
            investment: Some("1".into()),
            ..RawQuestion::default()
        })?;
        checker.compute(&question).await?;
        stored = storage::openings(&checker.pool, asset.symbol).await.map_err(db)?;
    }
    let openings: Vec<Value> = stored
        .iter()
        .map(|o| {
            json!({
                "source": o.source,
                "interval": o.interval,
                "since": o.since,
                "opening": domain::exact(o.window.mean),
                "candles": o.window.candles.iter().map(|c| json!({
                    "date": c.open_time.format("%Y-%m-%d").to_string(), "close": domain::exact(c.close)
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut v =
        json!({ "symbol": asset.symbol, "currency": checker.settings.lambo_currency, "openings": openings });
    checker.cache.put_price(&key, &v, None).await;
    v["cache"] = "miss".into();
    Ok(HttpResponse::Ok().json(v))
}

/// Stored candles of a coin, newest first, keyset-paged.
#[utoipa::path(get, tag = "prices", path = "/api/price/history/", params(PriceQuery),
    responses((status = 200, description = "{symbol, data: [{open_time, close, interval, source, pair}], next_cursor}"),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn history(state: web::Data<State>, q: web::Query<PriceQuery>) -> Result<HttpResponse, Problem> {
    let checker = &state.checker;
    let asset = parse_asset(q.symbol.as_deref())?;
    let limit = limit(q.limit.as_deref())?;
    let interval = match q.interval.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(i) => Some(
            Interval::parse(i)
                .ok_or_else(|| Problem::invalid_field("interval", "must be one of 15d, 1w, 1d, 1M"))?
                .as_str(),
        ),
    };
    let after: Option<storage::CandleKey> = q.cursor.as_deref().map(|c| CANDLES.key(c)).transpose()?;
    let mut rows = storage::candles_page(
        &checker.pool,
        asset.symbol,
        interval,
        after.as_ref(),
        i64::from(limit) + 1,
    )
    .await
    .map_err(db)?;
    let next = CANDLES.next_page(&mut rows, limit, |c| {
        (c.open_time, c.source.clone(), c.interval.clone())
    });
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|c| {
            json!({
                "open_time": c.open_time,
                "close": domain::exact(c.close),
                "interval": c.interval,
                "source": c.source,
                "pair": c.pair,
            })
        })
        .collect();
    let mut doc = page(&rows, next);
    doc["symbol"] = asset.symbol.into();
    doc["currency"] = checker.settings.lambo_currency.clone().into();
    Ok(HttpResponse::Ok().json(doc))
}

/// Query of `GET /api/analytics/report/`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ReportQuery {
    /// Only this coin.
    symbol: Option<String>,
    /// First day included (`2026-01-31`) or an RFC 3339 instant.
    from: Option<String>,
    /// Instant before which queries count (a day means its start: exclusive).
    to: Option<String>,
}

fn instant(field: &str, s: Option<&str>) -> Result<Option<DateTime<Utc>>, Problem> {
    let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| Some(d.and_utc()))
        .ok_or_else(|| Problem::invalid_field(field, "must be a date (2026-01-31) or an RFC 3339 instant"))
}

/// A report from the stored log and results (docs/lambo.md says how each figure is computed).
#[utoipa::path(get, tag = "analytics", path = "/api/analytics/report/", params(ReportQuery),
    responses((status = 200, description = "{totals, error_rate, errors_by_outcome, queries_per_symbol, queries_per_day, top_symbols, growth_factor: {median, distribution}, lambo_share}"),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn report(state: web::Data<State>, q: web::Query<ReportQuery>) -> Result<HttpResponse, Problem> {
    let checker = &state.checker;
    let symbol = q
        .symbol
        .as_deref()
        .map(|s| parse_asset(Some(s)))
        .transpose()?
        .map(|a| a.symbol);
    let from = instant("from", q.from.as_deref())?;
    let to = instant("to", q.to.as_deref())?;
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(Problem::invalid_field("from", "must be before to"));
    }
    let r = storage::report(&checker.pool, symbol, from, to)
        .await
        .map_err(db)?;
    let ratio = |a: i64, b: i64| {
        if b == 0 {
            Value::Null
        } else {
            domain::exact((Decimal::from(a) / Decimal::from(b)).round_dp(4)).into()
        }
    };
    let (total, answered, client_errors, server_errors) =
        (r.total, r.answered, r.client_errors, r.server_errors);
    let per_symbol: Vec<Value> = r
        .per_symbol
        .iter()
        .map(|(symbol, queries, answered)| json!({ "symbol": symbol, "queries": queries, "answered": answered }))
        .collect();
    let per_day: Vec<Value> = r
        .per_day
        .iter()
        .map(|(day, queries)| json!({ "day": day, "queries": queries }))
        .collect();
    let errors: Vec<Value> = r
        .errors
        .iter()
        .map(|(outcome, count)| json!({ "outcome": outcome, "count": count }))
        .collect();
    let g = &r.growth;
    let (results, median) = (g.results, g.median);
    let top: Vec<Value> = per_symbol
        .iter()
        .filter(|s| s["symbol"] != "(invalid)" && s["answered"].as_i64().unwrap_or(0) > 0)
        .take(5)
        .cloned()
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "filters": { "symbol": symbol, "from": from, "to": to },
        "totals": { "queries": total, "answered": answered, "client_errors": client_errors,
                    "server_errors": server_errors, "cache_hits": r.cache_hits, "results": results },
        "error_rate": ratio(client_errors + server_errors, total),
        "server_error_rate": ratio(server_errors, total),
        "errors_by_outcome": errors,
        "queries_per_symbol": per_symbol,
        "queries_per_day": per_day,
        "top_symbols": top,
        "growth_factor": {
            "median": median.map(|m| domain::exact(m.round_dp(8))),
            "distribution": [
                { "bucket": "< 0 (lost money)", "count": g.loss },
                { "bucket": "0 to < 1 (less than doubled)", "count": g.under_2x },
                { "bucket": "1 to < 10", "count": g.x2_to_11 },
                { "bucket": "10 to < 100", "count": g.x11_to_101 },
                { "bucket": ">= 100", "count": g.over_101x },
            ],
        },
        "lambo_share": ratio(g.lambo, results),
        "lambo_results": g.lambo,
    })))
}

/// The original's covid "prediction" was a fixed, invented figure: gone for good.
#[utoipa::path(get, tag = "analytics", path = "/api/analytics/covid/", responses((status = 410, body = Problem)))]
pub async fn covid() -> Result<HttpResponse, Problem> {
    Err(crate::problems::Code::CovidAnalyticsRetired.problem("the original's /api/analytics/covid/ returned a fixed, invented prediction computed from no data; \
         Delos does not serve invented analytics. See /api/analytics/report/ for figures computed from stored data.",
    ))
}
