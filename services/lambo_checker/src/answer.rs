//! The answer, as one type: REST serialises it, gRPC takes its `message` and
//! `graph_data`, GraphQL exposes it field by field, the page draws it and the cache
//! keeps its JSON text. A field renamed here is renamed everywhere, or the build fails.

use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};
use common::Problem;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::{self, Candle, Figures, WINDOW, Window};

/// The answer to "could I buy a Lamborghini now?": the original shape
/// (`message`, `graph_data`) plus every exact figure and the method used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, SimpleObject)]
#[graphql(name = "Analysis")]
pub struct LamboAnswer {
    /// The originals' figures, as JSON numbers (not rounded).
    pub message: Message,
    /// The chart: one point per candle used (thinned to `max_points`); absent
    /// from the documents of the results table.
    #[serde(default)]
    pub graph_data: Vec<Point>,
    /// `yes` when selling everything buys at least one Lamborghini, else `no`.
    #[schema(example = "no")]
    pub verdict: String,
    pub can_buy_lambo: bool,
    /// The answer in one sentence.
    pub summary: String,
    /// What the coins are worth now, in the lambo price's currency.
    pub value_at_sale: f64,
    /// `value_at_sale` / lambo price.
    pub value_lambos: f64,
    pub lambo_price: Money,
    /// Every figure as an exact decimal string.
    pub exact: Exact,
    /// Open date of the coin's first stored candle (`YYYY-MM-DD`).
    pub first_listing_date: Option<String>,
    /// Last day covered by the newest candle used (`YYYY-MM-DD`).
    pub newest_data_date: Option<String>,
    pub method: MethodUsed,
}

/// The original `message` object, keys as the originals spelled them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, SimpleObject)]
pub struct Message {
    #[serde(rename = "NUMBERCOINS")]
    pub number_coins: f64,
    #[serde(rename = "PROFIT")]
    pub profit: f64,
    #[serde(rename = "GROWTHFACTOR")]
    pub growth_factor: f64,
    #[serde(rename = "LAMBOS")]
    pub lambos: f64,
    #[serde(rename = "INVESTMENT")]
    pub investment: f64,
    #[serde(rename = "SYMBOL")]
    #[schema(example = "BTC")]
    pub symbol: String,
    /// When the answer was computed (RFC 3339, UTC).
    #[serde(rename = "GENERATIONDATE")]
    pub generation_date: String,
}

/// One chart point: the candle's open date and its close.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, SimpleObject)]
pub struct Point {
    #[schema(example = "2019-01-21")]
    pub x: String,
    pub y: f64,
}

/// An amount of money, exact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, SimpleObject)]
pub struct Money {
    #[schema(value_type = String, example = "200000")]
    pub amount: Decimal,
    #[schema(example = "USD")]
    pub currency: String,
}

/// The figures as exact decimals (no trailing zeros), strings in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, SimpleObject)]
pub struct Exact {
    #[schema(value_type = String)]
    pub number_coins: Decimal,
    #[schema(value_type = String)]
    pub profit: Decimal,
    #[schema(value_type = String)]
    pub growth_factor: Decimal,
    #[schema(value_type = String)]
    pub lambos: Decimal,
    #[schema(value_type = String)]
    pub investment: Decimal,
    #[schema(value_type = String)]
    pub value_at_sale: Decimal,
    #[schema(value_type = String)]
    pub value_lambos: Decimal,
    /// Mean close of the opening window.
    #[schema(value_type = String)]
    pub opening_price: Decimal,
    /// Mean close of the current window.
    #[schema(value_type = String)]
    pub current_price: Decimal,
}

/// How the answer was computed, with the candles averaged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, SimpleObject)]
pub struct MethodUsed {
    /// Where the candles came from (`kraken`, `bundled:…`, …).
    pub source: String,
    #[schema(example = "BTC/USD")]
    pub pair: String,
    /// The candle interval used (`15d`, `1w`, `1d`, `1M`).
    pub interval: String,
    /// The interval asked for (differs when another stored one had to serve).
    pub interval_requested: String,
    /// Start of the series: Unix seconds or `listing`.
    pub since: String,
    /// Candles averaged in each window.
    pub window: usize,
    pub candles_used: usize,
    pub opening_candles: Vec<WindowCandle>,
    pub current_candles: Vec<WindowCandle>,
    pub in_progress_candle: String,
    pub formulas: String,
    /// Why the series differs from the one asked for, when it does.
    pub note: Option<String>,
}

/// A candle of an averaging window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, SimpleObject)]
pub struct WindowCandle {
    pub date: String,
    #[schema(value_type = String)]
    pub close: Decimal,
}

/// Where the candles of an answer came from.
pub struct Series<'a> {
    pub source: &'a str,
    pub pair: &'a str,
    pub interval: domain::Interval,
    /// Every stored candle of the series (the first is the listing).
    pub all: &'a [Candle],
}

/// What an answer is computed from.
pub struct Inputs<'a> {
    pub symbol: &'static str,
    pub method: domain::Method,
    pub max_points: usize,
    pub series: Series<'a>,
    pub used: &'a [Candle],
    pub opening: &'a Window,
    pub current: &'a Window,
    pub figures: &'a Figures,
    pub note: Option<String>,
    pub currency: &'a str,
}

