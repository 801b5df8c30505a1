//! Wiring: the pool (database `lambo`, migrated), the bundled import, Redis,
//! the providers, the query log, the reporter, the server.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use common::http::{AppContext, ServiceHandle};
use common::rate_limit::RateLimiter;
use sqlx::PgPool;
use utoipa::OpenApi;

use crate::checker::Checker;
use crate::config::Settings;
use crate::querylog::QueryLog;
use crate::state::{GrpcBridge, State};
use crate::{MIGRATOR, bundled, grpc, providers, routes};

/// Builds lambo_checker: creates and migrates its database, imports the bundled
/// history if that was not done before, then serves.
pub async fn build(settings: Settings) -> anyhow::Result<ServiceHandle> {
    settings.validate()?;
    let pool = common::db::connect(&settings.pg, &MIGRATOR).await?;
    build_with_pool(settings, pool).await
}

/// Imports the bundled BTC history (idempotent); returns what it did.
pub async fn import_bundled(
    pool: &PgPool,
    progress: impl FnMut(usize, usize),
) -> anyhow::Result<bundled::Imported> {
    bundled::import(
        pool,
        "btc_usd_monthly_2012_2024.csv",
        bundled::BTC_MONTHLY_CSV,
        progress,
    )
    .await
}

/// Builds on an existing, migrated pool.
pub async fn build_with_pool(settings: Settings, pool: PgPool) -> anyhow::Result<ServiceHandle> {
    settings.validate()?;
    let http =
        common::service_client::http_client(Duration::from_millis(settings.common.client_timeout_millis));
    let redis = common::redis::connect(&settings.redis)?;
    let key_prefix = format!("{}lambo_checker:", settings.redis.key_prefix);
    let limiter = RateLimiter::new(redis.clone(), &key_prefix, &settings.rate_limit)?;
    let mut ctx = AppContext::new(
        "lambo_checker",
        routes::ApiDoc::openapi(),
        &settings.http,
        &settings.common,
        crate::problems::catalogue(),
    );
    ctx.readiness = ctx.readiness.clone().postgres(pool.clone()).redis(redis.clone());
    ctx.metrics.watch_pool("main", &pool);
    ctx.metrics.watch_redis(&redis);
    let (reporter, reporter_task) =
        common::reporter::Reporter::start(&settings.common.reporter, &ctx, http.clone());
    let (log, log_task) = QueryLog::start(pool.clone(), &ctx.metrics);
    let http_jwt = http.clone();
    let chain = providers::chain(&settings.provider_chain(), http)?;
    let checker = Arc::new(Checker::new(
        pool.clone(),
        redis,
        chain,
        log,
        key_prefix,
        settings.checker(),
    ));
    if settings.import_bundled {
        let done = import_bundled(&pool, |_, _| {}).await?;
        if done.new > 0 {
            checker.cache.bump_data_version().await;
            tracing::info!(rows = done.rows, new = done.new, "bundled BTC history imported");
        }
    }
    let mut grpc_port = None;
    let mut grpc_task = None;
    if settings.grpc.enabled {
        let listener = tokio::net::TcpListener::bind((settings.grpc.host.as_str(), settings.grpc.port))
            .await
            .with_context(|| {
                format!(
                    "cannot listen for gRPC on {}:{}",
                    settings.grpc.host, settings.grpc.port
                )
            })?;
        grpc_port = Some(listener.local_addr()?.port());
        grpc_task = Some(grpc::serve(listener, checker.clone(), ctx.tracer.clone()).await?);
    }
    let grpc_url = match (settings.grpc.url.trim(), grpc_port) {
        ("", Some(port)) => format!("http://127.0.0.1:{port}"),
        ("", None) => String::new(),
        (url, _) => url.to_string(),
    };
    let grpc = GrpcBridge {
        client: if grpc_url.is_empty() {
            None
        } else {
            Some(grpc::client(&grpc_url)?)
        },
        port: grpc_port,
    };
    let warm_up = (settings.warm_up && !settings.providers.is_empty()).then(|| {
        let checker = checker.clone();
        tokio::spawn(async move { checker.history.warm_up().await })
    });
    let auth = common::auth::Authenticator::new(&settings.jwt, settings.api_keys.clone(), http_jwt)?;
    let jobs = crate::jobs::Jobs::new(pool.clone(), settings.jobs.clone());
    let workers = jobs.start(checker.clone());
    let schema = actix_web::web::Data::new(crate::graphql::schema(checker.clone()));
    let state = actix_web::web::Data::new(State {
        checker,
        jobs,
        grpc,
        auth,
    });
    let strict = actix_web::web::Data::new(common::rate_limit::StrictRateLimiter::new(
        &limiter,
        &settings.rate_limit,
    ));
    let cors = actix_web::web::Data::new(settings.cors.clone());
    let limiter = actix_web::web::Data::new(limiter);
    let reporter = actix_web::web::Data::new(reporter);
    let listener = common::http::bind(&settings.http)?;
    let mut handle = common::http::serve(listener, settings.http.workers, ctx, move |cfg| {
        cfg.app_data(state.clone())
            .app_data(schema.clone())
            .app_data(limiter.clone())
            .app_data(strict.clone())
            .app_data(cors.clone())
            .app_data(reporter.clone())
            .configure(routes::configure);
    })?;
    handle.add_task(log_task);
    for w in workers {
        handle.add_task(w);
    }
    if let Some(task) = warm_up {
        handle.add_task(task);
    }
    if let Some(task) = grpc_task {
        handle.add_task(task);
    }
    if let Some(task) = reporter_task {
        handle.add_task(task);
    }
    Ok(handle)
}
