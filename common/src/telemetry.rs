//! Logging and request ids. Only a `main` (or the launcher, or the test helpers)
//! installs the subscriber: libraries never set process-global state.

use actix_web::http::header::HeaderName;
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

/// Runs `fut` with `id` as the current request id (the HTTP frame's request span).
pub(crate) async fn scoped<F: std::future::Future>(id: String, fut: F) -> F::Output {
    CURRENT_REQUEST_ID.scope(id, fut).await
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
