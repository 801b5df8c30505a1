//! # sensor_api (port 8080, public, database `sensors`)
//!
//! Ingests IoT sensor readings and answers questions about them. Replaces a Flask
//! service that re-parsed one static JSON file on every call.
//!
//! Routes (all rate limited per client in Redis, every list keyset-paged with an
//! opaque cursor):
//! - `POST /api/v1/readings` (API key with the `ingest` right): a streamed upload
//!   in the original JSON shape, NDJSON or CSV (long or wide); bad rows come back
//!   with their position and reason, `?strict=true` stores nothing when any is bad.
//! - `GET /api/v1/devices`, `GET /api/v1/devices/{device}/parameters`,
//!   `GET /api/v1/devices/{device}/latest`, `GET /api/v1/readings`.
//! - `GET /api/v1/aggregate`: UTC-aligned buckets, avg/min/max/sum/count for
//!   numeric parameters, first/last/count/distinct for text ones, gap filling.
//! - The original routes: `GET /api/v1/core/process_request` (now paged),
//!   `GET /api/v1/core/restricted` (API key with the `restricted` right), `GET /status`.
//!
//! Data owned: the Postgres database `sensors` (`series`: one row per device and
//! parameter with its learned type and counters; `reading_chunks`: exact values and
//! instants with their original UTC offsets, per series and hour in the encoding of
//! [`chunk`]; `rollup_hourly`; `reading_log` for the stream). Redis holds only
//! rate-limit counters. Calls Postgres, Redis, `health_check` (reports) and the MQTT
//! broker when one is configured.
//!
//! With `mqtt.broker_url` set it also subscribes (QoS 1, persistent session) to
//! `delos/sensors/<device>/<parameter>` and `delos/sensors/ingest` and stores what
//! comes with the same parser and loader, acknowledging a message only once stored;
//! bad messages go to `delos/sensors/rejected` (see [`mqtt`]).
//!
//! The same ingest runs from the command line: the `sensor_ingest` binary and
//! `delos sensors import` (see [`cli`]).

pub mod chunk;
pub mod cli;
pub mod config;
pub mod domain;
pub mod ingest;
pub mod mqtt;
pub mod problems;
mod routes;
pub mod sample;
pub mod startup;
mod state;
pub mod storage;
#[cfg(feature = "test-utils")]
pub mod testing;

pub use config::Settings;
pub use routes::ApiDoc;
pub use startup::build;

/// Migrations of the `sensors` database.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
