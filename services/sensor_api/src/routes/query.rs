//! Devices, parameters, readings and latest values.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use common::Problem;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    DEVICES, PARAMETERS, READINGS_ASC, READINGS_DESC, ReadingOut, check_range, enc, parse_limit, parse_time,
    unknown_device,
};
use crate::domain::{Kind, OutValue, format_utc};
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
    /// The answer's form: `json` (default, the records below), `columnar` (one
    /// timestamps array, one values array), `csv` or `ndjson` (the long CSV and
    /// NDJSON ingest formats, the next page in a `Link` header). Without it,
    /// `Accept: text/csv`, `application/x-ndjson` or
    /// `application/vnd.delos.columnar+json` choose. The bulk forms take
    /// `limit` up to 10000. Any form is gzipped for `Accept-Encoding: gzip`.
    format: Option<String>,
}

/// The forms of a readings answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutFormat {
    Json,
    Columnar,
    Csv,
    Ndjson,
}

/// Every form depends on `Accept`, so caches must key on it.
const VARY_ACCEPT: (header::HeaderName, &str) = (header::VARY, "Accept");

/// The vendor type of the columnar form.
const COLUMNAR_TYPE: &str = "application/vnd.delos.columnar+json";

impl OutFormat {
    /// The `format=` value of a bulk form.
    fn name(self) -> Option<&'static str> {
        match self {
            OutFormat::Json => None,
            OutFormat::Columnar => Some("columnar"),
            OutFormat::Csv => Some("csv"),
            OutFormat::Ndjson => Some("ndjson"),
        }
    }

    /// `format=` wins; else the first bulk type the `Accept` header names.
    fn choose(param: Option<&str>, req: &HttpRequest) -> Result<Self, Problem> {
        if let Some(f) = param {
            return match f.to_ascii_lowercase().as_str() {
                "json" => Ok(OutFormat::Json),
                "columnar" => Ok(OutFormat::Columnar),
                "csv" => Ok(OutFormat::Csv),
                "ndjson" | "jsonl" => Ok(OutFormat::Ndjson),
                _ => Err(Problem::invalid_field(
                    "format",
                    "must be json, columnar, csv or ndjson",
                )),
            };
        }
        let accept = req
            .headers()
            .get_all(header::ACCEPT)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|range| range.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        for range in accept {
            match range.as_str() {
                "text/csv" => return Ok(OutFormat::Csv),
                "application/x-ndjson" | "application/ndjson" | "application/jsonl" => {
                    return Ok(OutFormat::Ndjson);
                }
                COLUMNAR_TYPE => return Ok(OutFormat::Columnar),
                "application/json" => return Ok(OutFormat::Json),
                _ => {}
            }
        }
        Ok(OutFormat::Json)
    }
}

/// Readings of a device (one parameter or all), in a time range, newest first
/// unless `order=asc`; keyset-paged.
#[utoipa::path(get, tag = "readings", path = "/api/v1/readings", params(ReadingsParams,
        ("Accept" = Option<String>, Header, description = "text/csv, application/x-ndjson or \
          application/vnd.delos.columnar+json choose that form when `format` is absent"),
        ("Accept-Encoding" = Option<String>, Header, description = "gzip: the answer is gzipped")),
    responses((status = 200, description = "format=json (default): {data: [Reading], next_cursor, _links}; \
        format=columnar: {device, order, parameters: [{parameter, type}], parameter_index (several parameters), \
        timestamp_unit: \"us\", timestamps: [µs since the epoch, UTC], utc_offset or utc_offsets, values, next_cursor, _links}; \
        format=csv: device,parameter,timestamp,value,type; format=ndjson: one {device, parameter, timestamp, value, type} \
        per line (csv and ndjson: next page in `Link: <…>; rel=\"next\"` and `X-Next-Cursor`)",
        content((Object = "application/json"), (Object = "application/vnd.delos.columnar+json"),
            (String = "text/csv"), (String = "application/x-ndjson"))),
              (status = 404, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn get_readings(
    req: HttpRequest,
    state: web::Data<State>,
    q: web::Query<ReadingsParams>,
) -> Result<HttpResponse, Problem> {
    let out = OutFormat::choose(q.format.as_deref(), &req)?;
    let device = q
        .device
        .as_deref()
        .ok_or_else(|| Problem::invalid_field("device", "is required"))?;
    let from = parse_time("from", q.from.as_deref())?;
    let to = parse_time("to", q.to.as_deref())?;
    check_range(from, to)?;
    // Bulk readers get bigger pages: the compact forms cost a fifth of the records.
    let max = if out == OutFormat::Json { 1000 } else { 10_000 };
    let limit = parse_limit(q.limit.as_deref(), 100, max)?;
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
            series: chosen.iter().map(|s| (s.id, s.kind)).collect(),
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
        // The form in the link, however it was chosen: the next page is the same form
        // even for a client that does not send the same `Accept` again.
        if let Some(name) = out.name() {
            link.push_str(&format!("&format={name}"));
        }
        format!("{link}&limit={limit}&cursor={c}")
    });
    let page = Page {
        device,
        by_id: &by_id,
        rows: &rows,
        next_cursor: next,
        next_link,
    };
    match out {
        OutFormat::Json => Ok(page.json()),
        OutFormat::Columnar => Ok(page.columnar(ascending)),
        OutFormat::Csv => page.csv(),
        OutFormat::Ndjson => page.ndjson(),
    }
}

