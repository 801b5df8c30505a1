//! `GET /transitions/stream`: every status change as a Server-Sent Event, `id:`
//! its seq (commit order, gapless), resumable exactly with `Last-Event-ID`.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use common::Problem;
use common::live::{EventSender, Gone};
use serde::Deserialize;

use crate::state::State;
use crate::storage::{self, TransitionFilter};

/// Query of `GET /transitions/stream`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StreamQuery {
    /// Only this service's changes.
    service: Option<String>,
    /// Only this instance's changes.
    instance: Option<String>,
    /// Instances' changes as well as services' (default: services' only).
    instances: Option<bool>,
    /// Resume after this seq (as `Last-Event-ID`, which wins when both are given).
    after_seq: Option<String>,
}

/// Transitions read per query.
const TURN: i64 = 200;
const HEARTBEAT: Duration = Duration::from_secs(15);

/// Every status change as it is logged, oldest first: `id:` is its `seq`,
/// `data:` the transition as `/transitions` shows it. Without `Last-Event-ID`
/// or `after_seq` the stream starts at "now". Heartbeat comments every 15 s.
#[utoipa::path(get, tag = "services", path = "/transitions/stream", params(StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "resume after this seq")),
    responses((status = 200, content_type = "text/event-stream", description = "the stream"),
              (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn transitions_stream(
    req: HttpRequest,
    state: web::Data<State>,
    q: web::Query<StreamQuery>,
) -> Result<HttpResponse, Problem> {
    let resume = common::live::resume_point(
        &req,
        q.after_seq.as_deref(),
        "after_seq",
        "the seq of a transition (a non-negative integer)",
        |v| v.parse::<i64>().ok().filter(|s| *s >= 0),
    )?;
    let newest = storage::sequence_transitions(state.pool.clone())
        .await
        .map_err(common::db::problem)?;
    state.transitions.raise(newest);
    let (tx, response) = common::live::event_stream(64, Duration::from_secs(30));
    let q = q.into_inner();
    let state = state.into_inner();
    actix_web::rt::spawn(async move {
        let filter = TransitionFilter {
            service: q.service.as_deref(),
            instance: q.instance.as_deref(),
            with_instances: q.instances.unwrap_or(false),
        };
        let _ = serve(&state, &tx, &filter, resume.unwrap_or(newest)).await;
    });
    Ok(response)
}

async fn serve(
    state: &State,
    tx: &EventSender,
    filter: &TransitionFilter<'_>,
    mut cursor: i64,
) -> Result<(), Gone> {
    let mut newer = state.transitions.subscribe();
    tx.comment(&format!("transitions after seq {cursor}")).await?;
    loop {
        newer.mark_unchanged();
        let head = state.transitions.get();
        if head > cursor {
            match storage::transitions_after(&state.pool, filter, cursor, head, TURN).await {
                Ok(rows) => {
                    let full = rows.len() == usize::try_from(TURN).unwrap_or(usize::MAX);
                    for t in &rows {
                        let seq = t.seq.unwrap_or(cursor);
                        let data = serde_json::to_string(t).unwrap_or_default();
                        tx.event(Some(&seq.to_string()), None, &data).await?;
                        cursor = seq;
                    }
                    // Every seq up to the head is committed: the rest were filtered out.
                    if !full {
                        cursor = head;
                    }
                    continue;
                }
                Err(e) => tracing::debug!(error = %e, "transition stream: postgres unavailable"),
            }
        }
        tx.idle(&mut newer, HEARTBEAT).await?;
    }
}
