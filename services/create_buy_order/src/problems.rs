//! The problems create_buy_order answers with: its own codes, each mapped to its status and
//! type in one place, and its catalogue (what `/problems` lists), which adds the
//! shared groups it uses. A code not in the catalogue cannot be answered with.

use actix_web::http::StatusCode;
use common::Problem;
use common::problem::{self, ProblemType};

/// The problem codes only create_buy_order answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    IdempotencyRequestInFlight,
    PriceUnavailable,
    StalePrice,
}

impl Code {
    /// Every code, for the catalogue.
    pub const ALL: [Code; 3] = [
        Code::IdempotencyRequestInFlight,
        Code::PriceUnavailable,
        Code::StalePrice,
    ];

    /// The HTTP status of problems of this code.
    pub fn status(self) -> StatusCode {
        match self {
            Code::IdempotencyRequestInFlight => StatusCode::CONFLICT,
            Code::PriceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::StalePrice => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The code's type: what `/problems/<code>` describes.
    pub fn problem_type(self) -> ProblemType {
        match self {
            Code::IdempotencyRequestInFlight => ProblemType {
                code: "idempotency_request_in_flight",
                title: "A request with this idempotency key is still running",
                description: "Another request with the same key has not finished yet. Retry after `Retry-After` seconds: \
                              you will get its answer.",
            },
            Code::PriceUnavailable => ProblemType {
                code: "price_unavailable",
                title: "No BTC price is known",
                description: "No price record has been stored yet, or the price service cannot be reached. \
                              Orders cannot be priced; retry after `Retry-After` seconds.",
            },
            Code::StalePrice => ProblemType {
                code: "stale_price",
                title: "The latest BTC price is too old to trade on",
                description: "The newest price is older than about twice the refresh period, so orders are refused \
                              rather than priced on a stale quote. Retry after `Retry-After` seconds.",
            },
        }
    }

    /// A problem of this code.
    pub fn problem(self, detail: impl Into<String>) -> Problem {
        Problem::new(self.status(), self.problem_type().code, detail)
    }
}

/// Everything create_buy_order may answer with: the shared groups it uses, then its own codes.
pub fn catalogue() -> Vec<ProblemType> {
    let own: Vec<ProblemType> = Code::ALL.iter().map(|c| c.problem_type()).collect();
    problem::catalogue(&[
        problem::FRAME,
        problem::RATE_LIMITED,
        problem::UPSTREAM,
        problem::ORDERS,
        &own,
    ])
}
