//! # api_updater (port 8003)
//!
//! Keeps the BTC price in `api_cache_proxy` fresh. Every `refresh_secs` (15) it asks
//! the provider chain (`providers`, default coinbase → kraken → coingecko; the
//! `simulated` provider only when configured) for BTC in EUR, GBP and USD, takes the
//! first answer that passes the [`Validator`](providers::Validator) (bounds, and no
//! jump of more than 20% from the last good record), and stores it through
//! `POST /add?ttl=` of the cache proxy with a TTL of twice the refresh period.
//!
//! When every provider fails it counts the consecutive failures and reports each one
//! to `health_check`; after `failures_before_extend` (3) it re-stores the last good
//! record, with its original `fetched_at`, for `extend_secs` (1 h), once per outage.
//! Consumers see the record's true age (and `create_buy_order` refuses to trade on a
//! stale quote), and when the extension runs out, orders get 503 rather than an ever
//! older price. An unreachable cache proxy counts as a failure too; the loop goes on.
//!
//! Routes: `GET /status` (chain, last success, last record, consecutive failures,
//! last error per source), `POST /refresh` (service token; one tick now, returns its
//! [`TickOutcome`]), and the standard `/healthz`, `/readyz` (cache proxy),
//! `/metrics`, `/openapi.json`, `/docs`.
//!
//! Data: none of its own (progress is in memory; after a restart the last good
//! record is read back from the cache proxy). Calls: the price providers,
//! `api_cache_proxy`, `health_check`.

pub mod config;
pub mod problems;
pub mod providers;
mod routes;
pub mod startup;
#[cfg(feature = "test-utils")]
pub mod testing;
pub mod updater;

pub use config::Settings;
pub use routes::ApiDoc;
pub use startup::{build, build_without_loop};
pub use updater::{TickOutcome, Updater};
