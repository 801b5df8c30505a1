#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod after;
mod bad_input;
mod cap;
mod helpers;
mod idempotency;
mod outage;
mod paging;
mod problems;
