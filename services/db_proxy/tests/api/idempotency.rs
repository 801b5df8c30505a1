use std::collections::HashSet;

use common::models::AddedOrder;
use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::helpers::{assert_problem, keyed_order, spawn_app, spawn_pair, stored_totals};

#[tokio::test]
async fn the_same_key_sent_200_times_at_once_stores_exactly_one_order() {
    let (a, b, pool) = spawn_pair(|_| {}).await;
    let body = keyed_order("100.00", "50000", "client-1", "once", "hash-1");
    let calls = (0..200).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        let body = &body;
        async move {
            let res = app.post_add(body).await;
            assert_eq!(res.status(), StatusCode::CREATED);
            let replayed_header = res.headers().contains_key("idempotent-replayed");
            let added: AddedOrder = res.json().await.unwrap();
            assert_eq!(added.replayed, replayed_header);
            added
        }
    });
    let answers = join_all(calls).await;
    let ids: HashSet<_> = answers.iter().map(|a| a.order.id).collect();
    assert_eq!(ids.len(), 1, "every answer names the same order");
    assert_eq!(answers.iter().filter(|a| !a.replayed).count(), 1);
    assert_eq!(answers[0].order.client_order_id.as_deref(), Some("once"));
    assert_eq!(stored_totals(&pool).await.1, 1);
}

#[tokio::test]
async fn the_same_key_with_a_different_request_is_refused_with_422() {
    let (app, pool) = spawn_app().await;
    let first = app
        .add_ok(&keyed_order("10.00", "50000", "c", "k", "hash-a"))
        .await;
    let res = app
        .post_add(&keyed_order("20.00", "50000", "c", "k", "hash-b"))
        .await;
    assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        "changed request",
    )
    .await;
    let again = app
        .add_ok(&keyed_order("10.00", "50000", "c", "k", "hash-a"))
        .await;
    assert!(again.replayed);
    assert_eq!(again.order, first.order);
    assert_eq!(stored_totals(&pool).await.1, 1);
}

#[tokio::test]
async fn keys_are_scoped_per_client() {
    let (app, pool) = spawn_app().await;
    let one = app
        .add_ok(&keyed_order("10.00", "50000", "alice", "same-key", "h"))
        .await;
    let two = app
        .add_ok(&keyed_order("10.00", "50000", "bob", "same-key", "h"))
        .await;
    assert!(!one.replayed && !two.replayed);
    assert_ne!(one.order.id, two.order.id);
    assert_eq!(stored_totals(&pool).await.1, 2);
}

#[tokio::test]
async fn a_replay_is_answered_even_when_the_cap_is_full() {
    let (app, _pool) = crate::helpers::spawn_with(|s| s.cap_satoshis = 20_000).await;
    // 10.00 EUR at 50000 EUR/BTC = 0.0002 BTC = 20,000 satoshis: the whole cap.
    let first = app.add_ok(&keyed_order("10.00", "50000", "c", "k", "h")).await;
    let replay = app.add_ok(&keyed_order("10.00", "50000", "c", "k", "h")).await;
    assert!(replay.replayed);
    assert_eq!(replay.order.id, first.order.id);
    let res = app.post_add(&keyed_order("10.00", "50000", "c", "k2", "h")).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn pruning_forgets_old_keys_but_keeps_their_orders() {
    let (app, pool) = spawn_app().await;
    let first = app.add_ok(&keyed_order("10.00", "50000", "c", "k", "h")).await;
    let kept =
        db_proxy::storage::prune_idempotency_keys(&pool, chrono::Utc::now() - chrono::Duration::hours(1))
            .await
            .unwrap();
    assert_eq!(kept, 0, "a fresh key is not pruned");
    let pruned =
        db_proxy::storage::prune_idempotency_keys(&pool, chrono::Utc::now() + chrono::Duration::seconds(1))
            .await
            .unwrap();
    assert_eq!(pruned, 1);
    let res = app.get(&format!("/orders/{}", first.order.id)).await;
    assert_eq!(res.status(), StatusCode::OK, "the order outlives its key");
    // After its key expired, the same key places a new order.
    let second = app.add_ok(&keyed_order("10.00", "50000", "c", "k", "h")).await;
    assert!(!second.replayed);
    assert_ne!(second.order.id, first.order.id);
}

#[tokio::test]
async fn a_stored_key_can_be_looked_up_without_writing_anything() {
    let (app, pool) = spawn_app().await;
    let added = app
        .add_ok(&keyed_order("10.00", "50000", "ip:1.2.3.4", "look", "hash-l"))
        .await;
    let found: common::models::KeyedOrder = app
        .get("/keys?client_id=ip:1.2.3.4&key=look")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found.request_hash, "hash-l");
    assert_eq!(found.order, added.order);

    let other_client = app.get("/keys?client_id=ip:5.6.7.8&key=look").await;
    assert_problem(other_client, StatusCode::NOT_FOUND, "not_found", "other client").await;
    let empty_key = app.get("/keys?client_id=c&key=").await;
    assert_problem(
        empty_key,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "empty key",
    )
    .await;
    assert_eq!(stored_totals(&pool).await.1, 1);
}
