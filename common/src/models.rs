//! Wire types shared by a caller and its callee, so a contract change is one edit
//! that both sides compile against.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::{Currency, FiatAmount, Rate, Satoshis};

/// BTC prices in every supported fiat currency, exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rates {
    #[serde(rename = "EUR")]
    #[schema(value_type = String, example = "61234.56")]
    pub eur: Rate,
    #[serde(rename = "GBP")]
    #[schema(value_type = String, example = "52345.67")]
    pub gbp: Rate,
    #[serde(rename = "USD")]
    #[schema(value_type = String, example = "66543.21")]
    pub usd: Rate,
}

impl Rates {
    /// The rate for one currency.
    pub fn get(&self, currency: Currency) -> Rate {
        match currency {
            Currency::Eur => self.eur,
            Currency::Gbp => self.gbp,
            Currency::Usd => self.usd,
        }
    }
}

/// The latest BTC price record, as `api_updater` stores it in `api_cache_proxy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PriceRecord {
    /// 1 BTC in each fiat currency.
    pub rates: Rates,
    /// Provider that supplied the prices (`coinbase`, `kraken`, `coingecko`, `coindesk`, `simulated`).
    pub source: String,
    /// When the provider was asked.
    pub fetched_at: DateTime<Utc>,
    /// True when the prices are made up by the `simulated` provider.
    #[serde(default)]
    pub simulated: bool,
}

/// Idempotency data that travels with an order: the key is scoped per client and
/// stored with a hash of the request so a changed request under the same key is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IdempotencyInfo {
    /// Stable client identity (hashed API key or address).
    pub client_id: String,
    /// The client's `Idempotency-Key` or `client_order_id`.
    pub key: String,
    /// Hex SHA-256 of the normalised request (currency, amount).
    pub request_hash: String,
}

/// `create_buy_order` → `db_proxy POST /add`. `db_proxy` computes the bitcoin amount.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewOrder {
    #[schema(value_type = String, example = "69.00")]
    pub amount: FiatAmount,
    pub currency: Currency,
    #[schema(value_type = String, example = "61234.56")]
    pub exchange_rate: Rate,
    pub rate_source: String,
    pub rate_fetched_at: DateTime<Utc>,
    #[serde(default)]
    pub simulated: bool,
    #[serde(default)]
    pub idempotency: Option<IdempotencyInfo>,
}

/// A stored order, as every service returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Order {
    pub id: Uuid,
    /// Gapless position in insertion order (1, 2, 3, ...).
    pub seq: i64,
    #[schema(value_type = String, example = "69.00")]
    pub amount: FiatAmount,
    pub currency: Currency,
    /// Price of 1 BTC in `currency` (BTC is base, fiat quote).
    #[schema(value_type = String, example = "35123.40")]
    pub exchange_rate: Rate,
    /// amount / exchange_rate, 8 decimals, rounded up.
    #[schema(value_type = String, example = "0.00196451")]
    pub bitcoin_amount: Satoshis,
    pub rate_source: String,
    pub rate_fetched_at: DateTime<Utc>,
    pub simulated: bool,
    pub client_order_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// `db_proxy POST /add` success body.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddedOrder {
    pub order: Order,
    /// True when an earlier order with the same idempotency key was returned.
    pub replayed: bool,
}

/// `db_proxy GET /keys`: an idempotency key that produced an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyedOrder {
    /// Hash of the request first sent with the key.
    pub request_hash: String,
    /// The order it produced.
    pub order: Order,
}

/// One page of orders, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderPage {
    pub data: Vec<Order>,
    /// Opaque cursor for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// Orders stored when the page was read.
    pub total: i64,
}

/// [`OrderPage`] as a caller that only relays it reads it: the orders stay the
/// JSON db_proxy wrote, so fetch_buy_orders neither parses nor re-encodes them
/// (that was a sixth of its CPU per page).
#[derive(Debug, Deserialize)]
pub struct RelayedPage {
    pub data: Box<serde_json::value::RawValue>,
    pub next_cursor: Option<String>,
    pub total: i64,
}

/// The orders stored after a seq, oldest first (`GET /orders/after` of db_proxy).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrdersAfter {
    /// The newest seq stored.
    pub head: i64,
    /// The seq of `orders[0]`; `orders[i]` has `first_seq + i` (seqs are gapless).
    pub first_seq: i64,
    pub orders: Vec<Order>,
}

/// [`OrdersAfter`] as the order streams read it: each order stays the JSON
/// db_proxy wrote.
#[derive(Debug, Deserialize)]
pub struct RelayedOrdersAfter {
    pub head: i64,
    pub first_seq: i64,
    pub orders: Vec<Box<serde_json::value::RawValue>>,
}

/// How much of the bitcoin cap is used.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Capacity {
    #[schema(value_type = String, example = "100.00000000")]
    pub cap_btc: Satoshis,
    #[schema(value_type = String, example = "12.34567890")]
    pub used_btc: Satoshis,
    #[schema(value_type = String, example = "87.65432110")]
    pub remaining_btc: Satoshis,
    pub orders: i64,
}

/// A report to `health_check` (the original body). `data` is free-form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    /// `heartbeat`, `debug`, `info`, `warning`, `error` or `critical`.
    pub level: String,
    pub service: String,
    /// Which instance (replica) of the service sends this, e.g. `host:port`; absent
    /// in the original body, which then belongs to the service's unnamed instance.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub instance: String,
    /// Free text; `pass`/`ok`/`up` count as healthy, `warn` as degraded, `fail`/`error`/`down` as failing.
    pub status: String,
    #[serde(default)]
    pub data: serde_json::Value,
}

/// Decimal helper for JSON fields that must travel as strings.
pub fn decimal_string(d: Decimal) -> String {
    d.to_string()
}
