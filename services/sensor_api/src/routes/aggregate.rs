//! `GET /api/v1/aggregate`: time buckets aligned to UTC (counted from the Unix
//! epoch, as Postgres' `date_bin` with origin 1970-01-01Z), optional gap filling.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use common::Problem;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{check_range, parse_time, unknown_device};
use crate::domain::{self, Kind, OutValue, format_utc};
use crate::state::State;
use crate::storage;

/// Query of `GET /api/v1/aggregate`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AggregateParams {
    /// Required.
    device: Option<String>,
    /// Required.
    parameter: Option<String>,
    /// Inclusive; default: the start of the bucket of the first reading.
    from: Option<String>,
    /// Exclusive; default: the end of the bucket of the last reading.
    to: Option<String>,
    /// Width: `30s`, `15m`, `1h`, `1d` (default `1h`).
    bucket: Option<String>,
    /// Comma-separated. Numeric: avg, min, max, sum, count (default all).
    /// Text: first, last, count, distinct (default all).
    #[serde(rename = "fn")]
    fns: Option<String>,
    /// Empty buckets: left out (default), or `null`, `previous`, `linear`.
    fill: Option<String>,
}

/// Aggregate functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Avg,
    Min,
    Max,
    Sum,
    Count,
    First,
    Last,
    Distinct,
}

impl Func {
    fn parse(s: &str) -> Option<Func> {
        Some(match s.trim() {
            "avg" | "mean" => Func::Avg,
            "min" => Func::Min,
            "max" => Func::Max,
            "sum" => Func::Sum,
            "count" => Func::Count,
            "first" => Func::First,
            "last" => Func::Last,
            "distinct" => Func::Distinct,
            _ => return None,
        })
    }
    fn name(self) -> &'static str {
        match self {
            Func::Avg => "avg",
            Func::Min => "min",
            Func::Max => "max",
            Func::Sum => "sum",
            Func::Count => "count",
            Func::First => "first",
            Func::Last => "last",
            Func::Distinct => "distinct",
        }
    }
    fn fits(self, kind: Kind) -> bool {
        match self {
            Func::Count => true,
            Func::Avg | Func::Min | Func::Max | Func::Sum => kind == Kind::Numeric,
            Func::First | Func::Last | Func::Distinct => kind == Kind::Text,
        }
    }
}

const NUMERIC_FNS: [Func; 5] = [Func::Avg, Func::Min, Func::Max, Func::Sum, Func::Count];
const TEXT_FNS: [Func; 4] = [Func::First, Func::Last, Func::Count, Func::Distinct];

/// How empty buckets are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    Omit,
    Null,
    Previous,
    Linear,
}

/// One bucket's values, in the order of `fns`.
#[derive(Debug, Clone)]
struct BucketOut {
    start: DateTime<Utc>,
    values: Vec<Option<OutValue>>,
    filled: bool,
}

/// The answer; serialised field by field so that exact numbers stay exact.
struct Answer<'a> {
    device: &'a str,
    parameter: &'a str,
    kind: Kind,
    bucket: &'a str,
    width: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    fill: &'a str,
    source: &'a str,
    fns: &'a [Func],
    data: Vec<BucketOut>,
}

struct Buckets<'a>(&'a [BucketOut], &'a [Func]);

struct One<'a>(&'a BucketOut, &'a [Func]);

impl Serialize for One<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("start", &format_utc(self.0.start))?;
        for (f, v) in self.1.iter().zip(&self.0.values) {
            m.serialize_entry(f.name(), v)?;
        }
        if self.0.filled {
            m.serialize_entry("filled", &true)?;
        }
        m.end()
    }
}

impl Serialize for Buckets<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|b| One(b, self.1)))
    }
}

impl Serialize for Answer<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("device", self.device)?;
        m.serialize_entry("parameter", self.parameter)?;
        m.serialize_entry("type", &self.kind)?;
        m.serialize_entry("bucket", self.bucket)?;
        m.serialize_entry("bucket_seconds", &self.width)?;
        m.serialize_entry("from", &format_utc(self.from))?;
        m.serialize_entry("to", &format_utc(self.to))?;
        m.serialize_entry("fill", self.fill)?;
        m.serialize_entry("source", self.source)?;
        let names: Vec<&str> = self.fns.iter().map(|f| f.name()).collect();
        m.serialize_entry("fn", &names)?;
        m.serialize_entry("data", &Buckets(&self.data, self.fns))?;
        m.end()
    }
}

fn int(n: i64) -> Option<OutValue> {
    OutValue::number(n.to_string()).ok()
}

fn num(text: String) -> Option<OutValue> {
    OutValue::number(text).ok()
}

