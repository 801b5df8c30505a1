#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;
mod paging;
mod problems;
mod proxy;
mod stream;
