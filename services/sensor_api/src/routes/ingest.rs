//! `POST /api/v1/readings`: a streamed upload, never held in memory.

use std::io::Read;

use actix_web::http::{StatusCode, header};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use common::Problem;
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::config::Right;
use crate::ingest::{self, Format, IngestError, IngestOptions};
use crate::state::State;

/// Query of `POST /api/v1/readings`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct IngestParams {
    /// `json` (the original shape), `ndjson`, `csv`, `csv-long`, `csv-wide`;
    /// by default from the `Content-Type`.
    format: Option<String>,
    /// Device of a wide CSV, and of NDJSON/CSV rows that name none.
    device: Option<String>,
    /// `true`: store nothing when any row is bad.
    strict: Option<String>,
    /// Offset to read timestamps written without one in (`+02:00`, `-09:30`, `Z`;
    /// send `+` as `%2B`, though a bare `+` is understood). Without it such rows
    /// are refused, except in wide CSV, which is read as UTC. The summary counts
    /// the readings read with it (`offset_assumed`).
    assume_offset: Option<String>,
}

/// Feeds the body, chunk by chunk, to the parser's blocking thread.
struct ChannelReader {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Why the body stopped flowing.
enum PumpError {
    TooLarge,
    Broken(String),
}

fn too_large(limit: u64) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the upload is larger than the limit of {limit} bytes; nothing was stored"),
    )
    .with("limit_bytes", limit)
}

/// Upload readings (the original JSON shape, NDJSON, long or wide CSV). One
/// upload is one transaction: the answer is a summary of what was stored and
/// which rows were refused (position and reason), or an error and nothing stored.
#[utoipa::path(post, tag = "ingest", path = "/api/v1/readings", params(IngestParams),
    request_body(content = String, description = "the file", content_type = "application/json"),
    responses(
        (status = 200, body = crate::ingest::Summary, description = "stored; bad rows listed in errors"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 413, body = Problem),
        (status = 415, body = Problem),
        (status = 422, body = Problem, description = "strict mode with bad rows (nothing stored), or bad options"),
        (status = 429, body = Problem), (status = 503, body = Problem)),
    security(("api_key" = [])))]
pub async fn post_readings(
    req: HttpRequest,
    state: web::Data<State>,
    q: web::Query<IngestParams>,
    mut payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    state.auth.require(&req, Right::Ingest.as_str())?;
    let strict = match q.strict.as_deref() {
        None | Some("false" | "0") => false,
        Some("true" | "1") => true,
        Some(_) => return Err(Problem::invalid_field("strict", "must be true or false")),
    };
    let format = match q.format.as_deref() {
        Some(f) => Format::parse(f).ok_or_else(|| {
            Problem::invalid_field("format", "must be json, ndjson, csv, csv-long or csv-wide")
        })?,
        None => req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(Format::from_content_type)
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send application/json, application/x-ndjson or text/csv, or name the format with ?format=",
                )
            })?,
    };
    let assume_offset = q
        .assume_offset
        .as_deref()
        .map(crate::domain::parse_offset)
        .transpose()
        .map_err(|e| Problem::invalid_field("assume_offset", e))?;
    let limit = state.max_upload_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    // A few chunks in flight: enough to keep the parser busy, never the body.
    let (tx, rx) = mpsc::channel(8);
    let reader = ChannelReader {
        rx,
        current: Bytes::new(),
    };
    let pump = async move {
        let mut total = 0u64;
        while let Some(chunk) = payload.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let reason = e.to_string();
                    let _ = tx.send(Err(std::io::Error::other(reason.clone()))).await;
                    return Err(PumpError::Broken(reason));
                }
            };
            total += chunk.len() as u64;
            if total > limit {
                let _ = tx.send(Err(std::io::Error::other("upload too large"))).await;
                return Err(PumpError::TooLarge);
            }
            if tx.send(Ok(chunk)).await.is_err() {
                // The parser has stopped reading (the document broke off).
                break;
            }
        }
        Ok(total)
    };
    let opts = IngestOptions {
        format,
        device: q.device.clone(),
        strict,
        assume_offset,
    };
    let (pumped, result) = tokio::join!(pump, ingest::run(&state.pool, reader, opts));
    if let Ok(summary) = &result {
        state.readings.count(summary);
    }
    match result {
        Ok(summary) if !summary.committed => Err(crate::problems::Code::RowsRejected
            .problem(format!(
                "strict mode: {} bad row(s), so nothing was stored",
                summary.rejected
            ))
            .with("summary", serde_json::to_value(&summary).unwrap_or_default())
            .with(
                "errors",
                serde_json::to_value(&summary.errors).unwrap_or_default(),
            )),
        Ok(summary) => Ok(HttpResponse::Ok().json(summary)),
        Err(e) => Err(match (e, pumped) {
            (_, Err(PumpError::TooLarge)) => too_large(limit),
            (_, Err(PumpError::Broken(reason))) => crate::problems::Code::UploadBroken
                .problem(format!("the upload broke off ({reason}); nothing was stored")),
            (IngestError::Invalid { field, reason }, _) => Problem::invalid_field(field, reason),
            (IngestError::Input(e), _) => crate::problems::Code::UploadBroken
                .problem(format!("the upload could not be read ({e}); nothing was stored")),
            (IngestError::Db(e), _) => common::db::problem(e),
        }),
    }
}
