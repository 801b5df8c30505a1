//! Background analysis jobs: `POST /api/v1/analyze_async` queues a question in
//! Postgres, workers inside the service answer it with the same [`Checker::ask`] as
//! REST, and `GET /api/v1/task_status/{id}` shows pending, running, done (with the
//! answer) or failed (with the problem). Jobs survive restarts (they are rows); a
//! worker claims one with `FOR UPDATE SKIP LOCKED` and a lease, so replicas share the
//! queue and a job whose worker died is claimed again once its lease runs out.
//! Finished jobs are deleted after `retention_secs`. (The original's Celery task
//! returned `amount * 1.15` and failed on a settings error; this runs the analysis.)

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::{PgPool, Row};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::checker::{Checker, RawQuestion};

/// Job queue settings (`DELOS_LAMBO_CHECKER__JOBS__…`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct JobSettings {
    /// Worker tasks in this process; 0 runs none (another replica does the work).
    pub workers: usize,
    /// How often an idle worker looks for work it was not told about (other replicas' jobs, expired leases).
    pub poll_millis: u64,
    /// How long a claim holds unless renewed; the worker renews it every third of
    /// this while the job runs, so only a job whose worker died is taken again.
    pub lease_secs: u64,
    /// Claims per job before it is failed (a job that kills its worker must not loop forever).
    pub max_attempts: i32,
    /// Finished jobs are deleted this long after they finished.
    pub retention_secs: u64,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            workers: 1,
            poll_millis: 1000,
            lease_secs: 120,
            max_attempts: 3,
            retention_secs: 7 * 24 * 3600,
        }
    }
}

/// The queue: submits, claims, finishes. Cheap to clone.
#[derive(Clone)]
pub struct Jobs {
    pool: PgPool,
    settings: JobSettings,
    wake: Arc<Notify>,
}

/// What one worker step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do.
    Idle,
    /// This job finished (done or failed).
    Finished(Uuid),
    /// This job hit a passing failure and goes back to the queue.
    Retried(Uuid),
}

