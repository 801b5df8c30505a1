//! `/problems` lists exactly the codes lambo_checker answers with: the shared frame's,
//! the groups it uses and its own (a code it emits but does not list makes every
//! test that provokes it fail, through `assert_problem`).

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_problem_catalogue_lists_exactly_this_services_codes() {
    let app = spawn_app(|_| {}).await;
    let codes = [
        "validation_failed",
        "malformed_json",
        "unsupported_media_type",
        "body_too_large",
        "dependency_unavailable",
        "not_ready",
        "rate_limited",
        "unauthorized",
        "forbidden",
        "invalid_token",
        "unknown_symbol",
        "not_enough_history",
        "history_unavailable",
        "grpc_disabled",
        "grpc_failed",
        "unknown_task",
        "unknown_result",
        "covid_analytics_retired",
        "invalid_graphql_request",
    ];
    common::testing::assert_problem_catalogue(&app.address, &codes).await;
}