/// Writing into memory fails only on a bug; the cause goes to the log.
fn write_failed(what: &str, e: &dyn std::fmt::Display) -> Problem {
    tracing::error!(error = %e, "writing a {what} page failed");
    Problem::internal()
}

/// One page of readings, ready to be written in any form.
struct Page<'a> {
    device: &'a str,
    by_id: &'a HashMap<i32, &'a storage::Series>,
    rows: &'a [storage::Stored],
    next_cursor: Option<String>,
    next_link: Option<String>,
}

/// The columnar form: each column once, instants as integers.
#[derive(Debug, Serialize)]
struct ColumnarPage<'a> {
    device: &'a str,
    /// `asc` or `desc`.
    order: &'static str,
    /// The page's parameters, in order of first appearance.
    parameters: Vec<ColumnParam<'a>>,
    /// Per reading, its index in `parameters`; only when there are several.
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter_index: Option<Vec<usize>>,
    /// `us`: `timestamps` are microseconds since the Unix epoch (UTC), exact
    /// integers (below 2^53 until the year 2255).
    timestamp_unit: &'static str,
    timestamps: Vec<i64>,
    /// The offset every reading of the page was written with, when they share one.
    #[serde(skip_serializing_if = "Option::is_none")]
    utc_offset: Option<String>,
    /// Per reading, its offset, when they differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    utc_offsets: Option<Vec<String>>,
    /// Numbers with exactly the digits ingested, or strings.
    values: Vec<&'a OutValue>,
    next_cursor: Option<String>,
    #[serde(rename = "_links")]
    links: Links,
}

#[derive(Debug, Serialize)]
struct ColumnParam<'a> {
    parameter: &'a str,
    #[serde(rename = "type")]
    kind: Kind,
}

/// One NDJSON line: the shape `POST /api/v1/readings` takes.
#[derive(Serialize)]
struct NdjsonLine<'a> {
    device: &'a str,
    parameter: &'a str,
    timestamp: String,
    value: &'a OutValue,
    #[serde(rename = "type")]
    kind: Kind,
}

