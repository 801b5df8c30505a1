use std::time::Duration;

use common::config::ReporterSettings;
use common::http::AppContext;
use common::reporter::Reporter;
use serde_json::json;

use crate::helpers::spawn_app;

fn context(service: &'static str) -> AppContext {
    let http = common::config::HttpSettings::default();
    AppContext::new(
        service,
        utoipa::openapi::OpenApi::default(),
        &http,
        &common::testing::common_settings(),
        health_check::problems::catalogue(),
    )
}

#[tokio::test]
async fn a_reporter_whose_health_check_is_down_drops_and_counts_without_blocking() {
    let ctx = context("lonely");
    let settings = ReporterSettings {
        url: common::testing::dead_url(),
        queue_size: 16,
        ..ReporterSettings::default()
    };
    let (reporter, task) = Reporter::start(
        &settings,
        &ctx,
        common::service_client::http_client(Duration::from_secs(1)),
    );
    for i in 0..5000 {
        reporter.report("info", "ok", json!({ "i": i }));
    }
    // The queue holds 16: at least the rest were dropped on the spot.
    assert!(
        reporter.dropped() >= 5000 - 16 - 1,
        "dropped {}",
        reporter.dropped()
    );

    // The service serves its routes meanwhile, and /metrics shows the drops.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let handle = common::http::serve(listener, 1, ctx, |_| {}).unwrap();
    let metrics = common::testing::client()
        .get(format!("{}/metrics", handle.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("delos_health_reports_dropped_total"))
        .unwrap();
    let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(value >= 4983.0, "{line}");
    task.unwrap().abort();
    handle.stop().await;
}

#[tokio::test]
async fn a_reporter_delivers_reports_and_heartbeats_in_batches() {
    let app = spawn_app().await;
    let ctx = context("sender");
    let settings = ReporterSettings {
        url: app.address.clone(),
        flush_millis: 20,
        ..ReporterSettings::default()
    };
    let (reporter, task) = Reporter::start(
        &settings,
        &ctx,
        common::service_client::http_client(Duration::from_secs(2)),
    );
    for i in 0..50 {
        reporter.report("info", "ok", json!({ "i": i }));
    }
    // Delivery is asynchronous by design (and the first heartbeat may travel in a
    // later batch than the reports); poll the store until both have landed.
    let count = |level: &'static str| {
        let app = &app;
        async move {
            app.get_json(&format!(
                "/reports?service=sender&level={level}&count=true&limit=1"
            ))
            .await["total"]
                .as_i64()
                .unwrap()
        }
    };
    let (mut stored, mut heartbeats) = (0, 0);
    for _ in 0..200 {
        (stored, heartbeats) = (count("info").await, count("heartbeat").await);
        if stored == 50 && heartbeats == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!((stored, heartbeats), (50, 1));
    assert_eq!(app.service_status("sender").await, "pass");
    assert_eq!(reporter.dropped(), 0);
    task.unwrap().abort();
}
