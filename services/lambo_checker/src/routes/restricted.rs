//! `GET /api/v1/restricted`: the newer original's Firebase-protected route. A bearer
//! JWT or a configured API key (`common::auth::Authenticator::caller`); anything else
//! is 401, and with neither keys nor a key set configured the route refuses everyone
//! (the Flask original answered "Successful Auth" to anyone when its auth provider
//! was absent).

use actix_web::{HttpRequest, HttpResponse, web};
use common::Problem;
use common::auth::AuthProblem;

use crate::state::State;
use serde_json::json;

/// The original's auth check; says who the caller is and how they were authenticated.
#[utoipa::path(get, tag = "restricted", path = "/api/v1/restricted",
    responses((status = 200, description = "{\"message\": \"Successful Auth\", \"caller\": {subject, method, algorithm, issuer, ...}}"),
              (status = 401, body = Problem, description = "no credentials, or a token that does not verify (with WWW-Authenticate)"),
              (status = 429, body = Problem)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn restricted(req: HttpRequest, state: web::Data<State>) -> Result<HttpResponse, AuthProblem> {
    let auth = &state.auth;
    let caller = auth.caller(&req).await?;
    Ok(HttpResponse::Ok().json(json!({ "message": "Successful Auth", "caller": caller })))
}
