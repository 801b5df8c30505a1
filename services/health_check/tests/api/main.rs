#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bad_input;
mod helpers;
mod instances;
mod reporter;
mod reports;
mod status;