const FORMULAS: &str = "opening = mean close of opening_candles; current = mean close of current_candles; \
     NUMBERCOINS = INVESTMENT / opening; value_at_sale = NUMBERCOINS * current; \
     PROFIT = value_at_sale - INVESTMENT; GROWTHFACTOR = PROFIT / INVESTMENT; \
     LAMBOS = PROFIT / lambo_price; value_lambos = value_at_sale / lambo_price \
     (exact decimals, 28 significant digits)";

fn date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// A decimal as the JSON number of the original shape; decimals are finite, so
/// this never gives `Infinity`/`NaN`, and a failure is reported, not assumed away.
fn num(d: Decimal) -> Result<f64, Problem> {
    rust_decimal::prelude::ToPrimitive::to_f64(&d)
        .filter(|f| f.is_finite())
        .ok_or_else(|| {
            tracing::error!(value = %d, "a decimal did not convert to a JSON number");
            Problem::internal()
        })
}

fn window(w: &Window) -> Vec<WindowCandle> {
    w.candles
        .iter()
        .map(|c| WindowCandle {
            date: date(c.open_time),
            close: c.close.normalize(),
        })
        .collect()
}

impl LamboAnswer {
    /// Builds the answer from the computed figures.
    pub fn new(i: &Inputs<'_>) -> Result<Self, Problem> {
        let f = i.figures;
        let currency = i.currency;
        let first = i.series.all.first().map(|c| c.open_time);
        let last = i
            .used
            .last()
            .map(|c| i.series.interval.close_time(c.open_time) - chrono::Duration::seconds(1));
        let graph_data = domain::thin(i.used, i.max_points)
            .iter()
            .map(|c| {
                Ok(Point {
                    x: date(c.open_time),
                    y: num(c.close)?,
                })
            })
            .collect::<Result<_, Problem>>()?;
        let can = f.can_buy_lambo();
        let e = domain::exact;
        Ok(Self {
            message: Message {
                number_coins: num(f.number_coins)?,
                profit: num(f.profit)?,
                growth_factor: num(f.growth_factor)?,
                lambos: num(f.lambos)?,
                investment: num(f.investment)?,
                symbol: i.symbol.to_string(),
                generation_date: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            },
            graph_data,
            verdict: if can { "yes" } else { "no" }.to_string(),
            can_buy_lambo: can,
            summary: format!(
                "{} {currency} of {} bought at an average {} {currency} would be worth {} {currency} now: {} ({} Lamborghinis at {} {currency} each).",
                e(f.investment.round_dp(2)),
                i.symbol,
                e(f.opening_price.round_dp(2)),
                e(f.value_at_sale.round_dp(2)),
                if can {
                    "yes, you could buy a Lamborghini"
                } else {
                    "no Lamborghini yet"
                },
                e(f.value_lambos.round_dp(2)),
                e(f.lambo_price),
            ),
            value_at_sale: num(f.value_at_sale)?,
            value_lambos: num(f.value_lambos)?,
            lambo_price: Money {
                amount: f.lambo_price.normalize(),
                currency: currency.to_string(),
            },
            exact: Exact {
                number_coins: f.number_coins.normalize(),
                profit: f.profit.normalize(),
                growth_factor: f.growth_factor.normalize(),
                lambos: f.lambos.normalize(),
                investment: f.investment.normalize(),
                value_at_sale: f.value_at_sale.normalize(),
                value_lambos: f.value_lambos.normalize(),
                opening_price: f.opening_price.normalize(),
                current_price: f.current_price.normalize(),
            },
            first_listing_date: first.map(date),
            newest_data_date: last.map(date),
            method: MethodUsed {
                source: i.series.source.to_string(),
                pair: i.series.pair.to_string(),
                interval: i.series.interval.as_str().to_string(),
                interval_requested: i.method.interval.as_str().to_string(),
                since: i.method.since.key(),
                window: WINDOW,
                candles_used: i.used.len(),
                opening_candles: window(i.opening),
                current_candles: window(i.current),
                in_progress_candle: "never used: only complete candles are stored and averaged".to_string(),
                formulas: FORMULAS.to_string(),
                note: i.note.clone(),
            },
        })
    }

    /// The original shape's two parts as JSON text, as the gRPC `apiResponse` and the
    /// GraphQL `processRequest` carry them: `(message, graph_data)`.
    pub fn original_parts(&self) -> Result<(String, String), Problem> {
        let text = |v: Result<String, serde_json::Error>| {
            v.map_err(|e| {
                tracing::error!(error = %e, "an answer part did not serialise");
                Problem::internal()
            })
        };
        Ok((
            text(serde_json::to_string(&self.message))?,
            text(serde_json::to_string(&self.graph_data))?,
        ))
    }

    /// Parses an answer's JSON text (from the cache or the results table).
    pub fn parse(text: &str) -> Result<Self, Problem> {
        serde_json::from_str(text).map_err(|e| {
            tracing::error!(error = %e, "a stored answer does not parse as an answer");
            Problem::internal()
        })
    }
}
