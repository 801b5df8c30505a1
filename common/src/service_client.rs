//! Calls between services: one pooled keep-alive `reqwest::Client` per service,
//! with timeouts, the service token and the current `X-Request-Id`.

use std::time::Duration;

use actix_web::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::config::Secret;
use crate::problem::Problem;
use crate::telemetry::trace::{TRACEPARENT, TRACESTATE};
use crate::telemetry::{current_request_id, current_trace};

/// The one HTTP client a service uses for every outgoing call.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    crate::tls::client_builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(1)))
        // Shorter than our servers' keep-alive (75 s, `http::serve`), so a pooled
        // connection is dropped here before the server closes it.
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(128)
        .tcp_nodelay(true)
        .user_agent(concat!("delos/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|e| crate::tls::broken("the HTTP client", &e))
}

/// Why a call to another service failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Not reachable, timed out, or answered 5xx.
    #[error("{service} is unavailable: {reason}")]
    Unavailable {
        service: &'static str,
        reason: String,
        retry_after: Option<u64>,
    },
    /// Answered with a client error; the problem is passed on as it came.
    #[error("{service} refused the request: {problem}")]
    Refused {
        service: &'static str,
        problem: Box<Problem>,
    },
    /// Answered 2xx with a body that does not fit the contract.
    #[error("{service} sent an unexpected body: {reason}")]
    Decode { service: &'static str, reason: String },
}

impl From<CallError> for Problem {
    fn from(err: CallError) -> Problem {
        match err {
            CallError::Unavailable {
                service,
                reason,
                retry_after,
            } => {
                tracing::warn!(%service, %reason, "dependency unavailable");
                let p = Problem::unavailable(service);
                match retry_after {
                    Some(s) => p.retry_after(s),
                    None => p,
                }
            }
            CallError::Refused { problem, .. } => *problem,
            CallError::Decode { service, reason } => {
                tracing::error!(%service, %reason, "contract violation");
                Problem::new(
                    StatusCode::BAD_GATEWAY,
                    "bad_upstream_response",
                    format!("{service} sent an unexpected answer"),
                )
            }
        }
    }
}

/// A client for one other service.
#[derive(Clone, Debug)]
pub struct ServiceClient {
    name: &'static str,
    base_url: String,
    http: reqwest::Client,
    token: Secret,
}

impl ServiceClient {
    /// `name` appears in errors and 503 problems.
    pub fn new(name: &'static str, base_url: &str, http: reqwest::Client, token: Secret) -> Self {
        Self {
            name,
            base_url: base_url.trim_end_matches('/').to_string(),
            http,
            token,
        }
    }

    /// The service's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The underlying pooled client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A request to `path` with the token, the request id and the trace context
    /// (this span as the parent of the callee's) set.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut rb = self.http.request(method, format!("{}{path}", self.base_url));
        if !self.token.is_empty() {
            rb = rb.bearer_auth(self.token.expose());
        }
        if let Some(id) = current_request_id() {
            rb = rb.header("x-request-id", id);
        }
        if let Some(trace) = current_trace() {
            rb = rb.header(TRACEPARENT, trace.traceparent());
            if let Some(state) = trace.state {
                rb = rb.header(TRACESTATE, state);
            }
        }
        rb
    }

    /// Sends and decodes a JSON answer; `None` for 204/404 when `absent_ok`.
    pub async fn send<T: DeserializeOwned>(&self, rb: reqwest::RequestBuilder) -> Result<T, CallError> {
        self.send_opt(rb, false).await?.ok_or_else(|| CallError::Decode {
            service: self.name,
            reason: "no body".into(),
        })
    }

    /// Like `send`, but 204 and 404 give `Ok(None)`.
    pub async fn send_opt<T: DeserializeOwned>(
        &self,
        rb: reqwest::RequestBuilder,
        absent_ok: bool,
    ) -> Result<Option<T>, CallError> {
        let unavailable = |reason: String, retry_after| CallError::Unavailable {
            service: self.name,
            reason,
            retry_after,
        };
        let res = rb.send().await.map_err(|e| unavailable(e.to_string(), None))?;
        let status = res.status();
        if absent_ok
            && (status == reqwest::StatusCode::NO_CONTENT || status == reqwest::StatusCode::NOT_FOUND)
        {
            return Ok(None);
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let retry = res
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            return Err(unavailable(format!("answered {status}"), retry));
        }
        let bytes = res.bytes().await.map_err(|e| unavailable(e.to_string(), None))?;
        if status.is_client_error() {
            let problem = serde_json::from_slice::<Problem>(&bytes).unwrap_or_else(|_| {
                Problem::new(
                    StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_REQUEST),
                    "upstream_refused",
                    format!("{} answered {status}", self.name),
                )
            });
            return Err(CallError::Refused {
                service: self.name,
                problem: Box::new(problem),
            });
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| CallError::Decode {
                service: self.name,
                reason: e.to_string(),
            })
    }
}
