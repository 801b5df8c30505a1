//! The bundled offline BTC history (`data/btc_usd_monthly_2012_2024.csv`, see
//! `data/NOTICE`), embedded in the binary so it works from any directory and in
//! containers. The file has one row per month, dated at the month's end; it
//! supports monthly candles only, so they are stored as interval `1M` opening on
//! the first day of the month, and every answer from them says so.

use anyhow::Context;
use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::domain::{Candle, Interval};
use crate::storage;

/// The embedded file.
pub const BTC_MONTHLY_CSV: &str = include_str!("../data/btc_usd_monthly_2012_2024.csv");

/// The source name stored with its candles.
pub const SOURCE: &str = "bundled:backtesting-0.6.6/BTCUSD.csv";

/// The pair the file prices.
pub const PAIR: &str = "BTC/USD";

/// Parses the `,Open,High,Low,Close,Volume` form: month-end date, prices as text.
/// Returns the candles and reports a bad row by its line number.
pub fn parse_monthly(csv: &str) -> anyhow::Result<Vec<Candle>> {
    let mut lines = csv.lines().enumerate();
    let (_, header) = lines.next().context("the price file is empty")?;
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    let close_col = cols
        .iter()
        .position(|c| c.eq_ignore_ascii_case("close"))
        .context("the price file has no Close column")?;
    let mut out = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let n = i + 1;
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let date = fields.first().context(format!("line {n}: no date"))?;
        let date = NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .with_context(|| format!("line {n}: date {date:?}"))?;
        let close = fields
            .get(close_col)
            .with_context(|| format!("line {n}: no Close field"))?;
        let close = Decimal::from_str_exact(close)
            .ok()
            .filter(|d| *d > Decimal::ZERO)
            .with_context(|| format!("line {n}: close {close:?} is not a positive number"))?;
        let open_time = Utc
            .with_ymd_and_hms(date.year(), date.month(), 1, 0, 0, 0)
            .single()
            .with_context(|| format!("line {n}: no month start for {date}"))?;
        out.push(Candle { open_time, close });
    }
    out.sort_by_key(|c| c.open_time);
    Ok(out)
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    /// Candles in the file.
    pub rows: usize,
    /// Candles that were not stored before.
    pub new: u64,
    /// True when this exact file had been imported already (nothing was written).
    pub already: bool,
}

/// Imports `csv` as BTC monthly candles, idempotently (by content hash, and each
/// candle by its key). `progress` is called with (done, total) as chunks land.
pub async fn import(
    pool: &PgPool,
    name: &str,
    csv: &str,
    mut progress: impl FnMut(usize, usize),
) -> anyhow::Result<Imported> {
    let hash: String = Sha256::digest(csv.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let candles = parse_monthly(csv)?;
    if storage::was_imported(pool, &hash).await? {
        progress(candles.len(), candles.len());
        return Ok(Imported {
            rows: candles.len(),
            new: 0,
            already: true,
        });
    }
    let mut new = 0;
    let mut done = 0;
    for chunk in candles.chunks(50) {
        new += storage::store_candles(pool, "BTC", SOURCE, PAIR, Interval::Month, chunk).await?;
        done += chunk.len();
        progress(done, candles.len());
    }
    storage::record_import(
        pool,
        &hash,
        name,
        i32::try_from(candles.len()).unwrap_or(i32::MAX),
    )
    .await?;
    Ok(Imported {
        rows: candles.len(),
        new,
        already: false,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_bundled_file_parses_into_156_month_candles() {
        let c = parse_monthly(BTC_MONTHLY_CSV).unwrap();
        assert_eq!(c.len(), 156);
        assert_eq!(c[0].open_time, Utc.with_ymd_and_hms(2012, 1, 1, 0, 0, 0).unwrap());
        assert_eq!(c[0].close, Decimal::new(555, 2));
        assert_eq!(
            c[155].open_time,
            Utc.with_ymd_and_hms(2024, 12, 1, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn a_bad_row_is_named_by_its_line() {
        let err = parse_monthly(",Open,High,Low,Close,Volume\n2012-01-31,1,2,1,x,5\n").unwrap_err();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    }
}
