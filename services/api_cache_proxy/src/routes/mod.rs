//! api_cache_proxy routes.

mod record;

use actix_web::web;
use utoipa::OpenApi;

/// The OpenAPI document of api_cache_proxy.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "api_cache_proxy",
        description = "The latest BTC price record, kept in Redis with a TTL."
    ),
    tags((name = "price record", description = "The latest BTC price record (internal: create_buy_order reads it, api_updater writes it)")),
    paths(record::get_record, record::add_record),
    components(schemas(
        common::models::PriceRecord,
        common::models::Rates,
        common::Problem,
        record::Added
    )),
)]
pub struct ApiDoc;

/// Mounts every route of the service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(["/record", "/record/"]).get(record::get_record))
        .service(web::resource(["/add", "/add/"]).post(record::add_record));
}
