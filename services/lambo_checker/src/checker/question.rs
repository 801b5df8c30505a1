//! The question as it arrives (query string, gRPC message, job) and its parsing:
//! each bad parameter is a 422 naming it, an unknown coin a 404 listing the known.

use common::Problem;

use crate::domain::{self, Asset, Interval, Investment, Method, Since, SymbolError};

/// The question as it arrived (query string or gRPC message), unparsed.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
pub struct RawQuestion {
    /// Coin symbol: `BTC`, `eth`, `XBT`, `BTC-USD`, `XXBTZUSD`, …
    pub symbol: Option<String>,
    /// USD invested at the start: a positive decimal with at most 2 places.
    pub investment: Option<String>,
    /// Candle length: `15d` (default, Kraken `21600`), `1w`, `1d`, `1M`.
    pub interval: Option<String>,
    /// Start: `2019-01-21`, Unix seconds (default `1548111600`), or `listing`.
    pub since: Option<String>,
    /// Most points in `graph_data` (default and maximum: the service's `max_points`).
    pub max_points: Option<String>,
}

/// A parsed question.
#[derive(Debug, Clone, Copy)]
pub struct Question {
    pub asset: Asset,
    pub investment: Investment,
    pub method: Method,
    pub max_points: usize,
}

impl Question {
    /// Turns the raw parameters into a question; `max_points` is both the default
    /// and the largest a caller may ask for.
    pub fn parse(raw: &RawQuestion, max_points: usize) -> Result<Self, Problem> {
        let asset = parse_asset(raw.symbol.as_deref())?;
        let investment = Investment::parse(raw.investment.as_deref().unwrap_or_default())
            .map_err(|m| Problem::invalid_field("investment", m))?;
        let mut method = Method::default();
        if let Some(i) = raw.interval.as_deref().filter(|s| !s.trim().is_empty()) {
            method.interval = Interval::parse(i).ok_or_else(|| {
                Problem::invalid_field(
                    "interval",
                    "must be one of 15d (21600), 1w (10080), 1d (1440), 1M",
                )
            })?;
        }
        if let Some(s) = raw.since.as_deref().filter(|s| !s.trim().is_empty()) {
            method.since = Since::parse(s).ok_or_else(|| {
                Problem::invalid_field("since", "must be a date (2019-01-21), Unix seconds, or listing")
            })?;
        }
        let max_points = match raw.max_points.as_deref() {
            None => max_points,
            Some(s) => s
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (2..=max_points).contains(n))
                .ok_or_else(|| {
                    Problem::invalid_field("max_points", format!("must be an integer from 2 to {max_points}"))
                })?,
        };
        Ok(Self {
            asset,
            investment,
            method,
            max_points,
        })
    }

    /// What identifies the answer: `BTC:500:15d:1548111600:1000`.
    pub fn cache_key(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.asset.symbol,
            domain::exact(self.investment.value()),
            method_key(&self.method),
            self.max_points
        )
    }
}

/// Parses a symbol parameter: 422 naming `symbol` when malformed or missing, 404
/// listing the supported coins when unknown.
pub fn parse_asset(raw: Option<&str>) -> Result<Asset, Problem> {
    match domain::parse_symbol(raw.unwrap_or_default()) {
        Ok(a) => Ok(a),
        Err(SymbolError::Invalid(msg)) => Err(Problem::invalid_field("symbol", msg)),
        Err(SymbolError::Unknown(s)) => Err(crate::problems::Code::UnknownSymbol
            .problem(format!(
                "{s:?} is not a supported coin; supported: {}",
                domain::supported_symbols().join(", ")
            ))
            .with("supported", domain::supported_symbols())),
    }
}

/// The method as one key: `15d:1548111600`.
pub fn method_key(m: &Method) -> String {
    format!("{}:{}", m.interval.as_str(), m.since.key())
}
