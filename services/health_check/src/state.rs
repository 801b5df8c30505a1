//! What the handlers share; startup builds it, routes read it.

use sqlx::PgPool;

use crate::domain::TtlPolicy;
use crate::intake::ReportIntake;

/// What handlers share.
pub struct State {
    pub pool: PgPool,
    pub policy: TtlPolicy,
    /// Single reports, stored by group commit.
    pub intake: ReportIntake,
    /// The newest sequenced transition (see `storage::sequence_transitions`).
    pub transitions: std::sync::Arc<common::live::Head>,
}
