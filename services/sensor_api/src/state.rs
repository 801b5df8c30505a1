//! What the handlers share; startup builds it, routes read it.

use std::collections::HashMap;

use sqlx::PgPool;

use crate::config::Right;

/// What handlers share.
pub struct State {
    pub pool: PgPool,
    /// API key → its rights.
    pub keys: HashMap<String, Vec<Right>>,
    pub max_upload_bytes: u64,
    pub max_points: i64,
    /// Verifies bearer tokens of `/api/v1/core/restricted`.
    pub jwt: common::jwt::JwtVerifier,
}
