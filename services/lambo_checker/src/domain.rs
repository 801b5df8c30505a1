//! The question and its arithmetic: supported coins and their symbol spellings,
//! candle intervals, the method (interval + start), the investment, and the
//! analysis itself. Exact decimals throughout; floats appear only where the
//! original JSON shape wants numbers (`to_json_number`), converted at the edge.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

pub use price_feed::{Asset, Candle, Interval};

/// Every coin the service answers for.
pub const ASSETS: [Asset; 8] = [
    asset("BTC", "XBTUSD", "BTCUSDT", "bitcoin"),
    asset("ETH", "ETHUSD", "ETHUSDT", "ethereum"),
    asset("LTC", "LTCUSD", "LTCUSDT", "litecoin"),
    asset("XRP", "XRPUSD", "XRPUSDT", "ripple"),
    asset("ADA", "ADAUSD", "ADAUSDT", "cardano"),
    asset("SOL", "SOLUSD", "SOLUSDT", "solana"),
    asset("DOGE", "XDGUSD", "DOGEUSDT", "dogecoin"),
    asset("DOT", "DOTUSD", "DOTUSDT", "polkadot"),
];

const fn asset(
    symbol: &'static str,
    kraken_pair: &'static str,
    binance_pair: &'static str,
    coingecko_id: &'static str,
) -> Asset {
    Asset {
        symbol,
        kraken_pair,
        binance_pair,
        coingecko_id,
    }
}

/// The supported symbols, for the 404 of an unknown one.
pub fn supported_symbols() -> Vec<&'static str> {
    ASSETS.iter().map(|a| a.symbol).collect()
}

/// Why a symbol was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SymbolError {
    /// Empty, too long, or with characters no ticker has (422).
    Invalid(&'static str),
    /// Well-formed but not a coin we know (404).
    Unknown(String),
}

/// Normalises the spellings people and exchanges use: `btc`, `XBT`, `BTC-USD`,
/// `btc/usd`, `XXBTZUSD` (Kraken), `BTCUSDT` (Binance), `bitcoin` all mean bitcoin.
pub fn parse_symbol(raw: &str) -> Result<Asset, SymbolError> {
    let s = raw.trim().to_ascii_uppercase();
    if s.is_empty() {
        return Err(SymbolError::Invalid("is required"));
    }
    if s.len() > 20
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'/')
    {
        return Err(SymbolError::Invalid(
            "must be a ticker of at most 20 letters, digits, '-' or '/' (e.g. BTC)",
        ));
    }
    if let Some(a) = ASSETS.iter().find(|a| a.coingecko_id.eq_ignore_ascii_case(&s)) {
        return Ok(*a);
    }
    let mut base = s.replace(['-', '/'], "");
    // Quote currencies: Kraken's legacy `Z` prefix (XXBTZUSD), Binance's USDT.
    for quote in ["ZUSD", "USDT", "USDC", "USD"] {
        if base.len() > quote.len()
            && let Some(stripped) = base.strip_suffix(quote)
        {
            base = stripped.to_string();
            break;
        }
    }
    let base = match base.as_str() {
        "XBT" | "XXBT" => "BTC",
        "XETH" => "ETH",
        "XLTC" => "LTC",
        "XXRP" => "XRP",
        "XDG" | "XXDG" => "DOGE",
        other => other,
    };
    ASSETS
        .iter()
        .find(|a| a.symbol == base)
        .copied()
        .ok_or_else(|| SymbolError::Unknown(raw.trim().to_string()))
}

/// The originals' start: 2019-01-21 23:00 UTC (`since=1548111600`).
pub const DEFAULT_SINCE: i64 = 1_548_111_600;

/// Where the averaging starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// From a point in time: the candle containing it is the first one used.
    At(DateTime<Utc>),
    /// From the first candle the source has (the listing).
    Listing,
}

impl Since {
    /// Parses `listing`, a date (`2019-01-21`) or Unix seconds (`1548111600`).
    pub fn parse(s: &str) -> Option<Since> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("listing") {
            return Some(Since::Listing);
        }
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return d.and_hms_opt(0, 0, 0).map(|t| Since::At(t.and_utc()));
        }
        s.parse::<i64>()
            .ok()
            .filter(|t| (0..=253_402_300_799).contains(t))
            .and_then(|t| DateTime::from_timestamp(t, 0))
            .map(Since::At)
    }

    /// `listing` or Unix seconds, for keys and answers.
    pub fn key(&self) -> String {
        match self {
            Since::Listing => "listing".into(),
            Since::At(t) => t.timestamp().to_string(),
        }
    }

    /// The instant (the epoch for `listing`).
    pub fn instant(&self) -> DateTime<Utc> {
        match self {
            Since::Listing => DateTime::UNIX_EPOCH,
            Since::At(t) => *t,
        }
    }
}

/// How the answer is computed: candle interval and start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method {
    pub interval: Interval,
    pub since: Since,
}

