//! # db_proxy (port 8010, database `orders`)
//!
//! The only service that touches orders. Internal routes: `POST /add` (service
//! token; stores an order under the bitcoin cap, idempotently per client key),
//! `GET /get` (a page, newest first, by `start` or opaque `cursor`, O(page)),
//! `GET /orders/{id}` and `GET /capacity`.
//!
//! Orders are written by group commit: each instance runs one collector task
//! that decides a whole queue of orders in one transaction under the lock of
//! the single state row (`order_state`), which holds the bitcoin used and the
//! order count. That lock serialises every writer of every replica, so the sum
//! never exceeds the cap and each order gets a gapless `seq`, which makes both
//! paging forms an index range scan. Idempotency keys are kept
//! `idempotency_retention_hours` (≥ 24) and then pruned; orders stay.
//! Calls Postgres and `health_check` (reports).
//!
//! Settings (`DELOS_DB_PROXY__<KEY>`): `CAP_SATOSHIS` (integer satoshis, default
//! 10000000000 = 100 BTC; every replica must agree), `MAX_BATCH` (orders per
//! transaction, default 128), `IDEMPOTENCY_RETENTION_HOURS` (default 48, at
//! least 24), `PRUNE_EVERY_SECS` (default 600), plus `HTTP__*`, `PG__*`.

// `common::Problem` (144 bytes) is the one error type of every handler; boxing
// it at each return would buy nothing on these cold paths.
#![allow(clippy::result_large_err)]

mod batcher;
pub mod config;
pub mod domain;
mod pages;
pub mod problems;
mod routes;
pub mod startup;
mod state;
pub mod storage;
#[cfg(feature = "test-utils")]
pub mod testing;

pub use batcher::AddError;
pub use config::Settings;
pub use routes::ApiDoc;
pub use startup::{build, build_with_pool};

/// Migrations of the `orders` database.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