fn float(x: f64) -> Option<OutValue> {
    if !x.is_finite() {
        return None;
    }
    serde_json::to_string(&x).ok().and_then(num)
}

fn as_f64(v: &Option<OutValue>) -> Option<f64> {
    match v {
        Some(OutValue::Number(raw)) => raw.get().parse().ok(),
        _ => None,
    }
}

/// Bucket indexes are bounded by `max_points`; exact in `f64`.
fn small_f64(n: usize) -> f64 {
    f64::from(u32::try_from(n).unwrap_or(u32::MAX))
}

fn invalid(field: &str, msg: impl Into<String>) -> Problem {
    Problem::invalid_field(field, msg)
}

/// Aggregates of one parameter over UTC-aligned time buckets.
#[utoipa::path(get, tag = "readings", path = "/api/v1/aggregate", params(AggregateParams),
    responses((status = 200, description = "{device, parameter, type, bucket, from, to, fill, source, fn, data: [{start, <fn>: value, filled?}]}"),
              (status = 404, body = Problem),
              (status = 422, body = Problem, description = "bad input, a function that does not fit the type, too many buckets"),
              (status = 429, body = Problem)))]
pub async fn get_aggregate(
    state: web::Data<State>,
    q: web::Query<AggregateParams>,
) -> Result<HttpResponse, Problem> {
    let device = q
        .device
        .as_deref()
        .ok_or_else(|| invalid("device", "is required"))?;
    let parameter = q
        .parameter
        .as_deref()
        .ok_or_else(|| invalid("parameter", "is required"))?;
    let bucket = q.bucket.as_deref().unwrap_or("1h");
    let width = domain::parse_bucket(bucket).map_err(|e| invalid("bucket", e))?;
    let fill = match q.fill.as_deref() {
        None | Some("none") => Fill::Omit,
        Some("null") => Fill::Null,
        Some("previous") => Fill::Previous,
        Some("linear") => Fill::Linear,
        Some(_) => return Err(invalid("fill", "must be null, previous or linear")),
    };
    let from = parse_time("from", q.from.as_deref())?;
    let to = parse_time("to", q.to.as_deref())?;
    check_range(from, to)?;
    let Some(series) = storage::series(&state.pool, device, parameter)
        .await
        .map_err(common::db::problem)?
    else {
        if !storage::device_exists(&state.pool, device)
            .await
            .map_err(common::db::problem)?
        {
            return Err(unknown_device(device));
        }
        return Err(crate::problems::Code::UnknownParameter
            .problem(format!(
                "parameter: device {device:?} has no parameter {parameter:?}"
            ))
            .with(
                "errors",
                json!([{ "field": "parameter", "message": "unknown parameter" }]),
            ));
    };
    let fns: Vec<Func> = match q.fns.as_deref() {
        None => match series.kind {
            Kind::Numeric => NUMERIC_FNS.to_vec(),
            Kind::Text => TEXT_FNS.to_vec(),
        },
        Some(list) => {
            let mut fns = Vec::new();
            for name in list.split(',').filter(|n| !n.trim().is_empty()) {
                let f = Func::parse(name).ok_or_else(|| {
                    invalid(
                        "fn",
                        format!(
                            "unknown function {name:?} (avg, min, max, sum, count, first, last, distinct)"
                        ),
                    )
                })?;
                if !f.fits(series.kind) {
                    let allowed = match series.kind {
                        Kind::Numeric => "avg, min, max, sum, count",
                        Kind::Text => "first, last, count, distinct",
                    };
                    return Err(invalid(
                        "fn",
                        format!(
                            "{} does not apply to {parameter:?}: it is a {} parameter (use {allowed})",
                            f.name(),
                            series.kind.as_str()
                        ),
                    ));
                }
                if !fns.contains(&f) {
                    fns.push(f);
                }
            }
            if fns.is_empty() {
                return Err(invalid("fn", "name at least one function"));
            }
            fns
        }
    };
    if fill == Fill::Linear && series.kind == Kind::Text {
        return Err(invalid(
            "fill",
            "linear needs a numeric parameter; use null or previous",
        ));
    }
    let (Some(first_at), Some(last_at)) = (series.first_at, series.last_at) else {
        return Err(unknown_device(device));
    };
    let from = from.unwrap_or_else(|| domain::bucket_start(first_at, width));
    let to = to.unwrap_or_else(|| domain::bucket_start(last_at, width) + Duration::seconds(width));
    if from >= to {
        return Err(invalid("from", "must be before to"));
    }
    let first_bucket = domain::bucket_start(from, width);
    let last_bucket = domain::bucket_start(to - Duration::microseconds(1), width);
    let points = (last_bucket - first_bucket).num_seconds() / width + 1;
    if points > state.max_points {
        return Err(invalid(
            "bucket",
            format!(
                "{bucket} buckets from {} to {} make {points} points, more than the limit of {}; \
                 use a wider bucket or a shorter range",
                format_utc(from),
                format_utc(to),
                state.max_points
            ),
        )
        .with("points", points)
        .with("max_points", state.max_points));
    }
    let whole_hours = |t: DateTime<Utc>| t.timestamp() % 3600 == 0 && t.timestamp_subsec_micros() == 0;
    let rollup = series.kind == Kind::Numeric && width % 3600 == 0 && whole_hours(from) && whole_hours(to);
    let mut data: Vec<BucketOut> = match series.kind {
        Kind::Numeric => storage::numeric_buckets(&state.pool, series.id, width, from, to, rollup)
            .await
            .map_err(common::db::problem)?
            .into_iter()
            .map(|b| BucketOut {
                start: b.start,
                values: fns
                    .iter()
                    .map(|f| match f {
                        Func::Avg => num(b.avg.clone()),
                        Func::Min => num(b.min.clone()),
                        Func::Max => num(b.max.clone()),
                        Func::Sum => num(b.sum.clone()),
                        _ => int(b.count),
                    })
                    .collect(),
                filled: false,
            })
            .collect(),
        Kind::Text => storage::text_buckets(&state.pool, series.id, width, from, to)
            .await
            .map_err(common::db::problem)?
            .into_iter()
            .map(|b| BucketOut {
                start: b.start,
                values: fns
                    .iter()
                    .map(|f| match f {
                        Func::First => Some(OutValue::Text(b.first.clone())),
                        Func::Last => Some(OutValue::Text(b.last.clone())),
                        Func::Distinct => int(b.distinct),
                        _ => int(b.count),
                    })
                    .collect(),
                filled: false,
            })
            .collect(),
    };
    if fill != Fill::Omit {
        data = fill_gaps(data, &fns, first_bucket, points, width, fill);
    }
    let answer = Answer {
        device,
        parameter,
        kind: series.kind,
        bucket,
        width,
        from,
        to,
        fill: match fill {
            Fill::Omit => "none",
            Fill::Null => "null",
            Fill::Previous => "previous",
            Fill::Linear => "linear",
        },
        source: if rollup { "rollup_hourly" } else { "readings" },
        fns: &fns,
        data,
    };
    let body = serde_json::to_string(&answer).map_err(|e| {
        tracing::error!(error = %e, "aggregate answer did not serialise");
        Problem::internal()
    })?;
    Ok(HttpResponse::Ok().content_type("application/json").body(body))
}

