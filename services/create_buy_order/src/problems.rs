//! The problems create_buy_order answers with: its own codes, each mapped to its status and
//! type in one place, and its catalogue (what `/problems` lists), which adds the
//! shared groups it uses. A code not in the catalogue cannot be answered with.

use common::problem::{self, ProblemType};

common::problem_codes! {
    /// The problem codes only create_buy_order answers with.
    pub enum Code {
        IdempotencyRequestInFlight => (
            "idempotency_request_in_flight",
            CONFLICT,
            "A request with this idempotency key is still running",
            "Another request with the same key has not finished yet. Retry after `Retry-After` seconds: \
                you will get its answer.",
        ),
        PriceUnavailable => (
            "price_unavailable",
            SERVICE_UNAVAILABLE,
            "No BTC price is known",
            "No price record has been stored yet, or the price service cannot be reached. \
                Orders cannot be priced; retry after `Retry-After` seconds.",
        ),
        StalePrice => (
            "stale_price",
            SERVICE_UNAVAILABLE,
            "The latest BTC price is too old to trade on",
            "The newest price is older than about twice the refresh period, so orders are refused \
                rather than priced on a stale quote. Retry after `Retry-After` seconds.",
        ),
    }
}

/// Everything create_buy_order may answer with: the shared groups it uses, then its own codes.
pub fn catalogue() -> Vec<ProblemType> {
    problem::catalogue(&[
        problem::FRAME,
        problem::RATE_LIMITED,
        problem::UPSTREAM,
        problem::ORDERS,
        &Code::types(),
    ])
}
