//! Redis-backed rate limits for public routes, shared by every replica.
//!
//! Fixed one-minute windows counted in Redis with `INCRBY` + `EXPIRE` in one
//! transaction. A replica takes a slice of a client's budget at a time and spends
//! it locally: one request when the budget is small (every request counted in
//! Redis, as the limit is exact), up to 1/64 of it for a large one (an API key
//! with a high limit pays one round trip per many requests). Slices are carved
//! out of the shared count, so the replicas together never admit more than the
//! limit; a slice left unspent when the window ends only makes the client's
//! budget smaller, never larger. A client over its budget is refused locally for
//! the rest of the window.
//! Clients are identified by `X-API-Key` when given (hashed before it reaches
//! Redis), else by peer address, or by the address a trusted reverse proxy
//! (the compose gateway) puts last in `X-Forwarded-For`. Every answer carries the IETF `RateLimit-Policy`
//! and `RateLimit` fields; over budget gets 429 with `Retry-After`. When Redis is
//! down the route answers 503 as soon as the replica's slice is spent: the budget
//! cannot be checked, so nothing is served unmetered.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError, web};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
        let trusted = req
            .app_data::<web::Data<RateLimiter>>()
            .map(|l| l.trusted_proxies.clone())
            .unwrap_or_default();
        Self::behind(req, &trusted)
    }

    /// Identifies the caller of `req`, believing `X-Forwarded-For` only from `trusted` peers.
    pub fn behind(req: &HttpRequest, trusted: &[IpNet]) -> (Self, Option<String>) {
        if let Some(key) = api_key(req) {
            let digest = Sha256::digest(key.as_bytes());
            let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
            return (ClientId(format!("key:{hex}")), Some(key));
        }
        let peer = req.peer_addr().map(|a| a.ip());
        let forwarded = peer
            .filter(|p| trusted.iter().any(|net| net.contains(*p)))
            .and_then(|_| forwarded_for(req));
        let addr = forwarded
            .or(peer)
            .map_or_else(|| "unknown".to_string(), |a| a.to_string());
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

/// An address or a network (`10.89.0.0/24`, `fd00::/8`, `127.0.0.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// True when `ip` lies in the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for IpNet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not an IP address or network");
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().map_err(|_| bad())?,
            None => max,
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(Self { addr, prefix })
    }
}

/// The last (proxy-appended) address of `X-Forwarded-For`.
fn forwarded_for(req: &HttpRequest) -> Option<IpAddr> {
    req.headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .last()
        .and_then(|a| a.trim().parse().ok())
}

fn api_key(req: &HttpRequest) -> Option<String> {
    crate::auth::api_key(req)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
}

/// Per-client request budget on public routes.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct RateLimitSettings {
    /// Requests per minute for a client without a special key.
    pub per_minute: u32,
    /// `KEY=LIMIT` entries giving API keys their own per-minute budget.
    pub api_keys: Vec<String>,
    /// Addresses or networks (`10.89.0.0/24`) of reverse proxies whose
    /// `X-Forwarded-For` names the client (the compose gateway); empty: the
    /// peer address is the client.
    pub trusted_proxies: Vec<String>,
    /// Requests per minute on the stricter routes (restricted, job submission), as
    /// the originals had them; `api_keys` limits apply there too.
    pub strict_per_minute: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            per_minute: 60,
            api_keys: Vec::new(),
            trusted_proxies: Vec::new(),
            strict_per_minute: 30,
        }
    }
}

impl RateLimitSettings {
    /// Parses `api_keys` into a map; a malformed entry names itself.
    pub fn key_limits(&self) -> anyhow::Result<HashMap<String, u32>> {
        self.api_keys
            .iter()
            .filter(|e| !e.trim().is_empty())
            .map(|entry| {
                let (key, limit) = entry
                    .split_once('=')
                    .ok_or_else(|| anyhow::anyhow!("rate_limit.api_keys entry {entry:?} is not KEY=LIMIT"))?;
                let limit = limit.trim().parse().map_err(|_| {
                    anyhow::anyhow!("rate_limit.api_keys entry {entry:?}: limit is not a number")
                })?;
                Ok((key.trim().to_string(), limit))
            })
            .collect()
    }

