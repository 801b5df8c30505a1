use api_updater::updater::UpdaterMetrics;
use api_updater::{ApiDoc, TickOutcome, Updater};
use common::config::ReporterSettings;
use common::http::AppContext;
use common::models::Report;
use common::reporter::Reporter;
use utoipa::OpenApi;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{PriceApi, settings, spawn_cache, spawn_stack, stored};

#[tokio::test]
async fn after_three_failures_the_last_good_record_is_kept_for_an_hour_with_its_fetch_time() {
    let api = PriceApi::start().await;
    api.prices("60000", "51000", "65000").await;
    let stack = spawn_stack(vec![api.coingecko()]).await;
    let good = stored(stack.updater.tick().await);

    api.fail(500).await;
    for expected in 1..=2 {
        let TickOutcome::Failed {
            consecutive_failures,
            extended,
            ..
        } = stack.updater.tick().await
        else {
            panic!("every provider is down");
        };
        assert_eq!((consecutive_failures, extended), (expected, None));
        assert!(
            stack.key_ttl().await <= 30,
            "not extended before the third failure"
        );
    }
    let TickOutcome::Failed {
        consecutive_failures: 3,
        extended: Some(extension),
        ..
    } = stack.updater.tick().await
    else {
        panic!("the third failure extends the last good record");
    };
    assert_eq!(extension.fetched_at, good.fetched_at);
    assert_eq!(extension.ttl_secs, 3600);
    let ttl = stack.key_ttl().await;
    assert!((3590..=3600).contains(&ttl), "TTL {ttl}");
    let cached = stack.cached().await.unwrap();
    let cached_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(cached["fetched_at"].clone()).unwrap();
    assert_eq!(cached_at, good.fetched_at, "consumers see the record's true age");

    // Once per outage: later failures do not push the expiry further out.
    let TickOutcome::Failed {
        consecutive_failures: 4,
        extended: None,
        ..
    } = stack.updater.tick().await
    else {
        panic!("still down");
    };
    assert_eq!(stack.status().await["extended"]["ttl_secs"], 3600);

    // Providers back: a fresh record with the short TTL, and the count starts over.
    api.prices("60100", "51000", "65000").await;
    let fresh = stored(stack.updater.tick().await);
    assert!(fresh.fetched_at > good.fetched_at);
    assert!(stack.key_ttl().await <= 30);
    let status = stack.status().await;
    assert_eq!(status["consecutive_failures"], 0);
    assert!(status["extended"].is_null());
    assert_eq!(status["last_errors"]["coingecko"]["error"], "HTTP status 500");
}

#[tokio::test]
async fn a_restarted_updater_bridges_an_outage_with_the_record_already_cached() {
    let api = PriceApi::start().await;
    api.prices("60000", "51000", "65000").await;
    let stack = spawn_stack(vec![api.coingecko()]).await;
    let good = stored(stack.updater.tick().await);
    api.fail(500).await;
    // A second updater (as after a restart) knows nothing but what the cache holds.
    let mut s = settings(vec![api.coingecko()]);
    s.cache_proxy_url.clone_from(&stack.cache_url);
    s.failures_before_extend = 1;
    let fresh = Updater::new(
        &s,
        common::testing::client(),
        Reporter::disabled("api_updater"),
        UpdaterMetrics::default(),
    );
    let TickOutcome::Failed {
        extended: Some(extension),
        ..
    } = fresh.tick().await
    else {
        panic!("expected an extension");
    };
    assert_eq!(extension.fetched_at, good.fetched_at);
    assert!(stack.key_ttl().await > 3000);
}

#[tokio::test]
async fn every_failed_tick_is_reported_to_health_check_with_the_provider_errors() {
    let health = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/report/batch"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({"stored": 1})))
        .mount(&health)
        .await;
    let (cache, _, _) = spawn_cache().await;
    let api = PriceApi::start().await;
    api.prices("60000", "51000", "65000").await;
    let mut s = settings(vec![api.coingecko()]);
    s.cache_proxy_url = cache.url();
    let ctx = AppContext::new(
        "api_updater",
        ApiDoc::openapi(),
        &s.http,
        &common::testing::common_settings(),
        api_updater::problems::catalogue(),
    );
    let reporter_settings = ReporterSettings {
        url: health.uri(),
        ..ReporterSettings::default()
    };
    let http = common::testing::client();
    let (reporter, task) = Reporter::start(&reporter_settings, &ctx, http.clone());
    let updater = Updater::new(&s, http, reporter, UpdaterMetrics::default());
    stored(updater.tick().await);
    api.fail(502).await;
    for _ in 0..3 {
        assert!(!updater.tick().await.is_success());
    }
    api.prices("60000", "51000", "65000").await;
    stored(updater.tick().await);
    // Dropping the last sender makes the reporter flush and stop: no waiting on a timer.
    drop(updater);
    task.unwrap().await.unwrap();

    let mut reports = Vec::new();
    for req in health.received_requests().await.unwrap() {
        reports.extend(serde_json::from_slice::<Vec<Report>>(&req.body).unwrap());
    }
    let failures: Vec<&Report> = reports.iter().filter(|r| r.level == "error").collect();
    assert_eq!(failures.len(), 3, "{reports:?}");
    for (i, r) in failures.iter().enumerate() {
        assert_eq!(r.service, "api_updater");
        assert_eq!(r.status, "fail");
        assert_eq!(r.data["consecutive_failures"], i + 1);
        assert_eq!(r.data["errors"][0]["source"], "coingecko");
        assert_eq!(r.data["errors"][0]["error"], "HTTP status 502");
    }
    assert!(
        failures[2].data["extended"]["fetched_at"].is_string(),
        "{:?}",
        failures[2]
    );
    let recovered: Vec<&Report> = reports.iter().filter(|r| r.level == "info").collect();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].data["after_failures"], 3);
}
