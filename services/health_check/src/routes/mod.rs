//! health_check routes.

mod reports;
mod services;

use actix_web::web;
use utoipa::OpenApi;

/// The OpenAPI document of health_check.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "health_check",
        description = "Heartbeats and reports from every Delos service."
    ),
    paths(
        reports::post_report,
        reports::post_batch,
        reports::get_reports,
        services::get_services,
        services::get_transitions,
    ),
    components(schemas(
        common::models::Report,
        common::Problem,
        crate::storage::StoredReport,
        crate::storage::ServiceRow,
        crate::storage::Transition
    ))
)]
pub struct ApiDoc;

/// Mounts every route of the service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/report", web::post().to(reports::post_report))
        .route("/report/", web::post().to(reports::post_report))
        .route("/report/batch", web::post().to(reports::post_batch))
        .route("/reports", web::get().to(reports::get_reports))
        .route("/services", web::get().to(services::get_services))
        .route("/transitions", web::get().to(services::get_transitions))
        .route("/", web::get().to(services::status_page));
}
