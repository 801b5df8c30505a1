//! What the handlers share; startup builds it, routes read it.

use common::money::Satoshis;
use sqlx::PgPool;

use crate::batcher::OrderSink;

/// What handlers share.
pub struct State {
    pub pool: PgPool,
    /// For the page query only: generic plans, no ping on release (see `startup`).
    pub pages: common::db::DirectPool,
    /// The JSON of the orders pages have read (see `pages`).
    pub order_json: crate::pages::OrderJson,
    pub sink: OrderSink,
    pub cap: Satoshis,
    /// The newest committed seq (see `common::live`).
    pub head: std::sync::Arc<common::live::Head>,
}
