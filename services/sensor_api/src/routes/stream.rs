//! `GET /api/v1/readings/stream`: the readings of a device (or one of its
//! parameters) as they are stored, whichever way they came (upload, CLI import,
//! MQTT), one Server-Sent Event each, resumable exactly with `Last-Event-ID`.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use common::Problem;
use common::live::{EventSender, Gone};
use serde::Deserialize;

use super::ReadingOut;
use crate::state::State;
use crate::storage;

/// Query of `GET /api/v1/readings/stream`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StreamQuery {
    /// Required.
    device: Option<String>,
    /// One parameter; all of the device's when absent.
    parameter: Option<String>,
    /// Resume after this event id (`<seq>.<n>`, as `Last-Event-ID`, which wins when both are given).
    after: Option<String>,
}

/// Log rows read per query.
const TURN: i64 = 20;
const HEARTBEAT: Duration = Duration::from_secs(15);

/// Where a consumer is: every log row up to `seq` sent, and of row `seq + 1`
/// the first `sent` readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    seq: i64,
    sent: usize,
}

/// `N` (row N sent) or `N.K` (of row N, the first K readings sent).
fn parse_cursor(field: &str, value: &str) -> Result<Cursor, Problem> {
    let bad = || Problem::invalid_field(field, "must be an event id of this stream (`<seq>.<n>`)");
    let (seq, n) = match value.split_once('.') {
        Some((seq, n)) => (seq, Some(n)),
        None => (value, None),
    };
    let seq = seq.parse::<i64>().ok().filter(|s| *s >= 0).ok_or_else(bad)?;
    Ok(match n {
        None => Cursor { seq, sent: 0 },
        Some(n) => {
            let n = n.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(bad)?;
            // Of row `seq`, the first n are sent: the rows before it are all sent.
            Cursor {
                seq: seq - 1,
                sent: n,
            }
        }
    })
}

/// New readings of `device` (and `parameter`) as they are stored, oldest first:
/// `id:` is `<seq>.<n>` (the n-th reading of the seq-th batch stored), `data:`
/// the reading as `/api/v1/readings` shows it. Without `Last-Event-ID` or
/// `after` the stream starts at "now". Heartbeat comments every 15 s.
#[utoipa::path(get, tag = "readings", path = "/api/v1/readings/stream", params(StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "resume after this event id")),
    responses((status = 200, content_type = "text/event-stream", description = "the stream"),
              (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn readings_stream(
    req: HttpRequest,
    state: web::Data<State>,
    q: web::Query<StreamQuery>,
) -> Result<HttpResponse, Problem> {
    let device = q
        .device
        .clone()
        .filter(|d| !d.is_empty())
        .ok_or_else(|| Problem::invalid_field("device", "is required"))?;
    let resume = match common::live::last_event_id(&req) {
        Some(id) => Some(parse_cursor("Last-Event-ID", id)?),
        None => q.after.as_deref().map(|a| parse_cursor("after", a)).transpose()?,
    };
    let newest = storage::sequence_reading_log(state.pool.clone())
        .await
        .map_err(common::db::problem)?;
    state.stream_head.raise(newest);
    let cursor = resume.unwrap_or(Cursor { seq: newest, sent: 0 });
    let (tx, response) = common::live::event_stream(256, Duration::from_secs(30));
    let parameter = q.parameter.clone();
    let state = state.into_inner();
    actix_web::rt::spawn(async move {
        let _ = serve(&state, &tx, &device, parameter.as_deref(), cursor).await;
    });
    Ok(response)
}

async fn serve(
    state: &State,
    tx: &EventSender,
    device: &str,
    parameter: Option<&str>,
    mut at: Cursor,
) -> Result<(), Gone> {
    let mut newer = state.stream_head.subscribe();
    tx.comment("readings as they are stored").await?;
    loop {
        newer.mark_unchanged();
        let head = state.stream_head.get();
        if head > at.seq {
            match storage::logged_after(&state.pool, device, parameter, at.seq, head, TURN).await {
                Ok(rows) => {
                    let full = rows.len() == usize::try_from(TURN).unwrap_or(usize::MAX);
                    for row in &rows {
                        let skip = if row.seq == at.seq + 1 { at.sent } else { 0 };
                        for (n, r) in row.readings.iter().enumerate().skip(skip) {
                            let out = ReadingOut::new(
                                &row.series.device,
                                &row.series.parameter,
                                row.series.kind,
                                r,
                            );
                            let data = serde_json::to_string(&out).unwrap_or_default();
                            tx.event(Some(&format!("{}.{}", row.seq, n + 1)), None, &data)
                                .await?;
                        }
                        at = Cursor {
                            seq: row.seq,
                            sent: 0,
                        };
                    }
                    // Every seq up to the head is committed: the rest were another device's.
                    if !full {
                        at = Cursor { seq: head, sent: 0 };
                    }
                    continue;
                }
                Err(e) => tracing::debug!(error = %e, "readings stream: postgres unavailable"),
            }
        }
        tx.idle(&mut newer, HEARTBEAT).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_resume_inside_a_batch_or_after_it() {
        assert_eq!(parse_cursor("after", "7").ok(), Some(Cursor { seq: 7, sent: 0 }));
        assert_eq!(
            parse_cursor("after", "7.3").ok(),
            Some(Cursor { seq: 6, sent: 3 })
        );
        for bad in ["", "-1", "7.0", "7.", "x.1", "1.2.3"] {
            assert!(parse_cursor("after", bad).is_err(), "{bad}");
        }
    }
}
