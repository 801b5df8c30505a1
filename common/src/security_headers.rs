//! Security headers on every response, and CORS by configuration.
//!
//! Every answer carries `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
//! `Referrer-Policy: no-referrer` and a `Content-Security-Policy` that allows only
//! this origin (plus inline styles and scripts, which the server-rendered pages, the
//! GraphQL page and Swagger UI use; none of them loads anything from elsewhere).
//!
//! CORS: no cross-origin access unless the service puts a [`Cors`] with allowed
//! origins in app data (the originals allowed `*`). An allowed origin gets
//! `Access-Control-Allow-Origin` naming it (never `*`) and preflights are answered
//! 204; any other origin gets no CORS headers, so browsers refuse the response.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Deserializer, Serialize};

/// The policy every response carries.
pub const CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; \
                       img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; \
                       frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// CORS settings (`…__CORS__ALLOWED_ORIGINS=https://a.example,https://b.example`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Cors {
    /// Origins allowed to call the API from a browser; empty (the default) allows none.
    #[serde(deserialize_with = "origins")]
    pub allowed_origins: Vec<String>,
}

fn origins<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }
    let list = match Raw::deserialize(d)? {
        Raw::One(s) => s.split(',').map(str::to_owned).collect(),
        Raw::Many(v) => v,
    };
    Ok(list
        .into_iter()
        .map(|o| o.trim().trim_end_matches('/').to_string())
        .filter(|o| !o.is_empty())
        .collect())
}

impl Cors {
    fn allows(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| o == origin)
    }
}

fn set(res: &mut HttpResponse<BoxBody>, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        res.headers_mut().insert(name, v);
    }
}

fn secure(res: &mut HttpResponse<BoxBody>) {
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
}

/// The middleware (wrapped around every app by `common::http::serve`).
pub async fn security(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let allowed = origin
        .as_deref()
        .filter(|o| req.app_data::<web::Data<Cors>>().is_some_and(|c| c.allows(o)));
    let allowed = allowed.map(str::to_owned);
    let preflight = req.method() == actix_web::http::Method::OPTIONS
        && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut res = if preflight && allowed.is_some() {
        let mut r = HttpResponse::NoContent().finish();
        set(&mut r, header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS");
        set(
            &mut r,
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "authorization, content-type, x-api-key, idempotency-key, x-request-id",
        );
        set(&mut r, header::ACCESS_CONTROL_MAX_AGE, "600");
        req.into_response(r)
    } else {
        next.call(req).await?.map_into_boxed_body()
    };
    let r = res.response_mut();
    secure(r);
    if origin.is_some() {
        set(r, header::VARY, "Origin");
    }
    if let Some(o) = allowed {
        set(r, header::ACCESS_CONTROL_ALLOW_ORIGIN, &o);
        set(
            r,
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            "location, retry-after, ratelimit, ratelimit-policy, x-request-id, www-authenticate",
        );
    }
    Ok(res)
}
