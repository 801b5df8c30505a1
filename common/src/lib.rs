//! Shared server code for the Delos services: configuration, telemetry, the
//! problem-JSON error shape, the HTTP frame and standard routes, clients between
//! services, the health reporter, service-token auth, rate limits, pools, and
//! group commit.
//! Nothing here installs process-global state; `telemetry::init` is for `main`.

pub mod auth;
pub mod cli;
pub mod client;
pub mod clients;
pub mod config;
pub mod db;
pub mod group_commit;
pub mod health;
pub mod healthcheck;
pub mod http;
pub mod jwt;
pub mod metrics;
pub mod models;
pub mod money;
pub mod openapi;
pub mod order_routes;
pub mod problem;
pub mod rate_limit;
pub mod redis;
pub mod security;
pub mod telemetry;
#[cfg(feature = "test-utils")]
pub mod testing;

pub use problem::Problem;
