use std::time::Duration;

use common::testing::TcpProxy;
use reqwest::StatusCode;

use crate::helpers::{assert_problem, keyed_order, migrated_pool, order, start, stored_totals};

#[tokio::test]
async fn postgres_down_gives_503_with_retry_after_and_writes_nothing_then_orders_resume() {
    let mut settings = db_proxy::testing::settings();
    let direct = migrated_pool(&settings).await;
    let proxy = TcpProxy::start("127.0.0.1:5432").await.unwrap();
    settings.pg.url = format!("postgres://postgres@{}", proxy.addr());
    let app = start(&settings);
    app.add_ok(&order("10.00", "40000")).await;

    proxy.set_down(true);
    let res = app.post_add(&order("20.00", "40000")).await;
    let retry_after = res.headers().get("retry-after").cloned();
    let body = assert_problem(
        res,
        StatusCode::SERVICE_UNAVAILABLE,
        "dependency_unavailable",
        "add while down",
    )
    .await;
    assert!(retry_after.is_some(), "503 carries Retry-After");
    assert_eq!(body["dependency"], "postgres");
    let page = app.get("/get").await;
    assert_problem(
        page,
        StatusCode::SERVICE_UNAVAILABLE,
        "dependency_unavailable",
        "get while down",
    )
    .await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(stored_totals(&direct).await.1, 1, "nothing written while down");

    proxy.set_down(false);
    let mut attempts = 0;
    let added = loop {
        attempts += 1;
        let res = app.post_add(&order("30.00", "40000")).await;
        if res.status() == StatusCode::CREATED {
            break res.json::<common::models::AddedOrder>().await.unwrap();
        }
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(attempts < 20, "postgres back but /add still failing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(added.order.seq, 2, "the failed order left no gap");
    assert_eq!(stored_totals(&direct).await.1, 2);
}

#[tokio::test]
async fn a_failing_batch_answers_503_to_each_of_its_orders_and_stores_none_of_them() {
    let (app, pool) = crate::helpers::spawn_app().await;
    // Fails the batch after its orders were inserted, when the key rows go in.
    for ddl in [
        "create function poison() returns trigger language plpgsql as $$ begin raise exception 'poisoned'; end $$",
        "create trigger poison before insert on idempotency_keys for each row
         when (new.key = 'poison') execute function poison()",
    ] {
        sqlx::query(ddl).execute(&pool).await.unwrap();
    }
    let poison = keyed_order("1.00", "40000", "c", "poison", "h");
    let res = app.post_add(&poison).await;
    assert_problem(
        res,
        StatusCode::SERVICE_UNAVAILABLE,
        "dependency_unavailable",
        "poisoned batch",
    )
    .await;
    assert_eq!(stored_totals(&pool).await, (0, 0));
    assert_eq!(crate::helpers::state_row(&pool).await, (0, 0));

    // Under load the poison shares a batch with others: they all fail together, the rest commit.
    let calls = (0..80).map(|i| {
        let body = if i == 40 {
            poison.clone()
        } else {
            keyed_order("1.00", "40000", "c", &format!("k{i}"), "h")
        };
        let app = &app;
        async move { (i, app.post_add(&body).await.status()) }
    });
    let results = futures_util::future::join_all(calls).await;
    let stored: Vec<(String, i64)> = sqlx::query_as("select client_order_id, seq from orders order by seq")
        .fetch_all(&pool)
        .await
        .unwrap();
    let stored_keys: std::collections::HashSet<&str> = stored.iter().map(|(k, _)| k.as_str()).collect();
    for (i, status) in results {
        let key = if i == 40 {
            "poison".to_string()
        } else {
            format!("k{i}")
        };
        match status {
            StatusCode::CREATED => assert!(stored_keys.contains(key.as_str()), "{key} answered 201"),
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(!stored_keys.contains(key.as_str()), "{key} answered 503")
            }
            other => panic!("{key}: {other}"),
        }
        if i == 40 {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        }
    }
    let seqs: Vec<i64> = stored.iter().map(|(_, s)| *s).collect();
    assert_eq!(
        seqs,
        (1..=i64::try_from(seqs.len()).unwrap()).collect::<Vec<_>>(),
        "no gaps"
    );
    let (sum, count) = stored_totals(&pool).await;
    assert_eq!(crate::helpers::state_row(&pool).await, (sum, count));
}
