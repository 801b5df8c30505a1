use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::models::{Order, OrderPage};
use reqwest::StatusCode;

use crate::helpers::{TestApp, assert_problem, migrated_pool, order, spawn_app, start};

async fn add_n(app: &TestApp, n: usize) -> Vec<Order> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(app.add_ok(&order(&format!("{}.00", i + 1), "40000")).await.order);
    }
    out
}

fn seqs(page: &OrderPage) -> Vec<i64> {
    page.data.iter().map(|o| o.seq).collect()
}

#[tokio::test]
async fn pages_are_newest_first_and_start_and_cursor_give_the_same_pages() {
    let (app, _pool) = spawn_app().await;
    let added = add_n(&app, 23).await;

    let first = app.page("page_size=5").await;
    assert_eq!(first.total, 23);
    assert_eq!(seqs(&first), vec![23, 22, 21, 20, 19]);
    assert_eq!(
        first.data[0], added[22],
        "the stored order comes back as it was answered"
    );

    let default = app.page("").await;
    assert_eq!(default.data.len(), 10, "default page size is 10");

    let mut cursor = None;
    let mut k = 0;
    loop {
        let by_cursor = match &cursor {
            None => app.page("page_size=5").await,
            Some(c) => app.page(&format!("page_size=5&cursor={c}")).await,
        };
        let by_start = app.page(&format!("page_size=5&start={k}")).await;
        assert_eq!(seqs(&by_cursor), seqs(&by_start), "page at {k}");
        assert_eq!(by_cursor.next_cursor, by_start.next_cursor, "cursor at {k}");
        k += 5;
        match by_cursor.next_cursor {
            Some(c) => cursor = Some(c),
            None => {
                assert_eq!(seqs(&by_cursor), vec![3, 2, 1], "the last page");
                break;
            }
        }
    }
    assert_eq!(k, 25);

    let past_end = app.page("page_size=5&start=23").await;
    assert!(past_end.data.is_empty());
    assert_eq!(past_end.next_cursor, None);
    assert_eq!(past_end.total, 23);
    let exact = app.page("page_size=23").await;
    assert_eq!(exact.data.len(), 23);
    assert_eq!(exact.next_cursor, None, "no cursor when nothing older is left");
    assert_eq!(app.page("page_size=100").await.data.len(), 23);
    assert_eq!(app.page("page_size=1&start=22").await.data[0].seq, 1);
}

#[tokio::test]
async fn pages_from_kept_order_json_are_byte_for_byte_those_read_from_postgres() {
    // Three orders kept: pages mix kept and read orders, and the kept ones are
    // evicted as others are read. The twin keeps none: every page from Postgres.
    let mut settings = db_proxy::testing::settings();
    settings.page_cache_orders = 3;
    migrated_pool(&settings).await;
    let kept = start(&settings);
    settings.page_cache_orders = 0;
    let plain = start(&settings);
    add_n(&kept, 7).await;
    let body = |app: &TestApp, q: &str| {
        let url = format!("{}/get?{q}", app.address);
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    for round in 0..2 {
        for q in [
            "page_size=2",
            "page_size=5",
            "page_size=2&start=1",
            "page_size=4&start=5",
            "page_size=3&start=7",
            "",
        ] {
            assert_eq!(body(&kept, q).await, body(&plain, q).await, "round {round}, {q}");
        }
        add_n(&plain, 2).await;
    }
    let last = kept.page("page_size=100").await;
    assert_eq!(seqs(&last), (1..=11).rev().collect::<Vec<_>>());
}

#[tokio::test]
async fn an_empty_database_gives_an_empty_last_page() {
    let (app, _pool) = spawn_app().await;
    let page = app.page("").await;
    assert!(page.data.is_empty());
    assert_eq!(page.next_cursor, None);
    assert_eq!(page.total, 0);
    assert_eq!(app.get("/get/").await.status(), StatusCode::OK, "trailing slash");
    let doc: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    for path in ["/add", "/get", "/orders/{id}", "/capacity"] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    common::testing::assert_security_documented(&doc, "post", "/add", "service_token");
}

#[tokio::test]
async fn walking_with_the_cursor_while_orders_arrive_neither_skips_nor_repeats() {
    let (app, _pool) = spawn_app().await;
    add_n(&app, 40).await;
    let app = Arc::new(app);
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (app, done) = (app.clone(), done.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !done.load(Ordering::Relaxed) {
                app.add_ok(&order("1.00", "40000")).await;
                n += 1;
            }
            n
        })
    };
    let first = app.page("page_size=7").await;
    let top = first.data[0].seq;
    assert_eq!(top, first.total, "total is read in the same snapshot as the page");
    let mut seen = seqs(&first);
    let mut cursor = first.next_cursor;
    while let Some(c) = cursor {
        // One more order between every two pages, besides the background writer.
        app.add_ok(&order("2.00", "40000")).await;
        let page = app.page(&format!("page_size=7&cursor={c}")).await;
        seen.extend(seqs(&page));
        cursor = page.next_cursor;
    }
    done.store(true, Ordering::Relaxed);
    let written = writer.await.unwrap();
    assert_eq!(
        seen,
        (1..=top).rev().collect::<Vec<_>>(),
        "every order once, newest first"
    );
    let last = app.page("page_size=1").await;
    assert!(
        last.total > top,
        "orders arrived during the walk ({written} in the background)"
    );
}

#[tokio::test]
async fn bad_page_parameters_are_refused_with_422() {
    let (app, _pool) = spawn_app().await;
    add_n(&app, 3).await;
    let good_cursor = app.page("page_size=1").await.next_cursor.unwrap();
    let cases = [
        ("page_size=0", "page_size 0"),
        ("page_size=101", "page_size 101"),
        ("page_size=-1", "negative page_size"),
        ("page_size=abc", "page_size not a number"),
        ("page_size=1.5", "page_size not an integer"),
        ("start=-1", "negative start"),
        ("start=x", "start not a number"),
        ("start=99999999999999999999", "start too large"),
        ("cursor=", "empty cursor"),
        ("cursor=garbage", "garbage cursor"),
        ("cursor=WyJvcmRlcnMuc2VxX2Rlc2MudjEiLCIwIl0", "cursor of seq 0"),
        (
            "cursor=WyJvcmRlcnMuc2VxX2Rlc2MudjIiLCI1Il0",
            "cursor of an unknown version",
        ),
        (
            "cursor=WyJyZXN1bHRzLmlkX2Rlc2MudjEiLCI1Il0",
            "cursor of another list",
        ),
        ("cursor=djE6NQ", "the text cursor of earlier releases"),
        ("cursor=%00%01", "binary cursor"),
    ];
    for (query, case) in cases {
        let res = app.get(&format!("/get?{query}")).await;
        assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", case).await;
    }
    let both = app.get(&format!("/get?start=0&cursor={good_cursor}")).await;
    let body = assert_problem(
        both,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "both",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "cursor");
}

#[tokio::test]
async fn an_order_is_found_by_id_and_an_unknown_id_is_a_404_problem() {
    let (app, _pool) = spawn_app().await;
    let added = app.add_ok(&order("12.34", "40000")).await.order;
    let res = app.get(&format!("/orders/{}", added.id)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Order>().await.unwrap(), added);
    let missing = app.get(&format!("/orders/{}", uuid::Uuid::new_v4())).await;
    assert_problem(missing, StatusCode::NOT_FOUND, "not_found", "unknown id").await;
    let junk = app.get("/orders/not-a-uuid").await;
    assert_problem(junk, StatusCode::NOT_FOUND, "not_found", "not a uuid").await;
}
