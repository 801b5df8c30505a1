//! sensor_api routes, and what they share: limits, readings on the wire.

mod aggregate;
mod ingest;
mod original;
mod query;
mod stream;

use actix_web::middleware::from_fn;
use actix_web::web;
use chrono::{DateTime, Utc};
use common::Problem;
use common::paging::Keyset;
use serde::Serialize;

use crate::domain::{self, Kind, OutValue};

/// The OpenAPI document of sensor_api.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "sensor_api",
        description = "IoT sensor readings: streamed ingest (JSON, NDJSON, CSV), exact values, \
                       timestamps with their original offsets, keyset-paged queries and UTC-aligned aggregates."
    ),
    paths(
        ingest::post_readings,
        query::get_devices,
        query::get_parameters,
        query::get_readings,
        stream::readings_stream,
        query::get_latest,
        aggregate::get_aggregate,
        original::process_request,
        original::restricted,
        original::status
    ),
    components(schemas(
        ReadingOut,
        crate::ingest::Summary,
        crate::ingest::Rejection,
        crate::domain::Kind,
        Problem
    )),
    tags(
        (name = "ingest", description = "Upload readings: the original JSON, NDJSON or CSV, streamed"),
        (name = "devices", description = "The devices and the parameters each measures"),
        (name = "readings", description = "Readings by device, parameter and time; latest values; aggregates"),
        (name = "original routes", description = "The original service's routes, kept as they were"),
        (name = "status", description = "What is stored")
    ),
    modifiers(&RATE_LIMITED)
)]
pub struct ApiDoc;

/// Which routes of the document the rate limiter guards.
const RATE_LIMITED: common::openapi::RateLimited = common::openapi::RateLimited::ALL;

/// Mounts every route, each behind the rate limiter (the standard routes are not).
pub fn configure(cfg: &mut web::ServiceConfig) {
    let limited = || from_fn(common::rate_limit::rate_limit);
    cfg.service(
        web::resource("/api/v1/readings")
            .wrap(limited())
            // Pages of readings shrink five- to tenfold in gzip; only for clients that ask.
            .wrap(actix_web::middleware::Compress::default())
            .post(ingest::post_readings)
            .get(query::get_readings),
    )
    .service(
        web::resource("/api/v1/readings/stream")
            .wrap(limited())
            .get(stream::readings_stream),
    )
    .service(
        web::resource("/api/v1/devices")
            .wrap(limited())
            .get(query::get_devices),
    )
    .service(
        web::resource("/api/v1/devices/{device}/parameters")
            .wrap(limited())
            .get(query::get_parameters),
    )
    .service(
        web::resource("/api/v1/devices/{device}/latest")
            .wrap(limited())
            .get(query::get_latest),
    )
    .service(
        web::resource("/api/v1/aggregate")
            .wrap(limited())
            .get(aggregate::get_aggregate),
    )
    .service(
        web::resource(["/api/v1/core/process_request", "/api/v1/core/process_request/"])
            .wrap(limited())
            .get(original::process_request),
    )
    .service(
        web::resource(["/api/v1/core/restricted", "/api/v1/core/restricted/"])
            .wrap(from_fn(common::rate_limit::rate_limit_strict))
            .get(original::restricted),
    )
    .service(web::resource("/status").wrap(limited()).get(original::status));
}

/// Parses a `limit`: `default` when absent, else 1..=`max` (the shared page-size rule).
pub fn parse_limit(value: Option<&str>, default: u32, max: u32) -> Result<u32, Problem> {
    common::paging::PageSize::new("limit", default, max).parse(value)
}

/// The lists these routes page (each a table in one order; see `common::paging`).
pub const DEVICES: Keyset = Keyset::new("devices.name_asc", 1);
pub const PARAMETERS: Keyset = Keyset::new("parameters.name_asc", 1);
pub const READINGS_ASC: Keyset = Keyset::new("readings.time_series_asc", 1);
pub const READINGS_DESC: Keyset = Keyset::new("readings.time_series_desc", 1);
pub const RECORDS: Keyset = Keyset::new("records.series_time_asc", 1);

/// Parses an optional query time named `field`.
pub fn parse_time(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, Problem> {
    value
        .map(|s| domain::parse_query_time(s).map_err(|e| Problem::invalid_field(field, e)))
        .transpose()
}

/// Checks `from` < `to` when both are given.
pub fn check_range(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<(), Problem> {
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(Problem::invalid_field("from", "must be before to"));
    }
    Ok(())
}

/// 404 naming the unknown device.
pub fn unknown_device(device: &str) -> Problem {
    crate::problems::Code::UnknownDevice
        .problem(format!("device: no readings of device {device:?} are stored"))
        .with(
            "errors",
            serde_json::json!([{ "field": "device", "message": "unknown device" }]),
        )
}

/// A reading on the wire.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReadingOut {
    pub device: String,
    pub parameter: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    /// A JSON number (exactly the digits ingested) or a string, as `type` says.
    #[schema(value_type = Object)]
    pub value: OutValue,
    /// In the original UTC offset, with microseconds.
    pub timestamp: String,
    /// The same instant in UTC.
    pub timestamp_utc: String,
    /// The original offset, `+02:00`.
    pub utc_offset: String,
}

impl ReadingOut {
    /// Builds the wire form.
    pub fn new(device: &str, parameter: &str, kind: Kind, r: &crate::storage::Stored) -> Self {
        Self {
            device: device.to_string(),
            parameter: parameter.to_string(),
            kind,
            value: r.value.clone(),
            timestamp: domain::format_local(r.at, r.offset),
            timestamp_utc: domain::format_utc(r.at),
            utc_offset: domain::format_offset(r.offset),
        }
    }
}

/// Percent-encodes a query value for `_links`.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
