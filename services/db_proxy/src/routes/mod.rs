//! db_proxy routes.

mod orders;

use actix_web::web;
use utoipa::OpenApi;

/// The OpenAPI document of db_proxy.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "db_proxy",
        description = "The only service that touches orders: stores them under the 100 BTC cap \
                       (group commit), idempotently, and pages through them."
    ),
    tags((name = "orders", description = "Stored orders under the 100 BTC cap (internal)")),
    paths(
        orders::add_order,
        orders::get_page,
        orders::get_order,
        orders::get_orders_after,
        orders::get_keyed_order,
        orders::get_capacity
    ),
    components(schemas(
        common::models::NewOrder,
        common::models::IdempotencyInfo,
        common::models::Order,
        common::models::AddedOrder,
        common::models::KeyedOrder,
        common::models::OrderPage,
        common::models::OrdersAfter,
        common::models::Capacity,
        common::money::Currency,
        common::Problem
    ))
)]
pub struct ApiDoc;

/// Mounts every route of the service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(["/add", "/add/"]).post(orders::add_order))
        .service(web::resource(["/get", "/get/"]).get(orders::get_page))
        .service(web::resource("/orders/after").get(orders::get_orders_after))
        .service(web::resource("/orders/{id}").get(orders::get_order))
        .service(web::resource("/keys").get(orders::get_keyed_order))
        .service(web::resource("/capacity").get(orders::get_capacity));
}
