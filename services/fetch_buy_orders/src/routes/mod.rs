//! Public routes: the order pages, the order stream, the orders page.

mod page;
pub mod stream;

use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};
use common::Problem;
use common::internal_apis::{DbProxyClient, PageRequest};
use common::models::{Capacity, Order};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The OpenAPI document of fetch_buy_orders.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "fetch_buy_orders",
        description = "Stored BTC buy orders, newest first, paged in constant time."
    ),
    tags((name = "orders", description = "BTC buy orders: newest first, paged; live as a stream; one order; the capacity left"),
         (name = "web page", description = "The orders page, updated live")),
    paths(
        get_orders,
        stream::orders_stream,
        page::index,
        common::order_routes::get_order,
        common::order_routes::get_capacity
    ),
    components(schemas(Order, Capacity, Problem)),
    modifiers(&RATE_LIMITED)
)]
pub struct ApiDoc;

/// Which routes of the document the rate limiter guards.
const RATE_LIMITED: common::openapi::RateLimited = common::openapi::RateLimited::ALL;

/// Mounts the routes, each behind the rate limiter (the standard routes are not).
pub fn configure(cfg: &mut web::ServiceConfig) {
    let limited = || from_fn(common::rate_limit::rate_limit);
    cfg.service(
        web::resource(["/get_orders", "/get_orders/"])
            .wrap(limited())
            .get(get_orders),
    )
    .service(
        web::resource("/orders/stream")
            .wrap(limited())
            .get(stream::orders_stream),
    )
    .service(web::resource("/").wrap(limited()).get(page::index))
    .service(
        web::resource("/orders/{id}")
            .wrap(limited())
            .get(common::order_routes::get_order),
    )
    .service(
        web::resource("/capacity")
            .wrap(limited())
            .get(common::order_routes::get_capacity),
    );
}

/// Query of `GET /get_orders`; strings so that every bad value gets a precise 422.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// 1-100, default 10.
    page_size: Option<String>,
    /// Offset from the newest order (the original parameter).
    start: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// `page_size`: 10 unless given, at most 100.
const PAGE_SIZE: common::paging::PageSize = common::paging::PageSize::new("page_size", 10, 100);

fn parse_page(q: &PageQuery) -> Result<PageRequest, Problem> {
    let page_size = PAGE_SIZE.parse(q.page_size.as_deref())?;
    let start = match &q.start {
        None => None,
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| Problem::invalid_field("start", "must be a non-negative integer"))?,
        ),
    };
    let cursor = match &q.cursor {
        Some(c) if c.is_empty() || c.len() > 200 => {
            return Err(Problem::invalid_field("cursor", "is not a cursor from this API"));
        }
        other => other.clone(),
    };
    if start.is_some() && cursor.is_some() {
        return Err(Problem::invalid_field(
            "cursor",
            "give either start or cursor, not both",
        ));
    }
    Ok(PageRequest {
        page_size,
        start,
        cursor,
    })
}

/// A page of orders, newest first.
#[utoipa::path(get, tag = "orders", path = "/get_orders", params(PageQuery),
    responses((status = 200, description = "{data, next_cursor, total, _links}"), (status = 422, body = Problem),
              (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn get_orders(
    db: web::Data<DbProxyClient>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let req = parse_page(&q)?;
    let page = db.page(&req).await?;
    let this = match (&req.cursor, req.start) {
        (Some(c), _) => format!("/get_orders?cursor={c}&page_size={}", req.page_size),
        (None, start) => format!(
            "/get_orders?start={}&page_size={}",
            start.unwrap_or(0),
            req.page_size
        ),
    };
    // The next link follows the cursor, so walking links stays stable while orders arrive.
    let next = page
        .next_cursor
        .as_ref()
        .map(|c| format!("/get_orders?cursor={c}&page_size={}", req.page_size));
    Ok(HttpResponse::Ok().json(PageBody {
        data: &page.data,
        next_cursor: page.next_cursor.as_deref(),
        total: page.total,
        links: Links { this, next },
    }))
}

/// `200` body of `GET /get_orders`: db_proxy's orders as it wrote them, plus links.
#[derive(Serialize)]
struct PageBody<'a> {
    data: &'a RawValue,
    next_cursor: Option<&'a str>,
    total: i64,
    #[serde(rename = "_links")]
    links: Links,
}

#[derive(Serialize)]
struct Links {
    #[serde(rename = "self")]
    this: String,
    next: Option<String>,
}
