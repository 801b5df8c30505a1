//! Postgres pools for services that own a database: the database is created if
//! missing and the service's migrations run before the pool is handed out.

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

fn pool_options(settings: &PgSettings, plans: Plans) -> anyhow::Result<PgConnectOptions> {
    let mode = match plans {
        Plans::Custom => "force_custom_plan",
        Plans::Generic => "force_generic_plan",
    };
    Ok(server_options(settings)?
        .database(&settings.database)
        .options([("plan_cache_mode", mode)]))
}

/// How [`pool`] connects, for a connection kept apart (a `LISTEN`).
pub fn connect_options(settings: &PgSettings) -> anyhow::Result<PgConnectOptions> {
    pool_options(settings, Plans::Custom)
}

/// [`pool`] with a choice of [`Plans`].
pub fn pool_with(settings: &PgSettings, plans: Plans) -> anyhow::Result<PgPool> {
    let options = pool_options(settings, plans)?;
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

/// Connections for a hot read path, handed back without sqlx's round trip.
///
/// sqlx's pool pings every connection as it comes back, one more Postgres round
/// trip per query (a twelfth of db_proxy's CPU per page). The ping is there for a
/// connection whose query was abandoned halfway; here such a connection is closed
/// instead: it goes back only through [`DirectConn::release`], after its query
/// finished. Idle connections are pinged before use as in [`pool`]. Lazy, like
/// [`pool`]: connects on first use, and again after Postgres comes back.
#[derive(Clone)]
pub struct DirectPool {
    inner: Arc<DirectInner>,
}

struct DirectInner {
    options: PgConnectOptions,
    idle: Mutex<Vec<(PgConnection, Instant)>>,
    permits: Arc<Semaphore>,
    max: u32,
    open: AtomicU32,
    acquire_timeout: Duration,
}

/// A connection of a [`DirectPool`]; dropped without [`DirectConn::release`], it is closed.
pub struct DirectConn {
    conn: Option<PgConnection>,
    pool: Arc<DirectInner>,
    released: bool,
    _permit: OwnedSemaphorePermit,
}

impl DirectConn {
    /// The connection, to run queries on.
    #[allow(clippy::expect_used)]
    pub fn conn(&mut self) -> &mut PgConnection {
        // Taken only in drop.
        self.conn.as_mut().expect("connection present until drop")
    }

    /// The query finished: the connection serves the next one.
    pub fn release(mut self) {
        self.released = true;
    }
}

impl Drop for DirectConn {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if self.released
            && let Ok(mut idle) = self.pool.idle.lock()
        {
            idle.push((conn, Instant::now()));
            return;
        }
        self.pool.open.fetch_sub(1, Ordering::Relaxed);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                conn.close().await.ok();
            });
        }
    }
}

impl DirectPool {
    /// A pool of at most `settings.max_connections`, planning as `plans` says.
    pub fn new(settings: &PgSettings, plans: Plans) -> anyhow::Result<Self> {
        let max = settings.max_connections.max(1);
        Ok(Self {
            inner: Arc::new(DirectInner {
                options: pool_options(settings, plans)?,
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(usize::try_from(max).unwrap_or(1))),
                max,
                open: AtomicU32::new(0),
                acquire_timeout: Duration::from_secs(settings.acquire_timeout_secs),
            }),
        })
    }

    /// A connection: an idle one (pinged first when it idled a while or Postgres
    /// was away lately), or a new one. Waits at most the acquire timeout.
    pub async fn acquire(&self) -> Result<DirectConn, sqlx::Error> {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.acquire_timeout;
        let permit = tokio::time::timeout(inner.acquire_timeout, inner.permits.clone().acquire_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        loop {
            let popped = inner.idle.lock().ok().and_then(|mut idle| idle.pop());
            let Some((mut conn, since)) = popped else { break };
            if since.elapsed() < PING_IF_IDLE && !outage_is_recent() {
                return Ok(self.wrap(conn, permit));
            }
            if conn.ping().await.is_ok() {
                return Ok(self.wrap(conn, permit));
            }
            inner.open.fetch_sub(1, Ordering::Relaxed);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let conn = tokio::time::timeout(left, inner.options.connect())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
        inner.open.fetch_add(1, Ordering::Relaxed);
        Ok(self.wrap(conn, permit))
    }

    fn wrap(&self, conn: PgConnection, permit: OwnedSemaphorePermit) -> DirectConn {
        DirectConn {
            conn: Some(conn),
            pool: self.inner.clone(),
            released: false,
            _permit: permit,
        }
    }
}

impl crate::metrics::PoolState for DirectPool {
    fn connections(&self) -> (u32, usize) {
        let idle = self.inner.idle.lock().map_or(0, |i| i.len());
        (self.inner.open.load(Ordering::Relaxed), idle)
    }

    fn max_connections(&self) -> u32 {
        self.inner.max
    }
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
