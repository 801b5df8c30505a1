//! # price_feed
//!
//! The upstream price APIs of Delos, in one place, for both directions:
//!
//! - [`spot`]: BTC in EUR, GBP and USD now (api_updater): Coinbase, Kraken Ticker,
//!   CoinGecko `simple/price`, CoinDesk BPI, and made-up simulated prices; a
//!   [`spot::Validator`] and the fallback chain [`spot::fetch_first_valid`].
//! - [`history`]: complete USD candles (lambo_checker) behind the [`history::PriceHistory`]
//!   trait: Kraken OHLC, Binance klines, CoinGecko `market_chart`.
//!
//! Shared by both: one [`ProviderKind`] and one config shape per provider,
//! [`ProviderConfig`] (a kind and an optional base URL; a chain is a list of them or a
//! comma-separated string), one [`ProviderError`] (with the `Retry-After` a provider
//! sent with 429 or 5xx, in seconds or as an HTTP date), one error-chain walker
//! ([`error_chain`]) and one exact decimal parser ([`parse_decimal`]): prices are read
//! from their text, never through `f64`.
//!
//! Both directions honour `Retry-After`: a spot [`spot::Provider`] that asked for a
//! pause is skipped by the chain until it passes; lambo_checker's refresh does not ask
//! again for a series before it.

mod config;
mod decimal;
mod error;
pub mod history;
mod http;
pub mod spot;

pub use config::{Direction, ProviderConfig, ProviderKind, UnknownProvider, history_chain, spot_chain};
pub use decimal::{parse_decimal, raw_number_text};
pub use error::{ProviderError, error_chain, parse_retry_after};
pub use history::{Asset, Candle, Interval};
