//! api_updater routes.

mod status;

use actix_web::web;
use utoipa::OpenApi;

/// The OpenAPI document of api_updater.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "api_updater",
        description = "Fetches BTC prices from a provider chain and keeps them fresh in api_cache_proxy."
    ),
    tags((name = "updater", description = "The price updater's progress, and a refresh on demand")),
    paths(status::get_status, status::post_refresh),
    components(schemas(
        crate::updater::UpdaterStatus,
        crate::updater::TickOutcome,
        crate::updater::Failure,
        crate::updater::Extension,
        crate::updater::LastError,
        crate::updater::ChainEntry,
        common::models::PriceRecord,
        common::models::Rates,
        common::Problem
    )),
)]
pub struct ApiDoc;

/// Mounts every route of the service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(["/status", "/status/"]).get(status::get_status))
        .service(web::resource(["/refresh", "/refresh/"]).post(status::post_refresh));
}
