//! Devices, parameters, readings and latest values.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use common::Problem;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    DEVICES, PARAMETERS, READINGS_ASC, READINGS_DESC, ReadingOut, check_range, enc, parse_limit, parse_time,
    unknown_device,
};
use crate::domain::format_utc;
use crate::state::State;
use crate::storage::{self, ReadingsQuery};

/// Query of the listing routes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// 1-1000, default 100.
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Devices with readings, by name, with their parameter and reading counts.
#[utoipa::path(get, tag = "devices", path = "/api/v1/devices", params(PageQuery),
    responses((status = 200, description = "{data: [{device, parameters, readings, first, last}], next_cursor}"),
              (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn get_devices(state: web::Data<State>, q: web::Query<PageQuery>) -> Result<HttpResponse, Problem> {
    let limit = parse_limit(q.limit.as_deref(), 100, 1000)?;
    let after: Option<String> = q.cursor.as_deref().map(|c| DEVICES.key(c)).transpose()?;
    let mut rows = storage::devices(&state.pool, after.as_deref(), i64::from(limit) + 1)
        .await
        .map_err(common::db::problem)?;
    let next = DEVICES.next_page(&mut rows, limit, |d| d.device.clone());
    let data: Vec<_> = rows
        .iter()
        .map(|d| {
            json!({
                "device": d.device,
                "parameters": d.parameters,
                "readings": d.readings,
                "first": d.first_at.map(format_utc),
                "last": d.last_at.map(format_utc),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "data": data,
        "next_cursor": next,
        "_links": { "next": next.as_ref().map(|c| format!("/api/v1/devices?limit={limit}&cursor={c}")) },
    })))
}

/// The parameters of a device: type, reading count, first and last time.
#[utoipa::path(get, tag = "devices", path = "/api/v1/devices/{device}/parameters", params(("device" = String, Path), PageQuery),
    responses((status = 200, description = "{device, data: [{parameter, type, readings, first, last}], next_cursor}"),
              (status = 404, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn get_parameters(
    state: web::Data<State>,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let device = path.into_inner();
    let limit = parse_limit(q.limit.as_deref(), 100, 1000)?;
    let after: Option<String> = q.cursor.as_deref().map(|c| PARAMETERS.key(c)).transpose()?;
    let mut rows = storage::series_of(&state.pool, &device, after.as_deref(), i64::from(limit) + 1)
        .await
        .map_err(common::db::problem)?;
    if rows.is_empty()
        && !storage::device_exists(&state.pool, &device)
            .await
            .map_err(common::db::problem)?
    {
        return Err(unknown_device(&device));
    }
    let next = PARAMETERS.next_page(&mut rows, limit, |s| s.parameter.clone());
    let data: Vec<_> = rows
        .iter()
        .map(|s| {
            json!({
                "parameter": s.parameter,
                "type": s.kind,
                "readings": s.readings,
                "first": s.first_at.map(format_utc),
                "last": s.last_at.map(format_utc),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "device": device,
        "data": data,
        "next_cursor": next,
        "_links": { "next": next.as_ref().map(|c| format!(
            "/api/v1/devices/{}/parameters?limit={limit}&cursor={c}", enc(&device))) },
    })))
}

/// A page of readings.
#[derive(Debug, Serialize)]
struct ReadingsPage {
    data: Vec<ReadingOut>,
    next_cursor: Option<String>,
    #[serde(rename = "_links")]
    links: Links,
}

/// Where the next page is.
#[derive(Debug, Serialize)]
struct Links {
    next: Option<String>,
}

/// The latest readings of a device.
#[derive(Debug, Serialize)]
struct Latest {
    device: String,
    data: Vec<ReadingOut>,
}

/// Query of `GET /api/v1/readings`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ReadingsParams {
    /// Required.
    device: Option<String>,
    /// One parameter; all of the device's when absent.
    parameter: Option<String>,
    /// Inclusive, RFC 3339 or a date (UTC midnight).
    from: Option<String>,
    /// Exclusive, RFC 3339 or a date.
    to: Option<String>,
    /// 1-1000, default 100.
    limit: Option<String>,
    /// `next_cursor` of the previous page (same query).
    cursor: Option<String>,
    /// `desc` (newest first, default) or `asc`.
    order: Option<String>,
}

/// Readings of a device (one parameter or all), in a time range, newest first
/// unless `order=asc`; keyset-paged.
#[utoipa::path(get, tag = "readings", path = "/api/v1/readings", params(ReadingsParams),
    responses((status = 200, description = "{data: [Reading], next_cursor, _links}"),
              (status = 404, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn get_readings(
    state: web::Data<State>,
    q: web::Query<ReadingsParams>,
) -> Result<HttpResponse, Problem> {
    let device = q
        .device
        .as_deref()
        .ok_or_else(|| Problem::invalid_field("device", "is required"))?;
    let from = parse_time("from", q.from.as_deref())?;
    let to = parse_time("to", q.to.as_deref())?;
    check_range(from, to)?;
    let limit = parse_limit(q.limit.as_deref(), 100, 1000)?;
    let ascending = match q.order.as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => return Err(Problem::invalid_field("order", "must be asc or desc")),
    };
    // Each order is its own list: a cursor of one direction is refused by the other.
    let list = if ascending { READINGS_ASC } else { READINGS_DESC };
    let after = q.cursor.as_deref().map(|c| list.key(c)).transpose()?;
    let all = storage::series_of(&state.pool, device, None, i64::MAX)
        .await
        .map_err(common::db::problem)?;
    if all.is_empty() {
        return Err(unknown_device(device));
    }
    let chosen: Vec<_> = match q.parameter.as_deref() {
        None => all,
        Some(p) => {
            let one: Vec<_> = all.into_iter().filter(|s| s.parameter == p).collect();
            if one.is_empty() {
                return Err(crate::problems::Code::UnknownParameter
                    .problem(format!("parameter: device {device:?} has no parameter {p:?}"))
                    .with(
                        "errors",
                        json!([{ "field": "parameter", "message": "unknown parameter" }]),
                    ));
            }
            one
        }
    };
    let by_id: HashMap<i32, &storage::Series> = chosen.iter().map(|s| (s.id, s)).collect();
    let mut rows = storage::readings(
        &state.pool,
        &ReadingsQuery {
            series: chosen.iter().map(|s| s.id).collect(),
            from,
            to,
            ascending,
            after,
            limit: i64::from(limit) + 1,
        },
    )
    .await
    .map_err(common::db::problem)?;
    let next = list.next_page(&mut rows, limit, |r| (r.at, r.series_id));
    let data: Vec<ReadingOut> = rows
        .iter()
        .filter_map(|r| {
            by_id
                .get(&r.series_id)
                .map(|s| ReadingOut::new(&s.device, &s.parameter, s.kind, r))
        })
        .collect();
    let next_link = next.as_ref().map(|c| {
        let mut link = format!("/api/v1/readings?device={}", enc(device));
        for (k, v) in [
            ("parameter", &q.parameter),
            ("from", &q.from),
            ("to", &q.to),
            ("order", &q.order),
        ] {
            if let Some(v) = v {
                link.push_str(&format!("&{k}={}", enc(v)));
            }
        }
        format!("{link}&limit={limit}&cursor={c}")
    });
    // Typed, not `json!`: a `serde_json::Value` would turn the exact numbers into floats.
    Ok(HttpResponse::Ok().json(ReadingsPage {
        data,
        next_cursor: next,
        links: Links { next: next_link },
    }))
}

/// The latest reading of every parameter of a device.
#[utoipa::path(get, tag = "readings", path = "/api/v1/devices/{device}/latest", params(("device" = String, Path)),
    responses((status = 200, description = "{device, data: [Reading]} one per parameter"),
              (status = 404, body = Problem), (status = 429, body = Problem)))]
pub async fn get_latest(state: web::Data<State>, path: web::Path<String>) -> Result<HttpResponse, Problem> {
    let device = path.into_inner();
    let rows = storage::latest(&state.pool, &device)
        .await
        .map_err(common::db::problem)?;
    if rows.is_empty() {
        return Err(unknown_device(&device));
    }
    let data: Vec<ReadingOut> = rows
        .iter()
        .map(|(s, r)| ReadingOut::new(&s.device, &s.parameter, s.kind, r))
        .collect();
    Ok(HttpResponse::Ok().json(Latest { device, data }))
}
