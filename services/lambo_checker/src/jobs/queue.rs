//! The queue's front: submitting a question and reading a job's status.

use std::sync::Arc;

use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::Notify;
use uuid::Uuid;

use super::JobSettings;
use crate::checker::RawQuestion;
use crate::storage;

/// The queue: submits, and (through [`super::worker`]) claims and finishes. Cheap to clone.
#[derive(Clone)]
pub struct Jobs {
    pub(super) pool: PgPool,
    pub(super) settings: JobSettings,
    /// Wakes an idle worker of this process when a job is submitted here.
    pub(super) wake: Arc<Notify>,
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
        storage::insert_job(&self.pool, id, user_id, client, question_json(q)).await?;
        self.wake.notify_one();
        Ok(id)
    }

    /// One job's status document, or `None` for an unknown id.
    pub async fn status(&self, id: Uuid) -> Result<Option<Value>, sqlx::Error> {
        let Some(j) = storage::job(&self.pool, id).await? else {
            return Ok(None);
        };
        Ok(Some(json!({
            "task_id": j.id,
            "status": j.status,
            "symbol": j.question["symbol"],
            "investment": j.question["investment"],
            "user_id": j.user_id,
            "created_at": j.created_at,
            "started_at": j.started_at,
            "finished_at": j.finished_at,
            "attempts": j.attempts,
            "result": j.result,
            "error": j.error,
            "_links": { "self": format!("/api/v1/task_status/{}", j.id) },
        })))
    }
}

fn question_json(q: &RawQuestion) -> Value {
    json!({ "symbol": q.symbol, "investment": q.investment, "interval": q.interval, "since": q.since })
}
