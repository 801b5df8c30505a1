//! Logging and request ids. Only a `main` (or the launcher, or the test helpers)
//! installs the subscriber: libraries never set process-global state.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

/// Header carrying the request id between services.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static CURRENT_REQUEST_ID: String;
}

/// The id of the request being handled on this task, for outgoing calls.
pub fn current_request_id() -> Option<String> {
    CURRENT_REQUEST_ID.try_with(Clone::clone).ok()
}

/// Runs `fut` with `id` as the current request id (for background work started by a request).
pub async fn with_request_id<F: std::future::Future>(id: String, fut: F) -> F::Output {
    CURRENT_REQUEST_ID.scope(id, fut).await
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

fn incoming_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Middleware: request id (taken from `X-Request-Id` or made), a span around the
/// request, the access log line, request metrics, and the id echoed in the response.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = incoming_id(&req);
    let metrics = req
        .app_data::<actix_web::web::Data<crate::http::AppContext>>()
        .map(|c| c.metrics.clone());
    let method = req.method().to_string();
    let path = req.path().to_string();
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    let started = Instant::now();
    let mut res = CURRENT_REQUEST_ID
        .scope(id.clone(), next.call(req).instrument(span.clone()))
        .await?;
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    if let Some(metrics) = metrics {
        metrics.observe_request(&method, &route, status, elapsed);
    }
    span.in_scope(|| {
        tracing::info!(status, latency_ms = elapsed.as_secs_f64() * 1000.0, "access");
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    Ok(res)
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
