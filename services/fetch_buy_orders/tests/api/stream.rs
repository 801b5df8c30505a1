//! `GET /orders/stream`: every order once, in order, resumable exactly; across
//! replicas, a db_proxy restart and hundreds of consumers.

use std::time::Duration;

use common::testing::SseEvents;
use serde_json::Value;

use crate::helpers::{TestApp, new_order, spawn_app};

/// An order stream as a test reads it.
struct Events(SseEvents);

impl Events {
    async fn open(app: &TestApp, last_event_id: Option<i64>) -> Self {
        Self::open_at(&app.address, &app.client, last_event_id).await
    }

    async fn open_at(address: &str, client: &reqwest::Client, last_event_id: Option<i64>) -> Self {
        let mut rb = client
            .get(format!("{address}/orders/stream"))
            .header("x-api-key", "test-key")
            .timeout(Duration::from_secs(120));
        if let Some(id) = last_event_id {
            rb = rb.header("last-event-id", id.to_string());
        }
        Self(SseEvents::new(rb.send().await.unwrap()))
    }

    /// The seqs of the next `n` orders, each checked against its `id:`.
    async fn seqs(&mut self, n: usize) -> Vec<i64> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let e = self.0.next().await;
            assert_eq!(e.event, None, "{e:?}");
            let order: Value = serde_json::from_str(&e.data).unwrap();
            let seq = order["seq"].as_i64().unwrap();
            assert_eq!(e.id.as_deref(), Some(seq.to_string().as_str()));
            assert!(
                order["bitcoin_amount"].is_string() && order["amount"].is_string(),
                "{order}"
            );
            out.push(seq);
        }
        out
    }
}

fn range(from: i64, to: i64) -> Vec<i64> {
    (from..=to).collect()
}

#[tokio::test]
async fn a_stream_starts_now_and_resumes_after_a_cut_with_nothing_missed() {
    let app = spawn_app(|_| {}).await;
    app.insert(3).await;
    let mut live = Events::open(&app, None).await;
    app.insert(5).await;
    assert_eq!(
        live.seqs(5).await,
        range(4, 8),
        "only orders stored after the connect"
    );
    let mut cut = Events::open(&app, Some(4)).await;
    assert_eq!(cut.seqs(2).await, vec![5, 6]);
    drop(cut);
    app.insert(3).await;
    let mut resumed = Events::open(&app, Some(6)).await;
    assert_eq!(
        resumed.seqs(5).await,
        range(7, 11),
        "exactly the orders after the last id seen"
    );
    assert_eq!(live.seqs(3).await, range(9, 11));
    // `after_seq` works as Last-Event-ID does, from the very first order.
    let res = app
        .client
        .get(format!("{}/orders/stream?after_seq=0", app.address))
        .header("x-api-key", "test-key")
        .send()
        .await
        .unwrap();
    let mut all = Events(SseEvents::new(res));
    assert_eq!(all.seqs(11).await, range(1, 11));
}

#[tokio::test]
async fn a_bad_resume_point_is_a_422() {
    let app = spawn_app(|_| {}).await;
    for bad in ["-1", "abc", "1.5"] {
        let res = app
            .client
            .get(format!("{}/orders/stream", app.address))
            .header("x-api-key", "test-key")
            .header("last-event-id", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422, "{bad}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "validation_failed", "{body}");
    }
}

#[tokio::test]
async fn a_consumer_resumes_on_another_replica_exactly() {
    let app = spawn_app(|_| {}).await;
    let db_url = app.db_handle.as_ref().unwrap().url();
    let mut settings = fetch_buy_orders::Settings {
        db_proxy_url: db_url,
        ..fetch_buy_orders::testing::settings()
    };
    settings.rate_limit.api_keys = vec!["test-key=1000000".into()];
    let other = fetch_buy_orders::build(settings).await.unwrap();
    let mut first = Events::open(&app, Some(0)).await;
    app.insert(4).await;
    assert_eq!(first.seqs(2).await, vec![1, 2]);
    drop(first);
    app.insert(2).await;
    let mut second = Events::open_at(&other.url(), &app.client, Some(2)).await;
    assert_eq!(second.seqs(4).await, range(3, 6));
    app.insert(2).await;
    assert_eq!(second.seqs(2).await, vec![7, 8]);
}

#[tokio::test]
async fn a_stream_goes_on_across_a_db_proxy_restart() {
    common::testing::init_tracing();
    let db_settings = db_proxy::testing::settings();
    let db = db_proxy::build(db_settings.clone()).await.unwrap();
    let port = db.port;
    let mut settings = fetch_buy_orders::Settings {
        db_proxy_url: db.url(),
        ..fetch_buy_orders::testing::settings()
    };
    settings.rate_limit.api_keys = vec!["test-key=1000000".into()];
    let fetch = fetch_buy_orders::build(settings).await.unwrap();
    let client = common::testing::client();
    let mut events = Events::open_at(&fetch.url(), &client, None).await;
    let db_client = |url: String| {
        common::internal_apis::DbProxyClient(common::service_client::ServiceClient::new(
            "db_proxy",
            &url,
            common::testing::client(),
            common::config::Secret::new(common::testing::TEST_TOKEN),
        ))
    };
    let add = db_client(db.url());
    for cents in [100, 200] {
        add.add(&new_order(cents)).await.unwrap();
    }
    assert_eq!(events.seqs(2).await, vec![1, 2]);
    db.stop().await;
    let mut again = db_settings.clone();
    again.http.port = port;
    let db = db_proxy::build(again).await.unwrap();
    let add = db_client(db.url());
    for cents in [300, 400, 500] {
        add.add(&new_order(cents)).await.unwrap();
    }
    assert_eq!(
        events.seqs(3).await,
        range(3, 5),
        "the same connection, nothing lost"
    );
}

#[tokio::test]
async fn five_hundred_streams_each_get_every_order_while_orders_are_placed() {
    let app = spawn_app(|_| {}).await;
    let streams = futures_util::future::join_all((0..500).map(|_| Events::open(&app, Some(0)))).await;
    let placing = async {
        for cents in 100..140 {
            app.db.add(&new_order(cents)).await.unwrap();
        }
    };
    let reading =
        futures_util::future::join_all(streams.into_iter().map(|mut s| async move { s.seqs(40).await }));
    let ((), got) = tokio::join!(placing, reading);
    for seqs in got {
        assert_eq!(seqs, range(1, 40));
    }
}

#[tokio::test]
async fn the_orders_page_shows_the_cap_and_the_newest_orders_and_follows_the_stream() {
    let app = spawn_app(|s| s.cache_proxy_url = "http://127.0.0.1:9".into()).await;
    app.insert(2).await;
    let res = app.get("/").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = res.text().await.unwrap();
    for part in [
        "<meter id=\"cap\" min=\"0\" max=\"100.00000000\" value=\"0.00004020\"",
        "<b id=\"remaining\">99.99995980</b> BTC remaining",
        "<table id=\"orders\" data-seq=\"2\">",
        "<tr><td>2</td>",
        "1.01 EUR",
        "The price is unavailable right now",
        "new EventSource('/orders/stream?after_seq='",
    ] {
        assert!(page.contains(part), "{part} not in {page}");
    }
}
