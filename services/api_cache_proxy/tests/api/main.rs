#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bad_input;
mod helpers;
mod problems;
mod record;
mod redis_down;
