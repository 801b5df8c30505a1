//! `GET /api/v1/restricted`: the newer original's Firebase-protected route. A bearer
//! JWT (verified by `common::jwt`) or a configured API key; anything else is 401, and
//! with neither keys nor a key set configured the route refuses everyone (the Flask
//! original answered "Successful Auth" to anyone when its auth provider was absent).

use std::collections::HashSet;

use actix_web::{HttpRequest, HttpResponse, web};
use common::Problem;
use common::jwt::{AuthProblem, Caller, JwtVerifier};
use serde_json::json;

/// Who may call the restricted routes.
pub struct RestrictedAuth {
    pub jwt: JwtVerifier,
    /// API keys admitted (`api_keys`).
    pub keys: HashSet<String>,
}

impl RestrictedAuth {
    /// The caller of `req`, or the 401 to answer.
    pub async fn caller(&self, req: &HttpRequest) -> Result<Caller, AuthProblem> {
        if let Some(token) = JwtVerifier::bearer(req) {
            return self.jwt.verify(&token).await;
        }
        let key = req
            .headers()
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty());
        match key {
            Some(k) if self.keys.contains(k) => Ok(Caller::api_key(k)),
            Some(_) => Err(AuthProblem::from(Problem::new(
                actix_web::http::StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this API key is not admitted to restricted routes",
            ))),
            None => Err(AuthProblem::missing(
                "credentials are required: Authorization: Bearer <JWT>, or X-API-Key",
            )),
        }
    }
}

/// The original's auth check; says who the caller is and how they were authenticated.
#[utoipa::path(get, tag = "restricted", path = "/api/v1/restricted",
    responses((status = 200, description = "{\"message\": \"Successful Auth\", \"caller\": {subject, method, algorithm, issuer, ...}}"),
              (status = 401, body = Problem, description = "no credentials, or a token that does not verify (with WWW-Authenticate)"),
              (status = 429, body = Problem)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn restricted(
    req: HttpRequest,
    auth: web::Data<RestrictedAuth>,
) -> Result<HttpResponse, AuthProblem> {
    let caller = auth.caller(&req).await?;
    Ok(HttpResponse::Ok().json(json!({ "message": "Successful Auth", "caller": caller })))
}
