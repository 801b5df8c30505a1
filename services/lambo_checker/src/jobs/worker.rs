//! The workers: claim a job, answer it while holding its lease, record the outcome.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::Jobs;
use crate::checker::{Checker, RawQuestion};
use crate::storage;

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
    /// Runs at most one job with `checker`: the single step the worker loop repeats
    /// (tests call it directly).
    pub async fn run_one(&self, checker: &Checker) -> Result<Outcome, sqlx::Error> {
        storage::fail_lost_jobs(&self.pool, self.settings.max_attempts).await?;
        let Some(job) = storage::claim_job(&self.pool, self.settings.lease_secs).await? else {
            return Ok(Outcome::Idle);
        };
        let raw: RawQuestion = serde_json::from_value(job.question).unwrap_or_default();
        let id = job.id;
        let answer = self
            .holding_lease(id, checker.ask("job", &job.client, &raw))
            .await;
        match answer.and_then(|a| a.typed()) {
            Ok(result) => {
                storage::finish_job(&self.pool, id, result).await?;
                Ok(Outcome::Finished(id))
            }
            Err(p) if p.status == 503 => {
                // A dependency is down: back to the queue after its Retry-After, until attempts run out.
                let wait = p.retry_after.unwrap_or(5).max(1);
                let error = serde_json::to_value(&p).unwrap_or(Value::Null);
                let status =
                    storage::requeue_job(&self.pool, id, error, self.settings.max_attempts, wait).await?;
                Ok(if status.as_deref() == Some("pending") {
                    Outcome::Retried(id)
                } else {
                    Outcome::Finished(id)
                })
            }
            Err(p) => {
                storage::fail_job(&self.pool, id, serde_json::to_value(&p).unwrap_or(Value::Null)).await?;
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
                    if let Err(e) = storage::renew_lease(&self.pool, id, lease).await {
                        tracing::warn!(error = %e, job = %id, "cannot renew the job's lease");
                    }
                }
            }
        }
    }

    /// Deletes jobs finished longer than `retention_secs` ago; returns how many.
    pub async fn prune(&self) -> Result<u64, sqlx::Error> {
        storage::prune_jobs(&self.pool, self.settings.retention_secs).await
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
