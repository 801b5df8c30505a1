//! # fetch_buy_orders (port 8020, public, stateless)
//!
//! Pages through the stored orders, newest first: `GET /get_orders` (and
//! `/get_orders/`) with `page_size` (default 10, max 100) and either `start`
//! (offset, as originally) or `cursor` (opaque, from `next_cursor`); both are
//! O(page) in `db_proxy`. Also `GET /orders/{id}` and `GET /capacity`.
//! Rate limited per client in Redis. Calls `db_proxy`, Redis and `health_check`.

mod routes;

use std::time::Duration;

use actix_web::web;
use common::client::ServiceClient;
use common::clients::DbProxyClient;
use common::config::{CommonSettings, HttpSettings, RateLimitSettings, RedisSettings};
use common::http::{AppContext, ServiceHandle};
use common::rate_limit::RateLimiter;
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;

/// fetch_buy_orders settings (`DELOS_FETCH_BUY_ORDERS__…`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub http: HttpSettings,
    pub redis: RedisSettings,
    pub rate_limit: RateLimitSettings,
    pub common: CommonSettings,
    /// Base URL of db_proxy.
    pub db_proxy_url: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings::on_port(8020),
            redis: RedisSettings::default(),
            rate_limit: RateLimitSettings::default(),
            common: CommonSettings::default(),
            db_proxy_url: "http://127.0.0.1:8010".into(),
        }
    }
}

impl Settings {
    /// Loads defaults → `DELOS_CONFIG` file → environment.
    pub fn load() -> anyhow::Result<Self> {
        common::config::load("fetch_buy_orders")
    }
}

/// Starts the service.
pub async fn build(settings: Settings) -> anyhow::Result<ServiceHandle> {
    let http = common::client::http_client(Duration::from_millis(settings.common.client_timeout_millis));
    let redis = common::redis::connect(&settings.redis)?;
    let db = DbProxyClient(ServiceClient::new(
        "db_proxy",
        &settings.db_proxy_url,
        http.clone(),
        settings.common.service_token.clone(),
    ));
    let limiter = RateLimiter::new(
        redis.clone(),
        &format!("{}fetch_buy_orders:", settings.redis.key_prefix),
        settings.rate_limit.per_minute,
        settings.rate_limit.key_limits()?,
    )
    .trusting(&settings.rate_limit)?;
    let mut ctx = AppContext::new(
        "fetch_buy_orders",
        routes::ApiDoc::openapi(),
        &settings.http,
        settings.common.service_token.clone(),
    );
    ctx.readiness =
        ctx.readiness
            .clone()
            .redis(redis)
            .service("db_proxy", http.clone(), &settings.db_proxy_url);
    let (reporter, reporter_task) = common::health::Reporter::start(&settings.common.reporter, &ctx, http);
    // The reporter's queue closes when its last handle drops; the app keeps one.
    let reporter = web::Data::new(reporter);
    let db = web::Data::new(db);
    let limiter = web::Data::new(limiter);
    let listener = common::http::bind(&settings.http)?;
    let mut handle = common::http::serve(listener, settings.http.workers, ctx, move |cfg| {
        cfg.app_data(db.clone())
            .app_data(limiter.clone())
            .app_data(reporter.clone())
            .configure(routes::configure);
    })?;
    if let Some(task) = reporter_task {
        handle.add_task(task);
    }
    Ok(handle)
}
