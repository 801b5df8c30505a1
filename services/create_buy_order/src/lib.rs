//! # create_buy_order (port 8001, public, stateless)
//!
//! Places BTC buy orders: `POST /place_order` (and `/place_order/`) with
//! `currency` and `amount` from the query string (`?currency=eur&amount=69`, as
//! originally) or a JSON body (`{"currency":"USD","amount":600}`). It prices the
//! order with the latest record from `api_cache_proxy` (refusing quotes older
//! than `max_quote_age_secs`) and stores it through `db_proxy`, which computes
//! the bitcoin amount and enforces the 100 BTC cap. Also `GET /orders/{id}` (the
//! `Location` of a new order) and `GET /capacity`.
//!
//! Idempotency: an `Idempotency-Key` header (or `client_order_id`) is scoped to
//! the client (API key, else address) and sent to `db_proxy` with a hash of the
//! request, where it is stored with the order; a key whose request is still
//! being handled answers 409, held in Redis so that replicas agree.
//! Rate limited per client in Redis. Calls `api_cache_proxy`, `db_proxy`, Redis
//! and `health_check`.

// `common::Problem` is the one error type of every handler; boxing it buys nothing.
#![allow(clippy::result_large_err)]

pub mod config;
pub mod domain;
mod in_flight;
mod price;
pub mod problems;
mod routes;
pub mod startup;
mod state;
#[cfg(feature = "test-utils")]
pub mod testing;

pub use config::Settings;
pub use in_flight::in_flight_key;
pub use routes::ApiDoc;
pub use startup::build;