/// Every bucket from `first` on, the empty ones filled. `count` (and `distinct`)
/// of an empty bucket is 0 whatever the fill: nothing was counted there.
fn fill_gaps(
    data: Vec<BucketOut>,
    fns: &[Func],
    first: DateTime<Utc>,
    points: i64,
    width: i64,
    fill: Fill,
) -> Vec<BucketOut> {
    let n = usize::try_from(points).unwrap_or(0);
    let mut slots: Vec<Option<BucketOut>> = vec![None; n];
    for b in data {
        let i = (b.start - first).num_seconds() / width;
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| slots.get_mut(i)) {
            *slot = Some(b);
        }
    }
    let known: Vec<usize> = (0..n).filter(|&i| slots[i].is_some()).collect();
    let mut out = Vec::with_capacity(n);
    let mut k: usize = 0; // index into `known` of the next non-empty bucket at or after i
    for i in 0..n {
        let start = first + Duration::seconds(width * i64::try_from(i).unwrap_or(0));
        if let Some(b) = slots[i].take() {
            k += 1;
            out.push(b);
            continue;
        }
        let prev: Option<&BucketOut> = k
            .checked_sub(1)
            .and_then(|p| known.get(p))
            .and_then(|&p| out.get(p));
        let values = fns
            .iter()
            .enumerate()
            .map(|(j, f)| {
                if matches!(f, Func::Count | Func::Distinct) {
                    return int(0);
                }
                match fill {
                    Fill::Previous => prev.and_then(|p| p.values[j].clone()),
                    Fill::Linear => {
                        let next = known.get(k).and_then(|&nx| slots[nx].as_ref());
                        match (prev, known.get(k), next) {
                            (Some(p), Some(&nx), Some(nb)) => {
                                let pi = known[k - 1];
                                let (a, b) = (as_f64(&p.values[j])?, as_f64(&nb.values[j])?);
                                let t = small_f64(i - pi) / small_f64(nx - pi);
                                float(a + (b - a) * t)
                            }
                            _ => None,
                        }
                    }
                    Fill::Null | Fill::Omit => None,
                }
            })
            .collect();
        out.push(BucketOut {
            start,
            values,
            filled: true,
        });
    }
    out
}
