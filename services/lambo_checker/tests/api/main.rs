#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod answers;
mod bad_input;
mod helpers;
mod kraken;
mod routes;
