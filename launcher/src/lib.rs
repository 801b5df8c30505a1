//! # delos — every Delos service in one process
//!
//! `delos up` starts each service on its usual port against Postgres and Redis at
//! their default local addresses (overridable), creating databases and running
//! migrations as each service starts. The same [`Stack`] is what the end-to-end
//! tests and the benchmarks start, on free ports. `delos describe` prints what the
//! services are (ports, routes, settings, calls) for the repository checks.

pub mod describe;

use anyhow::Context;
use common::config::{Secret, ServiceSettings};
use common::http::ServiceHandle;

/// Where the shared infrastructure is and how to run the services.
#[derive(Debug, Clone, Default)]
pub struct StackOptions {
    /// Postgres server URL without a database (`postgres://postgres@127.0.0.1:5432`).
    pub pg_url: Option<String>,
    /// Redis URL (`redis://127.0.0.1:6379`).
    pub redis_url: Option<String>,
    /// Prices from the `simulated` provider instead of the public APIs.
    pub offline: bool,
    /// Every service on port 0 (tests, benchmarks) instead of its usual port.
    pub any_port: bool,
    /// Prefix of every database name (tests give each stack its own databases).
    pub database_prefix: String,
    /// Prefix of every Redis key.
    pub redis_prefix: Option<String>,
    /// MQTT broker of sensor_api's ingest (`mqtt://127.0.0.1:1883`; empty: none);
    /// `None` leaves sensor_api's own setting.
    pub mqtt_url: Option<String>,
}

/// The running services.
pub struct Stack {
    pub services: Vec<ServiceHandle>,
    /// The token the services share for internal calls.
    pub token: Secret,
}

impl Stack {
    /// URL of a running service by name.
    pub fn url(&self, name: &str) -> Option<String> {
        self.services
            .iter()
            .find(|s| s.name == name)
            .map(ServiceHandle::url)
    }

    /// Stops every service, callers first.
    pub async fn stop(self) {
        for s in self.services.into_iter().rev() {
            s.stop().await;
        }
    }

    /// Runs until every service has stopped (Ctrl-C stops them all).
    pub async fn wait(self) -> anyhow::Result<()> {
        let waits = self
            .services
            .into_iter()
            .map(|s| async move { (s.name, s.wait().await) });
        for (name, result) in futures_util::future::join_all(waits).await {
            result.with_context(|| format!("{name} stopped with an error"))?;
        }
        Ok(())
    }
}

/// Checks that Postgres and Redis answer; the error says what was tried and how to start it.
pub async fn check_dependencies(opts: &StackOptions) -> anyhow::Result<()> {
    let mut pg = common::config::PgSettings::for_database("postgres");
    if let Some(url) = &opts.pg_url {
        pg.url.clone_from(url);
    }
    let pool = common::db::pool(&pg)?;
    if let Err(e) = sqlx::query("select 1").execute(&pool).await {
        anyhow::bail!(
            "Postgres is not reachable at {} ({e}).\n  Start it: `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`\n  \
             (Debian), `brew services start postgresql` (macOS) or `docker compose up -d postgres`;\n  \
             or point delos elsewhere with --pg-url / DELOS__PG__URL.",
            pg.url
        );
    }
    pool.close().await;
    let mut redis = common::config::RedisSettings::default();
    if let Some(url) = &opts.redis_url {
        redis.url.clone_from(url);
    }
    let conn = common::redis::connect(&redis)?;
    if let Err(e) = common::redis::ping(&conn).await {
        anyhow::bail!(
            "Redis is not reachable at {} ({e}).\n  Start it: `redis-server --daemonize yes --port 6379 --save '' --appendonly no`,\n  \
             `brew services start redis` (macOS) or `docker compose up -d redis`;\n  \
             or point delos elsewhere with --redis-url / DELOS__REDIS__URL.",
            redis.url
        );
    }
    Ok(())
}

/// Whether the MQTT broker at `url` takes connections; the error says what was tried
/// and how to start one. Not fatal: sensor_api keeps reconnecting, with backoff.
pub async fn check_mqtt(url: &str) -> anyhow::Result<()> {
    let broker = sensor_api::mqtt::Broker::parse(url)?;
    let connect = tokio::net::TcpStream::connect((broker.host.as_str(), broker.port));
    let why = match tokio::time::timeout(std::time::Duration::from_secs(2), connect).await {
        Ok(Ok(_)) => return Ok(()),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "no answer in 2 s".to_string(),
    };
    anyhow::bail!(
        "the MQTT broker is not reachable at {} ({why}).\n  sensor_api starts anyway and keeps reconnecting (its /readyz names mqtt until then).\n  \
         Start one: `bash -c '. scripts/lib/deps.sh && ensure_mosquitto'` (what scripts/up does), `mosquitto -d`\n  \
         or `docker compose up -d mosquitto`; point delos elsewhere with --mqtt-url, or turn MQTT ingest off with --mqtt-url ''.",
        broker.display()
    )
}

