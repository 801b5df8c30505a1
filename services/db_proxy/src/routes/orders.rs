use actix_web::http::header;
use actix_web::{HttpResponse, web};
use common::Problem;
use common::auth::ServiceAuth;
use common::models::{KeyedOrder, NewOrder, OrderPage};
use common::money::btc_for;
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::PageSpec;
use crate::state::State;
use crate::storage;

fn check_text(field: &str, value: &str, max: usize) -> Result<(), Problem> {
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(Problem::invalid_field(
            field,
            format!("must be 1-{max} characters without control characters"),
        ));
    }
    Ok(())
}

fn validate(order: &NewOrder) -> Result<(), Problem> {
    check_text("rate_source", &order.rate_source, 64)?;
    if let Some(i) = &order.idempotency {
        check_text("idempotency.client_id", &i.client_id, 200)?;
        check_text("idempotency.key", &i.key, 255)?;
        check_text("idempotency.request_hash", &i.request_hash, 128)?;
    }
    Ok(())
}

/// Store an order under the bitcoin cap (idempotent when `idempotency` is given).
#[utoipa::path(post, tag = "orders", path = "/add", request_body = NewOrder,
    responses(
        (status = 201, body = common::models::AddedOrder, description = "stored, or the stored order replayed"),
        (status = 401, body = Problem), (status = 409, body = Problem, description = "btc_cap_exceeded"),
        (status = 422, body = Problem, description = "validation_failed or idempotency_key_reused"),
        (status = 503, body = Problem)),
    security(("service_token" = [])))]
pub async fn add_order(
    _: ServiceAuth,
    state: web::Data<State>,
    body: web::Json<NewOrder>,
) -> Result<HttpResponse, Problem> {
    let order = body.into_inner();
    validate(&order)?;
    let satoshis = btc_for(order.amount, order.exchange_rate)
        .map_err(|e| Problem::invalid_field("exchange_rate", e.to_string()))?;
    let added = state.sink.add(order, satoshis).await?;
    let mut res = HttpResponse::Created();
    res.insert_header((header::LOCATION, format!("/orders/{}", added.order.id)));
    if added.replayed {
        res.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(res.json(added))
}

/// Query of `GET /get`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// 1-100, default 10.
    page_size: Option<i64>,
    /// Orders to skip from the newest (the original offset); not with `cursor`.
    start: Option<i64>,
    /// `next_cursor` of the previous page; not with `start`.
    cursor: Option<String>,
}

/// A page of orders, newest first. Every page costs the same, however deep.
#[utoipa::path(get, tag = "orders", path = "/get", params(PageQuery),
    responses((status = 200, body = OrderPage), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn get_page(state: web::Data<State>, q: web::Query<PageQuery>) -> Result<HttpResponse, Problem> {
    let spec = PageSpec::parse(q.page_size, q.start, q.cursor.as_deref())?;
    let body = crate::pages::page(&state.pages, &state.order_json, spec)
        .await
        .map_err(common::db::problem)?;
    Ok(HttpResponse::Ok().content_type("application/json").body(body))
}

/// The longest a read of `GET /orders/after` waits for new orders: a long poll
/// well inside every client's timeout; the streams' feed asks again at once.
pub const MAX_WAIT_MS: u64 = 5000;

/// Query of `GET /orders/after`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AfterQuery {
    /// The orders with seqs above this one; absent: none, only the newest seq.
    after_seq: Option<i64>,
    /// At most this many orders, 0-1000, default 100.
    #[param(minimum = 0, maximum = 1000)]
    limit: Option<i64>,
    /// When there is nothing newer yet, wait up to this long for it (0-5000 ms, default 0).
    #[param(minimum = 0, maximum = 5000)]
    wait_ms: Option<u64>,
}

/// The orders stored after a seq, oldest first (the order streams read this).
/// The seq of `orders[i]` is `first_seq + i`; `head` is the newest seq stored.
#[utoipa::path(get, tag = "orders", path = "/orders/after", params(AfterQuery),
    responses((status = 200, body = common::models::OrdersAfter), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn get_orders_after(
    state: web::Data<State>,
    q: web::Query<AfterQuery>,
) -> Result<HttpResponse, Problem> {
    let limit = q.limit.unwrap_or(100);
    if !(0..=1000).contains(&limit) {
        return Err(Problem::invalid_field("limit", "must be between 0 and 1000"));
    }
    if q.after_seq.is_some_and(|a| a < 0) {
        return Err(Problem::invalid_field(
            "after_seq",
            "must be a non-negative integer",
        ));
    }
    let wait_ms = q.wait_ms.unwrap_or(0);
    if wait_ms > MAX_WAIT_MS {
        return Err(Problem::invalid_field(
            "wait_ms",
            format!("must be between 0 and {MAX_WAIT_MS}"),
        ));
    }
    let wait = std::time::Duration::from_millis(wait_ms);
    let mut newer = state.head.subscribe();
    // One key lookup, so the answer never rests on a notification alone.
    let stored = storage::newest_seq(state.pool.clone())
        .await
        .map_err(common::db::problem)?;
    state.head.raise(stored);
    let after = q.after_seq.unwrap_or(stored);
    if state.head.get() <= after && !wait.is_zero() {
        let _ = tokio::time::timeout(wait, newer.wait_for(|head| *head > after)).await;
    }
    let body = crate::pages::after(&state.pages, &state.order_json, after, limit, state.head.get())
        .await
        .map_err(common::db::problem)?;
    Ok(HttpResponse::Ok().content_type("application/json").body(body))
}

/// One order.
#[utoipa::path(get, tag = "orders", path = "/orders/{id}", params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = common::models::Order), (status = 404, body = Problem), (status = 503, body = Problem)))]
pub async fn get_order(state: web::Data<State>, id: web::Path<Uuid>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    match storage::order_by_id(&state.pool, id)
        .await
        .map_err(common::db::problem)?
    {
        Some(order) => Ok(HttpResponse::Ok().json(order)),
        None => Err(Problem::not_found(format!("no order with id {id}"))),
    }
}

/// Query of `GET /keys`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct KeyQuery {
    /// The client the key belongs to (as sent in `idempotency.client_id`).
    client_id: String,
    /// The idempotency key.
    key: String,
}

/// The order an idempotency key produced: lets a caller answer a retry when
/// it cannot place new orders (no fresh price), without writing anything.
#[utoipa::path(get, tag = "orders", path = "/keys", params(KeyQuery),
    responses((status = 200, body = KeyedOrder), (status = 404, body = Problem, description = "key unknown"),
              (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn get_keyed_order(
    state: web::Data<State>,
    q: web::Query<KeyQuery>,
) -> Result<HttpResponse, Problem> {
    check_text("client_id", &q.client_id, 200)?;
    check_text("key", &q.key, 255)?;
    match storage::keyed_order(&state.pool, &q.client_id, &q.key)
        .await
        .map_err(common::db::problem)?
    {
        Some(k) => Ok(HttpResponse::Ok().json(KeyedOrder {
            request_hash: k.request_hash,
            order: k.order,
        })),
        None => Err(Problem::not_found("no order was stored under this key")),
    }
}

/// How much of the bitcoin cap is used and left.
#[utoipa::path(get, tag = "orders", path = "/capacity",
    responses((status = 200, body = common::models::Capacity), (status = 503, body = Problem)))]
pub async fn get_capacity(state: web::Data<State>) -> Result<HttpResponse, Problem> {
    let capacity = storage::capacity(&state.pool, state.cap)
        .await
        .map_err(common::db::problem)?;
    Ok(HttpResponse::Ok().json(capacity))
}
