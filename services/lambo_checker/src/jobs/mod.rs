//! Background analysis jobs: `POST /api/v1/analyze_async` queues a question in
//! Postgres ([`queue`]), workers inside the service answer it with the same
//! [`crate::checker::Checker::ask`] as REST ([`worker`]), and
//! `GET /api/v1/task_status/{id}` shows pending, running, done (with the answer) or
//! failed (with the problem). Jobs survive restarts (they are rows); a worker claims
//! one with `FOR UPDATE SKIP LOCKED` and a lease that it renews while the job runs,
//! so replicas share the queue and a job whose worker died is claimed again once its
//! lease runs out. Finished jobs are deleted after `retention_secs`. (The original's
//! Celery task returned `amount * 1.15` and failed on a settings error; this runs the
//! analysis.)

mod queue;
mod worker;

use serde::{Deserialize, Serialize};

pub use queue::Jobs;
pub use worker::Outcome;

/// Job queue settings (`DELOS_LAMBO_CHECKER__JOBS__…`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
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
