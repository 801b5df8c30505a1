//! The Django original's data routes, under `/api/` (trailing slash optional):
//! stored results, the audit log, prices (current, opening, history), an analytics
//! report computed from the results and the log, and the retired covid "prediction"
//! (410). Lists are newest first and keyset-paged with an opaque `next_cursor`.
//! Prices are exact decimals as strings. Cache-aside: opening averages are cached in
//! Redis for good (they never change), current prices for `price_cache_ttl_secs`.

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use common::Problem;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row;

use crate::checker::{Checker, RawQuestion, parse_asset};
use crate::domain::{self, Interval};
use crate::storage;

fn encode(parts: &[&str]) -> String {
    URL_SAFE_NO_PAD.encode(parts.join("|"))
}

fn decode(c: &str, kind: &str, n: usize) -> Result<Vec<String>, Problem> {
    let bad = || Problem::invalid_field("cursor", "is not a cursor this API handed out for this list");
    let bytes = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let parts: Vec<String> = text.split('|').map(str::to_owned).collect();
    if parts.len() != n + 1 || parts[0] != kind {
        return Err(bad());
    }
    Ok(parts[1..].to_vec())
}

fn limit(raw: Option<&str>) -> Result<i64, Problem> {
    const LIMIT: common::paging::PageSize = common::paging::PageSize::new("limit", 20, 100);
    LIMIT.parse(raw).map(i64::from)
}

