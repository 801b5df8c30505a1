//! The original service's routes: `process_request` (now paged, values typed),
//! `restricted` (API key with the `restricted` right) and `/status`.

use actix_web::{HttpRequest, HttpResponse, web};
use common::Problem;
use common::auth::AuthProblem;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{RECORDS, parse_limit};
use crate::config::Right;
use crate::domain::{self, Kind, OutValue};
use crate::state::State;
use crate::storage;

/// Query of `GET /api/v1/core/process_request`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ProcessParams {
    /// 1-10000, default 1000.
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// `array` (default) or `string`: the records as a JSON-encoded string, as
    /// the original sent them.
    graph_data: Option<String>,
}

/// One record in the original's fields (`device_id`, `parameter`, `timestamp`,
/// `value`, `type`), plus the UTC form and offset.
#[derive(Debug, Serialize)]
struct Record {
    device_id: String,
    parameter: String,
    timestamp: String,
    timestamp_utc: String,
    utc_offset: String,
    value: OutValue,
    #[serde(rename = "type")]
    kind: Kind,
}

/// `graph_data` as an array, or as the string old clients parse themselves.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum GraphData {
    Array(Vec<Record>),
    Text(String),
}

#[derive(Debug, Serialize)]
struct ProcessAnswer {
    message: &'static str,
    graph_data: GraphData,
    next_cursor: Option<String>,
    #[serde(rename = "_links")]
    links: serde_json::Value,
}

/// Every stored reading, page by page, in the original's record fields.
#[utoipa::path(get, tag = "original routes", path = "/api/v1/core/process_request", params(ProcessParams),
    responses((status = 200, description = "{message: \"Data available\", graph_data: [record] (or a JSON string with graph_data=string), next_cursor}"),
              (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn process_request(
    state: web::Data<State>,
    q: web::Query<ProcessParams>,
) -> Result<HttpResponse, Problem> {
    let limit = parse_limit(q.limit.as_deref(), 1000, 10_000)?;
    let as_string = match q.graph_data.as_deref() {
        None | Some("array") => false,
        Some("string") => true,
        Some(_) => return Err(Problem::invalid_field("graph_data", "must be array or string")),
    };
    let after = q.cursor.as_deref().map(|c| RECORDS.key(c)).transpose()?;
    let mut rows = storage::records(&state.pool, after, i64::from(limit) + 1)
        .await
        .map_err(common::db::problem)?;
    let next = RECORDS.next_page(&mut rows, limit, |r| (r.reading.series_id, r.reading.at));
    let records: Vec<Record> = rows
        .into_iter()
        .map(|r| Record {
            timestamp: domain::format_local(r.reading.at, r.reading.offset),
            timestamp_utc: domain::format_utc(r.reading.at),
            utc_offset: domain::format_offset(r.reading.offset),
            device_id: r.device,
            parameter: r.parameter,
            value: r.reading.value,
            kind: r.kind,
        })
        .collect();
    let graph_data = if as_string {
        GraphData::Text(serde_json::to_string(&records).map_err(|_| Problem::internal())?)
    } else {
        GraphData::Array(records)
    };
    let next_link = next.as_ref().map(|c| {
        let mut l = format!("/api/v1/core/process_request?limit={limit}&cursor={c}");
        if as_string {
            l.push_str("&graph_data=string");
        }
        l
    });
    Ok(HttpResponse::Ok().json(ProcessAnswer {
        message: "Data available",
        graph_data,
        next_cursor: next,
        links: json!({ "next": next_link }),
    }))
}

/// The original's auth check: a bearer JWT (as the original's Firebase ID tokens;
/// verified by `common::auth`) or an API key with the `restricted` right. The answer
/// says who the caller is and how they were authenticated.
#[utoipa::path(get, tag = "original routes", path = "/api/v1/core/restricted",
    responses((status = 200, description = "{\"message\": \"Successful Auth\", \"caller\": {subject, method, ...}}"),
              (status = 401, body = Problem, description = "no credentials, or a token that does not verify (with WWW-Authenticate)"),
              (status = 403, body = Problem), (status = 429, body = Problem)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn restricted(req: HttpRequest, state: web::Data<State>) -> Result<HttpResponse, AuthProblem> {
    let caller = state.auth.caller_with(&req, Right::Restricted.as_str()).await?;
    Ok(HttpResponse::Ok().json(json!({ "message": "Successful Auth", "caller": caller })))
}

/// Service status and what is stored.
#[utoipa::path(get, tag = "status", path = "/status",
    responses((status = 200, description = "{status, service, devices, parameters, readings, mqtt}; mqtt (null when no broker is configured): {broker, connected, last_error, received, stored, duplicates, rejected}, messages since start"),
              (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn status(state: web::Data<State>) -> Result<HttpResponse, Problem> {
    let (devices, parameters, readings) = storage::totals(&state.pool).await.map_err(common::db::problem)?;
    Ok(HttpResponse::Ok().json(json!({
        "status": "ok",
        "service": "sensor_api",
        "devices": devices,
        "parameters": parameters,
        "readings": readings,
        "mqtt": state.mqtt.as_ref().map(|m| m.snapshot()),
    })))
}
