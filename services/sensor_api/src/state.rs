//! What the handlers share; startup builds it, routes read it.

use sqlx::PgPool;

/// What handlers share.
pub struct State {
    pub pool: PgPool,
    /// API keys with their rights and bearer tokens (uploads, `/api/v1/core/restricted`).
    pub auth: common::auth::Authenticator,
    pub max_upload_bytes: u64,
    pub max_points: i64,
}