impl<'a> Page<'a> {
    fn series(&self, r: &storage::Stored) -> Option<&'a storage::Series> {
        self.by_id.get(&r.series_id).copied()
    }

    fn json(self) -> HttpResponse {
        let data: Vec<ReadingOut> = self
            .rows
            .iter()
            .filter_map(|r| {
                self.series(r)
                    .map(|s| ReadingOut::new(&s.device, &s.parameter, s.kind, r))
            })
            .collect();
        // Typed, not `json!`: a `serde_json::Value` would turn the exact numbers into floats.
        HttpResponse::Ok().append_header(VARY_ACCEPT).json(ReadingsPage {
            data,
            next_cursor: self.next_cursor,
            links: Links { next: self.next_link },
        })
    }

    fn columnar(self, ascending: bool) -> HttpResponse {
        let mut parameters: Vec<ColumnParam<'_>> = Vec::new();
        let mut index_of: HashMap<i32, usize> = HashMap::new();
        let mut index = Vec::with_capacity(self.rows.len());
        let rows: Vec<(&storage::Stored, &storage::Series)> = self
            .rows
            .iter()
            .filter_map(|r| self.by_id.get(&r.series_id).map(|s| (r, *s)))
            .collect();
        for (r, s) in &rows {
            let i = *index_of.entry(r.series_id).or_insert_with(|| {
                parameters.push(ColumnParam {
                    parameter: &s.parameter,
                    kind: s.kind,
                });
                parameters.len() - 1
            });
            index.push(i);
        }
        let first_offset = rows.first().map(|(r, _)| r.offset);
        let uniform = rows.iter().all(|(r, _)| Some(r.offset) == first_offset);
        let body = ColumnarPage {
            device: self.device,
            order: if ascending { "asc" } else { "desc" },
            parameter_index: (parameters.len() > 1).then_some(index),
            parameters,
            timestamp_unit: "us",
            timestamps: rows.iter().map(|(r, _)| r.at.timestamp_micros()).collect(),
            utc_offset: first_offset.filter(|_| uniform).map(crate::domain::format_offset),
            utc_offsets: (!uniform).then(|| {
                rows.iter()
                    .map(|(r, _)| crate::domain::format_offset(r.offset))
                    .collect()
            }),
            values: rows.iter().map(|(r, _)| &r.value).collect(),
            next_cursor: self.next_cursor,
            links: Links { next: self.next_link },
        };
        HttpResponse::Ok()
            .content_type(COLUMNAR_TYPE)
            .append_header(VARY_ACCEPT)
            .json(body)
    }

    /// `Link: <…>; rel="next"`: where the bulk forms, which have no envelope, say
    /// where the next page is (and `X-Next-Cursor`, the bare cursor).
    fn bulk(&self, content_type: &str, body: Vec<u8>) -> HttpResponse {
        let mut res = HttpResponse::Ok();
        res.content_type(content_type).append_header(VARY_ACCEPT);
        if let (Some(link), Some(cursor)) = (&self.next_link, &self.next_cursor) {
            res.insert_header((header::LINK, format!("<{link}>; rel=\"next\"")));
            res.insert_header(("x-next-cursor", cursor.as_str()));
        }
        res.body(body)
    }

    /// The long CSV ingest format (`device,parameter,timestamp,value,type`), so a
    /// page can be uploaded again as it is.
    fn csv(self) -> Result<HttpResponse, Problem> {
        let mut w = csv::Writer::from_writer(Vec::with_capacity(self.rows.len() * 64 + 64));
        let fail = |e: csv::Error| write_failed("CSV", &e);
        w.write_record(["device", "parameter", "timestamp", "value", "type"])
            .map_err(fail)?;
        for r in self.rows {
            let Some(s) = self.series(r) else { continue };
            let value: &str = match &r.value {
                OutValue::Number(raw) => raw.get(),
                OutValue::Text(t) => t,
            };
            w.write_record([
                s.device.as_str(),
                s.parameter.as_str(),
                &crate::domain::format_local(r.at, r.offset),
                value,
                s.kind.as_str(),
            ])
            .map_err(fail)?;
        }
        let body = w.into_inner().map_err(|e| write_failed("CSV", &e))?;
        Ok(self.bulk("text/csv; charset=utf-8", body))
    }

    /// One reading per line, in the NDJSON ingest shape.
    fn ndjson(self) -> Result<HttpResponse, Problem> {
        let mut body = Vec::with_capacity(self.rows.len() * 128);
        for r in self.rows {
            let Some(s) = self.series(r) else { continue };
            let line = NdjsonLine {
                device: &s.device,
                parameter: &s.parameter,
                timestamp: crate::domain::format_local(r.at, r.offset),
                value: &r.value,
                kind: s.kind,
            };
            serde_json::to_writer(&mut body, &line).map_err(|e| write_failed("NDJSON", &e))?;
            body.push(b'\n');
        }
        Ok(self.bulk("application/x-ndjson", body))
    }
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
