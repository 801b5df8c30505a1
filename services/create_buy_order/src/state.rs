//! What the handlers share; startup builds it, routes read it.

use common::internal_apis::DbProxyClient;
use prometheus_client::metrics::counter::Counter;

use crate::in_flight::InFlight;
use crate::price::Prices;

/// What the handlers share.
pub struct State {
    pub prices: Prices,
    pub db: DbProxyClient,
    pub in_flight: InFlight,
    pub placed: Counter,
    pub replayed: Counter,
}
