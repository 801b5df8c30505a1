#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod answers;
mod bad_input;
mod data;
mod graphql;
mod grpc;
mod helpers;
mod jobs;
mod page;
mod problems;
mod providers;
mod proxy;
mod restricted;
mod routes;
mod security;
