//! All of lambo_checker's SQL (database `lambo`). Here: price series and their
//! candles, opening windows, imports and the status summary; the query log with its
//! results and report in [`log`], the job queue in [`jobs`].

mod jobs;
mod log;

pub use jobs::*;
pub use log::*;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgPool, Row};

use crate::domain::{Candle, Interval, Window};

/// A stored series: which source, which pair, its complete candles (oldest first).
#[derive(Debug, Clone)]
pub struct StoredSeries {
    pub source: String,
    pub pair: String,
    pub interval: Interval,
    pub fetched_at: DateTime<Utc>,
    pub candles: Vec<Candle>,
}

/// Stores candles of one series (existing ones keep their value: complete candles
/// do not change) and marks the series refreshed. Returns how many rows were new.
#[tracing::instrument(skip_all, fields(symbol, source, interval = interval.as_str(), n = candles.len()))]
pub async fn store_candles(
    pool: &PgPool,
    symbol: &str,
    source: &str,
    pair: &str,
    interval: Interval,
    candles: &[Candle],
) -> Result<u64, sqlx::Error> {
    let times: Vec<DateTime<Utc>> = candles.iter().map(|c| c.open_time).collect();
    let closes: Vec<Decimal> = candles.iter().map(|c| c.close).collect();
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "insert into candles (symbol, source, pair, interval, open_time, close)
         select $1, $2, $3, $4, t, c from unnest($5::timestamptz[], $6::numeric[]) as u(t, c)
         on conflict do nothing",
    )
    .bind(symbol)
    .bind(source)
    .bind(pair)
    .bind(interval.as_str())
    .bind(&times)
    .bind(&closes)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query(
        "insert into series (symbol, source, pair, interval, fetched_at) values ($1, $2, $3, $4, now())
         on conflict (symbol, source, interval) do update set fetched_at = excluded.fetched_at, pair = excluded.pair",
    )
    .bind(symbol)
    .bind(source)
    .bind(pair)
    .bind(interval.as_str())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(inserted)
}

/// Every stored series of `symbol`, each with its candles: the chosen interval's
/// first, then the rest (the caller picks). Sources with the most candles come first.
#[tracing::instrument(skip_all, fields(symbol))]
pub async fn load_series(pool: &PgPool, symbol: &str) -> Result<Vec<StoredSeries>, sqlx::Error> {
    let rows = sqlx::query(
        "select s.source, s.pair, s.interval, s.fetched_at,
                coalesce(array_agg(c.open_time order by c.open_time) filter (where c.open_time is not null), '{}') as times,
                coalesce(array_agg(c.close order by c.open_time) filter (where c.open_time is not null), '{}') as closes
         from series s
         left join candles c on c.symbol = s.symbol and c.source = s.source and c.interval = s.interval
         where s.symbol = $1
         group by s.source, s.pair, s.interval, s.fetched_at
         order by count(c.open_time) desc, s.source",
    )
    .bind(symbol)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let interval: String = row.try_get("interval")?;
        let Some(interval) = Interval::parse(&interval) else {
            continue;
        };
        out.push(StoredSeries {
            source: row.try_get("source")?,
            pair: row.try_get("pair")?,
            interval,
            fetched_at: row.try_get("fetched_at")?,
            candles: candles(row.try_get("times")?, row.try_get("closes")?),
        });
    }
    Ok(out)
}

/// The stored opening window of a series and start, if one was stored.
pub async fn opening(
    pool: &PgPool,
    symbol: &str,
    source: &str,
    interval: Interval,
    since: DateTime<Utc>,
) -> Result<Option<Window>, sqlx::Error> {
    let row = sqlx::query(
        "select opening, open_times, closes from opening_averages
         where symbol = $1 and source = $2 and interval = $3 and since = $4",
    )
    .bind(symbol)
    .bind(source)
    .bind(interval.as_str())
    .bind(since)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(window(
        row.try_get("opening")?,
        row.try_get("open_times")?,
        row.try_get("closes")?,
    )))
}

/// Stores an opening window for good; the first one stored wins.
pub async fn store_opening(
    pool: &PgPool,
    symbol: &str,
    source: &str,
    interval: Interval,
    since: DateTime<Utc>,
    window: &Window,
) -> Result<(), sqlx::Error> {
    let times: Vec<DateTime<Utc>> = window.candles.iter().map(|c| c.open_time).collect();
    let closes: Vec<Decimal> = window.candles.iter().map(|c| c.close).collect();
    sqlx::query(
        "insert into opening_averages (symbol, source, interval, since, opening, open_times, closes)
         values ($1, $2, $3, $4, $5, $6, $7) on conflict do nothing",
    )
    .bind(symbol)
    .bind(source)
    .bind(interval.as_str())
    .bind(since)
    .bind(window.mean)
    .bind(&times)
    .bind(&closes)
    .execute(pool)
    .await?;
    Ok(())
}

