//! Single reports (`POST /report`) are stored by group commit: a burst of them
//! from many services becomes a few transactions instead of one each, so it
//! neither queues on the pool nor on the locks of the status rows.

use common::Problem;
use common::group_commit::{Committer, GroupCommit};
use common::models::Report;
use sqlx::PgPool;
use tokio::task::JoinHandle;

use crate::storage;

/// Where handlers hand single reports: the id of the stored report, or why not.
pub type ReportIntake = GroupCommit<Report, Result<i64, Problem>>;

struct Writer {
    pool: PgPool,
}

impl Committer for Writer {
    type Item = Report;
    type Answer = Result<i64, Problem>;

    async fn commit(&mut self, reports: Vec<Report>) -> Vec<Self::Answer> {
        match storage::insert_reports(&self.pool, &reports).await {
            Ok(ids) => ids.into_iter().map(Ok).collect(),
            Err(e) => {
                let problem = common::db::problem(e);
                reports.iter().map(|_| Err(problem.clone())).collect()
            }
        }
    }
}

/// Starts the collector task.
pub fn spawn(pool: PgPool) -> (ReportIntake, JoinHandle<()>) {
    GroupCommit::spawn(Writer { pool }, storage::MAX_BATCH)
}
