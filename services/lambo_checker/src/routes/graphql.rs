//! `POST /graphql` executes a query against [`crate::graphql`]'s schema; `GET /graphql`
//! is the offline query page.

use actix_web::{HttpResponse, web};

use crate::graphql::LamboSchema;

/// Executes a GraphQL request (`{"query", "operationName", "variables"}`).
#[utoipa::path(post, tag = "graphql", path = "/graphql",
    request_body(content = Object, description = "{query, operationName, variables}", content_type = "application/json"),
    responses((status = 200, description = "{data, errors}: GraphQL response (errors carry extensions.code)"),
              (status = 400, body = common::Problem), (status = 429, body = common::Problem)))]
pub async fn execute(
    schema: web::Data<LamboSchema>,
    body: web::Bytes,
) -> Result<HttpResponse, common::Problem> {
    let req: async_graphql::Request = serde_json::from_slice(&body).map_err(|e| {
        crate::problems::Code::InvalidGraphqlRequest.problem(format!(
            "the body is not a GraphQL request ({{\"query\": …}}): {e}"
        ))
    })?;
    let res = schema.execute(req).await;
    Ok(HttpResponse::Ok().json(res))
}

const PAGE: &str = include_str!("../graphql.html");

/// The offline query page.
#[utoipa::path(get, tag = "graphql", path = "/graphql", responses((status = 200, description = "HTML query page")))]
pub async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(PAGE)
}
