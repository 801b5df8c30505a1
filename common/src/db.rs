//! Postgres pools for services that own a database: the database is created if
//! missing and the service's migrations run before the pool is handed out.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::config::PgSettings;

fn server_options(settings: &PgSettings) -> anyhow::Result<PgConnectOptions> {
    Ok(PgConnectOptions::from_str(&settings.url)
        .with_context(|| format!("postgres url {:?} is not valid", settings.url))?
        .log_statements(tracing::log::LevelFilter::Trace))
}

/// Creates `settings.database` unless it exists. Safe to race with another creator.
pub async fn ensure_database(settings: &PgSettings) -> anyhow::Result<()> {
    let name = &settings.database;
    anyhow::ensure!(
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        "database name {name:?} must be letters, digits and underscores"
    );
    let mut conn = server_options(settings)?
        .database("postgres")
        .connect()
        .await
        .with_context(|| format!("cannot reach Postgres at {}", settings.url))?;
    let exists: bool = sqlx::query_scalar("select exists(select 1 from pg_database where datname = $1)")
        .bind(name)
        .fetch_one(&mut conn)
        .await?;
    if !exists
        && let Err(e) = sqlx::query(sqlx::AssertSqlSafe(format!("create database \"{name}\"")))
            .execute(&mut conn)
            .await
    {
        // 42P04 duplicate_database / 23505: someone else created it first.
        let code = e
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.to_string());
        if !matches!(code.as_deref(), Some("42P04" | "23505")) {
            return Err(e).with_context(|| format!("cannot create database {name}"));
        }
    }
    conn.close().await.ok();
    Ok(())
}

/// A pool with the database created and migrated.
pub async fn connect(settings: &PgSettings, migrator: &Migrator) -> anyhow::Result<PgPool> {
    ensure_database(settings).await?;
    let pool = pool(settings)?;
    migrator
        .run(&pool)
        .await
        .with_context(|| format!("migrating database {}", settings.database))?;
    Ok(pool)
}

/// How Postgres plans the statements of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plans {
    /// Each execution planned with its real parameters (`plan_cache_mode=force_custom_plan`).
    ///
    /// sqlx prepares each statement once per connection. Postgres would then keep
    /// a generic plan made while a table was new and empty (sequential scans) until
    /// autoanalyze gets round to it; on a fresh `orders` database that made every
    /// batch's key lookup scan the whole key table. The default.
    Custom,
    /// One generic plan per statement and connection (`force_generic_plan`):
    /// for statements whose best plan is the same index scan whatever the
    /// parameters and sizes, where planning each execution would be most of
    /// the cost (db_proxy's page query: twice the pages per core).
    Generic,
}

/// A connection idle for longer than this is pinged before use; one in steady
/// use is not, which saves a round trip (and a Postgres wakeup) per query.
/// sqlx still pings every connection as it comes back to the pool.
const PING_IF_IDLE: Duration = Duration::from_secs(1);
/// After Postgres was seen unavailable, every connection is pinged before use
/// for this long, so the requests after its return do not meet connections
/// it broke.
const PING_AFTER_OUTAGE: Duration = Duration::from_secs(30);

/// When [`is_unavailable`] last said yes, in milliseconds since the Unix epoch.
static LAST_OUTAGE_MS: AtomicU64 = AtomicU64::new(0);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn outage_is_recent() -> bool {
    let last = LAST_OUTAGE_MS.load(Ordering::Relaxed);
    let window = u64::try_from(PING_AFTER_OUTAGE.as_millis()).unwrap_or(u64::MAX);
    last != 0 && now_ms().saturating_sub(last) < window
}

/// A lazy pool: it connects on first use and reconnects after Postgres comes back.
pub fn pool(settings: &PgSettings) -> anyhow::Result<PgPool> {
    pool_with(settings, Plans::Custom)
}

/// [`pool`] with a choice of [`Plans`].
pub fn pool_with(settings: &PgSettings, plans: Plans) -> anyhow::Result<PgPool> {
    let mode = match plans {
        Plans::Custom => "force_custom_plan",
        Plans::Generic => "force_generic_plan",
    };
    let options = server_options(settings)?
        .database(&settings.database)
        .options([("plan_cache_mode", mode)]);
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(settings.acquire_timeout_secs))
        // A connection broken while idle (Postgres restarted) is found by the
        // ping and replaced, so no request sees it.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE || outage_is_recent() {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(options))
}

/// True for errors that mean "Postgres is not there" rather than a bug. Also
/// notes the time: for a while after, pools ping each connection before use.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    let unavailable = matches!(
        err,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
    ) || err
        .as_database_error()
        .and_then(|d| d.code())
        // 57P01 admin_shutdown, 57P03 cannot_connect_now, 08xxx connection exceptions
        .is_some_and(|c| c.starts_with("08") || c == "57P01" || c == "57P03");
    if unavailable {
        LAST_OUTAGE_MS.store(now_ms(), Ordering::Relaxed);
    }
    // Every failed query passes here (directly or through `problem`).
    if matches!(err, sqlx::Error::PoolTimedOut) {
        crate::metrics::note_acquire_timeout();
    }
    unavailable
}

/// The problem a failed query becomes: 503 when Postgres is away, else a logged 500.
pub fn problem(err: sqlx::Error) -> crate::Problem {
    if is_unavailable(&err) {
        tracing::warn!(error = %err, "postgres unavailable");
        crate::Problem::unavailable("postgres")
    } else {
        tracing::error!(error = %err, "database error");
        crate::Problem::internal()
    }
}
