#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bad_input;
mod cli;
mod helpers;
mod instances;
mod problems;
mod reporter;
mod reports;
mod status;
mod stream;