/// True when a file with this content hash was imported before.
pub async fn was_imported(pool: &PgPool, sha256: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists(select 1 from imports where sha256 = $1)")
        .bind(sha256)
        .fetch_one(pool)
        .await
}

/// Records an import (a concurrent second importer's row is ignored).
pub async fn record_import(pool: &PgPool, sha256: &str, name: &str, rows: i32) -> Result<(), sqlx::Error> {
    sqlx::query("insert into imports (sha256, name, rows) values ($1, $2, $3) on conflict do nothing")
        .bind(sha256)
        .bind(name)
        .bind(rows)
        .execute(pool)
        .await?;
    Ok(())
}

/// Stored series and candle counts, for `/status`.
pub async fn series_summary(pool: &PgPool) -> Result<Vec<serde_json::Value>, sqlx::Error> {
    let rows = sqlx::query(
        "select s.symbol, s.source, s.pair, s.interval, s.fetched_at, count(c.open_time) as n,
                min(c.open_time) as first, max(c.open_time) as last
         from series s left join candles c
           on c.symbol = s.symbol and c.source = s.source and c.interval = s.interval
         group by s.symbol, s.source, s.pair, s.interval, s.fetched_at order by s.symbol, s.source, s.interval",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(serde_json::json!({
                "symbol": r.try_get::<String, _>("symbol")?,
                "source": r.try_get::<String, _>("source")?,
                "pair": r.try_get::<String, _>("pair")?,
                "interval": r.try_get::<String, _>("interval")?,
                "refreshed_at": r.try_get::<DateTime<Utc>, _>("fetched_at")?,
                "candles": r.try_get::<i64, _>("n")?,
                "first_candle": r.try_get::<Option<DateTime<Utc>>, _>("first")?,
                "last_candle": r.try_get::<Option<DateTime<Utc>>, _>("last")?,
            }))
        })
        .collect()
}

/// One stored candle as the data routes show it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CandleRow {
    pub open_time: DateTime<Utc>,
    pub close: Decimal,
    pub interval: String,
    pub source: String,
    pub pair: String,
}

/// Where a page of candles continues: after this (open time, source, interval).
pub type CandleKey = (DateTime<Utc>, String, String);

/// Stored candles of a coin, newest first, of one interval when given, after `after`.
pub async fn candles_page(
    pool: &PgPool,
    symbol: &str,
    interval: Option<&str>,
    after: Option<&CandleKey>,
    limit: i64,
) -> Result<Vec<CandleRow>, sqlx::Error> {
    sqlx::query_as(
        "select c.open_time, c.close, c.interval, c.source, c.pair from candles c
         where c.symbol = $1 and ($2::text is null or c.interval = $2)
           and ($3::timestamptz is null or (c.open_time, c.source, c.interval) < ($3, $4, $5))
         order by c.open_time desc, c.source desc, c.interval desc limit $6",
    )
    .bind(symbol)
    .bind(interval)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1.clone()))
    .bind(after.map(|a| a.2.clone()))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The newest stored candle of a coin (the first source by name on a tie).
pub async fn newest_candle(pool: &PgPool, symbol: &str) -> Result<Option<CandleRow>, sqlx::Error> {
    sqlx::query_as(
        "select open_time, close, interval, source, pair from candles
         where symbol = $1 order by open_time desc, source limit 1",
    )
    .bind(symbol)
    .fetch_optional(pool)
    .await
}

/// A stored opening window with the series it belongs to.
#[derive(Debug, Clone)]
pub struct StoredOpening {
    pub source: String,
    pub interval: String,
    pub since: DateTime<Utc>,
    pub window: Window,
}

/// Every opening window stored for a coin, oldest first.
pub async fn openings(pool: &PgPool, symbol: &str) -> Result<Vec<StoredOpening>, sqlx::Error> {
    let rows = sqlx::query(
        "select source, interval, since, opening, open_times, closes from opening_averages
         where symbol = $1 order by created_at, source, interval",
    )
    .bind(symbol)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StoredOpening {
                source: r.try_get("source")?,
                interval: r.try_get("interval")?,
                since: r.try_get("since")?,
                window: window(
                    r.try_get("opening")?,
                    r.try_get("open_times")?,
                    r.try_get("closes")?,
                ),
            })
        })
        .collect()
}

fn window(mean: Decimal, times: Vec<DateTime<Utc>>, closes: Vec<Decimal>) -> Window {
    Window {
        mean,
        candles: candles(times, closes),
    }
}

/// Candles from the two arrays Postgres keeps them in (open times, closes).
fn candles(times: Vec<DateTime<Utc>>, closes: Vec<Decimal>) -> Vec<Candle> {
    times
        .into_iter()
        .zip(closes)
        .map(|(open_time, close)| Candle { open_time, close })
        .collect()
}
