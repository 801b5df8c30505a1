//! health_check routes.

mod reports;
mod services;
mod stream;

use actix_web::web;
use utoipa::OpenApi;

/// The OpenAPI document of health_check.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "health_check",
        description = "Heartbeats and reports from every Delos service."
    ),
    tags((name = "reports", description = "Reports and heartbeats sent by the services"), (name = "services", description = "Each service's status, rolled up from its instances, and its transitions")),
    paths(
        reports::post_report,
        reports::post_batch,
        reports::get_reports,
        services::get_services,
        services::get_transitions,
        stream::transitions_stream,
    ),
    components(schemas(
        common::models::Report,
        common::Problem,
        crate::storage::StoredReport,
        crate::storage::ServiceRow,
        crate::storage::InstanceRow,
        crate::storage::Transition,
        crate::domain::Status,
        services::ServicesSummary,
        services::ServiceSummary,
        services::InstanceSummary
    ))
)]
pub struct ApiDoc;

/// Mounts every route of the service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(["/report", "/report/"]).post(reports::post_report))
        .service(web::resource("/report/batch").post(reports::post_batch))
        .service(web::resource("/reports").get(reports::get_reports))
        .service(web::resource("/services").get(services::get_services))
        .service(web::resource("/transitions").get(services::get_transitions))
        .service(web::resource("/transitions/stream").get(stream::transitions_stream))
        .service(web::resource("/").get(services::status_page));
}
