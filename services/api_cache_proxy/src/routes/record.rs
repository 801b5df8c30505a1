//! `GET /record` and `POST /add`.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, TimeDelta, Utc};
use common::Problem;
use common::auth::ServiceAuth;
use common::models::PriceRecord;
use serde::{Deserialize, Serialize};

use crate::state::State;
use crate::storage::Put;

/// TTL when `?ttl` is not given, in seconds.
pub const DEFAULT_TTL_SECS: u64 = 60;
/// Longest TTL accepted, in seconds (one day).
pub const MAX_TTL_SECS: u64 = 86_400;
/// How far in the future `fetched_at` may be (clock skew between hosts). A record
/// from the far future would block every real record until it expired.
const MAX_CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);
/// Longest accepted `source`.
const MAX_SOURCE_LEN: usize = 64;

/// The latest BTC price record.
#[utoipa::path(get, tag = "price record", path = "/record",
    responses(
        (status = 200, description = "the latest record; rates are exact decimal strings", body = PriceRecord),
        (status = 404, description = "no record stored, or it expired (`no_price_record`)", body = Problem),
        (status = 503, description = "Redis is unavailable", body = Problem)
    ))]
#[tracing::instrument(skip_all)]
pub async fn get_record(state: web::Data<State>) -> Result<HttpResponse, Problem> {
    let latest = state.store.latest().await.map_err(|e| state.problem(e))?;
    state.redis_ok();
    match latest {
        Some(record) => {
            state.price_fetched_at.set(record.fetched_at.timestamp());
            Ok(HttpResponse::Ok()
                .insert_header(("cache-control", "no-store"))
                .json(record))
        }
        None => Err(crate::problems::Code::NoPriceRecord
            .problem("no BTC price record is stored: none was fetched yet, or the last one expired")),
    }
}

/// Query of `POST /add`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AddQuery {
    /// Seconds the record stays readable, 1 to 86400 (default 60).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 86400)]
    ttl: Option<String>,
}

/// `POST /add` success body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Added {
    /// Always `stored`.
    pub status: &'static str,
    /// Provider of the stored record.
    pub source: String,
    /// Its fetch time.
    pub fetched_at: DateTime<Utc>,
    /// Seconds it stays readable.
    pub ttl_secs: u64,
}

/// The TTL from `?ttl`, or why it is not one (clippy: keep `Problem` out of small helpers' `Err`).
fn parse_ttl(raw: Option<&str>) -> Result<u64, String> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_TTL_SECS);
    };
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|t| (1..=MAX_TTL_SECS).contains(t))
        .ok_or_else(|| format!("must be a whole number of seconds from 1 to {MAX_TTL_SECS}, got {raw:?}"))
}

/// `Err((field, message))` for a record this service will not store.
fn check_record(record: &PriceRecord, now: DateTime<Utc>) -> Result<(), (&'static str, String)> {
    let source = record.source.trim();
    if source.is_empty() || source.len() > MAX_SOURCE_LEN || source.chars().any(char::is_control) {
        return Err((
            "source",
            format!("must be 1 to {MAX_SOURCE_LEN} printable characters"),
        ));
    }
    if record.fetched_at > now + MAX_CLOCK_SKEW {
        return Err((
            "fetched_at",
            format!("{} is in the future (now {now})", record.fetched_at),
        ));
    }
    Ok(())
}

/// Stores a price record for `ttl` seconds, unless a newer one is stored.
/// A record with the same `fetched_at` as the stored one replaces it (a TTL extension).
#[utoipa::path(post, tag = "price record", path = "/add", params(AddQuery), request_body = PriceRecord,
    responses(
        (status = 201, description = "stored", body = Added),
        (status = 400, description = "body is not JSON", body = Problem),
        (status = 401, description = "no or wrong service token", body = Problem),
        (status = 409, description = "a newer record is stored (`stale_record`); nothing changed", body = Problem),
        (status = 422, description = "bad `ttl` or record", body = Problem),
        (status = 503, description = "Redis is unavailable", body = Problem)
    ),
    security(("service_token" = [])))]
#[tracing::instrument(skip_all, fields(source = %body.source, fetched_at = %body.fetched_at))]
pub async fn add_record(
    _: ServiceAuth,
    state: web::Data<State>,
    query: web::Query<AddQuery>,
    body: web::Json<PriceRecord>,
) -> Result<HttpResponse, Problem> {
    let ttl_secs = parse_ttl(query.ttl.as_deref()).map_err(|m| Problem::invalid_field("ttl", m))?;
    let record = body.into_inner();
    check_record(&record, Utc::now()).map_err(|(field, m)| Problem::invalid_field(field, m))?;
    let put = state
        .store
        .put(&record, ttl_secs)
        .await
        .map_err(|e| state.problem(e))?;
    state.redis_ok();
    match put {
        Put::Stored => {
            state.stored.inc();
            state.price_fetched_at.set(record.fetched_at.timestamp());
            Ok(HttpResponse::Created()
                .insert_header(("location", "/record"))
                .json(Added {
                    status: "stored",
                    source: record.source,
                    fetched_at: record.fetched_at,
                    ttl_secs,
                }))
        }
        Put::Stale { stored_fetched_at } => {
            state.refused.inc();
            Err(crate::problems::Code::StaleRecord.problem(format!(
                    "a newer record (fetched at {stored_fetched_at}) is stored; this one (fetched at {}) was not",
                    record.fetched_at
                ),
            )
            .with("stored_fetched_at", stored_fetched_at)
            .with("fetched_at", record.fetched_at.to_rfc3339()))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ttl_defaults_to_a_minute_and_must_be_between_a_second_and_a_day() {
        assert_eq!(parse_ttl(None).unwrap(), 60);
        assert_eq!(parse_ttl(Some("1")).unwrap(), 1);
        assert_eq!(parse_ttl(Some("86400")).unwrap(), 86_400);
        for bad in ["0", "86401", "-5", "1.5", "", "abc", "99999999999999999999999"] {
            assert!(parse_ttl(Some(bad)).is_err(), "{bad:?}");
        }
    }
}
