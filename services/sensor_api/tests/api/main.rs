#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod aggregate;
mod auth_and_limits;
mod bad_rows;
mod formats;
mod helpers;
mod jwt;
mod mqtt;
mod problems;
mod queries;
mod seed;
mod storage;
mod stream;
mod time_zones;
