//! Shared server code for the Delos services: configuration, telemetry, the
//! problem-JSON error shape, the HTTP frame and standard routes, clients between
//! services, the health reporter, auth (service token, API keys, JWTs), rate limits, pools, and
//! group commit.
//! Nothing here installs process-global state; `telemetry::init` is for `main`.

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod group_commit;
pub mod html;
pub mod http;
pub mod internal_apis;
pub mod live;
pub mod metrics;
pub mod models;
pub mod money;
pub mod openapi;
pub mod order_routes;
pub mod paging;
pub mod problem;
pub mod rate_limit;
pub mod readiness_probe;
pub mod redis;
pub mod reporter;
pub mod security_headers;
pub mod service_client;
pub mod telemetry;
#[cfg(any(test, feature = "test-utils"))]
pub mod testing;
pub mod tls;

pub use problem::Problem;
