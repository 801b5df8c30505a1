//! The problems lambo_checker answers with: its own codes, each mapped to its status and
//! type in one place, and its catalogue (what `/problems` lists), which adds the
//! shared groups it uses. A code not in the catalogue cannot be answered with.

use common::problem::{self, ProblemType};

common::problem_codes! {
    /// The problem codes only lambo_checker answers with.
    pub enum Code {
        UnknownSymbol => (
            "unknown_symbol",
            NOT_FOUND,
            "The coin is not supported",
            "lambo_checker has no price history source for this symbol; `detail` lists the supported \
                ones (symbols are normalised: BTC = XBT).",
        ),
        NotEnoughHistory => (
            "not_enough_history",
            UNPROCESSABLE_ENTITY,
            "The coin has too little price history",
            "At least 8 complete candles are needed: two windows of 4 that do not overlap, one for the \
                opening price and one for the current price.",
        ),
        HistoryUnavailable => (
            "history_unavailable",
            SERVICE_UNAVAILABLE,
            "No price history can be had",
            "No history of the coin is stored and no provider answered. Retry after `Retry-After` seconds.",
        ),
        GrpcDisabled => (
            "grpc_disabled",
            NOT_FOUND,
            "gRPC is turned off",
            "This lambo_checker runs without its gRPC server, so the route that answers through it cannot.",
        ),
        GrpcFailed => (
            "grpc_failed",
            BAD_GATEWAY,
            "The gRPC server could not answer",
            "The answer through lambo_checker's own gRPC server failed; the REST route gives the same answer.",
        ),
        UnknownTask => (
            "unknown_task",
            NOT_FOUND,
            "No such task",
            "lambo_checker knows no background job of this id: it never existed, or it finished longer \
                than the retention period ago and was deleted.",
        ),
        UnknownResult => (
            "unknown_result",
            NOT_FOUND,
            "No such result",
            "lambo_checker's results table has no row of this id.",
        ),
        CovidAnalyticsRetired => (
            "covid_analytics_retired",
            GONE,
            "This analytics route is retired",
            "The original's /api/analytics/covid/ returned a fixed, invented prediction computed from no \
                data. Delos does not serve invented figures; /api/analytics/report/ has figures computed from \
                stored data.",
        ),
        InvalidGraphqlRequest => (
            "invalid_graphql_request",
            BAD_REQUEST,
            "The body is not a GraphQL request",
            "POST /graphql takes `{\"query\": …, \"variables\": …, \"operationName\": …}` as JSON.",
        ),
    }
}

/// Everything lambo_checker may answer with: the shared groups it uses, then its own codes.
pub fn catalogue() -> Vec<ProblemType> {
    problem::catalogue(&[
        problem::FRAME,
        problem::RATE_LIMITED,
        problem::CALLERS,
        &Code::types(),
    ])
}
