//! Redis-backed rate limits for public routes, shared by every replica.
//!
//! Fixed one-minute windows counted with `INCR` + `EXPIRE` in one transaction.
//! Clients are identified by `X-API-Key` when given (hashed before it reaches
//! Redis), else by peer address. Every answer carries the IETF `RateLimit-Policy`
//! and `RateLimit` fields; over budget gets 429 with `Retry-After`. When Redis is
//! down the route answers 503: the budget cannot be checked, so nothing is served
//! unmetered.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError, web};
use sha2::{Digest, Sha256};

use crate::http::header_value;
use crate::problem::Problem;

/// Fixed windows, aligned to the clock (Unix time / 60).
const WINDOW_SECS: u64 = 60;

/// The current window's number and the whole seconds until it resets
/// (rounded up, so the reset has happened once they have passed).
pub fn current_window() -> (u64, u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let window = now / WINDOW_SECS;
    (window, (window + 1) * WINDOW_SECS - now)
}

/// Who is calling: `key:<hash>` for API-key clients, `ip:<addr>` otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(pub String);

impl ClientId {
    /// Identifies the caller of `req`.
    pub fn of(req: &HttpRequest) -> (Self, Option<String>) {
        if let Some(key) = api_key(req) {
            let digest = Sha256::digest(key.as_bytes());
            let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
            return (ClientId(format!("key:{hex}")), Some(key));
        }
        let addr = req
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|| "unknown".into());
        (ClientId(format!("ip:{addr}")), None)
    }
}

impl FromRequest for ClientId {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let id = req
            .extensions()
            .get::<ClientId>()
            .cloned()
            .unwrap_or_else(|| ClientId::of(req).0);
        std::future::ready(Ok(id))
    }
}

fn api_key(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
}

/// The limiter; put it in app data as `web::Data<RateLimiter>` and wrap public
/// scopes with `from_fn(rate_limit)`.
#[derive(Clone)]
pub struct RateLimiter {
    redis: crate::redis::Redis,
    prefix: String,
    default_limit: u32,
    key_limits: Arc<HashMap<String, u32>>,
}

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    pub limit: u32,
    pub remaining: u32,
    pub reset_secs: u64,
    pub allowed: bool,
}

impl RateLimiter {
    /// `prefix` namespaces the keys (per service and per test).
    pub fn new(
        redis: crate::redis::Redis,
        prefix: &str,
        default_limit: u32,
        key_limits: HashMap<String, u32>,
    ) -> Self {
        Self {
            redis,
            prefix: prefix.to_string(),
            default_limit,
            key_limits: Arc::new(key_limits),
        }
    }

    /// Counts one request of `client`.
    pub async fn check(&self, client: &ClientId, api_key: Option<&str>) -> Result<Decision, anyhow::Error> {
        let limit = api_key
            .and_then(|k| self.key_limits.get(k).copied())
            .unwrap_or(self.default_limit);
        let (window, reset_secs) = current_window();
        let key = format!("{}rl:{}:{window}", self.prefix, client.0);
        let (count,): (u64,) = redis::pipe()
            .atomic()
            .incr(&key, 1u64)
            .expire(&key, i64::try_from(WINDOW_SECS * 2).unwrap_or(120))
            .ignore()
            .query_async(&mut self.redis.clone())
            .await?;
        let allowed = count <= u64::from(limit);
        let remaining = u32::try_from(u64::from(limit).saturating_sub(count)).unwrap_or(0);
        Ok(Decision {
            limit,
            remaining,
            reset_secs,
            allowed,
        })
    }
}

fn with_headers(mut res: ServiceResponse<BoxBody>, d: &Decision) -> ServiceResponse<BoxBody> {
    let h = res.headers_mut();
    h.insert(
        actix_web::http::header::HeaderName::from_static("ratelimit-policy"),
        header_value(&format!("\"default\";q={};w={WINDOW_SECS}", d.limit)),
    );
    h.insert(
        actix_web::http::header::HeaderName::from_static("ratelimit"),
        header_value(&format!("\"default\";r={};t={}", d.remaining, d.reset_secs)),
    );
    res
}

/// Middleware for public routes.
pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(limiter) = req.app_data::<web::Data<RateLimiter>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let (client, key) = ClientId::of(req.request());
    req.extensions_mut().insert(client.clone());
    let decision = match limiter.check(&client, key.as_deref()).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "rate limiter cannot reach redis");
            let res = Problem::unavailable("redis").retry_after(2).error_response();
            return Ok(req.into_response(res).map_into_boxed_body());
        }
    };
    if !decision.allowed {
        let problem = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "more than {} requests a minute; retry in {} s",
                decision.limit, decision.reset_secs
            ),
        )
        .retry_after(decision.reset_secs);
        let res = req.into_response(problem.error_response()).map_into_boxed_body();
        return Ok(with_headers(res, &decision));
    }
    let res = next.call(req).await?.map_into_boxed_body();
    Ok(with_headers(res, &decision))
}
