#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bad_input;
mod cap;
mod faults;
mod helpers;
mod idempotency;
mod place;
mod problems;
mod proxy;
mod trace;
