//! RFC 9457 problem documents: the one error shape of every Delos service.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Where every service serves the descriptions of its problem types.
pub const TYPES_PATH: &str = "/problems";

/// A problem type with more to say than its HTTP status: its `type` URI,
/// `/problems/<code with dashes>`, is served by the service that answered.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct ProblemType {
    /// The stable `code` member of problems of this type.
    pub code: &'static str,
    /// What happened, in a few words.
    pub title: &'static str,
    /// What it means and what a client should do.
    pub description: &'static str,
}

/// Codes that say nothing beyond their status and get `about:blank` (RFC 9457 §4.2.1).
pub const BLANK: [&str; 4] = ["not_found", "method_not_allowed", "bad_request", "internal_error"];

/// The codes the shared frame answers with in every service: bodies and query
/// strings it cannot use, readiness, and a dependency that is down.
pub const FRAME: &[ProblemType] = &[
    ProblemType {
        code: "validation_failed",
        title: "A field of the request is invalid",
        description: "A query parameter or body field is missing, of the wrong type or out of range. \
                      `errors` lists each field with its message; fix them and send the request again.",
    },
    ProblemType {
        code: "malformed_json",
        title: "The body is not JSON",
        description: "The request body could not be parsed as JSON. Send valid JSON with \
                      `Content-Type: application/json`.",
    },
    ProblemType {
        code: "unsupported_media_type",
        title: "The body has the wrong media type",
        description: "This route reads `application/json` bodies; send the body with that `Content-Type`.",
    },
    ProblemType {
        code: "body_too_large",
        title: "The body is over the size limit",
        description: "The request body is larger than the service accepts (`DELOS_<SERVICE>__HTTP__BODY_LIMIT`, \
                      64 KiB by default). Send a smaller body or split it into batches.",
    },
    ProblemType {
        code: "dependency_unavailable",
        title: "A service this one needs is down",
        description: "`dependency` names the service or store that cannot be reached. Nothing was changed; \
                      retry after `Retry-After` seconds.",
    },
    ProblemType {
        code: "not_ready",
        title: "The service is not ready",
        description: "One or more dependencies fail their check; `failing` names them and `checks` has each output.",
    },
];

/// Added by services with rate-limited routes ([`crate::rate_limit`]).
pub const RATE_LIMITED: &[ProblemType] = &[ProblemType {
    code: "rate_limited",
    title: "Too many requests",
    description: "The client used its request budget (60 a minute unless its API key has a higher limit). \
                      `Retry-After` says when to try again; `RateLimit` and `RateLimit-Policy` on every response \
                      show the budget.",
}];

/// Added by services with internal routes that need the service token.
pub const SERVICE_TOKEN: &[ProblemType] = &[ProblemType {
    code: "unauthorized",
    title: "Credentials are required",
    description: "Internal mutating routes need `Authorization: Bearer <service token>` \
                      (`DELOS__COMMON__SERVICE_TOKEN`); restricted public routes an API key (`X-API-Key`) \
                      or a bearer token they know.",
}];

/// Added by services whose restricted routes take API keys with rights or bearer
/// tokens ([`crate::auth`]).
pub const CALLERS: &[ProblemType] = &[
    ProblemType {
        code: "unauthorized",
        title: "Credentials are required",
        description: "Internal mutating routes need `Authorization: Bearer <service token>` \
                      (`DELOS__COMMON__SERVICE_TOKEN`); restricted public routes an API key (`X-API-Key`) \
                      or a bearer token they know.",
    },
    ProblemType {
        code: "forbidden",
        title: "The credentials lack the right",
        description: "The API key is known but does not carry the right this route needs; `right` names it.",
    },
    ProblemType {
        code: "invalid_token",
        title: "The bearer token was refused",
        description: "The `Authorization: Bearer` token is malformed, expired, not yet valid, of another issuer or \
                      audience, or signed with a key or algorithm that is not accepted; `detail` and the \
                      `WWW-Authenticate` challenge say which. Get a new token.",
    },
];

/// Added by services that call others through [`crate::service_client::ServiceClient`].
pub const UPSTREAM: &[ProblemType] = &[
    ProblemType {
        code: "bad_upstream_response",
        title: "A dependency answered something unusable",
        description: "A service this one calls answered with a body it could not use. Nothing was changed.",
    },
    ProblemType {
        code: "upstream_refused",
        title: "A dependency refused the request",
        description: "A service this one calls refused the request; `detail` says why.",
    },
];

/// Added by the services that store orders (db_proxy) or relay its answers
/// (create_buy_order).
pub const ORDERS: &[ProblemType] = &[
    ProblemType {
        code: "btc_cap_exceeded",
        title: "The order would pass the 100 BTC cap",
        description: "All stored orders together may buy at most 100 BTC. This order would pass that cap; \
                      `remaining_btc` says how much is left. A smaller order may still fit (see `GET /capacity`).",
    },
    ProblemType {
        code: "idempotency_key_reused",
        title: "The idempotency key was used for another request",
        description: "An `Idempotency-Key` (or `client_order_id`) names one request. It was already used with \
                      different content; use a new key for a new request.",
    },
];

/// The `type` member for `code`: `/problems/<code-with-dashes>`, a URI reference
/// resolved against the request's URL and so served by the service that answered
/// (each lists its own types: [`crate::http::AppContext::with_problems`]);
/// `about:blank` for the [`BLANK`] codes.
pub fn type_uri(code: &str) -> String {
    if BLANK.contains(&code) {
        "about:blank".to_string()
    } else {
        format!("{TYPES_PATH}/{}", slug(code))
    }
}

