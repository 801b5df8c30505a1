//! The job queue's table: rows are jobs, a claim is an `UPDATE … FOR UPDATE SKIP
//! LOCKED` with a lease, so replicas share the queue and a dead worker's job is
//! claimed again once its lease runs out.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// A job as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub user_id: Option<String>,
    /// The question as submitted (`symbol`, `investment`, `interval`, `since`).
    pub question: Value,
    /// `pending`, `running`, `done` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub result: Option<Value>,
    pub error: Option<Value>,
}

/// A job a worker has just claimed.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: Uuid,
    pub client: String,
    pub question: Value,
}

fn secs(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX / 2)
}

/// Queues a job.
pub async fn insert_job(
    pool: &PgPool,
    id: Uuid,
    user_id: Option<&str>,
    client: &str,
    question: Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into jobs (id, user_id, client, question) values ($1, $2, $3, $4)")
        .bind(id)
        .bind(user_id)
        .bind(client)
        .bind(question)
        .execute(pool)
        .await?;
    Ok(())
}

/// One job by id.
pub async fn job(pool: &PgPool, id: Uuid) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as(
        "select id, created_at, user_id, question, status, attempts, started_at, finished_at, result, error
         from jobs where id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Fails the jobs claimed `max_attempts` times whose lease ran out again (a job
/// that kills its worker must not loop forever).
pub async fn fail_lost_jobs(pool: &PgPool, max_attempts: i32) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "update jobs set status = 'failed', finished_at = now(), lease_until = null,
                error = jsonb_build_object('code', 'worker_lost', 'status', 500,
                    'detail', 'the job was claimed ' || attempts || ' times and its worker stopped each time')
         where status = 'running' and lease_until < now() and attempts >= $1",
    )
    .bind(max_attempts)
    .execute(pool)
    .await?
    .rows_affected())
}

/// Claims the oldest runnable job for `lease_secs`: pending (and past its
/// backoff), or running with an expired lease (its worker died).
pub async fn claim_job(pool: &PgPool, lease_secs: u64) -> Result<Option<ClaimedJob>, sqlx::Error> {
    let row = sqlx::query(
        "update jobs set status = 'running', attempts = attempts + 1, started_at = now(),
                lease_until = now() + $1::int8 * interval '1 second'
         where id = (select id from jobs
                     where (status = 'pending' and (lease_until is null or lease_until <= now()))
                        or (status = 'running' and lease_until < now())
                     order by created_at limit 1 for update skip locked)
         returning id, client, question",
    )
    .bind(secs(lease_secs))
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        Ok(ClaimedJob {
            id: r.try_get("id")?,
            client: r.try_get("client")?,
            question: r.try_get("question")?,
        })
    })
    .transpose()
}

/// Extends a running job's lease by `lease_secs` from now.
pub async fn renew_lease(pool: &PgPool, id: Uuid, lease_secs: u64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update jobs set lease_until = now() + $2::int8 * interval '1 second'
         where id = $1 and status = 'running'",
    )
    .bind(id)
    .bind(secs(lease_secs))
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks a running job done with its answer.
pub async fn finish_job(
    pool: &PgPool,
    id: Uuid,
    result: impl serde::Serialize + Send + Sync,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update jobs set status = 'done', result = $2, finished_at = now(), lease_until = null
         where id = $1 and status = 'running'",
    )
    .bind(id)
    .bind(Json(result))
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks a running job failed with its problem.
pub async fn fail_job(pool: &PgPool, id: Uuid, error: Value) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update jobs set status = 'failed', error = $2, finished_at = now(), lease_until = null
         where id = $1 and status = 'running'",
    )
    .bind(id)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// Puts a running job back in the queue, runnable again after `wait_secs`, or fails
/// it when it has been claimed `max_attempts` times. Returns the new status.
pub async fn requeue_job(
    pool: &PgPool,
    id: Uuid,
    error: Value,
    max_attempts: i32,
    wait_secs: u64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "update jobs set status = case when attempts >= $3 then 'failed' else 'pending' end,
                finished_at = case when attempts >= $3 then now() end,
                error = $2, lease_until = case when attempts >= $3 then null
                                               else now() + $4::int8 * interval '1 second' end
         where id = $1 and status = 'running' returning status",
    )
    .bind(id)
    .bind(error)
    .bind(max_attempts)
    .bind(secs(wait_secs))
    .fetch_optional(pool)
    .await
}

/// Deletes jobs finished more than `retention_secs` ago; returns how many.
pub async fn prune_jobs(pool: &PgPool, retention_secs: u64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "delete from jobs where finished_at is not null and finished_at < now() - $1::int8 * interval '1 second'",
    )
    .bind(secs(retention_secs))
    .execute(pool)
    .await?
    .rows_affected())
}
