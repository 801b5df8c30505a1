//! api_cache_proxy routes.

mod record;

use actix_web::web;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

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
    modifiers(&ServiceToken)
)]
pub struct ApiDoc;

/// Declares the `service_token` bearer scheme internal routes refer to.
struct ServiceToken;

impl Modify for ServiceToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "service_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Mounts every route of the service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(["/record", "/record/"]).get(record::get_record))
        .service(web::resource(["/add", "/add/"]).post(record::add_record));
}
