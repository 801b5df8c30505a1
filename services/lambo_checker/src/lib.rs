//! # lambo_checker (HTTP 8060, database `lambo`, Redis result cache)
//!
//! "If I had bought coin X for N dollars at the start and sold now, how many
//! Lamborghinis would that buy?" Computed as the originals did (15-day candles
//! since 2019-01-21; opening = mean close of the first 4 candles, current = mean
//! close of the last 4 complete ones), in exact decimals.
//!
//! Routes: `GET /` (the web page: a form, the answer in words, an SVG chart with
//! both averaging windows marked; no external assets), `GET /process_request` (also `/api/v1/process_request`, trailing slash
//! accepted; rate limited), `GET /queries` (the query log, keyset-paged, opaque
//! cursor; rate limited), `GET /health` and `GET /status` (as the original had),
//! plus the standard `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/docs`.
//! `GET /api/v1/process_request_grpc` asks the same question through the gRPC
//! server (`grpc.url`, default this service's own).
//!
//! gRPC (port 50051): `API/processRequest` as the original `proto/api.proto`, the
//! standard health service and server reflection. `lambo_cli` is its client.
//!
//! Data owned: database `lambo` (candles per symbol/source/interval, series
//! refresh times, opening averages stored for good, imports, the query log and
//! results) and Redis keys under `<prefix>lambo_checker:` (answers cached for
//! `cache_ttl_secs`, keyed by symbol, investment, method and data version; rate
//! limits). The bundled BTC history (`data/`, see `data/NOTICE`) is embedded and
//! imported idempotently at start, so BTC answers with no network.
//!
//! Calls: Postgres, Redis, the price-history APIs behind one trait (`providers`, from
//! the `price_feed` crate: Kraken public OHLC, Binance klines, CoinGecko market chart;
//! base URLs configurable), and `health_check` (reports).

pub mod answer;
pub mod bundled;
pub mod checker;
pub mod config;
pub mod domain;
pub mod graphql;
pub mod grpc;
pub mod jobs;
pub mod problems;
pub mod providers;
pub mod querylog;
mod routes;
pub mod startup;
mod state;
pub mod storage;
#[cfg(feature = "test-utils")]
pub mod testing;

pub use config::Settings;
pub use routes::ApiDoc;
pub use startup::{build, build_with_pool, import_bundled};

/// Migrations of the `lambo` database.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
