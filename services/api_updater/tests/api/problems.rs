//! `/problems` lists exactly the codes api_updater answers with: the shared frame's,
//! the groups it uses and its own (a code it emits but does not list makes every
//! test that provokes it fail, through `assert_problem`).

use crate::helpers::{PriceApi, spawn_stack};

#[tokio::test]
async fn the_problem_catalogue_lists_exactly_this_services_codes() {
    let api = PriceApi::start().await;
    let app = spawn_stack(vec![api.coingecko()]).await;
    let codes = [
        "validation_failed",
        "malformed_json",
        "unsupported_media_type",
        "body_too_large",
        "dependency_unavailable",
        "not_ready",
        "unauthorized",
        "bad_upstream_response",
        "upstream_refused",
    ];
    common::testing::assert_problem_catalogue(&app.address, &codes).await;
}
