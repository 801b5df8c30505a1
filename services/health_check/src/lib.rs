//! # health_check (port 8050, database `health`)
//!
//! Collects heartbeats and reports from every Delos service and tells which are
//! up. Routes: `POST /report` (the original body `{level, service, status, data}`,
//! service token), `POST /report/batch`, `GET /reports` (filter by service, level,
//! time; keyset-paged), `GET /services` (pass/warn/fail from heartbeat TTLs and a
//! grace period, per instance of each service and rolled up per service), `GET /transitions` (when did X go down, when did it come back),
//! and a status page at `/`. Reports older than the retention are pruned.
//! Calls nothing but its Postgres database.

pub mod config;
pub mod domain;
mod intake;
pub mod problems;
mod routes;
pub mod startup;
mod state;
pub mod storage;
#[cfg(feature = "test-utils")]
pub mod testing;

pub use config::Settings;
pub use routes::ApiDoc;
pub use startup::{build, build_with_pool};

/// Migrations of the `health` database.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