impl Jobs {
    /// A queue on `pool`.
    pub fn new(pool: PgPool, settings: JobSettings) -> Self {
        Self {
            pool,
            settings,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Queues a question (already checked to parse); returns its id.
    pub async fn submit(
        &self,
        client: &str,
        user_id: Option<&str>,
        q: &RawQuestion,
    ) -> Result<Uuid, sqlx::Error> {
        let id = Uuid::now_v7();
        sqlx::query("insert into jobs (id, user_id, client, question) values ($1, $2, $3, $4)")
            .bind(id)
            .bind(user_id)
            .bind(client)
            .bind(question_json(q))
            .execute(&self.pool)
            .await?;
        self.wake.notify_one();
        Ok(id)
    }

    /// One job's status document, or `None` for an unknown id.
    pub async fn status(&self, id: Uuid) -> Result<Option<Value>, sqlx::Error> {
        let row = sqlx::query(
            "select id, created_at, user_id, question, status, attempts, started_at, finished_at, result, error
             from jobs where id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let id: Uuid = r.try_get("id")?;
        let question: Value = r.try_get("question")?;
        Ok(Some(json!({
            "task_id": id,
            "status": r.try_get::<String, _>("status")?,
            "symbol": question["symbol"],
            "investment": question["investment"],
            "user_id": r.try_get::<Option<String>, _>("user_id")?,
            "created_at": r.try_get::<DateTime<Utc>, _>("created_at")?,
            "started_at": r.try_get::<Option<DateTime<Utc>>, _>("started_at")?,
            "finished_at": r.try_get::<Option<DateTime<Utc>>, _>("finished_at")?,
            "attempts": r.try_get::<i32, _>("attempts")?,
            "result": r.try_get::<Option<Value>, _>("result")?,
            "error": r.try_get::<Option<Value>, _>("error")?,
            "_links": { "self": format!("/api/v1/task_status/{id}") },
        })))
    }

    /// Claims the oldest runnable job: pending (and past its backoff), or running
    /// with an expired lease (its worker died). Jobs claimed `max_attempts` times
    /// whose lease expired again are failed instead.
    async fn claim(&self) -> Result<Option<(Uuid, String, RawQuestion)>, sqlx::Error> {
        sqlx::query(
            "update jobs set status = 'failed', finished_at = now(), lease_until = null,
                    error = jsonb_build_object('code', 'worker_lost', 'status', 500,
                        'detail', 'the job was claimed ' || attempts || ' times and its worker stopped each time')
             where status = 'running' and lease_until < now() and attempts >= $1",
        )
        .bind(self.settings.max_attempts)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(
            "update jobs set status = 'running', attempts = attempts + 1, started_at = now(),
                    lease_until = now() + $1::int8 * interval '1 second'
             where id = (select id from jobs
                         where (status = 'pending' and (lease_until is null or lease_until <= now()))
                            or (status = 'running' and lease_until < now())
                         order by created_at limit 1 for update skip locked)
             returning id, client, question",
        )
        .bind(i64::try_from(self.settings.lease_secs).unwrap_or(86_400))
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let q: Value = r.try_get("question")?;
        let raw: RawQuestion = serde_json::from_value(q).unwrap_or_default();
        Ok(Some((r.try_get("id")?, r.try_get("client")?, raw)))
    }

    /// Runs at most one job with `checker`: the single step the worker loop repeats
    /// (tests call it directly).
    pub async fn run_one(&self, checker: &Checker) -> Result<Outcome, sqlx::Error> {
        let Some((id, client, raw)) = self.claim().await? else {
            return Ok(Outcome::Idle);
        };
        let answer = self.holding_lease(id, checker.ask("job", &client, &raw)).await;
        match answer.and_then(|a| a.typed()) {
            Ok(result) => {
                sqlx::query(
                    "update jobs set status = 'done', result = $2, finished_at = now(), lease_until = null
                     where id = $1 and status = 'running'",
                )
                .bind(id)
                .bind(sqlx::types::Json(result))
                .execute(&self.pool)
                .await?;
                Ok(Outcome::Finished(id))
            }
            Err(p) if p.status == 503 => {
                // A dependency is down: back to the queue after its Retry-After, until attempts run out.
                let wait = p.retry_after.unwrap_or(5).max(1);
                let done = sqlx::query(
                    "update jobs set status = case when attempts >= $3 then 'failed' else 'pending' end,
                            finished_at = case when attempts >= $3 then now() end,
                            error = $2, lease_until = case when attempts >= $3 then null
                                                           else now() + $4::int8 * interval '1 second' end
                     where id = $1 and status = 'running' returning status",
                )
                .bind(id)
                .bind(serde_json::to_value(&p).unwrap_or(Value::Null))
                .bind(self.settings.max_attempts)
                .bind(i64::try_from(wait).unwrap_or(5))
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.get::<String, _>(0));
                Ok(if done.as_deref() == Some("pending") {
                    Outcome::Retried(id)
                } else {
                    Outcome::Finished(id)
                })
            }
            Err(p) => {
                sqlx::query(
                    "update jobs set status = 'failed', error = $2, finished_at = now(), lease_until = null
                     where id = $1 and status = 'running'",
                )
                .bind(id)
                .bind(serde_json::to_value(&p).unwrap_or(Value::Null))
                .execute(&self.pool)
                .await?;
                Ok(Outcome::Finished(id))
            }
        }
    }

    /// Runs `work` while renewing job `id`'s lease every third of `lease_secs`, so
    /// a job that runs longer than one lease is not claimed by a second worker; a
    /// worker that dies stops renewing, and its job is taken again as before.
    async fn holding_lease<T>(&self, id: Uuid, work: impl std::future::Future<Output = T>) -> T {
        let lease = self.settings.lease_secs.max(1);
        let every = Duration::from_millis(lease * 1000 / 3);
        let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tokio::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = renew.tick() => {
                    let renewed = sqlx::query(
                        "update jobs set lease_until = now() + $2::int8 * interval '1 second'
                         where id = $1 and status = 'running'",
                    )
                    .bind(id)
                    .bind(i64::try_from(lease).unwrap_or(86_400))
                    .execute(&self.pool)
                    .await;
                    if let Err(e) = renewed {
                        tracing::warn!(error = %e, job = %id, "cannot renew the job's lease");
                    }
                }
            }
        }
    }

    /// Deletes jobs finished longer than `retention_secs` ago; returns how many.
    pub async fn prune(&self) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "delete from jobs where finished_at is not null and finished_at < now() - $1::int8 * interval '1 second'",
        )
        .bind(i64::try_from(self.settings.retention_secs).unwrap_or(i64::MAX / 2))
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Starts the configured workers (and pruning in the first one).
    pub fn start(&self, checker: Arc<Checker>) -> Vec<JoinHandle<()>> {
        (0..self.settings.workers)
            .map(|n| {
                let jobs = self.clone();
                let checker = checker.clone();
                tokio::spawn(async move { jobs.work(n, &checker).await })
            })
            .collect()
    }

    async fn work(&self, n: usize, checker: &Checker) {
        let poll = Duration::from_millis(self.settings.poll_millis.max(10));
        let mut last_prune: Option<tokio::time::Instant> = None;
        loop {
            if n == 0 && last_prune.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                last_prune = Some(tokio::time::Instant::now());
                match self.prune().await {
                    Ok(0) => {}
                    Ok(k) => tracing::info!(deleted = k, "finished jobs past retention deleted"),
                    Err(e) => tracing::warn!(error = %e, "cannot prune jobs"),
                }
            }
            match self.run_one(checker).await {
                Ok(Outcome::Finished(_) | Outcome::Retried(_)) => continue,
                Ok(Outcome::Idle) => {}
                Err(e) => tracing::warn!(error = %e, "job queue unavailable; trying again"),
            }
            let _ = tokio::time::timeout(poll, self.wake.notified()).await;
        }
    }
}

pub(crate) fn question_json(q: &RawQuestion) -> Value {
    json!({ "symbol": q.symbol, "investment": q.investment, "interval": q.interval, "since": q.since })
}
