//! Logging, request ids and trace context. Only a `main` (or the launcher, or the
//! test helpers) installs the subscriber: libraries never set process-global state.
//!
//! Every request runs in a scope holding its request id and its W3C trace context
//! ([`trace`]); calls to other services carry both, log lines carry `trace_id` (the
//! request's span field), problem bodies carry `trace_id`, and with an OTLP
//! endpoint set each request is exported as a span ([`otlp`]).

pub mod otlp;
pub mod trace;

use std::future::Future;
use std::time::SystemTime;

use actix_web::http::header::HeaderName;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

pub use crate::config::TelemetrySettings;
pub use otlp::{FinishedSpan, SpanKind, Tracer};
pub use trace::TraceContext;

/// Header carrying the request id between services.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The caller's request id when it is one (1-128 visible characters), else a new one.
pub fn request_id_or_new(incoming: Option<&str>) -> String {
    incoming
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// What the task handling a request (or a background round) knows about it.
#[derive(Clone, Debug)]
struct Scope {
    request_id: Option<String>,
    trace: TraceContext,
}

tokio::task_local! {
    static CURRENT: Scope;
}

/// The id of the request being handled on this task, for outgoing calls.
pub fn current_request_id() -> Option<String> {
    CURRENT.try_with(|s| s.request_id.clone()).ok().flatten()
}

/// The trace context of the span being handled on this task.
pub fn current_trace() -> Option<TraceContext> {
    CURRENT.try_with(|s| s.trace.clone()).ok()
}

/// Runs one round of background work (a heartbeat batch, a price refresh) as the
/// root of a new trace: its log lines and the calls it makes carry the trace id, and
/// it is exported as an internal span named `name`. Inside a request it is that
/// request's work and runs in the request's trace as it is.
pub async fn in_new_trace<F: Future>(tracer: &Tracer, name: &'static str, fut: F) -> F::Output {
    if current_trace().is_some() {
        return fut.await;
    }
    let trace = TraceContext::root();
    let span = tracing::info_span!("round", round = name, trace_id = %trace.trace_id);
    let start = SystemTime::now();
    let scope = Scope {
        request_id: None,
        trace: trace.clone(),
    };
    let out = CURRENT.scope(scope, fut.instrument(span)).await;
    tracer.record(FinishedSpan {
        context: trace,
        name: name.to_string(),
        kind: SpanKind::Internal,
        start,
        end: SystemTime::now(),
        attributes: Vec::new(),
        error: false,
    });
    out
}

/// Installs the global subscriber: `RUST_LOG` filter (default `info`), JSON lines
/// when `DELOS_LOG_FORMAT=json`, readable text otherwise; colours only when stdout
/// is a terminal and `NO_COLOR` is not set (`delos up > file` writes plain text).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(use_colour(
            std::io::IsTerminal::is_terminal(&std::io::stdout()),
            std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        ))
        .with_target(false);
    let result = if std::env::var("DELOS_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.compact().try_init()
    };
    // A second init (tests, launcher) keeps the first subscriber; that is fine.
    let _ = result;
}

/// Colour codes only for a person at a terminal who has not asked for none
/// (<https://no-color.org>).
fn use_colour(stdout_is_terminal: bool, no_color: bool) -> bool {
    stdout_is_terminal && !no_color
}

/// Runs `fut` as the request `id` in `trace` (the HTTP frame's and the gRPC face's request span).
pub async fn scoped<F: Future>(id: String, trace: TraceContext, fut: F) -> F::Output {
    let scope = Scope {
        request_id: Some(id),
        trace,
    };
    CURRENT.scope(scope, fut).await
}

#[cfg(test)]
mod tests {
    use super::use_colour;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, false));
        assert!(!use_colour(false, false), "redirected to a file or pipe");
        assert!(!use_colour(true, true), "NO_COLOR set");
    }
}
