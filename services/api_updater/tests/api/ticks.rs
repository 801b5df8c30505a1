use api_updater::TickOutcome;
use api_updater::providers::{ProviderConfig, ProviderKind};
use chrono::{TimeDelta, Utc};

use crate::helpers::{PriceApi, record_json, spawn_stack, spawn_stack_with, stored};

#[tokio::test]
async fn a_tick_stores_a_validated_record_that_the_cache_proxy_serves() {
    let api = PriceApi::start().await;
    api.prices("61234.56", "52345.1", "66543.21").await;
    let stack = spawn_stack(vec![api.coingecko()]).await;
    let before = Utc::now();
    let record = stored(stack.updater.tick().await);
    assert_eq!(record.source, "coingecko");
    assert!(!record.simulated);
    assert!(record.fetched_at >= before && record.fetched_at <= Utc::now());

    let cached = stack.cached().await.expect("a record is cached");
    assert_eq!(cached["source"], "coingecko");
    assert_eq!(
        cached["rates"],
        serde_json::json!({"EUR": "61234.56", "GBP": "52345.1", "USD": "66543.21"})
    );
    let fetched_at: chrono::DateTime<Utc> = serde_json::from_value(cached["fetched_at"].clone()).unwrap();
    assert_eq!(fetched_at, record.fetched_at);
    let ttl = stack.key_ttl().await;
    assert!(
        (25..=30).contains(&ttl),
        "record TTL is twice the refresh period: {ttl}"
    );
}

#[tokio::test]
async fn a_failing_first_provider_falls_through_to_the_second() {
    let (broken, good) = (PriceApi::start().await, PriceApi::start().await);
    broken.fail(503).await;
    good.prices("61234.56", "52345.1", "66543.21").await;
    let stack = spawn_stack(vec![broken.provider(ProviderKind::Kraken), good.coingecko()]).await;
    let TickOutcome::Stored { record, skipped, .. } = stack.updater.tick().await else {
        panic!("expected the second provider to be stored");
    };
    assert_eq!(record.source, "coingecko");
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].source, "kraken");
    assert!(skipped[0].error.contains("503"), "{}", skipped[0].error);
    assert_eq!(stack.cached().await.unwrap()["source"], "coingecko");
}

#[tokio::test]
async fn an_absurd_jump_is_rejected_and_the_good_record_kept() {
    let api = PriceApi::start().await;
    api.prices("60000", "51000", "65000").await;
    let stack = spawn_stack(vec![api.coingecko()]).await;
    stored(stack.updater.tick().await);
    api.prices("600000", "51000", "65000").await;
    let TickOutcome::Failed { errors, .. } = stack.updater.tick().await else {
        panic!("a tenfold price must not be stored");
    };
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].error.contains("moved more than 20%"),
        "{}",
        errors[0].error
    );
    assert_eq!(stack.cached().await.unwrap()["rates"]["EUR"], "60000");
}

#[tokio::test]
async fn the_simulated_provider_runs_only_when_configured_and_marks_its_records() {
    // Real providers all down and no simulated one configured: nothing is made up.
    let api = PriceApi::start().await;
    api.fail(500).await;
    let stack = spawn_stack(vec![api.coingecko(), api.provider(ProviderKind::Kraken)]).await;
    assert!(!stack.updater.tick().await.is_success());
    assert_eq!(stack.cached().await, None);

    let stack = spawn_stack_with(vec![], |s| {
        // As DELOS_API_UPDATER__PROVIDERS=simulated gives it.
        let from_env: api_updater::Settings =
            serde_json::from_value(serde_json::json!({"providers": "simulated"})).unwrap();
        assert_eq!(from_env.providers, [ProviderConfig::new(ProviderKind::Simulated)]);
        s.providers = from_env.providers;
    })
    .await;
    let record = stored(stack.updater.tick().await);
    assert!(record.simulated);
    assert_eq!(record.source, "simulated");
    let cached = stack.cached().await.unwrap();
    assert_eq!(cached["simulated"], true);
    assert_eq!(cached["source"], "simulated");
}

#[tokio::test]
async fn a_newer_record_from_another_updater_is_left_in_place() {
    let api = PriceApi::start().await;
    api.prices("60000", "51000", "65000").await;
    let stack = spawn_stack(vec![api.coingecko()]).await;
    let newer = record_json("60100", Utc::now() + TimeDelta::seconds(60));
    stack.put_directly(&newer, 600).await;
    let outcome = stack.updater.tick().await;
    assert!(matches!(outcome, TickOutcome::Superseded { .. }), "{outcome:?}");
    assert!(outcome.is_success());
    assert_eq!(stack.cached().await.unwrap()["rates"]["EUR"], "60100");
    assert_eq!(stack.status().await["consecutive_failures"], 0);
}

#[tokio::test]
async fn an_unreachable_cache_proxy_counts_as_a_failure_and_ticks_go_on() {
    let api = PriceApi::start().await;
    api.prices("60000", "51000", "65000").await;
    let stack = spawn_stack_with(vec![api.coingecko()], |s| {
        s.cache_proxy_url = common::testing::dead_url();
    })
    .await;
    for expected in 1..=2 {
        let TickOutcome::Failed {
            consecutive_failures,
            errors,
            ..
        } = stack.updater.tick().await
        else {
            panic!("the record could not be stored");
        };
        assert_eq!(consecutive_failures, expected);
        assert_eq!(errors.last().unwrap().source, "api_cache_proxy");
    }
    let status = stack.status().await;
    assert_eq!(status["consecutive_failures"], 2);
    assert_eq!(status["last_record"]["rates"]["EUR"], "60000");
    assert!(
        status["last_errors"]["api_cache_proxy"]["error"].is_string(),
        "{status}"
    );
}

#[tokio::test]
async fn a_provider_that_answered_429_with_retry_after_is_skipped_until_then() {
    use wiremock::matchers::path;
    use wiremock::{Mock, ResponseTemplate};

    let limited = PriceApi::start().await;
    Mock::given(path("/api/v3/simple/price"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "120"))
        .mount(&limited.server)
        .await;
    let stack = spawn_stack(vec![
        limited.coingecko(),
        ProviderConfig::new(ProviderKind::Simulated),
    ])
    .await;
    let TickOutcome::Stored { record, skipped, .. } = stack.updater.tick().await else {
        panic!("the simulated provider answers");
    };
    assert!(record.simulated);
    assert_eq!(skipped[0].source, "coingecko");
    assert_eq!(skipped[0].error, "HTTP status 429");
    // The next ticks do not ask it again before its Retry-After has passed, and say why.
    for _ in 0..2 {
        let TickOutcome::Stored { skipped, .. } = stack.updater.tick().await else {
            panic!("the simulated provider answers");
        };
        assert_eq!(skipped[0].source, "coingecko");
        assert!(
            skipped[0].error.contains("Retry-After") && skipped[0].error.contains("asked again in"),
            "{}",
            skipped[0].error
        );
    }
    assert_eq!(limited.server.received_requests().await.unwrap().len(), 1);
    let status = stack.status().await;
    assert!(
        status["last_errors"]["coingecko"]["error"]
            .as_str()
            .unwrap()
            .contains("Retry-After"),
        "{status}"
    );
}
