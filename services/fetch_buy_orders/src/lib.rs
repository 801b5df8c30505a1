//! # fetch_buy_orders (port 8020, public, stateless)
//!
//! Pages through the stored orders, newest first: `GET /get_orders` (and
//! `/get_orders/`) with `page_size` (default 10, max 100) and either `start`
//! (offset, as originally) or `cursor` (opaque, from `next_cursor`); both are
//! O(page) in `db_proxy`. Also `GET /orders/{id}`, `GET /capacity`,
//! `GET /orders/stream` (every stored order as a Server-Sent Event, `id:` its
//! seq, resumable exactly with `Last-Event-ID`; see `feed`) and `GET /`, the
//! orders page, updated live from the stream.
//! Rate limited per client in Redis. Calls `db_proxy`, `api_cache_proxy` (the
//! latest price, for the page), Redis and `health_check`.

pub mod config;
mod feed;
pub mod problems;
mod routes;
pub mod startup;
#[cfg(feature = "test-utils")]
pub mod testing;

pub use config::Settings;
pub use routes::ApiDoc;
pub use startup::build;