impl Default for Method {
    fn default() -> Self {
        Self {
            interval: Interval::FifteenDays,
            since: Since::At(DateTime::from_timestamp(DEFAULT_SINCE, 0).unwrap_or(DateTime::UNIX_EPOCH)),
        }
    }
}

/// Largest investment accepted: a trillion dollars. Beyond it the question is
/// not a real one, and the products could leave the decimal range.
pub const MAX_INVESTMENT: i64 = 1_000_000_000_000;

/// A positive amount of USD with at most 2 decimal places, at most [`MAX_INVESTMENT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Investment(Decimal);

impl Investment {
    /// Parses the text form; the message says what is wrong (`NaN`, `1e400`, `-5`, …).
    pub fn parse(raw: &str) -> Result<Investment, &'static str> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("is required");
        }
        // Plain decimal notation only: `NaN`, `inf`, `1e400` and hex are not amounts.
        if !s
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+')
        {
            return Err("must be a plain decimal number of USD, e.g. 500 or 499.99");
        }
        let d = Decimal::from_str_exact(s)
            .map_err(|_| "must be a plain decimal number of USD, e.g. 500 or 499.99")?;
        if d <= Decimal::ZERO {
            return Err("must be greater than 0");
        }
        if d > Decimal::from(MAX_INVESTMENT) {
            return Err("must be at most 1000000000000 (one trillion USD)");
        }
        if d.normalize().scale() > 2 {
            return Err("must have at most 2 decimal places");
        }
        Ok(Investment(d.normalize()))
    }

    /// The amount.
    pub fn value(self) -> Decimal {
        self.0
    }
}

/// The candles averaged for one price, and their mean close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub candles: Vec<Candle>,
    pub mean: Decimal,
}

/// Candles averaged per window.
pub const WINDOW: usize = 4;

/// The fewest candles that give two windows that do not overlap.
pub const MIN_CANDLES: usize = 2 * WINDOW;

/// Mean close of `candles` (non-empty).
pub fn mean_close(candles: &[Candle]) -> Option<Decimal> {
    let sum = candles
        .iter()
        .try_fold(Decimal::ZERO, |acc, c| acc.checked_add(c.close))?;
    sum.checked_div(Decimal::from(candles.len()))
}

/// The candles of a series the method uses: those still open at `since` or later,
/// in time order. The caller passes complete candles only.
pub fn used_candles(all: &[Candle], interval: Interval, since: Since) -> Vec<Candle> {
    let start = since.instant();
    let mut v: Vec<Candle> = all
        .iter()
        .filter(|c| interval.close_time(c.open_time) > start)
        .copied()
        .collect();
    v.sort_by_key(|c| c.open_time);
    v
}

/// The first window, computed from the candles used.
pub fn opening_window(used: &[Candle]) -> Option<Window> {
    let candles = used.get(..WINDOW)?.to_vec();
    let mean = mean_close(&candles)?;
    Some(Window { candles, mean })
}

/// The last window of complete candles.
pub fn current_window(used: &[Candle]) -> Option<Window> {
    let candles = used.get(used.len().checked_sub(WINDOW)?..)?.to_vec();
    let mean = mean_close(&candles)?;
    Some(Window { candles, mean })
}

/// Every figure of the answer, exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    pub investment: Decimal,
    pub opening_price: Decimal,
    pub current_price: Decimal,
    pub number_coins: Decimal,
    pub value_at_sale: Decimal,
    pub profit: Decimal,
    pub growth_factor: Decimal,
    pub lambos: Decimal,
    pub value_lambos: Decimal,
    pub lambo_price: Decimal,
}

impl Figures {
    /// True when selling everything buys at least one Lamborghini.
    pub fn can_buy_lambo(&self) -> bool {
        self.value_at_sale >= self.lambo_price
    }
}

/// The originals' arithmetic, in this order: coins = investment / opening;
/// value = coins × current; profit = value − investment; GROWTHFACTOR =
/// profit / investment; LAMBOS = profit / lambo price; value / lambo price.
/// `None` only if a figure leaves the decimal range (inputs are bounded so it does not).
pub fn compute(
    investment: Decimal,
    opening: Decimal,
    current: Decimal,
    lambo_price: Decimal,
) -> Option<Figures> {
    let number_coins = investment.checked_div(opening)?;
    let value_at_sale = number_coins.checked_mul(current)?;
    let profit = value_at_sale.checked_sub(investment)?;
    let growth_factor = profit.checked_div(investment)?;
    let lambos = profit.checked_div(lambo_price)?;
    let value_lambos = value_at_sale.checked_div(lambo_price)?;
    Some(Figures {
        investment,
        opening_price: opening,
        current_price: current,
        number_coins,
        value_at_sale,
        profit,
        growth_factor,
        lambos,
        value_lambos,
        lambo_price,
    })
}

