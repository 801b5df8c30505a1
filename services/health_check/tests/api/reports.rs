use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_thousand_concurrent_reports_are_all_stored_and_countable() {
    let app = spawn_app().await;
    let sends = (0..1000).map(|i| {
        let app = &app;
        async move {
            app.post_report(&json!({"level": "info", "service": format!("svc{}", i % 7), "status": "ok", "data": {"i": i}}))
                .await
                .status()
        }
    });
    let statuses = join_all(sends).await;
    let failed: Vec<_> = statuses.iter().filter(|s| **s != StatusCode::CREATED).collect();
    assert!(failed.is_empty(), "{failed:?}");

    let counted = app.get_json("/reports?count=true&limit=1").await;
    assert_eq!(counted["total"], 1000);

    // Walk every page with the cursor: each report seen exactly once.
    let mut seen = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor
            .as_ref()
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default();
        let page = app.get_json(&format!("/reports?limit=500{q}")).await;
        for r in page["data"].as_array().unwrap() {
            assert!(seen.insert(r["data"]["i"].as_i64().unwrap()), "report seen twice");
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 1000);
}

#[tokio::test]
async fn reports_filter_by_service_level_and_time() {
    let app = spawn_app().await;
    let batch = json!([
        {"level": "info", "service": "a", "status": "ok", "data": null},
        {"level": "error", "service": "a", "status": "fail", "data": {"why": "x"}},
        {"level": "info", "service": "b", "status": "ok"},
    ]);
    let res = app.post_batch(&batch).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["stored"], 3);

    assert_eq!(app.get_json("/reports?service=a&count=true").await["total"], 2);
    assert_eq!(app.get_json("/reports?level=error&count=true").await["total"], 1);
    let newest_first = app.get_json("/reports?service=a").await;
    assert_eq!(newest_first["data"][0]["level"], "error");
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let q = format!("/reports?since={}&count=true", urlencode(&future));
    assert_eq!(app.get_json(&q).await["total"], 0);
    let q = format!("/reports?until={}&count=true", urlencode(&future));
    assert_eq!(app.get_json(&q).await["total"], 3);
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn pruning_deletes_reports_older_than_the_cutoff_only() {
    let app = spawn_app().await;
    app.heartbeat("a", "pass").await;
    let before = chrono::Utc::now() - chrono::Duration::hours(1);
    assert_eq!(health_check::storage::prune(&app.pool, before).await.unwrap(), 0);
    let after = chrono::Utc::now() + chrono::Duration::seconds(1);
    assert!(health_check::storage::prune(&app.pool, after).await.unwrap() >= 1);
    assert_eq!(app.get_json("/reports?count=true").await["total"], 0);
}

#[tokio::test]
async fn status_page_lists_services_for_a_person() {
    let app = spawn_app().await;
    app.heartbeat("create_buy_order", "pass").await;
    let res = app.client.get(format!("{}/", app.address)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = res.text().await.unwrap();
    assert!(html.contains("create_buy_order") && html.contains("pass"));
}