    /// Parses `trusted_proxies`; a malformed entry names itself.
    pub fn trusted_proxies(&self) -> anyhow::Result<Vec<IpNet>> {
        self.trusted_proxies
            .iter()
            .filter(|e| !e.trim().is_empty())
            .map(|a| {
                a.trim()
                    .parse()
                    .map_err(|e| anyhow::anyhow!("rate_limit.trusted_proxies entry: {e}"))
            })
            .collect()
    }
}

/// The limiter; put it in app data as `web::Data<RateLimiter>` and wrap public
/// scopes with `from_fn(rate_limit)`.
#[derive(Clone)]
pub struct RateLimiter {
    redis: crate::redis::Redis,
    prefix: String,
    default_limit: u32,
    key_limits: Arc<HashMap<String, u32>>,
    trusted_proxies: Arc<[IpNet]>,
    slices: Arc<Mutex<Slices>>,
}

/// The largest slice is this fraction of the limit (and at most [`MAX_SLICE`]):
/// with R replicas at most R/64 of a budget can be left unspent in a window.
const SLICE_DIVISOR: u32 = 64;
const MAX_SLICE: u32 = 1024;

/// The budget this replica holds, per Redis key (client and window).
#[derive(Default)]
struct Slices {
    window: u64,
    by_key: HashMap<String, Slice>,
}

struct Slice {
    /// Requests this replica may still admit without asking Redis.
    left: u32,
    /// The size of the next slice (doubles while the client keeps coming).
    next: u32,
    /// The shared count after this replica's last take.
    counted: u64,
    /// The budget was used up: refused until the window ends.
    exhausted: bool,
}

/// Clients one replica keeps slices for in a window; past it (a flood of new
/// addresses) it forgets them all: a slice forgotten is budget lost, never gained.
const MAX_CLIENTS: usize = 100_000;

impl Slices {
    /// Forgets the slices of ended windows, or all of them when there are too many.
    fn roll(&mut self, window: u64) {
        if self.window != window || self.by_key.len() >= MAX_CLIENTS {
            self.window = window;
            self.by_key.clear();
        }
    }
}