/// Loads one service's settings (its environment, `DELOS_CONFIG`) and applies the
/// stack's options on top, the same for every service: its port (any free one with
/// `any_port`), the Postgres URL and database prefix, the Redis URL and key prefix,
/// the shared token, and where it reports.
fn load<S: ServiceSettings>(opts: &StackOptions, token: &Secret, health_url: &str) -> anyhow::Result<S> {
    let mut s = S::load()?;
    if opts.any_port {
        s.http_mut().port = 0;
    }
    if let Some(pg) = s.pg_mut() {
        if let Some(url) = &opts.pg_url {
            pg.url.clone_from(url);
        }
        pg.database = format!("{}{}", opts.database_prefix, pg.database);
    }
    if let Some(r) = s.redis_mut() {
        if let Some(url) = &opts.redis_url {
            r.url.clone_from(url);
        }
        if let Some(prefix) = &opts.redis_prefix {
            r.key_prefix.clone_from(prefix);
        }
    }
    let common = s.common_mut();
    if common.service_token.is_empty() {
        common.service_token = token.clone();
    }
    common.reporter.url = health_url.to_string();
    Ok(s)
}

impl Stack {
    /// Starts every service, dependencies first. Settings come from each service's
    /// own configuration (environment, `DELOS_CONFIG`), then `opts` on top.
    pub async fn start(opts: &StackOptions) -> anyhow::Result<Stack> {
        check_dependencies(opts).await?;
        let token = match std::env::var("DELOS__SERVICE_TOKEN") {
            Ok(t) if !t.is_empty() => Secret::new(t),
            _ => Secret::new(uuid::Uuid::new_v4().simple().to_string()),
        };
        let mut services = Vec::new();
        let s: health_check::Settings = load(opts, &token, "")?;
        let health = health_check::build(s).await.context("starting health_check")?;
        let health_url = health.url();
        services.push(health);

        let s: db_proxy::Settings = load(opts, &token, &health_url)?;
        let db = db_proxy::build(s).await.context("starting db_proxy")?;
        let db_url = db.url();
        services.push(db);

        let s: api_cache_proxy::Settings = load(opts, &token, &health_url)?;
        let cache = api_cache_proxy::build(s)
            .await
            .context("starting api_cache_proxy")?;
        let cache_url = cache.url();
        services.push(cache);

        let mut s: create_buy_order::Settings = load(opts, &token, &health_url)?;
        s.db_proxy_url.clone_from(&db_url);
        s.cache_proxy_url.clone_from(&cache_url);
        services.push(
            create_buy_order::build(s)
                .await
                .context("starting create_buy_order")?,
        );

        let mut s: api_updater::Settings = load(opts, &token, &health_url)?;
        s.cache_proxy_url.clone_from(&cache_url);
        if opts.offline {
            s.providers = vec![api_updater::providers::ProviderConfig::new(
                api_updater::providers::ProviderKind::Simulated,
            )];
        }
        services.push(api_updater::build(s).await.context("starting api_updater")?);

        let mut s: fetch_buy_orders::Settings = load(opts, &token, &health_url)?;
        s.db_proxy_url.clone_from(&db_url);
        s.cache_proxy_url.clone_from(&cache_url);
        services.push(
            fetch_buy_orders::build(s)
                .await
                .context("starting fetch_buy_orders")?,
        );

        // lambo_checker: its own database `lambo`, the bundled BTC history imported on
        // first start (so BTC answers with no network), Kraken unless offline.
        let mut s: lambo_checker::Settings = load(opts, &token, &health_url)?;
        if opts.any_port {
            s.grpc.port = 0;
        }
        if opts.offline {
            s.providers.clear();
        }
        services.push(lambo_checker::build(s).await.context("starting lambo_checker")?);
        let mut s: sensor_api::Settings = load(opts, &token, &health_url)?;
        if let Some(url) = &opts.mqtt_url {
            s.mqtt.broker_url.clone_from(url);
        }
        services.push(sensor_api::build(s).await.context("starting sensor_api")?);

        Ok(Stack { services, token })
    }
}