/// The path segment of a code: `btc_cap_exceeded` → `btc-cap-exceeded`.
pub fn slug(code: &str) -> String {
    code.replace('_', "-")
}

/// A service's catalogue: the shared groups it uses, then its own types, each code once.
pub fn catalogue(groups: &[&[ProblemType]]) -> Vec<ProblemType> {
    let mut all: Vec<ProblemType> = Vec::new();
    for t in groups.iter().flat_map(|g| g.iter()) {
        if !all.iter().any(|a| a.code == t.code) {
            all.push(*t);
        }
    }
    all
}

/// Declares a service's own problem codes as one enum: each variant maps to its code,
/// HTTP status, title and description in one place, and gets `Code::X.problem(detail)`,
/// `status()`, `problem_type()` and `Code::types()` (for the service's catalogue).
#[macro_export]
macro_rules! problem_codes {
    ($(#[$meta:meta])* $vis:vis enum $name:ident {
        $($variant:ident => ($code:literal, $status:ident, $title:expr, $description:expr $(,)?)),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $name {
            $($variant),+
        }

        impl $name {
            /// Every code, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The HTTP status of problems of this code.
            pub fn status(self) -> ::actix_web::http::StatusCode {
                match self {
                    $($name::$variant => ::actix_web::http::StatusCode::$status),+
                }
            }

            /// The code's type: what `/problems/<code>` describes.
            pub fn problem_type(self) -> $crate::problem::ProblemType {
                match self {
                    $($name::$variant => $crate::problem::ProblemType {
                        code: $code,
                        title: $title,
                        description: $description,
                    }),+
                }
            }

            /// Every code's type, for the catalogue.
            pub fn types() -> Vec<$crate::problem::ProblemType> {
                Self::ALL.iter().map(|c| c.problem_type()).collect()
            }

            /// A problem of this code.
            pub fn problem(self, detail: impl Into<String>) -> $crate::Problem {
                $crate::Problem::new(self.status(), self.problem_type().code, detail)
            }
        }
    };
}

/// A problem document. `code` is stable and meant for programs; `detail` for people.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    /// Extra members (e.g. `errors`, `remaining_btc`).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
    /// Seconds for the `Retry-After` header (503, 429).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem with the standard title of `status`.
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            type_: type_uri(code),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_string(),
            extra: Map::new(),
            retry_after: None,
        }
    }

    /// Adds an extension member.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }

    /// Sets `Retry-After`.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// 422 for one invalid field; `errors` lists it so clients can point at it.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("{field}: {message}"),
        )
        .with(
            "errors",
            serde_json::json!([{ "field": field, "message": message }]),
        )
    }

    /// 503 naming the dependency that is down.
    pub fn unavailable(dependency: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "dependency_unavailable",
            format!("{dependency} is unavailable; try again shortly"),
        )
        .with("dependency", dependency)
        .retry_after(2)
    }

    /// 422 for an idempotency key sent again with a different request.
    pub fn idempotency_key_reused() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this idempotency key was already used for a different request; use a new key",
        )
    }

    /// 401 for internal routes called without the right service token.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid service token is required (Authorization: Bearer)",
        )
    }

    /// 404 for a missing resource.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    /// 500 whose cause is logged, never shown.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "an unexpected error occurred; it has been logged",
        )
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        // The trace this answer belongs to (a problem passed on from another service
        // carries the same trace, so its `trace_id` is replaced by the same value).
        match crate::telemetry::current_trace() {
            Some(trace) => {
                let mut p = self.clone();
                p.extra
                    .insert("trace_id".into(), trace.trace_id.to_string().into());
                res.body(serde_json::to_string(&p).unwrap_or_default())
            }
            None => res.body(serde_json::to_string(self).unwrap_or_default()),
        }
    }
}

/// Problem for a JSON body that could not be used: 413 too big, 415 wrong type,
/// 400 not JSON, 422 JSON of the wrong shape.
pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let problem = match &err {
        E::OverflowKnownLength { length, limit } => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("body of {length} bytes is larger than the limit of {limit} bytes"),
        ),
        E::Overflow { limit } => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("body is larger than the limit of {limit} bytes"),
        ),
        E::ContentType => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ),
        E::Deserialize(e) if e.is_data() => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            e.to_string(),
        ),
        E::Deserialize(e) => Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("body is not valid JSON: {e}"),
        ),
        other => Problem::new(StatusCode::BAD_REQUEST, "bad_request", other.to_string()),
    };
    problem.into()
}

/// Problem for a query string that does not fit the route: 422.
pub fn query_error(err: actix_web::error::QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        format!("query string: {err}"),
    )
    .into()
}

/// Problem for a path segment that does not parse: 404 (no such resource).
pub fn path_error(err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    Problem::not_found(format!("no such resource: {err}")).into()
}

/// A problem for any status, used to replace non-problem error bodies.
pub fn for_status(status: StatusCode, path: &str, method: &str) -> Problem {
    match status {
        StatusCode::NOT_FOUND => Problem::not_found(format!("no route for {method} {path}")),
        StatusCode::METHOD_NOT_ALLOWED => Problem::new(
            status,
            "method_not_allowed",
            format!("{method} is not allowed on {path}"),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            Problem::new(status, "body_too_large", "body is larger than the limit")
        }
        s if s.is_server_error() => Problem::internal(),
        s => Problem::new(s, "bad_request", s.canonical_reason().unwrap_or("error")),
    }
}
