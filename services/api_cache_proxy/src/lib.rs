//! # api_cache_proxy (port 8002, Redis)
//!
//! Holds the latest BTC price record for the buy-order flow. `api_updater` writes
//! it, `create_buy_order` reads it; nobody else touches the key.
//!
//! Routes:
//! - `GET /record` (and `/record/`): the latest [`PriceRecord`](common::models::PriceRecord),
//!   exact decimal strings; 404 `no_price_record` when none is stored or it expired.
//! - `POST /add` (and `/add/`) `?ttl=SECONDS` (1..=86400, default 60), service token,
//!   body a `PriceRecord`: 201 when stored. A record older than the stored one is
//!   refused with 409 `stale_record`; one with the same `fetched_at` replaces it
//!   (that is how `api_updater` extends the life of its last good record).
//! - the standard `/healthz`, `/readyz` (Redis), `/metrics`, `/openapi.json`, `/docs`.
//!
//! Data: one Redis string, `{redis.key_prefix}btc_price:latest`, the record as JSON
//! with a TTL. The compare-and-set runs as one Lua script, so racing updaters can
//! never replace a newer record with an older one.
//!
//! Calls: Redis (503 with `Retry-After` while it is down; recovers by itself) and
//! `health_check` (heartbeats, and a report when Redis goes down or comes back).

pub mod config;
pub mod problems;
mod routes;
pub mod startup;
mod state;
pub mod storage;
#[cfg(feature = "test-utils")]
pub mod testing;

pub use config::Settings;
pub use routes::ApiDoc;
pub use startup::build;
