//! The query log and what it records: every question (written in batches by
//! `querylog`), the results of the answered ones, their pages, and the analytics
//! report computed from both.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgPool, Row};

/// One logged query, as written.
#[derive(Debug, Clone)]
pub struct NewQuery {
    pub channel: &'static str,
    pub client: String,
    pub symbol_raw: Option<String>,
    pub symbol: Option<String>,
    pub investment: Option<String>,
    pub method: Option<String>,
    pub status: u16,
    pub outcome: String,
    pub cache_hit: bool,
    /// How long the answer took.
    pub duration_ms: i32,
    /// The answer, for successful queries (the results table).
    pub result: Option<(Decimal, Decimal, serde_json::Value)>,
}

/// Writes a batch of log entries (and their results) in one transaction, with
/// one statement per table whatever the batch size: ids are drawn first, so the
/// results can name their queries without relying on the order of `RETURNING`.
#[tracing::instrument(skip_all, fields(n = batch.len()))]
pub async fn log_queries(pool: &PgPool, batch: &[NewQuery]) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    // The log is best effort (a full queue drops entries): a crash may lose its
    // last moments rather than every batch waiting for its WAL flush.
    sqlx::query("set local synchronous_commit = off")
        .execute(&mut *tx)
        .await?;
    let n = i64::try_from(batch.len()).unwrap_or(i64::MAX);
    let ids: Vec<i64> = sqlx::query_scalar("select nextval('queries_id_seq') from generate_series(1, $1)")
        .bind(n)
        .fetch_all(&mut *tx)
        .await?;
    let col = |f: fn(&NewQuery) -> Option<String>| batch.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "insert into queries (id, channel, client, symbol_raw, symbol, investment, method, status, outcome, cache_hit,
                              duration_ms)
         select * from unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                              $8::int2[], $9::text[], $10::bool[], $11::int4[])",
    )
    .bind(&ids)
    .bind(batch.iter().map(|q| q.channel).collect::<Vec<_>>())
    .bind(batch.iter().map(|q| q.client.as_str()).collect::<Vec<_>>())
    .bind(col(|q| q.symbol_raw.clone()))
    .bind(col(|q| q.symbol.clone()))
    .bind(col(|q| q.investment.clone()))
    .bind(col(|q| q.method.clone()))
    .bind(batch.iter().map(|q| i16::try_from(q.status).unwrap_or(i16::MAX)).collect::<Vec<_>>())
    .bind(batch.iter().map(|q| q.outcome.as_str()).collect::<Vec<_>>())
    .bind(batch.iter().map(|q| q.cache_hit).collect::<Vec<_>>())
    .bind(batch.iter().map(|q| q.duration_ms).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    let mut r_ids = Vec::new();
    let mut r_symbols = Vec::new();
    let mut r_investments = Vec::new();
    let mut r_lambos = Vec::new();
    let mut r_responses = Vec::new();
    for (id, q) in ids.iter().zip(batch) {
        if let (Some((investment, lambos, response)), Some(symbol)) = (&q.result, &q.symbol) {
            r_ids.push(*id);
            r_symbols.push(symbol.as_str());
            r_investments.push(*investment);
            r_lambos.push(*lambos);
            r_responses.push(response.clone());
        }
    }
    if !r_ids.is_empty() {
        sqlx::query(
            "insert into results (query_id, symbol, investment, lambos, response)
             select * from unnest($1::int8[], $2::text[], $3::numeric[], $4::numeric[], $5::jsonb[])",
        )
        .bind(&r_ids)
        .bind(&r_symbols)
        .bind(&r_investments)
        .bind(&r_lambos)
        .bind(&r_responses)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// A logged query as listed by `GET /queries`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LoggedQuery {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    /// `rest` or `grpc`.
    pub channel: String,
    pub symbol_raw: Option<String>,
    pub symbol: Option<String>,
    pub investment: Option<String>,
    pub method: Option<String>,
    pub status: i16,
    pub outcome: String,
    pub cache_hit: bool,
    /// LAMBOS of the answer, for successful queries (exact).
    pub lambos: Option<String>,
}

/// Up to `limit` queries with `id < before` (newest first): a keyset page.
pub async fn queries_page(
    pool: &PgPool,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<LoggedQuery>, sqlx::Error> {
    let rows = sqlx::query(
        "select q.id, q.created_at, q.channel, q.symbol_raw, q.symbol, q.investment, q.method, q.status,
                q.outcome, q.cache_hit, r.lambos
         from queries q left join results r on r.query_id = q.id
         where q.id < $1 order by q.id desc limit $2",
    )
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(LoggedQuery {
                id: r.try_get("id")?,
                created_at: r.try_get("created_at")?,
                channel: r.try_get("channel")?,
                symbol_raw: r.try_get("symbol_raw")?,
                symbol: r.try_get("symbol")?,
                investment: r.try_get("investment")?,
                method: r.try_get("method")?,
                status: r.try_get("status")?,
                outcome: r.try_get("outcome")?,
                cache_hit: r.try_get("cache_hit")?,
                lambos: r
                    .try_get::<Option<Decimal>, _>("lambos")?
                    .map(|d| d.normalize().to_string()),
            })
        })
        .collect()
}

