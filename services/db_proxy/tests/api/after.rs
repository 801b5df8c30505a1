//! `GET /orders/after`: the orders after a seq, oldest first, and the wait for
//! new ones, woken by another replica's commit (Postgres NOTIFY).

use serde_json::Value;

use crate::helpers::{order, spawn_app, spawn_pair};

async fn after(app: &crate::helpers::TestApp, query: &str) -> (u16, Value) {
    let res = app
        .client
        .get(format!("{}/orders/after?{query}", app.address))
        .timeout(std::time::Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

fn seqs(body: &Value) -> Vec<i64> {
    body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["seq"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_orders_after_a_seq_come_oldest_first_and_numbered() {
    let (app, _pool) = spawn_app().await;
    for _ in 0..5 {
        app.add_ok(&order("10.00", "50000")).await;
    }
    let (status, body) = after(&app, "after_seq=1&limit=3").await;
    assert_eq!(status, 200);
    assert_eq!(
        (body["head"].as_i64(), body["first_seq"].as_i64()),
        (Some(5), Some(2))
    );
    assert_eq!(seqs(&body), vec![2, 3, 4]);
    let (_, body) = after(&app, "after_seq=5").await;
    assert_eq!(seqs(&body), Vec::<i64>::new());
    let (_, body) = after(&app, "limit=0").await;
    assert_eq!(
        (body["head"].as_i64(), body["first_seq"].as_i64()),
        (Some(5), Some(6))
    );
    for bad in [
        "after_seq=-1",
        "limit=1001",
        "limit=x",
        "wait_ms=-5",
        "wait_ms=5001",
    ] {
        let (status, body) = after(&app, bad).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
}

#[tokio::test]
async fn a_waiting_read_is_woken_by_a_commit_on_another_replica() {
    // The poll is off (an hour): only the notification can wake the waiting read.
    let (a, b, _pool) = spawn_pair(|s| s.head_poll_millis = 3_600_000).await;
    a.add_ok(&order("10.00", "50000")).await;
    let waiting = after(&b, "after_seq=1&wait_ms=5000");
    let adding = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        a.add_ok(&order("20.00", "50000")).await;
    };
    let ((status, body), ()) = tokio::join!(waiting, adding);
    assert_eq!(status, 200);
    assert_eq!(seqs(&body), vec![2], "{body}");
}