fn page(rows: Vec<Value>, limit: i64, cursor_of: impl Fn(&Value) -> String) -> Value {
    let keep = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > keep;
    let mut rows = rows;
    rows.truncate(keep);
    let next = if more { rows.last().map(cursor_of) } else { None };
    json!({ "data": rows, "next_cursor": next })
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
pub async fn results(
    checker: web::Data<Checker>,
    q: web::Query<ResultsQuery>,
) -> Result<HttpResponse, Problem> {
    let limit = limit(q.limit.as_deref())?;
    let symbol = q.symbol.as_deref().map(|s| parse_asset(Some(s))).transpose()?;
    let before = match q.cursor.as_deref() {
        None => i64::MAX,
        Some(c) => decode(c, "res", 1)?[0].parse().map_err(|_| {
            Problem::invalid_field("cursor", "is not a cursor this API handed out for this list")
        })?,
    };
    let rows = storage::results_page(&checker.pool, before, symbol.map(|a| a.symbol), limit + 1)
        .await
        .map_err(db)?;
    let rows = rows.into_iter().map(|r| result_row(r, false)).collect();
    Ok(HttpResponse::Ok().json(page(rows, limit, |v| encode(&["res", &v["id"].to_string()]))))
}

/// One stored result with the whole answer document; unknown id 404.
#[utoipa::path(get, tag = "results", path = "/api/results/{id}/", params(("id" = i64, Path, description = "result id")),
    responses((status = 200, description = "{id, created_at, symbol, ..., response}"),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn result(checker: web::Data<Checker>, req: HttpRequest) -> Result<HttpResponse, Problem> {
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
pub async fn logs(checker: web::Data<Checker>, q: web::Query<LogsQuery>) -> Result<HttpResponse, Problem> {
    let limit = limit(q.limit.as_deref())?;
    let symbol = q.symbol.as_deref().map(|s| parse_asset(Some(s))).transpose()?;
    let (lo, hi) = match q.level.as_deref().map(str::trim) {
        None | Some("") => (0, 999),
        Some("info") => (0, 399),
        Some("warning") => (400, 499),
        Some("error") => (500, 999),
        Some(_) => return Err(Problem::invalid_field("level", "must be info, warning or error")),
    };
    let before = match q.cursor.as_deref() {
        None => i64::MAX,
        Some(c) => decode(c, "log", 1)?[0].parse().map_err(|_| {
            Problem::invalid_field("cursor", "is not a cursor this API handed out for this list")
        })?,
    };
    let rows = sqlx::query(
        "select id, created_at, channel, client, symbol_raw, symbol, investment, method, status, outcome,
                cache_hit, duration_ms
         from queries where id < $1 and ($2::text is null or symbol = $2) and status between $3 and $4
         order by id desc limit $5",
    )
    .bind(before)
    .bind(symbol.map(|a| a.symbol))
    .bind(lo)
    .bind(hi)
    .bind(limit + 1)
    .fetch_all(&checker.pool)
    .await
    .map_err(db)?;
    let rows = rows
        .iter()
        .map(|r| {
            let status: i16 = r.try_get("status")?;
            Ok(json!({
                "id": r.try_get::<i64, _>("id")?,
                "created_at": r.try_get::<DateTime<Utc>, _>("created_at")?,
                "level": match status { 500.. => "error", 400.. => "warning", _ => "info" },
                "channel": r.try_get::<String, _>("channel")?,
                "client": r.try_get::<String, _>("client")?,
                "symbol_raw": r.try_get::<Option<String>, _>("symbol_raw")?,
                "symbol": r.try_get::<Option<String>, _>("symbol")?,
                "investment": r.try_get::<Option<String>, _>("investment")?,
                "method": r.try_get::<Option<String>, _>("method")?,
                "status": status,
                "outcome": r.try_get::<String, _>("outcome")?,
                "cache_hit": r.try_get::<bool, _>("cache_hit")?,
                "duration_ms": r.try_get::<Option<i32>, _>("duration_ms")?,
            }))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(db)?;
    Ok(HttpResponse::Ok().json(page(rows, limit, |v| encode(&["log", &v["id"].to_string()]))))
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

async fn cache_get(checker: &Checker, key: &str) -> Option<Value> {
    let r: Result<Option<String>, _> = redis::cmd("GET")
        .arg(key)
        .query_async(&mut checker.redis.clone())
        .await;
    r.ok().flatten().and_then(|s| serde_json::from_str(&s).ok())
}

async fn cache_set(checker: &Checker, key: &str, v: &Value, ttl: Option<u64>) {
    let mut cmd = redis::cmd("SET");
    cmd.arg(key).arg(v.to_string());
    if let Some(t) = ttl {
        cmd.arg("EX").arg(t.max(1));
    }
    let r: Result<(), _> = cmd.query_async(&mut checker.redis.clone()).await;
    if let Err(e) = r {
        tracing::warn!(error = %e, "price cache unavailable");
    }
}

/// The latest stored close of a coin, its time and source (cached `price_cache_ttl_secs`).
#[utoipa::path(get, tag = "prices", path = "/api/price/current/", params(PriceQuery),
    responses((status = 200, description = "{symbol, price, currency, open_time, interval, source, pair, cache}"),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn current(
    checker: web::Data<Checker>,
    q: web::Query<PriceQuery>,
) -> Result<HttpResponse, Problem> {
    let asset = parse_asset(q.symbol.as_deref())?;
    let key = format!("{}lambo:price:current:{}", checker.key_prefix, asset.symbol);
    if checker.price_cache_ttl_secs > 0
        && let Some(mut v) = cache_get(&checker, &key).await
    {
        v["cache"] = "hit".into();
        return Ok(HttpResponse::Ok().json(v));
    }
    let row = sqlx::query(
        "select source, pair, interval, open_time, close from candles
         where symbol = $1 order by open_time desc, source limit 1",
    )
    .bind(asset.symbol)
    .fetch_optional(&checker.pool)
    .await
    .map_err(db)?
    .ok_or_else(|| Problem::not_found(format!("no prices of {} are stored yet", asset.symbol)))?;
    let close: Decimal = row.try_get("close").map_err(db)?;
    let mut v = json!({
        "symbol": asset.symbol,
        "price": domain::exact(close),
        "currency": checker.lambo_currency,
        "open_time": row.try_get::<DateTime<Utc>, _>("open_time").map_err(db)?,
        "interval": row.try_get::<String, _>("interval").map_err(db)?,
        "source": row.try_get::<String, _>("source").map_err(db)?,
        "pair": row.try_get::<String, _>("pair").map_err(db)?,
        "note": "the close of the newest complete stored candle",
    });
    if checker.price_cache_ttl_secs > 0 {
        cache_set(&checker, &key, &v, Some(checker.price_cache_ttl_secs)).await;
    }
    v["cache"] = "miss".into();
    Ok(HttpResponse::Ok().json(v))
}

/// The stored opening averages of a coin with the candles they came from (computed
/// and stored with the default method if none is stored yet; cached for good).
#[utoipa::path(get, tag = "prices", path = "/api/price/opening/", params(PriceQuery),
    responses((status = 200, description = "{symbol, openings: [{source, interval, since, opening, candles: [{date, close}]}], cache}"),
              (status = 404, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn opening(
    checker: web::Data<Checker>,
    q: web::Query<PriceQuery>,
) -> Result<HttpResponse, Problem> {
    let asset = parse_asset(q.symbol.as_deref())?;
    let key = format!("{}lambo:price:opening:{}", checker.key_prefix, asset.symbol);
    if let Some(mut v) = cache_get(&checker, &key).await {
        v["cache"] = "hit".into();
        return Ok(HttpResponse::Ok().json(v));
    }
    let load = || async {
        sqlx::query(
            "select source, interval, since, opening, open_times, closes from opening_averages
             where symbol = $1 order by created_at, source, interval",
        )
        .bind(asset.symbol)
        .fetch_all(&checker.pool)
        .await
    };
    let mut rows = load().await.map_err(db)?;
    if rows.is_empty() {
        // Computing an answer stores the opening window (for good).
        let question = checker.parse(&RawQuestion {
            symbol: Some(asset.symbol.to_string()),
            investment: Some("1".into()),
            ..RawQuestion::default()
        })?;
        checker.compute(&question).await?;
        rows = load().await.map_err(db)?;
    }
    let openings = rows
        .iter()
        .map(|r| {
            let times: Vec<DateTime<Utc>> = r.try_get("open_times")?;
            let closes: Vec<Decimal> = r.try_get("closes")?;
            Ok(json!({
                "source": r.try_get::<String, _>("source")?,
                "interval": r.try_get::<String, _>("interval")?,
                "since": r.try_get::<DateTime<Utc>, _>("since")?,
                "opening": domain::exact(r.try_get::<Decimal, _>("opening")?),
                "candles": times.iter().zip(&closes).map(|(t, c)| json!({
                    "date": t.format("%Y-%m-%d").to_string(), "close": domain::exact(*c)
                })).collect::<Vec<_>>(),
            }))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(db)?;
    let mut v = json!({ "symbol": asset.symbol, "currency": checker.lambo_currency, "openings": openings });
    cache_set(&checker, &key, &v, None).await;
    v["cache"] = "miss".into();
    Ok(HttpResponse::Ok().json(v))
}

/// Stored candles of a coin, newest first, keyset-paged.
#[utoipa::path(get, tag = "prices", path = "/api/price/history/", params(PriceQuery),
    responses((status = 200, description = "{symbol, data: [{open_time, close, interval, source, pair}], next_cursor}"),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn history(
    checker: web::Data<Checker>,
    q: web::Query<PriceQuery>,
) -> Result<HttpResponse, Problem> {
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
    let bad = || Problem::invalid_field("cursor", "is not a cursor this API handed out for this list");
    let after = match q.cursor.as_deref() {
        None => None,
        Some(c) => {
            let p = decode(c, "px", 3)?;
            let micros: i64 = p[0].parse().map_err(|_| bad())?;
            Some((
                DateTime::from_timestamp_micros(micros).ok_or_else(bad)?,
                p[1].clone(),
                p[2].clone(),
            ))
        }
    };
    let rows = storage::candles_page(&checker.pool, asset.symbol, interval, after.as_ref(), limit + 1)
        .await
        .map_err(db)?
        .into_iter()
        .map(|c| {
            json!({
                "open_time": c.open_time,
                "close": domain::exact(c.close),
                "interval": c.interval,
                "source": c.source,
                "pair": c.pair,
                "_t": c.open_time.timestamp_micros(),
            })
        })
        .collect();
    let mut doc = page(rows, limit, |v| {
        encode(&[
            "px",
            &v["_t"].to_string(),
            v["source"].as_str().unwrap_or_default(),
            v["interval"].as_str().unwrap_or_default(),
        ])
    });
    if let Some(data) = doc["data"].as_array_mut() {
        for d in data {
            if let Some(o) = d.as_object_mut() {
                o.remove("_t");
            }
        }
    }
    doc["symbol"] = asset.symbol.into();
    doc["currency"] = checker.lambo_currency.clone().into();
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
pub async fn report(
    checker: web::Data<Checker>,
    q: web::Query<ReportQuery>,
) -> Result<HttpResponse, Problem> {
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
