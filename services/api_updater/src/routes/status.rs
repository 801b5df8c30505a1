//! `GET /status` and `POST /refresh`.

use actix_web::{HttpResponse, web};
use common::Problem;
use common::auth::ServiceAuth;

use crate::updater::{TickOutcome, Updater, UpdaterStatus};

/// The updater's progress: configured chain, last success and record, consecutive
/// failures, and each source's last error.
#[utoipa::path(get, tag = "updater", path = "/status",
    responses((status = 200, description = "the updater's progress", body = UpdaterStatus)))]
pub async fn get_status(updater: web::Data<Updater>) -> HttpResponse {
    HttpResponse::Ok().json(updater.status())
}

/// Runs one tick now and returns its outcome (200 also when it failed: the body says so).
#[utoipa::path(post, tag = "updater", path = "/refresh",
    responses(
        (status = 200, description = "the tick's outcome: `stored`, `superseded` or `failed`", body = TickOutcome),
        (status = 401, description = "no or wrong service token", body = Problem)
    ),
    security(("service_token" = [])))]
#[tracing::instrument(skip_all)]
pub async fn post_refresh(_: ServiceAuth, updater: web::Data<Updater>) -> HttpResponse {
    HttpResponse::Ok().json(updater.tick().await)
}
