//! Wiring: clients of api_cache_proxy and db_proxy, Redis (rate limits,
//! in-flight keys), the reporter, the server.

use std::time::Duration;

use actix_web::web;
use common::http::{AppContext, ServiceHandle};
use common::internal_apis::{CacheProxyClient, DbProxyClient};
use common::rate_limit::RateLimiter;
use common::reporter::Reporter;
use common::service_client::ServiceClient;
use utoipa::OpenApi;

use crate::config::Settings;
use crate::in_flight::InFlight;
use crate::price::Prices;
use crate::routes;
use crate::state::State;

/// Starts the service. It starts while its dependencies are down and answers
/// 503 until they are back.
pub async fn build(settings: Settings) -> anyhow::Result<ServiceHandle> {
    settings.validate()?;
    let http =
        common::service_client::http_client(Duration::from_millis(settings.common.client_timeout_millis));
    let token = settings.common.service_token.clone();
    let redis = common::redis::connect(&settings.redis)?;
    let db = DbProxyClient(ServiceClient::new(
        "db_proxy",
        &settings.db_proxy_url,
        http.clone(),
        token.clone(),
    ));
    let cache = CacheProxyClient(ServiceClient::new(
        "api_cache_proxy",
        &settings.cache_proxy_url,
        http.clone(),
        token.clone(),
    ));
    let prefix = format!("{}create_buy_order:", settings.redis.key_prefix);
    let limiter = RateLimiter::new(redis.clone(), &prefix, &settings.rate_limit)?;
    let mut ctx = AppContext::new(
        "create_buy_order",
        routes::ApiDoc::openapi(),
        &settings.http,
        &settings.common,
        crate::problems::catalogue(),
    );
    ctx.readiness = ctx
        .readiness
        .clone()
        .redis(redis.clone())
        .service("db_proxy", http.clone(), &settings.db_proxy_url)
        .service("api_cache_proxy", http.clone(), &settings.cache_proxy_url);
    ctx.metrics.watch_redis(&redis);
    let state = web::Data::new(State {
        prices: Prices::new(
            cache,
            Duration::from_millis(settings.price_cache_millis),
            settings.max_quote_age_secs,
        ),
        db: db.clone(),
        in_flight: InFlight::new(
            redis,
            &settings.redis.key_prefix,
            Duration::from_secs(settings.in_flight_secs),
        ),
        placed: ctx.metrics.counter("orders_placed", "Orders placed"),
        replayed: ctx.metrics.counter(
            "orders_replayed",
            "Retries answered with the order placed earlier under the same idempotency key",
        ),
    });
    let (reporter, reporter_task) = Reporter::start(&settings.common.reporter, &ctx, http);
    // The reporter's queue closes when its last handle drops; the app keeps one.
    let reporter = web::Data::new(reporter);
    let db = web::Data::new(db);
    let limiter = web::Data::new(limiter);
    let listener = common::http::bind(&settings.http)?;
    let mut handle = common::http::serve(listener, settings.http.workers, ctx, move |cfg| {
        cfg.app_data(state.clone())
            .app_data(db.clone())
            .app_data(limiter.clone())
            .app_data(reporter.clone())
            .configure(routes::configure);
    })?;
    if let Some(task) = reporter_task {
        handle.add_task(task);
    }
    Ok(handle)
}
