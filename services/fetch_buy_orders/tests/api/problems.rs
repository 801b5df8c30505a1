//! `/problems` lists exactly the codes fetch_buy_orders answers with: the shared frame's,
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
        "bad_upstream_response",
        "upstream_refused",
    ];
    common::testing::assert_problem_catalogue(&app.address, &codes).await;
}