/// One row of the results table with its query's time and method.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredResult {
    pub query_id: i64,
    pub created_at: DateTime<Utc>,
    pub symbol: String,
    pub investment: Decimal,
    pub lambos: Decimal,
    /// The answer document without its chart (`answer::LamboAnswer` with `graph_data` left out).
    pub response: serde_json::Value,
    pub method: Option<String>,
}

impl StoredResult {
    /// The answer's verdict and exact growth factor (`None` when the document does
    /// not parse as an answer).
    pub fn verdict_and_growth(&self) -> Option<(String, String)> {
        let a: crate::answer::LamboAnswer = serde_json::from_value(self.response.clone()).ok()?;
        Some((a.verdict, crate::domain::exact(a.exact.growth_factor)))
    }
}

const RESULT_COLUMNS: &str =
    "select r.query_id, q.created_at, r.symbol, r.investment, r.lambos, r.response, q.method
     from results r join queries q on q.id = r.query_id";

/// Results newest first, with ids below `before`, of one coin when given.
pub async fn results_page(
    pool: &PgPool,
    before: i64,
    symbol: Option<&str>,
    limit: i64,
) -> Result<Vec<StoredResult>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{RESULT_COLUMNS} where r.query_id < $1 and ($2::text is null or r.symbol = $2)
         order by r.query_id desc limit $3"
    )))
    .bind(before)
    .bind(symbol)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// One result by its id.
pub async fn result(pool: &PgPool, id: i64) -> Result<Option<StoredResult>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{RESULT_COLUMNS} where r.query_id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The figures of `GET /api/analytics/report/`, over the queries of one coin (when
/// given) between `from` (inclusive) and `to` (exclusive).
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub total: i64,
    pub answered: i64,
    pub client_errors: i64,
    pub server_errors: i64,
    pub cache_hits: i64,
    /// (symbol or `(invalid)`, queries, answered), most asked first.
    pub per_symbol: Vec<(String, i64, i64)>,
    /// (UTC day `YYYY-MM-DD`, queries), oldest first.
    pub per_day: Vec<(String, i64)>,
    /// (outcome code, count) of the refused queries, most frequent first.
    pub errors: Vec<(String, i64)>,
    pub growth: Growth,
}

/// The growth factors of the stored results: their median and how they spread.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct Growth {
    pub results: i64,
    pub median: Option<Decimal>,
    pub lambo: i64,
    pub loss: i64,
    pub under_2x: i64,
    pub x2_to_11: i64,
    pub x11_to_101: i64,
    pub over_101x: i64,
}

