#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;
mod outage;
mod problems;
mod routes;
mod ticks;
