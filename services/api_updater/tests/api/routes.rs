use common::testing::TEST_TOKEN;
use reqwest::StatusCode;
use serde_json::Value;

use api_updater::providers::{ProviderConfig, ProviderKind};

use crate::helpers::{PriceApi, spawn_stack, spawn_stack_with};

fn simulated() -> ProviderConfig {
    ProviderConfig::new(ProviderKind::Simulated)
}

#[tokio::test]
async fn post_refresh_needs_the_service_token_and_returns_the_tick_outcome() {
    let api = PriceApi::start().await;
    api.prices("60000", "51000", "65000").await;
    let stack = spawn_stack(vec![api.coingecko()]).await;
    let url = format!("{}/refresh", stack.address);
    for (case, rb) in [
        ("no token", stack.client.post(&url)),
        ("wrong token", stack.client.post(&url).bearer_auth("nope")),
    ] {
        let res = rb.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{case}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "unauthorized", "{case}");
    }
    assert_eq!(stack.cached().await, None, "no tick ran without the token");

    let res = stack
        .client
        .post(&url)
        .bearer_auth(TEST_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["outcome"], "stored", "{body}");
    assert_eq!(body["record"]["rates"]["EUR"], "60000");
    assert_eq!(body["ttl_secs"], 30);
    assert_eq!(stack.cached().await.unwrap()["rates"]["EUR"], "60000");

    api.fail(500).await;
    let body: Value = stack
        .client
        .post(&url)
        .bearer_auth(TEST_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["outcome"], "failed", "{body}");
    assert_eq!(body["consecutive_failures"], 1);
}

#[tokio::test]
async fn status_shows_the_chain_the_last_success_and_each_providers_last_error() {
    let (broken, good) = (PriceApi::start().await, PriceApi::start().await);
    broken.fail(503).await;
    good.prices("60000", "51000", "65000").await;
    let stack = spawn_stack(vec![broken.provider(ProviderKind::Kraken), good.coingecko()]).await;
    let before = stack.status().await;
    assert_eq!(before["last_success_at"], Value::Null);
    assert_eq!(before["consecutive_failures"], 0);
    assert_eq!(before["chain"][0]["kind"], "kraken");
    assert_eq!(before["chain"][1]["kind"], "coingecko");
    assert_eq!(before["chain"][1]["base_url"], good.server.uri());

    stack.updater.tick().await;
    let after = stack.status().await;
    assert!(after["last_success_at"].is_string(), "{after}");
    assert_eq!(after["last_outcome"], "stored");
    assert_eq!(after["last_record"]["source"], "coingecko");
    assert_eq!(after["last_errors"]["kraken"]["error"], "HTTP status 503");
    assert_eq!(after["refresh_secs"], 15);
    assert_eq!(after["record_ttl_secs"], 30);
}

#[tokio::test]
async fn readiness_follows_the_cache_proxy() {
    let stack = spawn_stack(vec![simulated()]).await;
    let res = stack
        .client
        .get(format!("{}/readyz", stack.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let stack = spawn_stack_with(vec![simulated()], |s| {
        s.cache_proxy_url = common::testing::dead_url()
    })
    .await;
    let res = stack
        .client
        .get(format!("{}/readyz", stack.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["failing"][0], "api_cache_proxy");
}

#[tokio::test]
async fn the_openapi_document_lists_status_and_refresh() {
    let stack = spawn_stack(vec![simulated()]).await;
    let doc: Value = stack
        .client
        .get(format!("{}/openapi.json", stack.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/status"]["get"].is_object(), "{doc}");
    assert!(doc["paths"]["/refresh"]["post"]["security"].is_array(), "{doc}");
}

#[tokio::test]
async fn a_service_without_a_token_or_providers_refuses_to_start() {
    let mut s = crate::helpers::settings(vec![simulated()]);
    s.common.service_token = common::config::Secret::default();
    let err = api_updater::build_without_loop(s).await.err().unwrap();
    assert!(err.to_string().contains("DELOS__SERVICE_TOKEN"), "{err}");
    let err = api_updater::build_without_loop(crate::helpers::settings(vec![]))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("PROVIDERS"), "{err}");
}
