//! The problems lambo_checker answers with: its own codes, each mapped to its status and
//! type in one place, and its catalogue (what `/problems` lists), which adds the
//! shared groups it uses. A code not in the catalogue cannot be answered with.

use actix_web::http::StatusCode;
use common::Problem;
use common::problem::{self, ProblemType};

/// The problem codes only lambo_checker answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    UnknownSymbol,
    NotEnoughHistory,
    HistoryUnavailable,
    GrpcDisabled,
    GrpcFailed,
    UnknownTask,
    UnknownResult,
    CovidAnalyticsRetired,
    InvalidGraphqlRequest,
}

impl Code {
    /// Every code, for the catalogue.
    pub const ALL: [Code; 9] = [
        Code::UnknownSymbol,
        Code::NotEnoughHistory,
        Code::HistoryUnavailable,
        Code::GrpcDisabled,
        Code::GrpcFailed,
        Code::UnknownTask,
        Code::UnknownResult,
        Code::CovidAnalyticsRetired,
        Code::InvalidGraphqlRequest,
    ];

    /// The HTTP status of problems of this code.
    pub fn status(self) -> StatusCode {
        match self {
            Code::UnknownSymbol => StatusCode::NOT_FOUND,
            Code::NotEnoughHistory => StatusCode::UNPROCESSABLE_ENTITY,
            Code::HistoryUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::GrpcDisabled => StatusCode::NOT_FOUND,
            Code::GrpcFailed => StatusCode::BAD_GATEWAY,
            Code::UnknownTask => StatusCode::NOT_FOUND,
            Code::UnknownResult => StatusCode::NOT_FOUND,
            Code::CovidAnalyticsRetired => StatusCode::GONE,
            Code::InvalidGraphqlRequest => StatusCode::BAD_REQUEST,
        }
    }

    /// The code's type: what `/problems/<code>` describes.
    pub fn problem_type(self) -> ProblemType {
        match self {
            Code::UnknownSymbol => ProblemType {
                code: "unknown_symbol",
                title: "The coin is not supported",
                description: "lambo_checker has no price history source for this symbol; `detail` lists the supported \
                              ones (symbols are normalised: BTC = XBT).",
            },
            Code::NotEnoughHistory => ProblemType {
                code: "not_enough_history",
                title: "The coin has too little price history",
                description: "At least 8 complete candles are needed: two windows of 4 that do not overlap, one for the \
                              opening price and one for the current price.",
            },
            Code::HistoryUnavailable => ProblemType {
                code: "history_unavailable",
                title: "No price history can be had",
                description: "No history of the coin is stored and no provider answered. Retry after `Retry-After` seconds.",
            },
            Code::GrpcDisabled => ProblemType {
                code: "grpc_disabled",
                title: "gRPC is turned off",
                description: "This lambo_checker runs without its gRPC server, so the route that answers through it cannot.",
            },
            Code::GrpcFailed => ProblemType {
                code: "grpc_failed",
                title: "The gRPC server could not answer",
                description: "The answer through lambo_checker's own gRPC server failed; the REST route gives the same answer.",
            },
            Code::UnknownTask => ProblemType {
                code: "unknown_task",
                title: "No such task",
                description: "lambo_checker knows no background job of this id: it never existed, or it finished longer \
                              than the retention period ago and was deleted.",
            },
            Code::UnknownResult => ProblemType {
                code: "unknown_result",
                title: "No such result",
                description: "lambo_checker's results table has no row of this id.",
            },
            Code::CovidAnalyticsRetired => ProblemType {
                code: "covid_analytics_retired",
                title: "This analytics route is retired",
                description: "The original's /api/analytics/covid/ returned a fixed, invented prediction computed from no \
                              data. Delos does not serve invented figures; /api/analytics/report/ has figures computed from \
                              stored data.",
            },
            Code::InvalidGraphqlRequest => ProblemType {
                code: "invalid_graphql_request",
                title: "The body is not a GraphQL request",
                description: "POST /graphql takes `{\"query\": …, \"variables\": …, \"operationName\": …}` as JSON.",
            },
        }
    }

    /// A problem of this code.
    pub fn problem(self, detail: impl Into<String>) -> Problem {
        Problem::new(self.status(), self.problem_type().code, detail)
    }
}

/// Everything lambo_checker may answer with: the shared groups it uses, then its own codes.
pub fn catalogue() -> Vec<ProblemType> {
    let own: Vec<ProblemType> = Code::ALL.iter().map(|c| c.problem_type()).collect();
    problem::catalogue(&[problem::FRAME, problem::RATE_LIMITED, problem::CALLERS, &own])
}