/// A decimal as a JSON number (the original shape), converted only here.
/// Decimals are finite, so this is never `Infinity`/`NaN`; `None` cannot happen
/// for values in range but is mapped by the caller rather than assumed.
pub fn to_json_number(d: Decimal) -> Option<serde_json::Value> {
    d.to_f64()
        .and_then(serde_json::Number::from_f64)
        .map(serde_json::Value::Number)
}

/// Exact text of a decimal, without trailing zeros.
pub fn exact(d: Decimal) -> String {
    d.normalize().to_string()
}

/// At most `max` points of `candles`, evenly spread, first and last always kept.
pub fn thin(candles: &[Candle], max: usize) -> Vec<Candle> {
    let n = candles.len();
    if n <= max || max < 2 {
        return candles.to_vec();
    }
    (0..max)
        .filter_map(|i| candles.get(i * (n - 1) / (max - 1)))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn symbols_are_normalised() {
        for s in [
            "btc", "XBT", "BTC-USD", "XXBTZUSD", "btc/usd", "BTCUSDT", "bitcoin", " Btc ",
        ] {
            assert_eq!(parse_symbol(s).unwrap().symbol, "BTC", "{s}");
        }
        assert_eq!(parse_symbol("eth").unwrap().symbol, "ETH");
        assert_eq!(parse_symbol("XETHZUSD").unwrap().symbol, "ETH");
        assert_eq!(parse_symbol("xdg").unwrap().symbol, "DOGE");
        assert_eq!(parse_symbol("FOO"), Err(SymbolError::Unknown("FOO".into())));
        assert!(matches!(parse_symbol(""), Err(SymbolError::Invalid(_))));
        assert!(matches!(parse_symbol("BTC;drop"), Err(SymbolError::Invalid(_))));
        // "USD" alone is not stripped down to nothing.
        assert_eq!(parse_symbol("USD"), Err(SymbolError::Unknown("USD".into())));
    }

    #[test]
    fn investments_reject_every_non_amount() {
        for bad in [
            "",
            "0",
            "-5",
            "NaN",
            "nan",
            "inf",
            "Infinity",
            "1e400",
            "1e3",
            "abc",
            "0x10",
            "1.234",
            "1000000000001",
            "99999999999999999999999999999999",
        ] {
            assert!(Investment::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(Investment::parse("500").unwrap().value(), Decimal::from(500));
        assert_eq!(
            Investment::parse("499.90").unwrap().value(),
            Decimal::new(4999, 1)
        );
        assert_eq!(
            Investment::parse("1000000000000").unwrap().value(),
            Decimal::from(MAX_INVESTMENT)
        );
    }

    #[test]
    fn windows_take_first_and_last_four() {
        let c: Vec<Candle> = (0..10)
            .map(|i| Candle {
                open_time: DateTime::from_timestamp(i * 86_400, 0).unwrap(),
                close: Decimal::from(i + 1),
            })
            .collect();
        assert_eq!(opening_window(&c).unwrap().mean, Decimal::new(25, 1));
        assert_eq!(current_window(&c).unwrap().mean, Decimal::new(85, 1));
        assert!(opening_window(&c[..3]).is_none());
    }

    #[test]
    fn compute_follows_the_original_formulas() {
        let f = compute(
            Decimal::from(500),
            Decimal::from(4000),
            Decimal::from(60000),
            Decimal::from(200_000),
        )
        .unwrap();
        assert_eq!(f.number_coins, Decimal::new(125, 3));
        assert_eq!(f.value_at_sale, Decimal::from(7500));
        assert_eq!(f.profit, Decimal::from(7000));
        assert_eq!(f.growth_factor, Decimal::from(14));
        assert_eq!(f.lambos, Decimal::new(35, 3));
        assert!(!f.can_buy_lambo());
        // The extremes stay in range: a trillion on a sub-cent price.
        assert!(
            compute(
                Decimal::from(MAX_INVESTMENT),
                Decimal::new(1, 6),
                Decimal::from(100_000),
                Decimal::ONE
            )
            .is_some()
        );
    }

    #[test]
    fn thinning_keeps_ends_and_bound() {
        let c: Vec<Candle> = (0..100)
            .map(|i| Candle {
                open_time: DateTime::from_timestamp(i * 86_400, 0).unwrap(),
                close: Decimal::from(i + 1),
            })
            .collect();
        let t = thin(&c, 10);
        assert_eq!(t.len(), 10);
        assert_eq!(t[0], c[0]);
        assert_eq!(t[9], c[99]);
        assert_eq!(thin(&c, 1000).len(), 100);
    }

    #[test]
    fn month_candles_close_at_the_next_month() {
        let open = Utc.with_ymd_and_hms(2024, 12, 1, 0, 0, 0).unwrap();
        assert_eq!(
            Interval::Month.close_time(open),
            Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(Since::parse("2019-01-21").unwrap().key(), "1548028800");
        assert_eq!(Since::parse("1548111600").unwrap().key(), "1548111600");
        assert_eq!(Since::parse("listing"), Some(Since::Listing));
        assert_eq!(Since::parse("yesterday"), None);
    }
}
