use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use common::Problem;
use common::auth::ServiceAuth;
use common::models::Report;
use serde::Deserialize;
use serde_json::json;

use crate::state::State;
use crate::storage::{self, MAX_BATCH, ReportFilter};

fn validate(r: &Report, at: Option<usize>) -> Result<(), Problem> {
    let field = |name: &str| match at {
        Some(i) => format!("[{i}].{name}"),
        None => name.to_string(),
    };
    let service_ok = !r.service.is_empty()
        && r.service.len() <= 64
        && r.service
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if !service_ok {
        return Err(Problem::invalid_field(
            &field("service"),
            "1-64 letters, digits, '_', '-' or '.'",
        ));
    }
    if r.level.is_empty() || r.level.len() > 32 {
        return Err(Problem::invalid_field(&field("level"), "must be 1-32 characters"));
    }
    if r.status.is_empty() || r.status.len() > 64 {
        return Err(Problem::invalid_field(
            &field("status"),
            "must be 1-64 characters",
        ));
    }
    Ok(())
}

/// Store one report (the original body).
#[utoipa::path(post, tag = "reports", path = "/report", request_body = Report,
    responses((status = 201, description = "stored"), (status = 401, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)),
    security(("service_token" = [])))]
pub async fn post_report(
    _: ServiceAuth,
    state: web::Data<State>,
    body: web::Json<Report>,
) -> Result<HttpResponse, Problem> {
    validate(&body, None)?;
    let id = state
        .intake
        .submit(body.into_inner())
        .await
        .unwrap_or_else(|| Err(Problem::unavailable("postgres")))?;
    Ok(HttpResponse::Created().json(json!({ "id": id })))
}

/// Store up to 1000 reports at once (what the reporters send).
#[utoipa::path(post, tag = "reports", path = "/report/batch", request_body = Vec<Report>,
    responses((status = 201, description = "stored"), (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn post_batch(
    _: ServiceAuth,
    state: web::Data<State>,
    body: web::Json<Vec<Report>>,
) -> Result<HttpResponse, Problem> {
    if body.is_empty() || body.len() > MAX_BATCH {
        return Err(Problem::invalid_field(
            "body",
            format!("a batch holds 1 to {MAX_BATCH} reports"),
        ));
    }
    for (i, r) in body.iter().enumerate() {
        validate(r, Some(i))?;
    }
    let ids = storage::insert_reports(&state.pool, &body)
        .await
        .map_err(common::db::problem)?;
    Ok(HttpResponse::Created()
        .json(json!({ "stored": ids.len(), "first_id": ids.first(), "last_id": ids.last() })))
}

/// Query of `GET /reports`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ReportsQuery {
    service: Option<String>,
    level: Option<String>,
    /// Inclusive lower bound (RFC 3339).
    since: Option<DateTime<Utc>>,
    /// Exclusive upper bound (RFC 3339).
    until: Option<DateTime<Utc>>,
    /// 1-500, default 50.
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Also return how many reports match (counts them; slower on big tables).
    #[serde(default)]
    count: bool,
}

/// The report log, newest first.
const REPORTS: common::paging::Keyset = common::paging::Keyset::new("reports.id_desc", 1);

/// `limit`: 50 unless given, at most 500.
const LIMIT: common::paging::PageSize = common::paging::PageSize::new("limit", 50, 500);

/// Reports, newest first, filtered and keyset-paged.
#[utoipa::path(get, tag = "reports", path = "/reports", params(ReportsQuery), responses((status = 200, description = "a page of reports")))]
pub async fn get_reports(
    state: web::Data<State>,
    q: web::Query<ReportsQuery>,
) -> Result<HttpResponse, Problem> {
    let limit = LIMIT.check(q.limit)?;
    let before = q.cursor.as_deref().map(|c| REPORTS.key(c)).transpose()?;
    let filter = ReportFilter {
        service: q.service.clone(),
        level: q.level.clone(),
        since: q.since,
        until: q.until,
    };
    let mut rows = storage::list_reports(&state.pool, &filter, before, i64::from(limit) + 1)
        .await
        .map_err(common::db::problem)?;
    let next = REPORTS.next_page(&mut rows, limit, |r| r.id);
    let total = if q.count {
        Some(
            storage::count_reports(&state.pool, &filter)
                .await
                .map_err(common::db::problem)?,
        )
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(json!({ "data": rows, "next_cursor": next, "total": total })))
}