/// The largest slice for `limit`: 1 up to 127 a minute (every request counted in
/// Redis), then limit/64, at most 1024.
fn max_slice(limit: u32) -> u32 {
    (limit / SLICE_DIVISOR).clamp(1, MAX_SLICE)
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
    /// The only way to build a limiter: `prefix` namespaces the keys (per service
    /// and per test), `settings` give the budgets and the proxies whose
    /// `X-Forwarded-For` names the client. One constructor, so that no public
    /// service can forget the proxies and make every client behind them share one budget.
    pub fn new(
        redis: crate::redis::Redis,
        prefix: &str,
        settings: &RateLimitSettings,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            redis,
            prefix: prefix.to_string(),
            default_limit: settings.per_minute,
            key_limits: Arc::new(settings.key_limits()?),
            trusted_proxies: settings.trusted_proxies()?.into(),
            slices: Arc::default(),
        })
    }

    /// Counts one request of `client`: from this replica's slice of the budget,
    /// or by taking a new slice from Redis.
    pub async fn check(&self, client: &ClientId, api_key: Option<&str>) -> Result<Decision, anyhow::Error> {
        let limit = api_key
            .and_then(|k| self.key_limits.get(k).copied())
            .unwrap_or(self.default_limit);
        let (window, reset_secs) = current_window();
        let key = format!("{}rl:{}:{window}", self.prefix, client.0);
        let decision = |allowed: bool, counted: u64, left: u32| Decision {
            limit,
            remaining: u32::try_from(u64::from(limit).saturating_sub(counted) + u64::from(left))
                .unwrap_or(limit)
                .min(limit),
            reset_secs,
            allowed,
        };
        let size = {
            let mut slices = self.lock();
            slices.roll(window);
            match slices.by_key.get_mut(&key) {
                Some(s) if s.exhausted => return Ok(decision(false, s.counted, 0)),
                Some(s) if s.left > 0 => {
                    s.left -= 1;
                    return Ok(decision(true, s.counted, s.left));
                }
                Some(s) => s.next,
                None => 1,
            }
        };
        let (counted,): (u64,) = redis::pipe()
            .atomic()
            .incr(&key, size)
            .expire(&key, i64::try_from(WINDOW_SECS * 2).unwrap_or(120))
            .ignore()
            .query_async(&mut self.redis.clone())
            .await?;
        let before = counted.saturating_sub(u64::from(size));
        let granted = u64::from(limit).saturating_sub(before).min(u64::from(size));
        let granted = u32::try_from(granted).unwrap_or(0);
        let mut slices = self.lock();
        slices.roll(window);
        let s = slices.by_key.entry(key).or_insert(Slice {
            left: 0,
            next: 1,
            counted,
            exhausted: false,
        });
        s.counted = s.counted.max(counted);
        s.next = s.next.saturating_mul(2).min(max_slice(limit));
        if granted == 0 {
            s.exhausted = true;
            return Ok(decision(false, s.counted, 0));
        }
        // One of the granted requests is this one.
        s.left += granted - 1;
        Ok(decision(true, s.counted, s.left))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slices> {
        // A panic while holding the lock leaves plain counters; still usable.
        self.slices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
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

/// The stricter limiter (`rate_limit.strict_per_minute`) for restricted routes and
/// job submission; put it in app data and wrap those routes with `from_fn(rate_limit_strict)`.
#[derive(Clone)]
pub struct StrictRateLimiter(pub RateLimiter);

impl StrictRateLimiter {
    /// A limiter of `settings.strict_per_minute` with its own counters
    /// (`<prefix>strict:`), trusting the same proxies as `base`.
    pub fn new(base: &RateLimiter, settings: &RateLimitSettings) -> Self {
        let mut l = base.clone();
        l.prefix = format!("{}strict:", base.prefix);
        l.default_limit = settings.strict_per_minute;
        Self(l)
    }
}

/// Middleware for public routes.
pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let limiter = req
        .app_data::<web::Data<RateLimiter>>()
        .map(|l| l.get_ref().clone());
    limit_with(limiter, req, next).await
}

/// Middleware for the stricter routes (falls back to the normal limiter if no strict one is configured).
pub async fn rate_limit_strict(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let limiter = req
        .app_data::<web::Data<StrictRateLimiter>>()
        .map(|l| l.0.clone())
        .or_else(|| {
            req.app_data::<web::Data<RateLimiter>>()
                .map(|l| l.get_ref().clone())
        });
    limit_with(limiter, req, next).await
}

async fn limit_with(
    limiter: Option<RateLimiter>,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(limiter) = limiter else {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn client(peer: &str, xff: Option<&str>, trusted: &[IpNet]) -> String {
        let mut req = actix_web::test::TestRequest::default().peer_addr(peer.parse().unwrap());
        if let Some(v) = xff {
            req = req.insert_header(("x-forwarded-for", v));
        }
        ClientId::behind(&req.to_http_request(), trusted).0.0
    }

    fn limiter(redis: &crate::redis::Redis, prefix: &str, keys: &[&str]) -> RateLimiter {
        let settings = RateLimitSettings {
            per_minute: 60,
            api_keys: keys.iter().map(|k| k.to_string()).collect(),
            ..Default::default()
        };
        RateLimiter::new(redis.clone(), prefix, &settings).unwrap()
    }

    fn redis() -> crate::redis::Redis {
        crate::redis::connect(&crate::config::RedisSettings::default()).unwrap()
    }

    async fn shared_count(redis: &crate::redis::Redis, prefix: &str, client: &ClientId) -> u64 {
        let key = format!("{prefix}rl:{}:{}", client.0, current_window().0);
        let n: Option<u64> = redis::cmd("GET")
            .arg(key)
            .query_async(&mut redis.clone())
            .await
            .unwrap();
        n.unwrap_or(0)
    }

    #[tokio::test]
    async fn a_small_budget_is_counted_in_redis_request_by_request() {
        crate::testing::within_one_rate_window(std::time::Duration::from_secs(10)).await;
        let redis = redis();
        let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
        let (a, b) = (limiter(&redis, &prefix, &[]), limiter(&redis, &prefix, &[]));
        let client = ClientId("ip:203.0.113.9".into());
        for i in 1..=60u64 {
            let d = if i % 2 == 0 { &a } else { &b }
                .check(&client, None)
                .await
                .unwrap();
            assert!(d.allowed, "request {i}");
            assert_eq!(u64::from(d.remaining), 60 - i);
            assert_eq!(
                shared_count(&redis, &prefix, &client).await,
                i,
                "every request in Redis"
            );
        }
        assert!(!a.check(&client, None).await.unwrap().allowed);
        assert!(!b.check(&client, None).await.unwrap().allowed);
    }

    #[tokio::test]
    async fn replicas_taking_slices_never_admit_more_than_the_limit_together() {
        crate::testing::within_one_rate_window(std::time::Duration::from_secs(20)).await;
        let redis = redis();
        let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
        let replicas: Vec<RateLimiter> = (0..3).map(|_| limiter(&redis, &prefix, &["big=5000"])).collect();
        let client = ClientId("key:big".into());
        let mut tasks = Vec::new();
        for (i, r) in replicas.iter().enumerate() {
            for _ in 0..8 {
                let (r, client) = (r.clone(), client.clone());
                tasks.push(tokio::spawn(async move {
                    let mut allowed = 0u32;
                    // Each replica gets a different share of the 9,000 requests.
                    for _ in 0..(250 * (i + 1)) {
                        if r.check(&client, Some("big")).await.unwrap().allowed {
                            allowed += 1;
                        }
                    }
                    allowed
                }));
            }
        }
        let mut allowed = 0;
        for t in tasks {
            allowed += t.await.unwrap();
        }
        let counted = shared_count(&redis, &prefix, &client).await;
        assert!(allowed <= 5000, "admitted {allowed} of a budget of 5000");
        // Unspent slices: at most one largest slice (5000/64 = 78) per replica and task.
        assert!(allowed >= 5000 - 3 * 8 * 78, "admitted only {allowed}");
        assert!(
            counted >= u64::from(allowed),
            "every admitted request was taken from Redis"
        );
        let one = &replicas[0];
        let over = one.check(&client, Some("big")).await.unwrap();
        assert!(!over.allowed && over.remaining == 0);
    }

    #[test]
    fn slices_grow_to_a_64th_of_the_limit() {
        assert_eq!(max_slice(60), 1);
        assert_eq!(max_slice(127), 1);
        assert_eq!(max_slice(6400), 100);
        assert_eq!(max_slice(1_000_000_000), MAX_SLICE);
    }

    #[test]
    fn key_limits_parse_and_name_bad_entries() {
        let s = RateLimitSettings {
            per_minute: 60,
            api_keys: vec!["load=100000".into(), " a = 5 ".into()],
            ..Default::default()
        };
        let m = s.key_limits().unwrap();
        assert_eq!(m["load"], 100_000);
        assert_eq!(m["a"], 5);
        let bad = RateLimitSettings {
            per_minute: 60,
            api_keys: vec!["oops".into()],
            trusted_proxies: vec!["10.0.0.1".into(), "gateway".into()],
            ..RateLimitSettings::default()
        };
        assert!(bad.key_limits().unwrap_err().to_string().contains("oops"));
        assert!(bad.trusted_proxies().unwrap_err().to_string().contains("gateway"));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let gateway: IpNet = "10.89.0.0/24".parse().unwrap();
        let via_gateway = client("10.89.0.10:4000", Some("6.6.6.6, 203.0.113.7"), &[gateway]);
        assert_eq!(via_gateway, "ip:203.0.113.7", "the proxy-appended entry");
        let spoofed = client("198.51.100.1:4000", Some("203.0.113.7"), &[gateway]);
        assert_eq!(spoofed, "ip:198.51.100.1", "a direct client cannot pick its id");
        let no_header = client("10.89.0.10:4000", None, &[gateway]);
        assert_eq!(no_header, "ip:10.89.0.10");
        let garbage = client("10.89.0.10:4000", Some("not-an-ip"), &[gateway]);
        assert_eq!(garbage, "ip:10.89.0.10");
    }

    #[test]
    fn networks_parse_and_match() {
        let net: IpNet = "10.89.0.0/24".parse().unwrap();
        assert!(net.contains("10.89.0.255".parse().unwrap()));
        assert!(!net.contains("10.89.1.0".parse().unwrap()));
        let host: IpNet = "127.0.0.1".parse().unwrap();
        assert!(host.contains("127.0.0.1".parse().unwrap()));
        assert!(!host.contains("127.0.0.2".parse().unwrap()));
        let v6: IpNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        for bad in ["10.0.0.0/33", "gateway", "10.0.0.0/x", "::/129"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }
}