/// The report's filter, the same in each of its queries; only this constant is
/// spliced into their text, every value is bound.
const REPORT_WHERE: &str =
    "($1::text is null or q.symbol = $1) and ($2::timestamptz is null or q.created_at >= $2)
     and ($3::timestamptz is null or q.created_at < $3)";

/// The analytics report's figures (five reads of the query log and results).
pub async fn report(
    pool: &PgPool,
    symbol: Option<&str>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Report, sqlx::Error> {
    let w = REPORT_WHERE;
    let (total, answered, client_errors, server_errors, cache_hits): (i64, i64, i64, i64, i64) =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select count(*), count(*) filter (where status < 400),
                    count(*) filter (where status between 400 and 499),
                    count(*) filter (where status >= 500), count(*) filter (where cache_hit)
             from queries q where {w}"
        )))
        .bind(symbol)
        .bind(from)
        .bind(to)
        .fetch_one(pool)
        .await?;
    let per_symbol = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select coalesce(q.symbol, '(invalid)'), count(*), count(*) filter (where status < 400)
         from queries q where {w} group by 1 order by 2 desc, 1"
    )))
    .bind(symbol)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let per_day = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select to_char(date_trunc('day', q.created_at at time zone 'UTC'), 'YYYY-MM-DD'), count(*)
         from queries q where {w} group by 1 order by 1"
    )))
    .bind(symbol)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let errors = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select outcome, count(*) from queries q where {w} and status >= 400 group by 1 order by 2 desc, 1"
    )))
    .bind(symbol)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let growth = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "with g as (select (r.response->'exact'->>'growth_factor')::numeric as gf, r.lambos
                    from results r join queries q on q.id = r.query_id where {w}),
              o as (select gf, row_number() over (order by gf) as rn, count(*) over () as n from g)
         select (select count(*) from g) as results,
                (select avg(gf) from o where rn in ((n + 1) / 2, (n + 2) / 2)) as median,
                (select count(*) from g where lambos >= 1) as lambo,
                (select count(*) from g where gf < 0) as loss,
                (select count(*) from g where gf >= 0 and gf < 1) as under_2x,
                (select count(*) from g where gf >= 1 and gf < 10) as x2_to_11,
                (select count(*) from g where gf >= 10 and gf < 100) as x11_to_101,
                (select count(*) from g where gf >= 100) as over_101x"
    )))
    .bind(symbol)
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
    Ok(Report {
        total,
        answered,
        client_errors,
        server_errors,
        cache_hits,
        per_symbol,
        per_day,
        errors,
        growth,
    })
}

/// An audit log entry as `GET /api/logs/` lists it.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct LogEntry {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    /// `info` (answered), `warning` (4xx), `error` (5xx).
    pub level: String,
    pub channel: String,
    pub client: String,
    pub symbol_raw: Option<String>,
    pub symbol: Option<String>,
    pub investment: Option<String>,
    pub method: Option<String>,
    pub status: i16,
    pub outcome: String,
    pub cache_hit: bool,
    pub duration_ms: Option<i32>,
}

/// Log entries newest first with ids below `before`, of one coin when given, whose
/// status lies in `statuses`.
pub async fn logs_page(
    pool: &PgPool,
    before: i64,
    symbol: Option<&str>,
    statuses: std::ops::RangeInclusive<i16>,
    limit: i64,
) -> Result<Vec<LogEntry>, sqlx::Error> {
    sqlx::query_as(
        "select id, created_at,
                case when status >= 500 then 'error' when status >= 400 then 'warning' else 'info' end as level,
                channel, client, symbol_raw, symbol, investment, method, status, outcome, cache_hit, duration_ms
         from queries where id < $1 and ($2::text is null or symbol = $2) and status between $3 and $4
         order by id desc limit $5",
    )
    .bind(before)
    .bind(symbol)
    .bind(statuses.start())
    .bind(statuses.end())
    .bind(limit)
    .fetch_all(pool)
    .await
}
