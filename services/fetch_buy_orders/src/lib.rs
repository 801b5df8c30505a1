//! # fetch_buy_orders (port 8020, public, stateless)
//!
//! Pages through the stored orders, newest first: `GET /get_orders` (and
//! `/get_orders/`) with `page_size` (default 10, max 100) and either `start`
//! (offset, as originally) or `cursor` (opaque, from `next_cursor`); both are
//! O(page) in `db_proxy`. Also `GET /orders/{id}` and `GET /capacity`.
//! Rate limited per client in Redis. Calls `db_proxy`, Redis and `health_check`.

pub mod config;
pub mod problems;
mod routes;
pub mod startup;
#[cfg(feature = "test-utils")]
pub mod testing;

pub use config::Settings;
pub use routes::ApiDoc;
pub use startup::build;
