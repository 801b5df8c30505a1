//! `/problems` lists exactly the codes api_cache_proxy answers with: the shared frame's,
//! the groups it uses and its own (a code it emits but does not list makes every
//! test that provokes it fail, through `assert_problem`).

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_problem_catalogue_lists_exactly_this_services_codes() {
    let app = spawn_app().await;
    let codes = [
        "validation_failed",
        "malformed_json",
        "unsupported_media_type",
        "body_too_large",
        "dependency_unavailable",
        "not_ready",
        "unauthorized",
        "no_price_record",
        "stale_record",
    ];
    common::testing::assert_problem_catalogue(&app.address, &codes).await;
}
