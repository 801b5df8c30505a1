//! `POST /api/v1/analyze_async` and `GET /api/v1/task_status/{id}`: the HTTP side of
//! the job queue ([`crate::jobs`]).

use actix_web::{HttpRequest, HttpResponse, web};
use common::Problem;
use common::rate_limit::ClientId;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::checker::RawQuestion;
use crate::state::State;

/// The body of `POST /api/v1/analyze_async`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Submit {
    /// Coin symbol, as for `/process_request`.
    pub symbol: Option<String>,
    /// USD invested: a number or a decimal string.
    #[schema(value_type = Object)]
    pub investment: Option<Value>,
    /// Who asked (kept with the job; free text).
    pub user_id: Option<String>,
    /// Optional method, as for `/process_request`.
    pub interval: Option<String>,
    pub since: Option<String>,
}

/// Queues an analysis: 202 with the task id, `Location` and the status URL. The
/// question is checked first, so a bad one is refused now (422 naming the parameter).
#[utoipa::path(post, tag = "jobs", path = "/api/v1/analyze_async", request_body = Submit,
    responses((status = 202, description = "{task_id, status: \"pending\", status_url}"),
              (status = 404, body = Problem, description = "unknown symbol"),
              (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn analyze_async(
    state: web::Data<State>,
    client: ClientId,
    body: web::Json<Submit>,
) -> Result<HttpResponse, Problem> {
    let checker = &state.checker;
    let jobs = &state.jobs;
    let investment = match &body.investment {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            return Err(Problem::invalid_field(
                "investment",
                "must be a number or a decimal string",
            ));
        }
    };
    if body.user_id.as_ref().is_some_and(|u| u.len() > 200) {
        return Err(Problem::invalid_field(
            "user_id",
            "must be at most 200 characters",
        ));
    }
    let raw = RawQuestion {
        symbol: body.symbol.clone(),
        investment,
        interval: body.interval.clone(),
        since: body.since.clone(),
        max_points: None,
    };
    checker.parse(&raw)?;
    let id = jobs
        .submit(&client.0, body.user_id.as_deref(), &raw)
        .await
        .map_err(common::db::problem)?;
    let url = format!("/api/v1/task_status/{id}");
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", url.clone()))
        .json(json!({ "task_id": id, "id": id, "status": "pending", "status_url": url })))
}

/// A job: pending, running, done (with `result`, the `/process_request` answer) or
/// failed (with `error`, a problem document). Unknown id 404.
#[utoipa::path(get, tag = "jobs", path = "/api/v1/task_status/{id}",
    params(("id" = String, Path, description = "task_id from analyze_async")),
    responses((status = 200, description = "{task_id, status, result, error, attempts, ...}"),
              (status = 404, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn task_status(state: web::Data<State>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    let jobs = &state.jobs;
    let raw = req.match_info().get("id").unwrap_or_default();
    let id = Uuid::parse_str(raw).map_err(|_| Problem::invalid_field("id", "must be a task_id (a UUID)"))?;
    match jobs.status(id).await.map_err(common::db::problem)? {
        Some(doc) => Ok(HttpResponse::Ok().json(doc)),
        None => Err(crate::problems::Code::UnknownTask.problem(format!(
            "no task {id} (unknown, or deleted after the retention period)"
        ))),
    }
}
